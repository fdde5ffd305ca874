/* The host <-> zone channel codec: frames and record lists (zone_image/PROTOCOL.md).
 * Keep in step with edera_oci/zone/protocol.py. */
#ifndef EDERA_PROTO_H
#define EDERA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_VERSION 5
#define FRAME_HDR 8
#define RECORD_HDR 6
#define MAX_PAYLOAD (1u << 20)

enum msg {
	/* host -> zone */
	MSG_SPEC = 1,
	MSG_START = 2,
	MSG_STDIN = 3,
	MSG_STDIN_EOF = 4,
	MSG_SIGNAL = 5,
	MSG_RESIZE = 6,
	MSG_EXEC = 7,
	MSG_EXIT_ACK = 8,
	MSG_STATS_REQ = 9,
	/* both ways: the host's new limits; the zone's answer (empty = applied, else why not) */
	MSG_UPDATE = 10,
	MSG_CONTAINER = 11, /* pods: host -> zone on port 1 */
	MSG_CONTAINER_PORT = 12, /* pods: zone -> host on port 1 */
	/* zone -> host */
	MSG_READY = 32,
	MSG_ERROR = 33,
	MSG_STARTED = 34,
	MSG_STDOUT = 35,
	MSG_STDERR = 36,
	MSG_EXIT = 37,
	MSG_STATS = 38,
	MSG_EXEC_PORT = 39,
};

enum tag {
	TAG_ARG = 1,
	TAG_ENV = 2,
	TAG_CWD = 3,
	TAG_UID = 4,
	TAG_GID = 5,
	TAG_ADDITIONAL_GID = 6,
	TAG_UMASK = 7,
	TAG_RLIMIT = 8,
	TAG_CAPS = 9,
	TAG_NO_NEW_PRIVS = 10,
	TAG_OOM_SCORE_ADJ = 11,
	TAG_TERMINAL = 12,
	TAG_TERM_SIZE = 13,
	TAG_HOSTNAME = 20,
	TAG_DOMAINNAME = 21,
	TAG_SYSCTL = 22,
	TAG_MOUNT = 23,
	TAG_MASKED_PATH = 24,
	TAG_READONLY_PATH = 25,
	TAG_ROOT_READONLY = 26,
	TAG_BINDS_DISK = 27,
	TAG_ROOT_DISK = 28,
	TAG_NET_IF = 29,
	TAG_NET_ADDR = 30,
	TAG_NET_ROUTE = 31,
	TAG_NAMESPACE = 32,
	TAG_DEVICE = 33,
	TAG_CGROUP = 34,
	TAG_DEVICE_RULE = 35, /* linux.resources.devices */
	/* linux.seccomp (process records: SPEC and EXEC) */
	TAG_SECCOMP_DEFAULT = 40,
	TAG_SECCOMP_ARCH = 41,
	TAG_SECCOMP_FLAG = 42,
	TAG_SECCOMP_SYSCALL = 43,
	/* in the container's EXIT, after the status */
	TAG_OOM_KILLS = 50,
	TAG_BINDS_SHARE = 60,
	TAG_ROOT_SHARE = 61,
	TAG_ROOT_BIND = 62, /* a pod container's root: a directory of the zone's binds share */
	TAG_STORAGE_FIRST = 60, /* container records of the storage model: 60..69 */
	TAG_STORAGE_LAST = 69,
	TAG_POD_NAME = 70, /* pods (CONTAINER) */
	TAG_POD_JOIN = 71,
};

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static inline void put_u16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }

void frame_header(uint8_t hdr[FRAME_HDR], uint32_t type, uint32_t len);

/* Look for one whole frame at the start of p[0..n).
 * Returns 1 (frame found; *total = bytes it occupies), 0 (need more bytes), or -1 (length over
 * MAX_PAYLOAD: a protocol error, the channel must be closed). */
int frame_parse(const uint8_t *p, size_t n, uint32_t *type, const uint8_t **payload,
		uint32_t *len, size_t *total);

struct record {
	uint16_t tag;
	uint32_t len;
	const uint8_t *value;
};

struct record_iter {
	const uint8_t *p;
	size_t n, off;
};

static inline void record_iter_init(struct record_iter *it, const uint8_t *p, size_t n)
{
	it->p = p;
	it->n = n;
	it->off = 0;
}
/* 1 = *rec filled, 0 = end of list, -1 = truncated list. */
int record_next(struct record_iter *it, struct record *rec);
/* Encode one record into out (RECORD_HDR + len bytes); returns the bytes written. */
size_t record_encode(uint8_t *out, uint16_t tag, const void *value, uint32_t len);

#endif
