#include "launch.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "fsutil.h"
#include "log.h"
#include "syscall_filter.h"

int map_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

int exec_failure_status(int err)
{
	return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

/* In the child: report on the process's own stderr (the host gets it as STDERR) and end. */
void child_fail(int status, const char *fmt, ...)
{
	char msg[ERR_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dprintf(2, "edera-init: %s\n", msg);
	_exit(status);
}

static void set_caps(const struct proc_cfg *p)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++) {
		data[i].effective = p->caps[CAP_EFFECTIVE] >> (32 * i);
		data[i].permitted = p->caps[CAP_PERMITTED] >> (32 * i);
		data[i].inheritable = p->caps[CAP_INHERITABLE] >> (32 * i);
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		child_fail(1, "capset: %s", strerror(errno));
	/* Like runc, a capability the kernel refuses for the ambient set is not fatal. */
	for (int cap = 0; cap < 64; cap++)
		if (p->caps[CAP_AMBIENT] >> cap & 1)
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

static void drop_bounding(uint64_t keep)
{
	for (int cap = 0; cap < 64; cap++) {
		if (keep >> cap & 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL) /* past the kernel's last capability */
				break;
			child_fail(1, "drop capability %d from the bounding set: %s", cap,
				   strerror(errno));
		}
	}
}

/* execve with runc's lookup: a name without '/' is searched in the process's PATH. */
static void __attribute__((noreturn)) exec_process(const struct proc_cfg *p)
{
	const char *file = p->argv[0];
	if (strchr(file, '/')) {
		execve(file, p->argv, p->envp);
		int e = errno;
		child_fail(exec_failure_status(e), "exec: \"%s\": %s", file, strerror(e));
	}
	const char *path = env_lookup(p->envp, "PATH");
	if (!path)
		path = DEFAULT_PATH;
	int denied = 0;
	while (1) {
		size_t dlen = strcspn(path, ":");
		char full[PATH_MAX];
		/* An empty PATH entry means the working directory. */
		const char *dir = dlen ? path : ".";
		int dirlen = dlen ? (int)dlen : 1;
		if (snprintf(full, sizeof full, "%.*s/%s", dirlen, dir, file) < (int)sizeof full) {
			execve(full, p->argv, p->envp);
			switch (errno) {
			case EACCES:
				denied = EACCES;
				break;
			case ENOENT:
			case ENOTDIR:
			case ELOOP:
			case ENAMETOOLONG:
				break;
			default: {
				int e = errno;
				child_fail(exec_failure_status(e), "exec: \"%s\": %s", full,
					   strerror(e));
			}
			}
		}
		if (!path[dlen])
			break;
		path += dlen + 1;
	}
	if (denied)
		child_fail(126, "exec: \"%s\": permission denied", file);
	child_fail(127, "exec: \"%s\": executable file not found in $PATH", file);
}

void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* PID 1 ignores SIGPIPE; an ignored signal would survive execve. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
}

int close_fds_from(int low, bool use_close_range)
{
	if (use_close_range && syscall(SYS_close_range, low, ~0U, 0) == 0)
		return 0;
	/* No close_range (an old kernel): every descriptor /proc/self/fd lists. Collected first,
	 * since closing while reading the directory would skip entries. */
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int fds[1024], n = 0, rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || fd < low || fd == dirfd(d))
			continue;
		if (n == (int)(sizeof fds / sizeof fds[0])) {
			rc = 1; /* more than fit: close these, then look again */
			break;
		}
		fds[n++] = (int)fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return rc ? close_fds_from(low, false) : 0;
}

void stdio_for_child(int in, int out, int err, int tty)
{
	setsid();
	if (tty >= 0) {
		in = out = err = tty;
		if (ioctl(tty, TIOCSCTTY, 0) < 0) {
			dprintf(tty, "edera-init: set the controlling terminal: %s\n",
				strerror(errno));
			_exit(1);
		}
	}
	if ((in != 0 && dup2(in, 0) < 0) || (out != 1 && dup2(out, 1) < 0) ||
	    (err != 2 && dup2(err, 2) < 0))
		_exit(1);
}

