/* A growable byte queue: appended at the end, consumed from the front. */
#ifndef EDERA_BUF_H
#define EDERA_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off; /* start of the unconsumed bytes */
	size_t len; /* number of unconsumed bytes */
	size_t cap;
};

static inline const uint8_t *buf_head(const struct buf *b) { return b->data + b->off; }
void buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

#endif
