/* The zone platform: PID 1 of a Xen PV guest, talking to dom0 over libxenvchan. */
#include "platform.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <libxenvchan.h>
#include <xenstore.h>

#include "setup.h"

/* 64 KiB each way: 16 granted pages per ring, measured at 40-70 MiB/s in the lab. */
#define RING_SIZE 65536

static struct xs_handle *xs;

static void xs_put(const char *key, const char *value)
{
	if (!xs)
		xs = xs_open(0);
	if (!xs || !xs_write(xs, XBT_NULL, key, value, strlen(value)))
		log_msg("xenstore write %s=%s: %s", key, value, strerror(errno));
}

void platform_init(struct platform *pl)
{
	if (getpid() != 1) {
		fprintf(stderr, "edera-init: not PID 1; this is a zone's init "
				"(edera-init-host is the build for host tests)\n");
		exit(1);
	}
	if (boot_setup() < 0) {
		log_msg("boot setup failed");
		platform_poweroff(1);
	}
	pl->zone = true;
	pl->root = ZONE_ROOT;
	pl->apply_setup = true;
}

void platform_state(const char *state)
{
	xs_put("edera/state", state);
}

void platform_exit_status(int status)
{
	char v[16];
	snprintf(v, sizeof v, "%d", status);
	xs_put("edera/exit-status", v);
}

void platform_kill_all(int sig)
{
	/* From PID 1, -1 reaches every process but PID 1 itself. */
	kill(-1, sig);
}

void platform_poweroff(int code)
{
	log_msg("powering off (%d)", code);
	sync();
	reboot(RB_POWER_OFF);
	/* PID 1 must never exit: that panics the kernel. */
	for (;;)
		pause();
}

struct transport {
	struct libxenvchan *v;
};

struct transport *tr_listen(int port, char err[ERR_MAX])
{
	char path[64];
	snprintf(path, sizeof path, "data/vchan/0/%d", port);
	struct libxenvchan *v = libxenvchan_server_init(NULL, 0, path, RING_SIZE, RING_SIZE);
	if (!v) {
		errf(err, "vchan server at %s: %s", path, strerror(errno));
		return NULL;
	}
	/* server_init leaves these bits uninitialised (lab pitfall 6): we poll, never block. */
	v->blocking = 0;
	v->server_persist = 0;
	struct transport *t = xrealloc(NULL, sizeof *t);
	t->v = v;
	return t;
}

int tr_fd(struct transport *t)
{
	return libxenvchan_fd_for_select(t->v);
}

short tr_poll_events(struct transport *t, bool want_write)
{
	/* Ring space and data both arrive as event-channel notifications. */
	(void)t;
	(void)want_write;
	return POLLIN;
}

void tr_event(struct transport *t, short revents)
{
	/* libxenvchan_wait reads the pending event, so only call it when one is there. */
	if (revents & POLLIN)
		libxenvchan_wait(t->v);
}

int tr_state(struct transport *t)
{
	switch (libxenvchan_is_open(t->v)) {
	case 2:
		return TR_WAITING;
	case 1:
		return TR_OPEN;
	default:
		return TR_CLOSED;
	}
}

ssize_t tr_read(struct transport *t, void *buf, size_t n)
{
	return libxenvchan_read(t->v, buf, n);
}

ssize_t tr_write(struct transport *t, const void *buf, size_t n)
{
	return libxenvchan_write(t->v, buf, n);
}

void tr_close(struct transport *t)
{
	libxenvchan_close(t->v);
	free(t);
}
