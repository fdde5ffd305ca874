/* The STATS reply: memory, processes and CPU time of the container's cgroup in the zone (the
 * zone's totals when there is none: a host test without a cgroup directory). */
#ifndef EDERA_STATS_H
#define EDERA_STATS_H

#include <stddef.h>
#include <stdint.h>

/* A "Key:   123 kB" value from /proc/meminfo text, or -1. */
long long meminfo_kb(const char *meminfo, const char *key);
/* Busy jiffies (user+nice+system+irq+softirq+steal) from the "cpu" line of /proc/stat, or -1. */
long long cpu_busy_ticks(const char *stat);
/* Format the STATS text from the two files' contents; returns its length. */
size_t stats_format(char *out, size_t n, const char *meminfo, const char *stat, long pids,
		    long ticks_per_sec);
/* The value of a "key value" line (cpu.stat, memory.events), or -1. */
long long stat_value(const char *text, const char *key);

/* The container cgroup's files' contents (each may be "" when absent). */
struct cgroup_texts {
	const char *memory_current, *memory_max, *memory_swap_current, *memory_events;
	const char *pids_current, *pids_max, *cpu_stat, *memory_stat;
};
/* STATS lines from them: mem_usage_bytes, mem_limit_bytes (absent for "max"),
 * mem_swap_usage_bytes, oom, oom_kill, pids, pids_limit, cpu_usage_ns, cpu_user_ns,
 * cpu_system_ns, cpu_periods, cpu_throttled_periods, cpu_throttled_ns, then memstat_<key> of
 * memory.stat while they fit in n (lines that do not fit are left out whole). Returns the
 * length. */
size_t cgroup_stats_format(char *out, size_t n, const struct cgroup_texts *t);
/* Read /proc (and the container's cgroup) and format; returns the length. */
size_t stats_collect(const char *cgroup, char *out, size_t n);

#endif
