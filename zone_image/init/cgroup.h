/* cgroup v2 in the zone for the container: limits and a device program (zone only). */
#ifndef EDERA_CGROUP_H
#define EDERA_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>

#include "config.h"

#define CONTAINER_CGROUP "/sys/fs/cgroup/edera/container"

/* PID 1 at SPEC: mount cgroup2 on /sys/fs/cgroup, enable cpu, memory and pids, create the
 * container's cgroup, write the CGROUP records into it, and attach the device program (the
 * zone's disks 202:*, console 229:* and xen/ misc devices denied, everything else allowed) to
 * its parent. 0, or -1 with err. */
int cgroup_prepare(const struct container_cfg *c, char err[ERR_MAX]);
/* Was cgroup_prepare done (a zone)? Processes then join the container's cgroup. */
bool cgroup_active(void);
/* Move the calling process into the container's cgroup. 0, or -1 with errno. */
int cgroup_join(void);

/* A CGROUP record's file name the zone init writes (memory.max, memory.swap.max, pids.max,
 * cpu.max, cpu.weight). */
bool cgroup_setting_allowed(const char *file);
/* The minors of the xen/ misc devices in /proc/misc's text. */
size_t xen_misc_minors(const char *proc_misc, unsigned *out, size_t cap);
/* The device program for those minors into out; its length, or -1 when cap is too small. */
int device_program(const unsigned *xen_minors, size_t n, struct bpf_insn *out, size_t cap);

#endif
