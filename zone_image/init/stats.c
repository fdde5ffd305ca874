#include "stats.h"

#include <ctype.h>
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

static void slurp(const char *path, char *buf, size_t n)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	buf[r > 0 ? r : 0] = 0;
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
		slurp(path, buf, sizeof buf);
		char *p = strrchr(buf, ')');
		int ppid;
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid != 2)
			count++;
	}
	if (d)
		closedir(d);
	return count;
}

size_t stats_collect(char *out, size_t n)
{
	static char meminfo[8192], stat[1024];
	slurp("/proc/meminfo", meminfo, sizeof meminfo);
	slurp("/proc/stat", stat, sizeof stat);
	return stats_format(out, n, meminfo, stat, count_pids(), sysconf(_SC_CLK_TCK));
}
