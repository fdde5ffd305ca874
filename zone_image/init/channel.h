/* A framed channel to the host over one transport (one vchan port). */
#ifndef EDERA_CHANNEL_H
#define EDERA_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "platform.h"
#include "proto.h"

/* Reading stops while this much is buffered: enough for one frame of the largest size. */
#define CHAN_IN_LIMIT (MAX_PAYLOAD + FRAME_HDR)

struct channel {
	int port;
	struct transport *tr;
	struct buf in, out;
	bool gone; /* the host closed it, or broke the protocol */
};

/* Queue one frame; it goes out with the next chan_flush. */
void chan_send(struct channel *c, uint32_t type, const void *payload, size_t len);
void chan_send_u32(struct channel *c, uint32_t type, uint32_t v);
/* Move queued frames into the transport / received bytes out of it. Both return the number of
 * bytes moved; they set c->gone when the peer has gone. */
size_t chan_flush(struct channel *c);
size_t chan_fill(struct channel *c);
/* The next whole received frame: 1 (consume it with buf_consume(&c->in, *total)), 0 (none yet),
 * -1 (a length over the limit: c->gone is set). */
int chan_next(struct channel *c, uint32_t *type, const uint8_t **payload, uint32_t *len,
	      size_t *total);
void chan_close(struct channel *c);

#endif
