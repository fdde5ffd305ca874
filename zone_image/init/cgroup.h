/* cgroup v2 in the zone for the container: limits and a device program (zone only). */
#ifndef EDERA_CGROUP_H
#define EDERA_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>

#include "config.h"

#define CONTAINER_CGROUP "/sys/fs/cgroup/edera/container"

/* PID 1 at SPEC: mount cgroup2 on /sys/fs/cgroup, enable cpu, memory, pids, cpuset and io
 * (those the kernel has), create the container's cgroup, write the CGROUP records into it,
 * attach the zone's device program (its disks 202:*, console 229:* and xen/ misc devices
 * denied, everything else allowed) to its parent, and, with DEVICE_RULE records, a program of
 * those rules to the container's cgroup (both BPF_F_ALLOW_MULTI: both must allow). 0, or -1
 * with err. */
int cgroup_prepare(const struct container_cfg *c, char err[ERR_MAX]);
/* Host tests: the container's cgroup is this plain directory of files (made by the test):
 * cgroup_prepare only writes the settings there; nothing is mounted, attached or joined. */
void cgroup_use_dir(const char *dir);
bool cgroup_uses_fake_dir(void);
/* The container's cgroup directory once prepared (zone or host test), else NULL. */
const char *cgroup_dir(void);
/* Write settings (file, value) into the container's cgroup, in order; stops at the first
 * failure. A cpuset naming a CPU or memory node the zone lacks is refused by name; io.weight
 * without the io controller and memory.swap.max without swap accounting are accepted and
 * ignored, with a log line. 0, or -1 with err. */
int cgroup_apply(const struct kv *set, size_t n, char err[ERR_MAX]);
/* UPDATE's payload: CGROUP and DEVICE_RULE records, all checked (and the new device program
 * loaded) before any setting is written, into the cgroup dir (NULL: the zone's container's),
 * whose device program *held is (see device_program_attach); the rules then replace it. 0, or
 * -1 with err. */
int cgroup_update(const char *dir, int *held, const uint8_t *p, size_t n, char err[ERR_MAX]);
/* oom_kill of the container's memory.events: how many of its processes the OOM killer ended;
 * -1 when unknown. */
long long cgroup_oom_kills(void);
/* Is want ("0-2,4") within have (the same form)? 0 yes, 1 no (*missing = the first number
 * outside), -1 when either is not such a list. */
int cpulist_subset(const char *want, const char *have, unsigned *missing);
/* Was cgroup_prepare done in a zone? Processes then join the container's cgroup. */
bool cgroup_active(void);
/* Move the calling process into the container's cgroup. 0, or -1 with errno. */
int cgroup_join(void);

/* A CGROUP record's file name the zone init writes (memory.max, memory.swap.max, memory.low,
 * pids.max, cpu.max, cpu.weight, cpuset.cpus, cpuset.mems, io.weight). */
bool cgroup_setting_allowed(const char *file);
/* The minors of the xen/ misc devices in /proc/misc's text. */
size_t xen_misc_minors(const char *proc_misc, unsigned *out, size_t cap);
/* The device program into out: the zone's plumbing denied first (block 202:*, char 229:*, char
 * 10:<minor> for those n xen/ misc minors), then the rules, last first: for each access bit
 * asked for, the last rule that matches the device and names that bit decides; a bit no rule
 * decides is denied. With no rules every other device is allowed. Its length, or -1 when cap
 * is too small (device_program_max is always enough). */
int device_program(const unsigned *xen_minors, size_t n, const struct device_rule *rules,
		   size_t nrules, struct bpf_insn *out, size_t cap);
size_t device_program_max(size_t n, size_t nrules);
/* BPF_PROG_LOAD of the program for these rules (and /proc/misc's xen/ minors): its fd, or -1
 * with err (the verifier's log in it) and errno. */
int device_program_load(const struct device_rule *rules, size_t nrules, char err[ERR_MAX]);
/* Attach the loaded program prog_fd to cgroup beside the programs there (BPF_F_ALLOW_MULTI).
 * held NULL: prog_fd is closed (the cgroup keeps the program). Else *held is the program it
 * replaces (-1: none), detached once the new one is in force; *held becomes prog_fd. 0, or -1
 * with err (prog_fd closed, *held untouched). */
int device_program_attach(const char *cgroup, int prog_fd, int *held, char err[ERR_MAX]);
/* Load and attach the program of rules to cgroup, replacing *held's (see above). */
int cgroup_device_rules(const char *cgroup, const struct device_rule *rules, size_t n,
			int *held, char err[ERR_MAX]);

#endif
