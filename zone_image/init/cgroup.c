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
/* The container's device program (config.json's rules), kept to be replaced by UPDATE. */
static int container_prog = -1;
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

/* Linux's device numbers: a rule naming a larger one matches no device. */
#define MAJOR_MAX 0xfff
#define MINOR_MAX 0xfffff
#define ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

static bool rule_can_match(const struct device_rule *r)
{
	return r->access && r->major <= MAJOR_MAX && r->minor <= MINOR_MAX;
}

/* The instructions a rule compiles to: an XOR per field it names (ORed together), the mask
 * they make, and its verdict; a rule naming no field is its verdict alone. */
static size_t rule_length(const struct device_rule *r)
{
	size_t fields = (r->type != 'a') + (r->major >= 0) + (r->minor >= 0);
	return fields ? 3 * fields - 1 + 3 + (r->allow ? 1 : 2) : 1;
}

size_t device_program_max(size_t n, size_t nrules)
{
	return 16 + n + 4 + 13 * nrules;
}

int device_program(const unsigned *xen_minors, size_t n, const struct device_rule *rules,
		   size_t nrules, struct bpf_insn *out, size_t cap)
{
	/* r1 = struct bpf_cgroup_dev_ctx {access_type = access << 16 | type, major, minor}:
	 * r2 = type, r3 = the access bits asked for, r4 = major, r5 = minor. */
	size_t body = 0;
	for (size_t k = 0; k < nrules; k++)
		if (rule_can_match(&rules[k]))
			body += rule_length(&rules[k]);
	size_t start = 12 + n, allow = nrules ? start + 1 + body + 3 : start, deny = allow + 2;
	if (deny + 2 > cap)
		return -1;
	size_t i = 0;
/* A jump's offset counts from the instruction after it. */
#define JUMP_TO(target) ((short)((target) - (i + 1)))
#define EMIT(insn)           \
	do {                 \
		out[i] = (insn); \
		i++;             \
	} while (0)
#define ALU64(op, d, s, imm) EMIT(INSN(BPF_ALU64 | (op), (d), (s), 0, (imm)))
	EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0));
	ALU64(BPF_AND | BPF_K, 2, 0, 0xffff);
	EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0));
	ALU64(BPF_RSH | BPF_K, 3, 0, 16);
	EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0));
	EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0));
	/* The zone's plumbing first: no rule reaches it. */
	EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 2, BPF_DEVCG_DEV_BLOCK));
	EMIT(INSN(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, JUMP_TO(deny), 202)); /* xvd* */
	EMIT(INSN(BPF_JMP | BPF_JA, 0, 0, JUMP_TO(start), 0));
	EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, JUMP_TO(start), BPF_DEVCG_DEV_CHAR));
	EMIT(INSN(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, JUMP_TO(deny), 229)); /* hvc* */
	EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 4, 0, JUMP_TO(start), 10));  /* misc */
	for (size_t k = 0; k < n; k++)
		EMIT(INSN(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, JUMP_TO(deny), (int)xen_minors[k]));
	/* The rules in order, without a branch (the verifier then walks each instruction once
	 * per path through the plumbing, however many rules): r8 holds, per access bit, the
	 * verdict of the last rule so far that matches the device and names the bit; 0 (deny)
	 * before any does. A rule matches when each field it names XORs to 0 with the device's:
	 * their OR (under 2^32) minus 1, shifted right by 63, is 1 then and 0 otherwise; times
	 * the rule's access bits it is the bits the rule decides. (Not an arithmetic shift and an
	 * AND: the verifier forks its state on every AND of a value that is -1 or 0.) */
	if (nrules)
		ALU64(BPF_MOV | BPF_K, 8, 0, 0);
	for (size_t k = 0; k < nrules; k++) {
		const struct device_rule *r = &rules[k];
		if (!rule_can_match(r))
			continue;
		const struct { bool named; int reg; int value; } fields[] = {
			{r->type != 'a', 2, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR},
			{r->major >= 0, 4, (int)r->major},
			{r->minor >= 0, 5, (int)r->minor},
		};
		bool any = false;
		for (size_t f = 0; f < 3; f++) {
			if (!fields[f].named)
				continue;
			int reg = any ? 7 : 6;
			ALU64(BPF_MOV | BPF_X, reg, fields[f].reg, 0);
			ALU64(BPF_XOR | BPF_K, reg, 0, fields[f].value);
			if (any)
				ALU64(BPF_OR | BPF_X, 6, 7, 0);
			any = true;
		}
		if (!any) { /* every device */
			if (r->allow)
				ALU64(BPF_OR | BPF_K, 8, 0, (int)r->access);
			else
				ALU64(BPF_AND | BPF_K, 8, 0, (int)(ACC_ALL ^ r->access));
			continue;
		}
		ALU64(BPF_SUB | BPF_K, 6, 0, 1);
		ALU64(BPF_RSH | BPF_K, 6, 0, 63);
		ALU64(BPF_MUL | BPF_K, 6, 0, (int)r->access);
		if (r->allow) {
			ALU64(BPF_OR | BPF_X, 8, 6, 0);
		} else {
			ALU64(BPF_XOR | BPF_K, 6, 0, ACC_ALL);
			ALU64(BPF_AND | BPF_X, 8, 6, 0);
		}
	}
	/* Allowed when no bit asked for is left undecided or denied. */
	if (nrules) {
		ALU64(BPF_XOR | BPF_K, 8, 0, ACC_ALL);
		ALU64(BPF_AND | BPF_X, 3, 8, 0);
		EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 3, 0, JUMP_TO(deny), 0));
	}
	EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1)); /* allow */
	EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0)); /* deny */
	EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
