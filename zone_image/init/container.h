/* The container's init process: made at SPEC in the namespaces config.json asks for, set up
 * there (mounts, /dev, pivot_root), released at START; and exec'd processes joining it. */
#ifndef EDERA_CONTAINER_H
#define EDERA_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "launch.h"
#include "log.h"

struct platform;

/* One container of the zone: its init process and PID 1's ends of its stdio. The zone's own
 * container (SPEC) is container_first; a pod's further containers (pod.c) have one each. */
struct container_state {
	pid_t pid;   /* the container's init process; 0 = none */
	int ctl;     /* PID 1's end of its control socket until START */
	int ns_flags;
	bool terminal;
	int in_w, out_r, err_r, master; /* PID 1's ends of its stdio */
	int own_pid_ns;                 /* PID 1's PID namespace, to come back after a fork */
	/* A pod's further container (pod.c): the namespaces (CLONE_NEWIPC/UTS/PID) it joins
	 * from the sandbox's process join_pid instead of making them, and its own cgroup. */
	pid_t join_pid;
	int join_flags;
	const char *cgroup_dir; /* NULL: the zone's container cgroup */
};
#define CONTAINER_STATE_INIT                                                             \
	{.ctl = -1, .in_w = -1, .out_r = -1, .err_r = -1, .master = -1, .own_pid_ns = -1}
extern struct container_state container_first;
/* The container the functions below act on (container_first unless pod.c switched it). */
extern struct container_state *container_cur;

/* SPEC: prepare the zone (disks, network), then fork the container's init process into new
 * namespaces (c->ns_flags; it is PID 1 of its PID namespace when one is asked for), where it
 * applies the container records, pivots into root (chroot without a mount namespace) and waits
 * for START. Returns 0 once it waits, or -1 with err (nothing is left running). */
int container_create(const struct container_cfg *c, const struct proc_cfg *p,
		     const struct platform *pl, char err[ERR_MAX]);

/* START: release the waiting process (it then runs p). Returns its pid, or -1 with err. */
pid_t container_start(const struct proc_cfg *p, struct launch_io *io, char err[ERR_MAX]);

/* What an exec'd process needs to join the container (see launch). */
struct container_join {
	int pid_fd;    /* the container's PID namespace, or -1 */
	int mnt_fd;    /* its mount namespace, or -1 */
	int ns_fds[3]; /* IPC, UTS, cgroup namespaces, or -1 */
	char pty_root[64 + 4096]; /* where the container's /dev/ptmx is found */
};

/* PID 1: open the container's namespaces (none when it has none). 0, or -1 with err (the
 * container's process is gone). */
int container_join_open(struct container_join *j, const char *root, char err[ERR_MAX]);
/* PID 1: fork, the child inside the container's PID namespace when it has one. */
pid_t container_join_fork(struct container_join *j);
/* The child: enter the IPC, UTS and cgroup namespaces (the mount namespace is the caller's to
 * enter last, from mnt_fd). 0, or -1 with errno. */
int container_join_child(struct container_join *j);
void container_join_close(struct container_join *j);

/* Mount points listed in mountinfo text (field 5, octal escapes decoded), in order, written as
 * NUL-terminated strings into out. Returns how many, or -1 when out is too small. */
int mountinfo_mount_points(const char *mountinfo, char *out, size_t outlen);

#endif
