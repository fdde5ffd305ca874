/* cgroup v2 inside the zone: one cgroup for the container, its limits from CGROUP records, and
 * an eBPF device program that keeps the zone's plumbing (its disks, console and Xen channel
 * devices) out of the workload's reach even when it can mknod them. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fsutil.h"
#include "setup.h"

#define CG_MOUNT "/sys/fs/cgroup"
/* The device program hangs on the parent, which the container's cgroup namespace (rooted at
 * its own cgroup) cannot name: a workload with CAP_SYS_ADMIN cannot detach it. */
#define CG_PARENT CG_MOUNT "/edera"
#define CONTROLLERS "+cpu +memory +pids"

static bool cgroup_ready;

bool cgroup_setting_allowed(const char *file)
{
	static const char *const files[] = {"memory.max", "memory.swap.max", "pids.max",
					    "cpu.max", "cpu.weight"};
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
	static const char *const ctl[] = {"+cpu", "+memory", "+pids"};
	for (size_t i = 0; i < 3; i++)
		if (write_file(path, ctl[i]) < 0)
			log_msg("enable %s in %s: %s", ctl[i] + 1, dir, strerror(errno));
}

int cgroup_prepare(const struct container_cfg *c, char err[ERR_MAX])
{
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
	for (size_t i = 0; i < c->ncgroup; i++) {
		char path[256];
		snprintf(path, sizeof path, "%s/%s", CONTAINER_CGROUP, c->cgroup[i].key);
		if (write_file(path, c->cgroup[i].value) < 0)
			return errf(err, "cgroup %s = %s: %s", c->cgroup[i].key, c->cgroup[i].value,
				    strerror(errno));
	}
	if (attach_device_program(CG_PARENT, err) < 0)
		return -1;
	cgroup_ready = true;
	return 0;
}

bool cgroup_active(void)
{
	return cgroup_ready;
}

int cgroup_join(void)
{
	return write_file(CONTAINER_CGROUP "/cgroup.procs", "0");
}
