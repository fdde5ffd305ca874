/* cgroup v2 inside the zone: one cgroup for the container, its limits from CGROUP records, and
 * an eBPF device program that keeps the zone's plumbing (its disks, console and Xen channel
 * devices) out of the workload's reach even when it can mknod them. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fsutil.h"
#include "proto.h"
#include "setup.h"
#include "stats.h"

#define CG_MOUNT "/sys/fs/cgroup"
/* The device program hangs on the parent, which the container's cgroup namespace (rooted at
 * its own cgroup) cannot name: a workload with CAP_SYS_ADMIN cannot detach it. */
#define CG_PARENT CG_MOUNT "/edera"
#define CPUS_ONLINE "/sys/devices/system/cpu/online"
/* Absent without NUMA: then node 0 is the only one. */
#define NODES_ONLINE "/sys/devices/system/node/online"
#define MAX_UPDATE_SETTINGS 32

static bool cgroup_ready;
/* The container's cgroup; a host test points it at a plain directory of files (fake). */
static const char *cg_dir = CONTAINER_CGROUP;
static bool cg_fake;

void cgroup_use_dir(const char *dir)
{
	cg_dir = dir;
	cg_fake = true;
}

bool cgroup_uses_fake_dir(void)
{
	return cg_fake;
}

const char *cgroup_dir(void)
{
	return cgroup_ready ? cg_dir : NULL;
}

bool cgroup_setting_allowed(const char *file)
{
	static const char *const files[] = {"memory.max", "memory.swap.max", "memory.low",
					    "pids.max", "cpu.max", "cpu.weight", "cpuset.cpus",
					    "cpuset.mems", "io.weight"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		if (!strcmp(file, files[i]))
			return true;
	return false;
}

#define INSN(c, d, s, o, i)                                                              \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

int device_program(const unsigned *xen_minors, size_t n, struct bpf_insn *out, size_t cap)
{
	/* r1 = struct bpf_cgroup_dev_ctx {access_type = access << 16 | type, major, minor} */
	size_t len = 14 + n;
	if (len > cap)
		return -1;
	size_t allow = 10 + n, deny = 12 + n, i = 0;
/* A jump's offset counts from the instruction after it. */
#define JUMP_TO(target) ((short)((target) - (i + 1)))
#define EMIT(insn)           \
	do {                 \
		out[i] = (insn); \
		i++;             \
	} while (0)
	EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0));
	EMIT(INSN(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff));
	EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 4, 0));
	EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 8, 0));
	EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 2, BPF_DEVCG_DEV_BLOCK));
	EMIT(INSN(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, JUMP_TO(deny), 202)); /* xvd* */
	EMIT(INSN(BPF_JMP | BPF_JA, 0, 0, JUMP_TO(allow), 0));
	EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, JUMP_TO(allow), BPF_DEVCG_DEV_CHAR));
	EMIT(INSN(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, JUMP_TO(deny), 229)); /* hvc* */
	EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 3, 0, JUMP_TO(allow), 10));  /* misc */
	for (size_t k = 0; k < n; k++)
		EMIT(INSN(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, JUMP_TO(deny), (int)xen_minors[k]));
	EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1)); /* allow */
	EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0)); /* deny */
	EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
#undef EMIT
#undef JUMP_TO
	return (int)i;
}

size_t xen_misc_minors(const char *proc_misc, unsigned *out, size_t cap)
{
	size_t n = 0;
	for (const char *line = proc_misc; line && *line && n < cap;) {
		unsigned m;
		char name[64];
		if (sscanf(line, "%u %63s", &m, name) == 2 && !strncmp(name, "xen/", 4))
			out[n++] = m;
		const char *nl = strchr(line, '\n');
		line = nl ? nl + 1 : NULL;
	}
	return n;
}