#undef ALU64
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

static size_t read_xen_minors(unsigned *minors, size_t cap)
{
	static char misc[16384];
	read_file("/proc/misc", misc, sizeof misc);
	return xen_misc_minors(misc, minors, cap);
}

int device_program_load(const struct device_rule *rules, size_t nrules, char err[ERR_MAX])
{
	unsigned minors[32];
	size_t n = read_xen_minors(minors, 32), cap = device_program_max(n, nrules);
	struct bpf_insn *prog = xrealloc(NULL, cap * sizeof *prog);
	int len = device_program(minors, n, rules, nrules, prog, cap);
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
		errf(err, "load the device program: %s (%.200s)", strerror(saved), log);
		errno = saved;
	}
	free(prog);
	return prog_fd;
}

/* BPF_PROG_ATTACH or BPF_PROG_DETACH of prog_fd on cgroup's device hook. */
static int prog_attach(const char *cgroup, int prog_fd, bool attach)
{
	int cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -1;
	union bpf_attr a = {0};
	a.target_fd = (uint32_t)cg;
	a.attach_bpf_fd = (uint32_t)prog_fd;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = attach ? BPF_F_ALLOW_MULTI : 0;
	int rc = (int)syscall(SYS_bpf, attach ? BPF_PROG_ATTACH : BPF_PROG_DETACH, &a, sizeof a);
	int saved = errno;
	close(cg);
	errno = saved;
	return rc;
}

int device_program_attach(const char *cgroup, int prog_fd, int *held, char err[ERR_MAX])
{
	/* Beside what is there (BPF_F_ALLOW_MULTI): the zone's program on the parent keeps
	 * running, and a device passes only when every program allows it. */
	if (prog_attach(cgroup, prog_fd, true) < 0) {
		int saved = errno;
		close(prog_fd);
		return errf(err, "attach the device program to %s: %s", cgroup, strerror(saved));
	}
	if (!held) {
		close(prog_fd);
		return 0;
	}
	/* The new rules are in force before the old ones go: never neither. */
	if (*held >= 0) {
		if (prog_attach(cgroup, *held, false) < 0)
			log_msg("detach the previous device program of %s: %s", cgroup,
				strerror(errno));
		close(*held);
	}
	*held = prog_fd;
	return 0;
}