int passwd_home(const char *passwd, uid_t uid, char *home, size_t len)
{
	for (const char *line = passwd; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		/* name:password:uid:gid:gecos:home:shell */
		const char *f[7];
		size_t nf = 0;
		f[nf++] = line;
		for (size_t i = 0; i < n && nf < 7; i++)
			if (line[i] == ':')
				f[nf++] = line + i + 1;
		char num[16];
		if (nf == 7 && f[3] - f[2] - 1 > 0 && f[3] - f[2] - 1 < (long)sizeof num) {
			memcpy(num, f[2], f[3] - f[2] - 1);
			num[f[3] - f[2] - 1] = 0;
			uint64_t v;
			size_t hl = f[6] - f[5] - 1;
			if (parse_u64(num, 10, &v) == 0 && v == uid && hl > 0 && hl < len) {
				memcpy(home, f[5], hl);
				home[hl] = 0;
				return 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return -1;
}

/* runc sets HOME from the user's entry in the container's /etc/passwd (or "/") when the
 * process's env has none. */
static char **env_with_home(const struct proc_cfg *p)
{
	if (env_lookup(p->envp, "HOME"))
		return p->envp;
	static char text[65536];
	char home[PATH_MAX] = "/";
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, text, sizeof text - 1);
		close(fd);
		text[n > 0 ? n : 0] = 0;
		if (passwd_home(text, p->has_uid ? p->uid : 0, home, sizeof home) < 0)
			strcpy(home, "/");
	}
	char **env = xrealloc(NULL, (p->envc + 2) * sizeof(char *));
	memcpy(env, p->envp, p->envc * sizeof(char *));
	char *h = xrealloc(NULL, strlen(home) + 6);
	sprintf(h, "HOME=%s", home);
	env[p->envc] = h;
	env[p->envc + 1] = NULL;
	return env;
}

/* linux.seccomp: loaded where runc loads it (see run_process). */
static void load_filter(const struct proc_cfg *p)
{
	int rc = filter_load(p->filter);
	if (rc < 0)
		child_fail(1, "load the seccomp filter: %s", strerror(-rc));
}

void __attribute__((noreturn)) run_process(const struct proc_cfg *p)
{
	if (chdir(p->cwd) < 0)
		child_fail(1, "chdir to cwd \"%s\": %s", p->cwd, strerror(errno));
	for (size_t i = 0; i < p->nrlimits; i++) {
		struct rlimit rl = {p->rlimits[i].soft, p->rlimits[i].hard};
		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			child_fail(1, "setrlimit %d: %s", p->rlimits[i].resource, strerror(errno));
	}
	umask(p->has_umask ? p->umask : 022);
	struct proc_cfg with_home = *p;
	with_home.envp = env_with_home(p);
	/* Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: before the capabilities
	 * and the user change (the profile must allow what follows, as under runc). */
	if (p->filter && !p->no_new_privs)
		load_filter(p);
	if (p->has_caps) {
		drop_bounding(p->caps[CAP_BOUNDING]);
		/* Keep the permitted set across setuid so capset can still grant it. */
		prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	}
	if ((p->ngroups || p->has_uid || p->has_gid) && setgroups(p->ngroups, p->groups) < 0)
		child_fail(1, "setgroups: %s", strerror(errno));
	if (p->has_gid && setresgid(p->gid, p->gid, p->gid) < 0)
		child_fail(1, "setgid %u: %s", (unsigned)p->gid, strerror(errno));
	if (p->has_uid && setresuid(p->uid, p->uid, p->uid) < 0)
		child_fail(1, "setuid %u: %s", (unsigned)p->uid, strerror(errno));
	if (p->has_caps)
		set_caps(p);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(1, "set no_new_privs: %s", strerror(errno));
	/* With it, as late as possible: only execve runs under the filter. */
	if (p->filter && p->no_new_privs)
		load_filter(p);
	exec_process(&with_home);
}

void write_oom_score_adj(const struct proc_cfg *p)
{
	/* Written through the zone's /proc, before the container's root is entered: the
	 * container may not mount one. */
	if (!p->has_oom)
		return;
	char v[16];
	snprintf(v, sizeof v, "%d", p->oom_score_adj);
	if (write_file("/proc/self/oom_score_adj", v) < 0)
		child_fail(1, "set oom_score_adj to %d: %s", p->oom_score_adj, strerror(errno));
}

/* An exec'd process: into the container's namespaces (or chroot), then the process. */
static void __attribute__((noreturn)) exec_child(const struct proc_cfg *p, const char *root,
						 struct container_join *j, int in, int out,
						 int err, int tty)
{
	reset_signals();
	stdio_for_child(in, out, err, tty);
	/* The mount namespace is entered last, after the zone's /proc served for closing
	 * descriptors and oom_score_adj; its fd waits at 3. */
	if (container_join_child(j) < 0)
		child_fail(1, "enter the container's namespaces: %s", strerror(errno));
	int mnt = j->mnt_fd >= 0 ? dup2(j->mnt_fd, 3) : -1;
	/* Nothing of PID 1's (vchan, evtchn, gntalloc, xenbus, other processes' pipes) may
	 * leak into the container. */
	if (close_fds_from(mnt >= 0 ? 4 : 3, true) < 0)
		child_fail(1, "close the zone's descriptors: %s", strerror(errno));
	write_oom_score_adj(p);
	if (mnt >= 0) {
		if (setns(mnt, CLONE_NEWNS) < 0)
			child_fail(1, "enter the container's mount namespace: %s", strerror(errno));
		close(mnt);
	} else if (root[0] && (chroot(root) < 0 || chdir("/") < 0)) {
		child_fail(1, "chroot to %s: %s", root, strerror(errno));
	}
	run_process(p);
}

/* A pty pair, preferably from the container's own devpts (so the process sees its terminal in
 * its /dev/pts), else from PID 1's. The slave is opened through the master (TIOCGPTPEER), which
 * needs no path. */
int open_pty(const char *root, int *master, int *slave, char err[ERR_MAX])
{
	int m = -1;
	char path[PATH_MAX];
	struct stat st;
	if (root[0] && resolve_in_root(root, "/dev/ptmx", path, sizeof path) == 0) {
		m = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		/* Only a real ptmx (5:2): the image could put anything at /dev/ptmx. */
		if (m >= 0 && (fstat(m, &st) < 0 || !S_ISCHR(st.st_mode) ||
			       major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)) {
			close(m);
			m = -1;
		}
	}
	if (m < 0)
		m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0)
		return errf(err, "open /dev/ptmx: %s", strerror(errno));
	if (unlockpt(m) < 0) {
		close(m);
		return errf(err, "unlockpt: %s", strerror(errno));
	}
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		close(m);
		return errf(err, "open the pty slave: %s", strerror(errno));
	}
	*master = m;
	*slave = s;
	return 0;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

