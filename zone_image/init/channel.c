#include "channel.h"

#include <string.h>

#include "log.h"

void chan_send(struct channel *c, uint32_t type, const void *payload, size_t len)
{
	uint8_t hdr[FRAME_HDR];
	if (c->gone)
		return;
	frame_header(hdr, type, len);
	buf_append(&c->out, hdr, sizeof hdr);
	buf_append(&c->out, payload, len);
}

void chan_send_u32(struct channel *c, uint32_t type, uint32_t v)
{
	uint8_t p[4];
	put_u32(p, v);
	chan_send(c, type, p, sizeof p);
}

size_t chan_flush(struct channel *c)
{
	size_t moved = 0;
	while (c->out.len && !c->gone) {
		ssize_t n = tr_write(c->tr, buf_head(&c->out), c->out.len);
		if (n < 0) {
			c->gone = true;
			break;
		}
		if (n == 0)
			break;
		buf_consume(&c->out, n);
		moved += n;
	}
	return moved;
}

size_t chan_fill(struct channel *c)
{
	static uint8_t tmp[65536];
	size_t moved = 0;
	while (c->in.len < CHAN_IN_LIMIT && !c->gone) {
		size_t want = CHAN_IN_LIMIT - c->in.len;
		ssize_t n = tr_read(c->tr, tmp, want < sizeof tmp ? want : sizeof tmp);
		if (n < 0) {
			c->gone = true;
			break;
		}
		if (n == 0)
			break;
		buf_append(&c->in, tmp, n);
		moved += n;
	}
	return moved;
}

int chan_next(struct channel *c, uint32_t *type, const uint8_t **payload, uint32_t *len,
	      size_t *total)
{
	int rc = frame_parse(buf_head(&c->in), c->in.len, type, payload, len, total);
	if (rc < 0) {
		log_msg("port %d: frame of %u bytes is over the limit; closing the channel", c->port,
			get_u32(buf_head(&c->in) + 4));
		c->gone = true;
	}
	return rc;
}

void chan_close(struct channel *c)
{
	if (c->tr)
		tr_close(c->tr);
	c->tr = NULL;
	c->gone = true;
	buf_free(&c->in);
	buf_free(&c->out);
}