static int attach_device_program(const char *cgroup, char err[ERR_MAX])
{
	static char misc[16384];
	int fd = open("/proc/misc", O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, misc, sizeof misc - 1) : -1;
	if (fd >= 0)
		close(fd);
	misc[r > 0 ? r : 0] = 0;
	unsigned minors[32];
	size_t n = xen_misc_minors(misc, minors, 32);
	struct bpf_insn prog[64];
	int len = device_program(minors, n, prog, 64);
	char log[4096] = "";
	union bpf_attr load = {0};
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)prog;
	load.insn_cnt = (uint32_t)len;
	load.license = (uint64_t)(uintptr_t) "GPL";
	int prog_fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
	if (prog_fd < 0) {
		/* Again with the verifier's log, only to say why. */
		int saved = errno;
		load.log_buf = (uint64_t)(uintptr_t)log;
		load.log_size = sizeof log;
		load.log_level = 1;
		syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
		return errf(err, "load the device program: %s (%.200s)", strerror(saved), log);
	}
	int cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	union bpf_attr attach = {0};
	attach.target_fd = (uint32_t)cg;
	attach.attach_bpf_fd = (uint32_t)prog_fd;
	attach.attach_type = BPF_CGROUP_DEVICE;
	int rc = cg < 0 ? -1 : (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach);
	int saved = errno;
	if (cg >= 0)
		close(cg);
	close(prog_fd);
	if (rc < 0)
		return errf(err, "attach the device program to %s: %s", cgroup, strerror(saved));
	log_msg("device program on %s: %zu xen misc minors, disks and console denied", cgroup, n);
	return 0;
}

static void enable_controllers(const char *dir)
{
	char path[256];
	snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
	/* One by one: a controller the kernel lacks must not cost the others. */
	static const char *const ctl[] = {"+cpu", "+memory", "+pids", "+cpuset", "+io"};
	for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++)
		if (write_file(path, ctl[i]) < 0)
			log_msg("enable %s in %s: %s", ctl[i] + 1, dir, strerror(errno));
}

/* "0-3,5" into ranges; the count, or -1 when it is not such a list (or has more than cap). */
static int cpulist_parse(const char *s, unsigned (*ranges)[2], size_t cap)
{
	size_t n = 0;
	const char *p = s;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '\n')
		return -1;
	for (;;) {
		char *end;
		if (*p < '0' || *p > '9')
			return -1;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9')
				return -1;
			b = strtoul(end + 1, &end, 10);
		}
		if (a > b || b > 1u << 20 || n == cap)
			return -1;
		ranges[n][0] = (unsigned)a;
		ranges[n][1] = (unsigned)b;
		n++;
		if (*end == ',') {
			p = end + 1;
			continue;
		}
		while (*end == ' ' || *end == '\n' || *end == '\t')
			end++;
		return *end ? -1 : (int)n;
	}
}

int cpulist_subset(const char *want, const char *have, unsigned *missing)
{
	unsigned w[64][2], h[64][2];
	int nw = cpulist_parse(want, w, 64), nh = cpulist_parse(have, h, 64);
	if (nw < 0 || nh < 0)
		return -1;
	for (int i = 0; i < nw; i++)
		for (unsigned long x = w[i][0]; x <= w[i][1]; x++) {
			bool in = false;
			for (int k = 0; k < nh && !in; k++)
				in = x >= h[k][0] && x <= h[k][1];
			if (!in) {
				*missing = (unsigned)x;
				return 1;
			}
		}
	return 0;
}