int cgroup_device_rules(const char *cgroup, const struct device_rule *rules, size_t n,
			int *held, char err[ERR_MAX])
{
	int fd = device_program_load(rules, n, err);
	if (fd < 0 || device_program_attach(cgroup, fd, held, err) < 0)
		return -1;
	log_msg("device program on %s: %zu rules of linux.resources.devices (the last match "
		"decides, else deny), after the zone's disks, console and Xen devices", cgroup, n);
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

/* Its first line. */
static void read_text(const char *path, char *buf, size_t n)
{
	read_file(path, buf, n);
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

static int apply_setting(const char *dir, const char *file, const char *value,
			 char err[ERR_MAX])
{
	if (!strncmp(file, "cpuset.", 7) && check_cpuset(file, value, err) < 0)
		return -1;
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, file);
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

static int apply_in(const char *dir, const struct kv *set, size_t n, char err[ERR_MAX])
{
	for (size_t i = 0; i < n; i++)
		if (apply_setting(dir, set[i].key, set[i].value, err) < 0)
			return -1;
	return 0;
}

int cgroup_apply(const struct kv *set, size_t n, char err[ERR_MAX])
{
	return apply_in(cg_dir, set, n, err);
}

/* A host test attaches nothing: it says what the program would be. */
static void log_fake_rules(const struct device_rule *rules, size_t n)
{
	if (!n)
		return;
	size_t cap = device_program_max(0, n);
	struct bpf_insn *prog = xrealloc(NULL, cap * sizeof *prog);
	int len = device_program(NULL, 0, rules, n, prog, cap);
	free(prog);
	log_msg("host test: device program of %zu rules (%d instructions) not attached", n, len);
}

int cgroup_update(const char *dir, int *held, const uint8_t *p, size_t n, char err[ERR_MAX])
{
	if (!dir) {
		if (!cgroup_ready)
			return errf(err, "the zone has no cgroup for the container");
		dir = cg_dir;
		held = &container_prog;
	}
	static char text[MAX_UPDATE_SETTINGS][2][256];
	static struct device_rule rules[MAX_DEVICE_RULES];
	struct kv set[MAX_UPDATE_SETTINGS];
	size_t count = 0, nrules = 0;
	struct record_iter it;
	struct record r;
	int got;
	record_iter_init(&it, p, n);
	/* Everything is checked before anything is written. */
	while ((got = record_next(&it, &r)) == 1) {
		if (r.tag == TAG_DEVICE_RULE) {
			if (nrules == MAX_DEVICE_RULES)
				return errf(err, "UPDATE: more than %d DEVICE_RULE records",
					    MAX_DEVICE_RULES);
			if (device_rule_parse(&r, &rules[nrules], err) < 0)
				return -1;
			nrules++;
			continue;
		}
		if (r.tag != TAG_CGROUP)
			return errf(err, "UPDATE: record %u is not CGROUP or DEVICE_RULE", r.tag);
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
	/* New rules replace the container's: loaded (so checked by the verifier) before any
	 * setting is written, attached after. */
	int prog = -1;
	if (nrules && !cg_fake && (prog = device_program_load(rules, nrules, err)) < 0)
		return -1;
	if (apply_in(dir, set, count, err) < 0) {
		if (prog >= 0)
			close(prog);
		return -1;
	}
	if (prog >= 0) {
		if (device_program_attach(dir, prog, held, err) < 0)
			return -1;
		log_msg("update: device program on %s: %zu rules", dir, nrules);
	}
	log_fake_rules(cg_fake ? rules : NULL, cg_fake ? nrules : 0);
	log_msg("update: %zu cgroup settings applied to %s", count, dir);
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
		log_fake_rules(c->device_rules, c->ndevice_rules);
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
	/* The zone's plumbing, on the parent, outside the container's cgroup namespace. */
	int fd = device_program_load(NULL, 0, err);
	if (fd < 0 || device_program_attach(CG_PARENT, fd, NULL, err) < 0)
		return -1;
	log_msg("device program on %s: disks, console and Xen devices denied", CG_PARENT);
	/* config.json's rules, on the container's own cgroup. */
	if (c->ndevice_rules &&
	    cgroup_device_rules(CONTAINER_CGROUP, c->device_rules, c->ndevice_rules,
				&container_prog, err) < 0)
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
