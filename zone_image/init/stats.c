#include "stats.h"

#include "cgroup.h"
#include "fsutil.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long long meminfo_kb(const char *meminfo, const char *key)
{
	size_t kl = strlen(key);
	for (const char *line = meminfo; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, key, kl) && line[kl] == ':')
			return strtoll(line + kl + 1, NULL, 10);
	}
	return -1;
}

long long stat_value(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *line = text; line && *line;) {
		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			char *end;
			unsigned long long v = strtoull(line + kl + 1, &end, 10);
			if (end != line + kl + 1 && (*end == '\n' || !*end) && v <= LLONG_MAX)
				return (long long)v;
			return -1;
		}
		const char *nl = strchr(line, '\n');
		line = nl ? nl + 1 : NULL;
	}
	return -1;
}

/* A whole-file decimal (memory.current), or -1 ("max", empty, anything else). */
static long long number_of(const char *text)
{
	char *end;
	if (!text || *text < '0' || *text > '9')
		return -1;
	unsigned long long v = strtoull(text, &end, 10);
	return (*end == '\n' || !*end) && v <= LLONG_MAX ? (long long)v : -1;
}

static size_t append(char *out, size_t n, size_t len, const char *key, long long v)
{
	if (v < 0 || len >= n)
		return len;
	int k = snprintf(out + len, n - len, "%s %lld\n", key, v);
	if (k < 0 || (size_t)k >= n - len) {
		out[len] = 0; /* a line that does not fit is left out whole */
		return len;
	}
	return len + (size_t)k;
}

size_t cgroup_stats_format(char *out, size_t n, const struct cgroup_texts *t)
{
	size_t len = 0;
	if (!n)
		return 0;
	out[0] = 0;
	long long usec;
	len = append(out, n, len, "mem_usage_bytes", number_of(t->memory_current));
	len = append(out, n, len, "mem_limit_bytes", number_of(t->memory_max));
	len = append(out, n, len, "mem_swap_usage_bytes", number_of(t->memory_swap_current));
	len = append(out, n, len, "oom", stat_value(t->memory_events, "oom"));
	len = append(out, n, len, "oom_kill", stat_value(t->memory_events, "oom_kill"));
	len = append(out, n, len, "pids", number_of(t->pids_current));
	len = append(out, n, len, "pids_limit", number_of(t->pids_max));
	usec = stat_value(t->cpu_stat, "usage_usec");
	len = append(out, n, len, "cpu_usage_ns", usec < 0 ? -1 : usec * 1000);
	usec = stat_value(t->cpu_stat, "user_usec");
	len = append(out, n, len, "cpu_user_ns", usec < 0 ? -1 : usec * 1000);
	usec = stat_value(t->cpu_stat, "system_usec");
	len = append(out, n, len, "cpu_system_ns", usec < 0 ? -1 : usec * 1000);
	len = append(out, n, len, "cpu_periods", stat_value(t->cpu_stat, "nr_periods"));
	len = append(out, n, len, "cpu_throttled_periods", stat_value(t->cpu_stat, "nr_throttled"));
	usec = stat_value(t->cpu_stat, "throttled_usec");
	len = append(out, n, len, "cpu_throttled_ns", usec < 0 ? -1 : usec * 1000);
	/* memory.stat, as memstat_<key>: as many lines as fit (runc's memory "stats" map). */
	for (const char *line = t->memory_stat; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		char key[72] = "memstat_";
		const char *sp = memchr(line, ' ', ll);
		size_t kl = sp ? (size_t)(sp - line) : 0;
		bool ok = kl > 0 && kl < 48;
		for (size_t i = 0; ok && i < kl; i++)
			ok = (line[i] >= 'a' && line[i] <= 'z') || (line[i] >= '0' && line[i] <= '9') ||
			     line[i] == '_';
		if (ok) {
			memcpy(key + 8, line, kl);
			key[8 + kl] = 0;
			char *end;
			unsigned long long v = strtoull(sp + 1, &end, 10);
			if (end != sp + 1 && end == line + ll && v <= LLONG_MAX)
				len = append(out, n, len, key, (long long)v);
		}
		line = nl ? nl + 1 : NULL;
	}
	return len;
}

long long cpu_busy_ticks(const char *stat)
{
	unsigned long long v[8];
	if (sscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		return -1;
	/* idle (3) and iowait (4) are not usage. */
	return (long long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
}

size_t stats_format(char *out, size_t n, const char *meminfo, const char *stat, long pids,
		    long ticks_per_sec)
{
	long long busy = cpu_busy_ticks(stat);
	long long ns = busy < 0 || ticks_per_sec <= 0 ? -1 : busy * (1000000000LL / ticks_per_sec);
	int len = snprintf(out, n,
			   "mem_total_kb %lld\nmem_available_kb %lld\npids %ld\ncpu_usage_ns %lld\n",
			   meminfo_kb(meminfo, "MemTotal"), meminfo_kb(meminfo, "MemAvailable"),
			   pids, ns);
	return len < 0 ? 0 : (size_t)len < n ? (size_t)len : n - 1;
}

/* Processes of the container: everything but PID 1 and kernel threads (kthreadd = 2 and its
 * children). */
static long count_pids(void)
{
	long count = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		int pid = atoi(e->d_name);
		if (pid <= 2)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		read_file(path, buf, sizeof buf);
		char *p = strrchr(buf, ')');
		int ppid;
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid != 2)
			count++;
	}
	if (d)
		closedir(d);
	return count;
}

static void slurp_cgroup(const char *dir, const char *file, char *buf, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	read_file(path, buf, n);
}

size_t stats_collect(const char *dir, char *out, size_t n)
{
	static char meminfo[8192], stat[1024];
	read_file("/proc/meminfo", meminfo, sizeof meminfo);
	if (!dir) {
		read_file("/proc/stat", stat, sizeof stat);
		return stats_format(out, n, meminfo, stat, count_pids(), sysconf(_SC_CLK_TCK));
	}
	/* The container's cgroup, and the zone's memory (the most the limit can be). */
	static char cur[64], max[64], swap[64], events[512], pcur[64], pmax[64], cpu[1024],
		mstat[8192];
	slurp_cgroup(dir, "memory.current", cur, sizeof cur);
	slurp_cgroup(dir, "memory.max", max, sizeof max);
	slurp_cgroup(dir, "memory.swap.current", swap, sizeof swap);
	slurp_cgroup(dir, "memory.events", events, sizeof events);
	slurp_cgroup(dir, "pids.current", pcur, sizeof pcur);
	slurp_cgroup(dir, "pids.max", pmax, sizeof pmax);
	slurp_cgroup(dir, "cpu.stat", cpu, sizeof cpu);
	slurp_cgroup(dir, "memory.stat", mstat, sizeof mstat);
	int len = snprintf(out, n, "mem_total_kb %lld\nmem_available_kb %lld\n",
			   meminfo_kb(meminfo, "MemTotal"), meminfo_kb(meminfo, "MemAvailable"));
	if (len < 0 || (size_t)len >= n)
		return 0;
	struct cgroup_texts t = {cur, max, swap, events, pcur, pmax, cpu, mstat};
	return (size_t)len + cgroup_stats_format(out + len, n - len, &t);
}
