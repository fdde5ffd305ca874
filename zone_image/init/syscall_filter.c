#include "syscall_filter.h"

#include <ctype.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A filter ready to load: libseccomp's program behind the ENOSYS stub, and the seccomp(2)
 * flags. Built in PID 1, so the forked process only makes the one syscall. */
struct built_filter {
	struct sock_filter *prog;
	unsigned short len;
	unsigned flags; /* SECCOMP_FILTER_FLAG_* */
	size_t stub_len;
};

/* At most: per architecture (x86_64, i386) 5 instructions, then the ENOSYS return. */
#define STUB_MAX 11

unsigned filter_arch_token(const char *oci_name)
{
	static const char prefix[] = "SCMP_ARCH_";
	char lower[32];
	size_t n = strlen(oci_name), p = sizeof prefix - 1;
	if (n <= p || n - p >= sizeof lower || strncmp(oci_name, prefix, p))
		return 0;
	for (size_t i = p; i <= n; i++)
		lower[i - p] = (char)tolower((unsigned char)oci_name[i]);
	return seccomp_arch_resolve_name(lower);
}

/* One linux.seccomp.syscalls[] entry for one syscall number. Conditions on distinct arguments
 * make one rule; two on the same argument (libseccomp refuses those in one rule) make a rule
 * each, as runc does. */
static int add_rule(scmp_filter_ctx ctx, const struct seccomp_rule_cfg *r, int nr,
		    const char *name, struct filter_stats *st, char err[ERR_MAX])
{
	struct scmp_arg_cmp conds[6];
	unsigned seen = 0;
	bool repeated = false;
	for (size_t i = 0; i < r->nargs; i++) {
		if (seen >> r->args[i].index & 1)
			repeated = true;
		seen |= 1u << r->args[i].index;
	}
	if (!repeated && r->nargs <= 6) {
		for (size_t i = 0; i < r->nargs; i++)
			conds[i] = (struct scmp_arg_cmp){r->args[i].index, r->args[i].op,
							 r->args[i].value, r->args[i].value_two};
		int rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->nargs, conds);
		if (rc < 0)
			return errf(err, "seccomp rule for %s: %s", name, strerror(-rc));
		st->rules++;
		return 0;
	}
	for (size_t i = 0; i < r->nargs; i++) {
		conds[0] = (struct scmp_arg_cmp){r->args[i].index, r->args[i].op, r->args[i].value,
						 r->args[i].value_two};
		int rc = seccomp_rule_add_array(ctx, r->action, nr, 1, conds);
		if (rc < 0)
			return errf(err, "seccomp rule for %s: %s", name, strerror(-rc));
		st->rules++;
	}
	return 0;
}

/* Does the default action let unknown syscalls through? Then no ENOSYS stub (runc's rule:
 * ALLOW, LOG and TRACE count as allowing). */
static bool allows(uint32_t action)
{
	return action == SCMP_ACT_ALLOW || action == SCMP_ACT_LOG ||
	       (action & 0xffff0000u) == (SCMP_ACT_TRACE(0) & 0xffff0000u);
}

/* The largest syscall number of any name in the profile on one architecture, 0 for none. */
static uint32_t last_syscall(const struct seccomp_cfg *sc, uint32_t arch)
{
	int last = 0;
	for (size_t i = 0; i < sc->nrules; i++)
		for (size_t j = 0; j < sc->rules[i].nnames; j++) {
			int nr = seccomp_syscall_resolve_name_arch(arch, sc->rules[i].names[j]);
			if (nr > last)
				last = nr;
		}
	return (uint32_t)last;
}

/* runc's "-ENOSYS stub" (libcontainer/seccomp/patchbpf), our own, for the x86 architectures a
 * zone runs: a syscall numbered past every syscall the profile names is newer than the profile,
 * and gets ENOSYS instead of the default action, so that libc falls back to an older call (as
 * it does for clone3, faccessat2, close_range, ...) rather than fail on EPERM. x32 calls (bit
 * 30) go to the filter unchanged. Returns the stub's length. */
static size_t enosys_stub(const struct seccomp_cfg *sc, struct sock_filter out[STUB_MAX])
{
	if (allows(sc->default_action) || seccomp_arch_native() != SCMP_ARCH_X86_64)
		return 0;
	struct { uint32_t audit; uint32_t last; bool x32_bit; } arch[2];
	size_t n = 0;
	uint32_t last = last_syscall(sc, SCMP_ARCH_X86_64);
	if (last)
		arch[n++] = (typeof(arch[0])){AUDIT_ARCH_X86_64, last, true};
	bool has_x86 = false;
	for (size_t i = 0; i < sc->narchs; i++)
		has_x86 |= filter_arch_token(sc->archs[i]) == SCMP_ARCH_X86;
	last = has_x86 ? last_syscall(sc, SCMP_ARCH_X86) : 0;
	if (last)
		arch[n++] = (typeof(arch[0])){AUDIT_ARCH_I386, last, false};
	if (!n)
		return 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += arch[i].x32_bit ? 5 : 4;
	size_t enosys = total, filter = total + 1, pc = 0;
	for (size_t i = 0; i < n; i++) {
		size_t next = pc + (arch[i].x32_bit ? 5 : 4);
		size_t miss = i + 1 < n ? next : filter;
		out[pc] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						       offsetof(struct seccomp_data, arch));
		pc++;
		out[pc] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch[i].audit, 0,
						       miss - pc - 1);
		pc++;
		out[pc] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						       offsetof(struct seccomp_data, nr));
		pc++;
		if (arch[i].x32_bit) {
			out[pc] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
							       0x40000000u, filter - pc - 1, 0);
			pc++;
		}
		out[pc] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, arch[i].last,
						       enosys - pc - 1, filter - pc - 1);
		pc++;
	}
	out[pc++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	return pc;
}

