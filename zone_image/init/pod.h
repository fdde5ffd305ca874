/* A pod's further containers: the zone is the pod's (its first container, from SPEC, is the
 * sandbox), and each CONTAINER frame adds a container with its own root disk, mount namespace
 * and cgroup, sharing the zone's network and the sandbox's IPC and UTS namespaces (and its PID
 * namespace when asked). PROTOCOL.md, "Pods". */
#ifndef EDERA_POD_H
#define EDERA_POD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "container.h"
#include "launch.h"
#include "log.h"

struct platform;

#define POD_DIR "/run/edera/pod"
#define POD_NAME_MAX 64

struct pod_ctr {
	struct container_state st;
	struct container_cfg cfg;
	char name[POD_NAME_MAX + 1];
	char root[128], binds[128], cgroup[128];
	bool root_mounted, binds_mounted, cgroup_made;
	void *filter; /* its linux.seccomp (NULL: none), for it and its execs; freed with it */
	int device_prog; /* its device program (DEVICE_RULE), -1: none */
};

/* The pod records of a CONTAINER frame (POD_NAME, POD_JOIN) into name and the CLONE_NEW* flags
 * to join. 0, or -1 with err. */
int pod_records(const uint8_t *p, size_t n, char name[POD_NAME_MAX + 1], int *join,
		char err[ERR_MAX]);

/* CONTAINER: parse the records, mount the container's disks under POD_DIR/<name>, make its
 * cgroup, and fork its init process (the sandbox's process `sandbox` lends its namespaces), which
 * sets up its root and waits for START. Returns the new container, or NULL with err (nothing is
 * left mounted or running). */
struct pod_ctr *pod_create(const uint8_t *p, size_t n, struct proc_cfg *proc,
			   const struct platform *pl, pid_t sandbox, int sandbox_ns,
			   char err[ERR_MAX]);
/* START: release it. Its pid, or -1 with err. */
pid_t pod_start(struct pod_ctr *pc, const struct proc_cfg *p, struct launch_io *io,
		char err[ERR_MAX]);
/* Signal every process of the container (its cgroup; on a host test its init process). */
void pod_kill_all(struct pod_ctr *pc, int sig);
/* Where an exec into it chroots or finds /dev/ptmx (its root in the zone's namespace). */
const char *pod_root(const struct pod_ctr *pc, const struct platform *pl);
/* The container is done (EXIT_ACK, or its host went away): kill what is left, detach its
 * disks' mounts, remove its cgroup, free it. */
void pod_free(struct pod_ctr *pc);

/* In a forked child: join pid's namespaces of the CLONE_NEWIPC/NEWUTS flags given. 0 or -1. */
int pod_join_namespaces(pid_t pid, int flags);
/* An O_CLOEXEC fd on /proc/<pid>/ns/<type>, or -1. */
int pod_ns_open(pid_t pid, const char *type);
/* Move the caller into the cgroup directory dir. 0, or -1 with errno. */
int pod_cgroup_join(const char *dir);

#endif
