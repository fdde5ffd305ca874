/* Starting a container process: the init process at START, or an exec'd one. */
#ifndef EDERA_LAUNCH_H
#define EDERA_LAUNCH_H

#include <sys/types.h>

#include "config.h"

/* PID 1's ends of the process's stdio, non-blocking. With a terminal, stdout_r and stdin_w are
 * both the pty master (two descriptors) and stderr_r is -1. */
struct launch_io {
	int stdin_w, stdout_r, stderr_r;
};

/* Fork the process: setsid (+ controlling terminal), chroot(root) unless root is "",
 * chdir(cwd), oom_score_adj, rlimits, umask, bounding set, groups/gid/uid, capabilities,
 * ambient set, no_new_privs, execve with a PATH lookup inside the root. A failure in the child
 * is written to its stderr and ends it with 127 (not found), 126 (not executable) or 1.
 * Returns the pid, or -1 with err (no process was started). */
pid_t launch(const struct proc_cfg *p, const char *root, struct launch_io *io, char err[ERR_MAX]);

/* A wait status as a container exit status: the code, or 128 + the signal. */
int map_status(int wstatus);

/* The exit status for an execve failure: 127 when the file is missing, else 126. */
int exec_failure_status(int err);

#endif
