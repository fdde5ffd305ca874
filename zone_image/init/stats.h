/* The STATS reply: memory, process count and CPU time of the zone (= the container). */
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
/* Read /proc and format; returns the length. */
size_t stats_collect(char *out, size_t n);

#endif