/* libseccomp's program for ctx, behind the stub. */
static int export_program(scmp_filter_ctx ctx, const struct sock_filter *stub, size_t stub_len,
			  struct built_filter *f, char err[ERR_MAX])
{
	int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return errf(err, "seccomp: memfd for the program: %s", strerror(errno));
	int rc = seccomp_export_bpf(ctx, fd);
	off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
	size_t count = size > 0 ? (size_t)size / sizeof(struct sock_filter) : 0;
	if (rc < 0 || size <= 0 || size % sizeof(struct sock_filter) ||
	    count + stub_len > BPF_MAXINSNS) {
		close(fd);
		return errf(err, "seccomp: the filter does not fit a BPF program (%s, %zu "
			    "instructions)", rc < 0 ? strerror(-rc) : "ok", count + stub_len);
	}
	f->prog = xrealloc(NULL, (count + stub_len) * sizeof(struct sock_filter));
	memcpy(f->prog, stub, stub_len * sizeof(struct sock_filter));
	ssize_t got = pread(fd, f->prog + stub_len, (size_t)size, 0);
	close(fd);
	if (got != size) {
		free(f->prog);
		f->prog = NULL;
		return errf(err, "seccomp: read the program back: %s", strerror(errno));
	}
	f->len = (unsigned short)(count + stub_len);
	f->stub_len = stub_len;
	return 0;
}

int filter_build(const struct seccomp_cfg *sc, void **out, struct filter_stats *st,
		 char err[ERR_MAX])
{
	static const struct { unsigned flag, kernel_flag; } flags[] = {
		{SECCOMP_FLAG_TSYNC, SECCOMP_FILTER_FLAG_TSYNC},
		{SECCOMP_FLAG_LOG, SECCOMP_FILTER_FLAG_LOG},
		{SECCOMP_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	};
	*out = NULL;
	*st = (struct filter_stats){0};
	scmp_filter_ctx ctx = seccomp_init(sc->default_action);
	if (!ctx)
		return errf(err, "seccomp: libseccomp refuses the default action %#x",
			    sc->default_action);
	for (size_t i = 0; i < sc->narchs; i++) {
		unsigned arch = filter_arch_token(sc->archs[i]);
		if (!arch) {
			errf(err, "seccomp architecture \"%s\" is not known to libseccomp",
			     sc->archs[i]);
			goto fail;
		}
		int rc = seccomp_arch_add(ctx, arch);
		if (rc < 0 && rc != -EEXIST) {
			errf(err, "seccomp architecture %s: %s", sc->archs[i], strerror(-rc));
			goto fail;
		}
	}
	for (size_t i = 0; i < sc->nrules; i++) {
		const struct seccomp_rule_cfg *r = &sc->rules[i];
		/* libseccomp refuses a rule that repeats the default action; runc skips it. */
		if (r->action == sc->default_action) {
			st->same_as_default++;
			continue;
		}
		for (size_t j = 0; j < r->nnames; j++) {
			int nr = seccomp_syscall_resolve_name(r->names[j]);
			/* A name this libseccomp does not know (a profile newer than it, or a
			 * syscall of another architecture) is skipped, as runc does. */
			if (nr == __NR_SCMP_ERROR) {
				st->unknown_names++;
				continue;
			}
			if (add_rule(ctx, r, nr, r->names[j], st, err) < 0)
				goto fail;
		}
	}
	struct sock_filter stub[STUB_MAX];
	struct built_filter *f = xrealloc(NULL, sizeof *f);
	*f = (struct built_filter){0};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (sc->flags & flags[i].flag)
			f->flags |= flags[i].kernel_flag;
	if (export_program(ctx, stub, enosys_stub(sc, stub), f, err) < 0) {
		free(f);
		goto fail;
	}
	seccomp_release(ctx);
	st->stub = f->stub_len;
	*out = f;
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

int filter_load(void *filter)
{
	/* The kernel's seccomp(2) itself: libseccomp's program is already in it, and the
	 * filter does not set no_new_privs (the process does when config.json asks). */
	const struct built_filter *f = filter;
	struct sock_fprog prog = {.len = f->len, .filter = f->prog};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, f->flags, &prog) < 0)
		return -errno;
	return 0;
}

void filter_free(void *filter)
{
	struct built_filter *f = filter;
	if (f) {
		free(f->prog);
		free(f);
	}
}

long filter_bpf_length(void *filter)
{
	return ((struct built_filter *)filter)->len;
}
