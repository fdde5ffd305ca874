#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->off + b->len + n > b->cap) {
		/* Slide the live bytes to the front before growing. */
		if (b->off) {
			memmove(b->data, b->data + b->off, b->len);
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;
			while (cap < b->len + n)
				cap *= 2;
			b->data = xrealloc(b->data, cap);
			b->cap = cap;
		}
	}
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = b->len = 0;
		/* Give big buffers back once drained: a burst of output should not pin memory. */
		if (b->cap > (1u << 20)) {
			free(b->data);
			b->data = NULL;
			b->cap = 0;
		}
		return;
	}
	b->off += n;
	b->len -= n;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
