/* What differs between the real zone (Xen: vchan, XenStore, power off) and the host-test build
 * (a socket for port 1, Unix sockets for exec ports, log lines, exit). */
#ifndef EDERA_PLATFORM_H
#define EDERA_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "log.h"

struct platform {
	bool zone;        /* a real zone: mount disks, sysctl, hostname, network */
	const char *root; /* the container root children chroot into; "" = none (host test) */
	bool apply_setup; /* apply the SPEC's container records under root */
	bool host_net;    /* host test: apply network records anyway (in a network namespace) */
};

/* Zone: refuse unless PID 1, then boot setup. Host test: read the environment. Exits the
 * process (or powers off) when it cannot continue. */
void platform_init(struct platform *pl);
/* edera/state and edera/exit-status in XenStore (a log line on a host test). */
void platform_state(const char *state);
void platform_exit_status(int status);
/* Signal every process of the container: all but PID 1 in a zone, our descendants on a host. */
void platform_kill_all(int sig);
/* Zone: sync and power off. Host test: kill what is left and exit with `code`. */
void platform_poweroff(int code) __attribute__((noreturn));

/* A byte stream to the host for one vchan port. */
struct transport;
enum { TR_WAITING, TR_OPEN, TR_CLOSED };

/* Start the server end for `port`: a vchan server at data/vchan/0/<port> in a zone. */
struct transport *tr_listen(int port, char err[ERR_MAX]);
int tr_fd(struct transport *t);
short tr_poll_events(struct transport *t, bool want_write);
/* Call after poll() reported tr_fd with revents != 0 (consumes the event / accepts). */
void tr_event(struct transport *t, short revents);
int tr_state(struct transport *t);
/* Non-blocking: bytes moved, 0 when nothing can move now, -1 when the peer is gone. */
ssize_t tr_read(struct transport *t, void *buf, size_t n);
ssize_t tr_write(struct transport *t, const void *buf, size_t n);
void tr_close(struct transport *t);

#endif
