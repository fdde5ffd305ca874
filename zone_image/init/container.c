/* The container's init process, runc-style: forked at SPEC into the namespaces config.json
 * asks for (the zone init stays outside them, as the zone's PID 1 and reaper), it applies the
 * container records inside them, pivot_roots into the container's root, hands back its pty
 * master, and waits on a socket for START. Exec'd processes join the same namespaces. */
#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cgroup.h"
#include "fsutil.h"
#include "platform.h"
#include "pod.h"
#include "setup.h"

#define CTL_FD 3

struct container_state container_first = CONTAINER_STATE_INIT;
struct container_state *container_cur = &container_first;
/* Every function here acts on the current container (pod.c switches it for a pod's others). */
#define ctr (*container_cur)

/* Into the container's cgroup: its own (a pod's further container), else the zone's one. */
static int join_container_cgroup(void)
{
	return ctr.cgroup_dir ? pod_cgroup_join(ctr.cgroup_dir) : cgroup_join();
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Fork with the child in the PID namespace pid_ns (-1: PID 1's own), or in a new one (new_ns).
 * Only children enter a PID namespace, so PID 1 points its children's namespace there, forks,
 * and points it back at its own. */
static pid_t fork_in_pid_ns(int pid_ns, bool new_ns)
{
	if (pid_ns < 0 && !new_ns)
		return fork();
	if (ctr.own_pid_ns < 0)
		ctr.own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (ctr.own_pid_ns < 0)
		return -1;
	if (new_ns ? unshare(CLONE_NEWPID) : setns(pid_ns, CLONE_NEWPID))
		return -1;
	pid_t pid = fork();
	int saved = errno;
	if (pid != 0 && setns(ctr.own_pid_ns, CLONE_NEWPID) < 0)
		log_msg("return to the zone's PID namespace: %s", strerror(errno));
	errno = saved;
	return pid;
}

/* ---- in the container's init process ------------------------------------------------- */

/* Report a setup failure to PID 1 (it becomes the ERROR frame) and end. */
static void __attribute__((noreturn, format(printf, 1, 2))) setup_fail(const char *fmt, ...)
{
	char msg[ERR_MAX + 1];
	msg[0] = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + 1, ERR_MAX, fmt, ap);
	va_end(ap);
	send(CTL_FD, msg, 1 + strlen(msg + 1), MSG_NOSIGNAL);
	_exit(1);
}

int mountinfo_mount_points(const char *mountinfo, char *out, size_t outlen)
{
	int n = 0;
	size_t used = 0;
	for (const char *line = mountinfo; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		/* id parent major:minor root mount-point ... */
		const char *f = line;
		for (int i = 0; i < 4 && f < end; i++) {
			f = memchr(f, ' ', end - f);
			f = f ? f + 1 : end;
		}
		if (f < end) {
			while (f < end && *f != ' ') {
				if (used + 1 >= outlen)
					return -1;
				if (f[0] == '\\' && end - f >= 4 && f[1] >= '0' && f[1] <= '3') {
					out[used++] = (char)((f[1] - '0') << 6 | (f[2] - '0') << 3 |
							     (f[3] - '0'));
					f += 4;
				} else {
					out[used++] = *f++;
				}
			}
			if (used + 1 >= outlen)
				return -1;
			out[used++] = 0;
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	return n;
}

/* Is path equal to dir or below it? */
static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

/* Detach every mount of this (private) namespace other than "/", root and what lies on the way
 * to root: the zone's /dev (xen devices, its console), /proc, /sys, binds disk. */
static void detach_zone_mounts(const char *root)
{
	static char text[65536], points[65536];
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		setup_fail("read the zone's mounts: %s", strerror(errno));
	size_t len = 0;
	ssize_t r;
	while (len < sizeof text - 1 && (r = read(fd, text + len, sizeof text - 1 - len)) > 0)
		len += r;
	close(fd);
	text[len] = 0;
	int n = mountinfo_mount_points(text, points, sizeof points);
	if (n < 0)
		setup_fail("the zone's mount table is too large");
	const char *p = points;
	for (int i = 0; i < n; i++, p += strlen(p) + 1) {
		if (!strcmp(p, "/") || under(p, root) || under(root, p))
			continue;
		/* A child of one detached already is gone with it: ignore EINVAL/ENOENT. */
		umount2(p, MNT_DETACH);
	}
}

/* The zone's root is the initramfs (rootfs), the one mount pivot_root cannot move. Put a
 * tmpfs with the container's root inside it in its place, as the root of this namespace;
 * pivot_root then works and the tmpfs goes as the old root. */
static void stage_root(const char *root)
{
	char stage[PATH_MAX], inner[PATH_MAX + 8];
	snprintf(stage, sizeof stage, "%s.stage", root);
	snprintf(inner, sizeof inner, "%s/root", stage);
	detach_zone_mounts(root);
	if ((mkdir(stage, 0700) < 0 && errno != EEXIST) ||
	    mount("tmpfs", stage, "tmpfs", 0, "mode=0700,size=16k") < 0 || mkdir(inner, 0700) < 0)
		setup_fail("make the staging mount %s: %s", stage, strerror(errno));
	if (mount(root, inner, NULL, MS_MOVE, NULL) < 0)
		setup_fail("move %s into %s: %s", root, inner, strerror(errno));
	if (chdir(stage) < 0 || mount(stage, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/root") < 0)
		setup_fail("make %s the namespace's root: %s", stage, strerror(errno));
}

/* pivot_root into root with a mount namespace (the old root detached: nothing of the zone's
 * stays reachable), else chroot, as runc does. */
static void enter_root(const char *root, bool own_mount_ns)
{
	if (!own_mount_ns) {
		if (chroot(root) < 0 || chdir("/") < 0)
			setup_fail("chroot to %s: %s", root, strerror(errno));
		return;
	}
	if (chdir(root) < 0)
		setup_fail("chdir to %s: %s", root, strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		if (errno != EINVAL)
			setup_fail("pivot_root to %s: %s", root, strerror(errno));
		stage_root(root);
		if (syscall(SYS_pivot_root, ".", ".") < 0)
			setup_fail("pivot_root to %s: %s", root, strerror(errno));
	}
	/* pivot_root(".", ".") stacked the old root on the new one: detach it. */
	if (umount2(".", MNT_DETACH) < 0)
		setup_fail("detach the old root: %s", strerror(errno));
	if (chdir("/") < 0)
		setup_fail("chdir to the new root: %s", strerror(errno));
}

/* The terminal, from the container's devpts if it has one, else PID 1's; the slave becomes
 * stdio and, when the container has a /dev, its /dev/console (as runc does). */
static int container_pty(const char *root)
{
	int master, slave;
	char err[ERR_MAX];
	if (open_pty(root, &master, &slave, err) < 0)
		setup_fail("%s", err);
	if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
		setup_fail("terminal on stdio: %s", strerror(errno));
	close(slave);
	char console[PATH_MAX];
	struct stat st;
	if (root[0] && resolve_in_root(root, "/dev", console, sizeof console) == 0 &&
	    stat(console, &st) == 0 && S_ISDIR(st.st_mode)) {
		strncat(console, "/console", sizeof console - strlen(console) - 1);
		int fd = open(console, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		if (fd < 0 || mount("/proc/self/fd/0", console, NULL, MS_BIND, NULL) < 0)
			setup_fail("bind the terminal on /dev/console: %s", strerror(errno));
	}
	return master;
}

static void send_ready(int master)
{
	char ok = 0;
	struct iovec iov = {.iov_base = &ok, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (master >= 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &master, sizeof(int));
	}
	if (sendmsg(CTL_FD, &msg, MSG_NOSIGNAL) < 0)
		_exit(1);
}

static void __attribute__((noreturn)) init_child(const struct container_cfg *c,
						 const struct proc_cfg *p,
						 const struct platform *pl, int ctl, int in,
						 int out, int err)
{
	reset_signals();
	/* On a host test the zone init can die; a zone's PID 1 never does. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* ctl at 3 and the stdio pipes at 4-6 (through fds >= 10, so none overwrites another);
	 * 0-2 stay the zone's console for setup diagnostics until the process's stdio replaces
	 * them. */
	int mine[4] = {ctl, in, out, err};
	for (int i = 0; i < 4; i++)
		if (mine[i] >= 0 && (mine[i] = fcntl(mine[i], F_DUPFD, 10)) < 0)
			_exit(1);
	for (int i = 0; i < 4; i++)
		if (mine[i] >= 0 && dup2(mine[i], CTL_FD + i) < 0)
			_exit(1);
	/* Nothing of PID 1's (vchan, evtchn, gntalloc, xenbus) may reach the container:
	 * closed before any of its namespaces or its root is entered. */
	if (close_fds_from(CTL_FD + 4, true) < 0)
		setup_fail("close the zone's descriptors: %s", strerror(errno));
	/* Into the container's cgroup before its cgroup namespace, which is then rooted there. */
	if (cgroup_active() && join_container_cgroup() < 0)
		setup_fail("join the container's cgroup: %s", strerror(errno));
	/* A pod's further container shares the sandbox's IPC and UTS namespaces (pod.c). */
	if (ctr.join_pid && pod_join_namespaces(ctr.join_pid, ctr.join_flags & ~CLONE_NEWPID) < 0)
		setup_fail("join the pod's namespaces: %s", strerror(errno));
	int flags = c->ns_flags & ~CLONE_NEWPID;
	if (flags && unshare(flags) < 0)
		setup_fail("create the container's namespaces (0x%x): %s", flags, strerror(errno));
	bool own_mount_ns = c->ns_flags & CLONE_NEWNS;
	/* Nothing mounted in the container propagates to the zone, or back. */
	if (own_mount_ns && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		setup_fail("make the container's mounts private: %s", strerror(errno));
	if (p->has_oom) {
		char v[16];
		snprintf(v, sizeof v, "%d", p->oom_score_adj);
		if (write_file("/proc/self/oom_score_adj", v) < 0)
			setup_fail("set oom_score_adj to %d: %s", p->oom_score_adj,
				   strerror(errno));
	}
	char msg[ERR_MAX];
	if (pl->apply_setup && container_setup(c, pl->root, pl->zone, msg) < 0)
		setup_fail("%s", msg);
	int master = -1;
	if (p->terminal) {
		master = container_pty(pl->root);
	} else if (dup2(CTL_FD + 1, 0) < 0 || dup2(CTL_FD + 2, 1) < 0 || dup2(CTL_FD + 3, 2) < 0) {
		setup_fail("stdio: %s", strerror(errno));
	}
	/* Only ctl and the pty master (moved to 4) are left of what is not the process's. */
	if (master >= 0)
		master = dup2(master, CTL_FD + 1);
	close_fds_from(master >= 0 ? CTL_FD + 2 : CTL_FD + 1, true);
	if (pl->root[0])
		enter_root(pl->root, own_mount_ns);
	send_ready(master);
	if (master >= 0)
		close(master);
	char go;
	if (recv(CTL_FD, &go, 1, 0) != 1)
		_exit(1); /* PID 1 gave up on the container before START */
	close(CTL_FD);
	stdio_for_child(0, 1, 2, p->terminal ? 0 : -1);
	run_process(p);
}

/* ---- in PID 1 ------------------------------------------------------------------------ */

/* The child's first message: 0 (+ its pty master) = waiting for START, 1 + text = failed. */
static int wait_ready(char err[ERR_MAX])
{
	char buf[ERR_MAX + 1];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf};
	ssize_t n;
	do
		n = recvmsg(ctr.ctl, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return errf(err, "the container's init process ended during setup");
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&ctr.master, CMSG_DATA(c), sizeof(int));
	if (buf[0] != 0) {
		buf[n] = 0;
		return errf(err, "%s", buf + 1);
	}
	return 0;
}

static void forget(void)
{
	close_fd(&ctr.ctl);
	close_fd(&ctr.in_w);
	close_fd(&ctr.out_r);
	close_fd(&ctr.err_r);
	close_fd(&ctr.master);
}

int container_create(const struct container_cfg *c, const struct proc_cfg *p,
		     const struct platform *pl, char err[ERR_MAX])
{
	/* A pod's further container had its disks and cgroup prepared by pod.c. */
	if (pl->apply_setup && !ctr.join_pid && zone_prepare(c, pl->root, pl->zone, err) < 0)
		return -1;
	/* A host test with a cgroup directory: the settings are written there (a pod's further
	 * container's went to its own, by pod.c). */
	if (!pl->zone && !ctr.join_pid && cgroup_uses_fake_dir() && cgroup_prepare(c, err) < 0)
		return -1;
	/* Nobody in the container may ptrace PID 1's children (or read their memory, which
	 * maps the vchan rings) before they execve: they are not dumpable until then. */
	prctl(PR_SET_DUMPABLE, 0);
	int sv[2], in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return errf(err, "socketpair: %s", strerror(errno));
	if (!p->terminal && (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
			     pipe2(errp, O_CLOEXEC) < 0)) {
		int all[8] = {sv[0], sv[1], in[0], in[1], out[0], out[1], errp[0], errp[1]};
		for (int i = 0; i < 8; i++)
			close_fd(&all[i]);
		return errf(err, "pipe: %s", strerror(errno));
	}
	/* A pod's further container may share the sandbox's PID namespace (pod.c). */
	int pid_ns = ctr.join_pid && (ctr.join_flags & CLONE_NEWPID) ? pod_ns_open(ctr.join_pid, "pid")
								     : -1;
	pid_t pid = fork_in_pid_ns(pid_ns, pid_ns < 0 && (c->ns_flags & CLONE_NEWPID));
	if (pid == 0)
		init_child(c, p, pl, sv[1], in[0], out[1], errp[1]);
	close_fd(&pid_ns);
	int theirs[4] = {sv[1], in[0], out[1], errp[1]};
	for (int i = 0; i < 4; i++)
		close_fd(&theirs[i]);
	ctr.ctl = sv[0];
	ctr.in_w = in[1];
	ctr.out_r = out[0];
	ctr.err_r = errp[0];
	ctr.terminal = p->terminal;
	ctr.ns_flags = c->ns_flags;
	if (pid < 0) {
		forget();
		return errf(err, "fork the container's init process: %s", strerror(errno));
	}
	ctr.pid = pid;
	if (wait_ready(err) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ctr.pid = 0;
		forget();
		return -1;
	}
	return 0;
}

pid_t container_start(const struct proc_cfg *p, struct launch_io *io, char err[ERR_MAX])
{
	if (!ctr.pid || ctr.ctl < 0)
		return errf(err, "the container's init process was not created");
	if (ctr.terminal && p->rows && p->cols) {
		struct winsize ws = {.ws_row = p->rows, .ws_col = p->cols};
		ioctl(ctr.master, TIOCSWINSZ, &ws);
	}
	char go = 1;
	if (send(ctr.ctl, &go, 1, MSG_NOSIGNAL) != 1) {
		forget();
		return errf(err, "the container's init process ended before START");
	}
	close_fd(&ctr.ctl);
	launch_io_from(io, ctr.terminal, ctr.in_w, ctr.out_r, ctr.err_r, ctr.master);
	/* Handed over: main owns them now. */
	ctr.in_w = ctr.out_r = ctr.err_r = ctr.master = -1;
	return ctr.pid;
}

int container_join_open(struct container_join *j, const char *root, char err[ERR_MAX])
{
	static const struct { const char *name; int flag; } kinds[3] = {
		{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP},
	};
	j->pid_fd = j->mnt_fd = -1;
	for (int i = 0; i < 3; i++)
		j->ns_fds[i] = -1;
	snprintf(j->pty_root, sizeof j->pty_root, "%s", root);
	if (!ctr.pid || !ctr.ns_flags)
		return 0;
	char path[64];
	int *fds[5] = {&j->pid_fd, &j->mnt_fd, &j->ns_fds[0], &j->ns_fds[1], &j->ns_fds[2]};
	const char *names[5] = {"pid", "mnt", kinds[0].name, kinds[1].name, kinds[2].name};
	int flags[5] = {CLONE_NEWPID, CLONE_NEWNS, kinds[0].flag, kinds[1].flag, kinds[2].flag};
	for (int i = 0; i < 5; i++) {
		if (!(ctr.ns_flags & flags[i]))
			continue;
		snprintf(path, sizeof path, "/proc/%d/ns/%s", ctr.pid, names[i]);
		*fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (*fds[i] < 0) {
			container_join_close(j);
			return errf(err, "the container is not running (open %s: %s)", path,
				    strerror(errno));
		}
	}
	if (ctr.ns_flags & CLONE_NEWNS)
		snprintf(j->pty_root, sizeof j->pty_root, "/proc/%d/root", ctr.pid);
	return 0;
}

pid_t container_join_fork(struct container_join *j)
{
	return fork_in_pid_ns(j->pid_fd, false);
}

int container_join_child(struct container_join *j)
{
	if (cgroup_active() && join_container_cgroup() < 0)
		return -1;
	static const int flags[3] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP};
	for (int i = 0; i < 3; i++)
		if (j->ns_fds[i] >= 0 && setns(j->ns_fds[i], flags[i]) < 0)
			return -1;
	return 0;
}

void container_join_close(struct container_join *j)
{
	close_fd(&j->pid_fd);
	for (int i = 0; i < 3; i++)
		close_fd(&j->ns_fds[i]);
	/* mnt_fd is CLOEXEC and stays open in a child until it is used. */
	close_fd(&j->mnt_fd);
}
