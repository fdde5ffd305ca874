/* Starting a container process: the init process at START, or an exec'd one. */
#ifndef EDERA_LAUNCH_H
#define EDERA_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

/* PID 1's ends of the process's stdio, non-blocking. With a terminal, stdout_r and stdin_w are
 * both the pty master (two descriptors) and stderr_r is -1. */
struct launch_io {
	int stdin_w, stdout_r, stderr_r;
};

/* Start an exec'd process: fork it into the container's PID namespace, setsid (+ controlling
 * terminal), close every descriptor of PID 1's, oom_score_adj, enter the container's IPC, UTS,
 * cgroup and mount namespaces (or chroot(root) when it has no mount namespace; nothing when root
 * is "" and there is no container namespace), then run_process. A failure in the child is
 * written to its stderr and ends it with 127 (not found), 126 (not executable) or 1.
 * Returns the pid (as the zone sees it), or -1 with err (no process was started). */
pid_t launch(const struct proc_cfg *p, const char *root, struct launch_io *io, char err[ERR_MAX]);

/* The child's part, inside the container's root: chdir(cwd), rlimits, umask, HOME, bounding
 * set, groups/gid/uid, capabilities, ambient set, no_new_privs, execve with a PATH lookup. */
void run_process(const struct proc_cfg *p) __attribute__((noreturn));

/* In a child: report on the process's own stderr (the host gets it as STDERR) and _exit. */
void child_fail(int status, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* In a child: default signal dispositions and an empty mask. */
void reset_signals(void);
/* In a child: setsid, the controlling terminal (tty >= 0), stdio on 0-2. */
void stdio_for_child(int in, int out, int err, int tty);
/* In a child: the process's oom_score_adj, through the zone's /proc. */
void write_oom_score_adj(const struct proc_cfg *p);

/* Close every descriptor >= low: close_range, or (it failed or use_close_range is false) each
 * one /proc/self/fd lists. 0, or -1 when neither works. */
int close_fds_from(int low, bool use_close_range);

/* A pty pair, preferably from the devpts at root's /dev/ptmx, else PID 1's. */
int open_pty(const char *root, int *master, int *slave, char err[ERR_MAX]);

/* PID 1's ends of a started process's stdio as launch_io (non-blocking). */
void launch_io_from(struct launch_io *io, bool terminal, int in_w, int out_r, int err_r,
		    int master);

/* The home directory of uid in /etc/passwd's text, into home. 0, or -1 when not listed. */
int passwd_home(const char *passwd, uid_t uid, char *home, size_t len);

/* A wait status as a container exit status: the code, or 128 + the signal. */
int map_status(int wstatus);

/* The exit status for an execve failure: 127 when the file is missing, else 126. */
int exec_failure_status(int err);

#endif
