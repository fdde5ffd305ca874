/* The host-test platform: the same init, minus Xen. The host end of port 1 is a socket passed as
 * fd EDERA_INIT_FD (default 3); exec ports are Unix sockets EDERA_INIT_EXEC_DIR/<port> that the
 * test connects to, like a vchan client. Nothing here mounts, loads modules or powers off.
 *
 * Environment: EDERA_INIT_HOST_TEST=1 (required), EDERA_INIT_FD (default 3),
 * EDERA_INIT_EXEC_DIR (exec ports), EDERA_INIT_ROOT (apply mounts etc. under this root and
 * chroot the processes into it: run in a mount namespace), EDERA_INIT_NET=1 (apply the network
 * records: run in a network namespace), EDERA_INIT_CGROUP (a directory of plain files standing
 * for the container's cgroup: the CGROUP and UPDATE settings are written there and STATS reads
 * it; nothing is mounted or joined). */
#include "platform.h"

#include "cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

void platform_init(struct platform *pl)
{
	const char *flag = getenv("EDERA_INIT_HOST_TEST");
	if (!flag || strcmp(flag, "1")) {
		fprintf(stderr, "edera-init-host: set EDERA_INIT_HOST_TEST=1 to run the host-test "
				"build (it skips the zone's boot, XenStore and power off)\n");
		exit(2);
	}
	const char *root = getenv("EDERA_INIT_ROOT");
	pl->zone = false;
	pl->root = root ? root : "";
	pl->apply_setup = root && root[0];
	const char *net = getenv("EDERA_INIT_NET");
	pl->host_net = net && !strcmp(net, "1");
	const char *cg = getenv("EDERA_INIT_CGROUP");
	if (cg && cg[0])
		cgroup_use_dir(cg);
	/* Orphans re-parent to us, as they would to PID 1, so we reap them and can signal them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	log_msg("host test: pid %d, root %s", getpid(), pl->root[0] ? pl->root : "(none)");
}

void platform_state(const char *state)
{
	log_msg("state=%s", state);
}

void platform_exit_status(int status)
{
	log_msg("exit-status=%d", status);
}

/* Parent of pid from /proc/<pid>/stat (the field after the command name), or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	int ppid;
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* kill(-1) would hit the whole host: signal our descendants only. */
void platform_kill_all(int sig)
{
	pid_t self = getpid();
	pid_t *pids = NULL, *ppids = NULL;
	bool *mine = NULL;
	size_t n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pids = xrealloc(pids, (n + 1) * sizeof *pids);
		ppids = xrealloc(ppids, (n + 1) * sizeof *ppids);
		mine = xrealloc(mine, (n + 1) * sizeof *mine);
		pids[n] = atoi(e->d_name);
		ppids[n] = parent_of(pids[n]);
		mine[n] = false;
		n++;
	}
	if (d)
		closedir(d);
	/* Mark children of self, then children of marked processes, until nothing changes. */
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (mine[i] || pids[i] == self || ppids[i] <= 0)
				continue;
			bool child = ppids[i] == self;
			for (size_t j = 0; j < n && !child; j++)
				child = mine[j] && pids[j] == ppids[i];
			if (child) {
				mine[i] = true;
				changed = true;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (mine[i] && pids[i] > 1 && pids[i] != self)
			kill(pids[i], sig);
	free(pids);
	free(ppids);
	free(mine);
}

void platform_poweroff(int code)
{
	log_msg("power off (host test: exit %d)", code);
	platform_kill_all(SIGKILL);
	/* Reap what was killed (for up to a second) rather than leave zombies to our parent. */
	uint64_t end = now_ms() + 1000;
	while (now_ms() < end) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid < 0)
			break; /* no children left */
		if (pid == 0)
			usleep(10000);
	}
	exit(code);
}

struct transport {
	int fd;        /* the connection, -1 while listening */
	int listen_fd; /* exec ports: the listening socket until the test connects */
	bool closed;
	char path[108];
};

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

struct transport *tr_listen(int port, char err[ERR_MAX])
{
	struct transport *t = xrealloc(NULL, sizeof *t);
	memset(t, 0, sizeof *t);
	t->fd = t->listen_fd = -1;
	if (port == 1) {
		const char *env = getenv("EDERA_INIT_FD");
		t->fd = env ? atoi(env) : 3;
		if (fcntl(t->fd, F_GETFD) < 0) {
			errf(err, "channel fd %d: %s", t->fd, strerror(errno));
			free(t);
			return NULL;
		}
		nonblock(t->fd);
		return t;
	}
	const char *dir = getenv("EDERA_INIT_EXEC_DIR");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!dir || snprintf(t->path, sizeof t->path, "%s/%d", dir, port) >= (int)sizeof t->path ||
	    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/.%d.new", dir, port) >=
		    (int)sizeof sa.sun_path) {
		errf(err, "exec port %d: EDERA_INIT_EXEC_DIR unset or too long", port);
		free(t);
		return NULL;
	}
	/* The path appears only once it accepts connections (rename after listen), as the vchan
	 * keys appear only once the server is ready. */
	unlink(sa.sun_path);
	t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->listen_fd < 0 || bind(t->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(t->listen_fd, 1) < 0 || rename(sa.sun_path, t->path) < 0) {
		errf(err, "listen on %s: %s", t->path, strerror(errno));
		if (t->listen_fd >= 0)
			close(t->listen_fd);
		unlink(sa.sun_path);
		free(t);
		return NULL;
	}
	return t;
}

int tr_fd(struct transport *t)
{
	return t->fd >= 0 ? t->fd : t->listen_fd;
}

short tr_poll_events(struct transport *t, bool want_write)
{
	return t->fd >= 0 && want_write ? POLLIN | POLLOUT : POLLIN;
}

void tr_event(struct transport *t, short revents)
{
	if (t->fd >= 0 || !(revents & POLLIN))
		return;
	int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* One client per port, as with a vchan. */
	close(t->listen_fd);
	unlink(t->path);
	t->listen_fd = -1;
	t->fd = fd;
}

int tr_state(struct transport *t)
{
	if (t->closed)
		return TR_CLOSED;
	return t->fd >= 0 ? TR_OPEN : TR_WAITING;
}

ssize_t tr_read(struct transport *t, void *buf, size_t n)
{
	if (t->closed)
		return -1;
	if (t->fd < 0)
		return 0;
	ssize_t r = read(t->fd, buf, n);
	if (r > 0)
		return r;
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	t->closed = true;
	return -1;
}

ssize_t tr_write(struct transport *t, const void *buf, size_t n)
{
	if (t->closed)
		return -1;
	if (t->fd < 0)
		return 0;
	ssize_t w = send(t->fd, buf, n, MSG_NOSIGNAL);
	if (w >= 0)
		return w;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	t->closed = true;
	return -1;
}

void tr_close(struct transport *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->listen_fd >= 0) {
		close(t->listen_fd);
		unlink(t->path);
	}
	free(t);
}
