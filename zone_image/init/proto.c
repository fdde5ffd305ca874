#include "proto.h"

#include <string.h>

void frame_header(uint8_t hdr[FRAME_HDR], uint32_t type, uint32_t len)
{
	put_u32(hdr, type);
	put_u32(hdr + 4, len);
}

int frame_parse(const uint8_t *p, size_t n, uint32_t *type, const uint8_t **payload,
		uint32_t *len, size_t *total)
{
	if (n < FRAME_HDR)
		return 0;
	uint32_t l = get_u32(p + 4);
	if (l > MAX_PAYLOAD)
		return -1;
	if (n < FRAME_HDR + (size_t)l)
		return 0;
	*type = get_u32(p);
	*len = l;
	*payload = p + FRAME_HDR;
	*total = FRAME_HDR + (size_t)l;
	return 1;
}

int record_next(struct record_iter *it, struct record *rec)
{
	if (it->off == it->n)
		return 0;
	if (it->n - it->off < RECORD_HDR)
		return -1;
	const uint8_t *h = it->p + it->off;
	uint32_t len = get_u32(h + 2);
	if (len > it->n - it->off - RECORD_HDR)
		return -1;
	rec->tag = get_u16(h);
	rec->len = len;
	rec->value = h + RECORD_HDR;
	it->off += RECORD_HDR + (size_t)len;
	return 1;
}

size_t record_encode(uint8_t *out, uint16_t tag, const void *value, uint32_t len)
{
	put_u16(out, tag);
	put_u32(out + 2, len);
	if (len)
		memcpy(out + RECORD_HDR, value, len);
	return RECORD_HDR + (size_t)len;
}