pid_t launch(const struct proc_cfg *p, const char *root, struct launch_io *io, char err[ERR_MAX])
{
	struct container_join j;
	if (container_join_open(&j, root, err) < 0)
		return -1;
	/* in[2], out[2], err[2], master, slave */
	int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
	if (p->terminal) {
		if (open_pty(j.pty_root, &fds[6], &fds[7], err) < 0) {
			container_join_close(&j);
			return -1;
		}
		if (p->rows && p->cols) {
			struct winsize ws = {.ws_row = p->rows, .ws_col = p->cols};
			ioctl(fds[6], TIOCSWINSZ, &ws);
		}
	} else if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 ||
		   pipe2(fds + 4, O_CLOEXEC) < 0) {
		close_all(fds, 8);
		container_join_close(&j);
		return errf(err, "pipe: %s", strerror(errno));
	}
	pid_t pid = container_join_fork(&j);
	if (pid < 0) {
		close_all(fds, 8);
		container_join_close(&j);
		return errf(err, "fork into the container: %s", strerror(errno));
	}
	if (pid == 0)
		exec_child(p, root, &j, fds[0], fds[3], fds[5], fds[7]);
	container_join_close(&j);
	int child_ends[4] = {fds[0], fds[3], fds[5], fds[7]};
	close_all(child_ends, 4);
	launch_io_from(io, p->terminal, fds[1], fds[2], fds[4], fds[6]);
	return pid;
}

void launch_io_from(struct launch_io *io, bool terminal, int in_w, int out_r, int err_r,
		    int master)
{
	if (terminal) {
		io->stdout_r = master;
		io->stdin_w = fcntl(master, F_DUPFD_CLOEXEC, 3);
		io->stderr_r = -1;
	} else {
		io->stdin_w = in_w;
		io->stdout_r = out_r;
		io->stderr_r = err_r;
	}
	int mine[3] = {io->stdin_w, io->stdout_r, io->stderr_r};
	for (int i = 0; i < 3; i++)
		if (mine[i] >= 0)
			fcntl(mine[i], F_SETFL, fcntl(mine[i], F_GETFL) | O_NONBLOCK);
}