static void read_text(const char *path, char *buf, size_t n)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	buf[r > 0 ? r : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

/* A cpuset must name CPUs (memory nodes) the zone has: said here, by name, rather than as the
 * kernel's EINVAL. */
static int check_cpuset(const char *file, const char *value, char err[ERR_MAX])
{
	bool cpus = !strcmp(file, "cpuset.cpus");
	char have[256];
	read_text(cpus ? CPUS_ONLINE : NODES_ONLINE, have, sizeof have);
	if (!have[0])
		strcpy(have, "0");
	unsigned missing = 0;
	int r = cpulist_subset(value, have, &missing);
	if (r < 0)
		return errf(err, "%s \"%s\": not a list like 0-2,4", file, value);
	if (r > 0)
		return errf(err, "%s \"%s\": the zone has no %s %u (it has %s)", file, value,
			    cpus ? "CPU" : "memory node", missing, have);
	return 0;
}

static int apply_setting(const char *file, const char *value, char err[ERR_MAX])
{
	if (!strncmp(file, "cpuset.", 7) && check_cpuset(file, value, err) < 0)
		return -1;
	char path[512];
	snprintf(path, sizeof path, "%s/%s", cg_dir, file);
	/* A host test's plain file keeps what a shorter value would not overwrite. */
	if (cg_fake && truncate(path, 0) < 0 && errno != ENOENT)
		return errf(err, "cgroup %s: %s", file, strerror(errno));
	if (write_file(path, value) == 0)
		return 0;
	int saved = errno;
	/* Accepted and ignored, as runc ignores what the host's kernel lacks: said in the log. */
	if (saved == ENOENT && !strcmp(file, "io.weight")) {
		log_msg("blockIO.weight accepted and ignored: the zone's cgroup has no io "
			"controller (%s: %s)", path, strerror(saved));
		return 0;
	}
	if (saved == ENOENT && !strcmp(file, "memory.swap.max")) {
		log_msg("memory.swap accepted and ignored: the zone's kernel has no swap "
			"accounting (%s: %s)", path, strerror(saved));
		return 0;
	}
	return errf(err, "cgroup %s = %s: %s", file, value, strerror(saved));
}

int cgroup_apply(const struct kv *set, size_t n, char err[ERR_MAX])
{
	for (size_t i = 0; i < n; i++)
		if (apply_setting(set[i].key, set[i].value, err) < 0)
			return -1;
	return 0;
}

int cgroup_update(const uint8_t *p, size_t n, char err[ERR_MAX])
{
	if (!cgroup_ready)
		return errf(err, "the zone has no cgroup for the container");
	static char text[MAX_UPDATE_SETTINGS][2][256];
	struct kv set[MAX_UPDATE_SETTINGS];
	size_t count = 0;
	struct record_iter it;
	struct record r;
	int got;
	record_iter_init(&it, p, n);
	/* Everything is checked before anything is written. */
	while ((got = record_next(&it, &r)) == 1) {
		if (r.tag != TAG_CGROUP)
			return errf(err, "UPDATE: record %u is not CGROUP", r.tag);
		if (count == MAX_UPDATE_SETTINGS)
			return errf(err, "UPDATE: more than %d settings", MAX_UPDATE_SETTINGS);
		const uint8_t *nul = memchr(r.value, 0, r.len);
		size_t klen = nul ? (size_t)(nul - r.value) : 0, vlen = nul ? r.len - klen - 1 : 0;
		if (!nul || !klen || !vlen || klen >= 256 || vlen >= 256 ||
		    memchr(nul + 1, 0, vlen) || memchr(nul + 1, '\n', vlen))
			return errf(err, "UPDATE: a CGROUP record is not \"file\\0value\"");
		memcpy(text[count][0], r.value, klen);
		text[count][0][klen] = 0;
		memcpy(text[count][1], nul + 1, vlen);
		text[count][1][vlen] = 0;
		if (!cgroup_setting_allowed(text[count][0]))
			return errf(err, "UPDATE: \"%s\" is not a setting the zone applies",
				    text[count][0]);
		set[count].key = text[count][0];
		set[count].value = text[count][1];
		count++;
	}
	if (got < 0)
		return errf(err, "UPDATE: truncated record list");
	for (size_t i = 0; i < count; i++)
		if (!strncmp(set[i].key, "cpuset.", 7) && check_cpuset(set[i].key, set[i].value, err) < 0)
			return -1;
	if (cgroup_apply(set, count, err) < 0)
		return -1;
	log_msg("update: %zu cgroup settings applied", count);
	return 0;
}

long long cgroup_oom_kills(void)
{
	if (!cgroup_ready)
		return -1;
	char path[512], text[1024];
	snprintf(path, sizeof path, "%s/memory.events", cg_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, text, sizeof text - 1);
	close(fd);
	text[r > 0 ? r : 0] = 0;
	return stat_value(text, "oom_kill");
}

int cgroup_prepare(const struct container_cfg *c, char err[ERR_MAX])
{
	if (cg_fake) {
		/* Host test: only the settings, into the test's directory of files. */
		if (cgroup_apply(c->cgroup, c->ncgroup, err) < 0)
			return -1;
		cgroup_ready = true;
		return 0;
	}
	if (mkdir_p(CG_MOUNT, 0755) < 0 ||
	    (mount("cgroup2", CG_MOUNT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
	     errno != EBUSY))
		return errf(err, "mount cgroup2 on %s: %s", CG_MOUNT, strerror(errno));
	enable_controllers(CG_MOUNT);
	if ((mkdir(CG_PARENT, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(CONTAINER_CGROUP, 0755) < 0 && errno != EEXIST))
		return errf(err, "create the container's cgroup %s: %s", CONTAINER_CGROUP,
			    strerror(errno));
	enable_controllers(CG_PARENT);
	if (cgroup_apply(c->cgroup, c->ncgroup, err) < 0)
		return -1;
	if (attach_device_program(CG_PARENT, err) < 0)
		return -1;
	cgroup_ready = true;
	return 0;
}

bool cgroup_active(void)
{
	return cgroup_ready && !cg_fake;
}

int cgroup_join(void)
{
	return write_file(CONTAINER_CGROUP "/cgroup.procs", "0");
}
