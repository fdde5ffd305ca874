/* Unit tests of the zone init's pure parts; run on the host by `make test` (no root needed). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "config.h"
#include "container.h"
#include "fsutil.h"
#include "launch.h"
#include "net.h"
#include "proto.h"
#include "setup.h"
#include "stats.h"
#include "syscall_filter.h"

#include <seccomp.h>

static int passed, failed;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (cond) {                                                           \
			passed++;                                                     \
		} else {                                                              \
			failed++;                                                     \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                     \
	} while (0)
static bool str_eq(const char *a, const char *b) { return a && !strcmp(a, b); }
#define CHECK_STR(a, b) CHECK(str_eq((a), (b)))

/* Build a record list in a static buffer. */
static uint8_t list[8192];
static size_t list_len;
static void rec(uint16_t tag, const char *v, size_t len)
{
	list_len += record_encode(list + list_len, tag, v, (uint32_t)len);
}
#define REC(tag, lit) rec(tag, lit, sizeof(lit) - 1)

static void test_frames(void)
{
	uint8_t f[FRAME_HDR + 3];
	frame_header(f, MSG_STDOUT, 3);
	memcpy(f + FRAME_HDR, "abc", 3);
	uint32_t type, len;
	const uint8_t *payload;
	size_t total;
	CHECK(frame_parse(f, 4, &type, &payload, &len, &total) == 0);
	CHECK(frame_parse(f, FRAME_HDR + 2, &type, &payload, &len, &total) == 0);
	CHECK(frame_parse(f, sizeof f, &type, &payload, &len, &total) == 1);
	CHECK(type == MSG_STDOUT && len == 3 && total == sizeof f && !memcmp(payload, "abc", 3));
	/* Little-endian on the wire. */
	CHECK(f[0] == 35 && f[1] == 0 && f[4] == 3);
	frame_header(f, MSG_SPEC, MAX_PAYLOAD);
	CHECK(frame_parse(f, FRAME_HDR, &type, &payload, &len, &total) == 0);
	frame_header(f, MSG_SPEC, MAX_PAYLOAD + 1);
	CHECK(frame_parse(f, FRAME_HDR, &type, &payload, &len, &total) == -1);
	frame_header(f, MSG_START, 0);
	CHECK(frame_parse(f, FRAME_HDR, &type, &payload, &len, &total) == 1 && len == 0 &&
	      total == FRAME_HDR);
}

static void test_records(void)
{
	list_len = 0;
	REC(TAG_ARG, "sh");
	REC(TAG_TERMINAL, "");
	struct record_iter it;
	struct record r;
	record_iter_init(&it, list, list_len);
	CHECK(record_next(&it, &r) == 1 && r.tag == TAG_ARG && r.len == 2 &&
	      !memcmp(r.value, "sh", 2));
	CHECK(record_next(&it, &r) == 1 && r.tag == TAG_TERMINAL && r.len == 0);
	CHECK(record_next(&it, &r) == 0);
	record_iter_init(&it, list, list_len - 1); /* value runs past the end */
	CHECK(record_next(&it, &r) == 1);
	record_iter_init(&it, list, 3); /* truncated header */
	CHECK(record_next(&it, &r) == -1);
	uint8_t bad[RECORD_HDR] = {1, 0, 9, 0, 0, 0};
	record_iter_init(&it, bad, sizeof bad);
	CHECK(record_next(&it, &r) == -1);
}

static void test_buf(void)
{
	struct buf b = {0};
	char chunk[1000];
	memset(chunk, 'x', sizeof chunk);
	for (int i = 0; i < 100; i++)
		buf_append(&b, chunk, sizeof chunk);
	CHECK(b.len == 100000);
	buf_consume(&b, 99990);
	buf_append(&b, "end", 3);
	CHECK(b.len == 13 && !memcmp(buf_head(&b) + 10, "end", 3));
	buf_consume(&b, 100);
	CHECK(b.len == 0);
	buf_free(&b);
}

static void test_spec(void)
{
	list_len = 0;
	REC(TAG_ARG, "/bin/echo");
	REC(TAG_ARG, "hello world");
	REC(TAG_ENV, "PATH=/bin");
	REC(TAG_ENV, "A=b=c");
	REC(TAG_CWD, "/work");
	REC(TAG_UID, "1000");
	REC(TAG_GID, "100");
	REC(TAG_ADDITIONAL_GID, "5");
	REC(TAG_ADDITIONAL_GID, "6");
	REC(TAG_UMASK, "18");
	REC(TAG_RLIMIT, "7\0001024\00018446744073709551615");
	REC(TAG_CAPS, "a80425fb\0a80425fb\0a80425fb\0" "0\0" "0");
	REC(TAG_NO_NEW_PRIVS, "");
	REC(TAG_OOM_SCORE_ADJ, "-500");
	REC(TAG_TERMINAL, "");
	REC(TAG_TERM_SIZE, "24\00080");
	REC(TAG_HOSTNAME, "box");
	REC(TAG_DOMAINNAME, "example");
	REC(TAG_SYSCTL, "net.ipv4.ip_forward\0001");
	REC(TAG_MOUNT, "/proc\0proc\0proc\00014\0");
	REC(TAG_MOUNT, "/data\0bind\0/run/edera/binds/0\00020481\0");
	REC(TAG_MASKED_PATH, "/proc/kcore");
	REC(TAG_READONLY_PATH, "/proc/sys");
	REC(TAG_ROOT_READONLY, "");
	REC(TAG_BINDS_DISK, "xvdb");
	REC(TAG_BINDS_SHARE, "edera-binds\0trans=xen,version=9p2000.L");
	REC(TAG_ROOT_SHARE, "edera-root\0trans=xen");
	REC(TAG_NET_IF, "eth0\00000:16:3e:00:00:01\0001500");
	REC(TAG_NET_ADDR, "eth0\00010.0.0.2/24");
	REC(TAG_NET_ROUTE, "eth0\0000.0.0.0/0\00010.0.0.1");
	REC(999, "from a newer host");
	struct proc_cfg p = {0};
	struct container_cfg c = {0};
	char err[ERR_MAX] = "";
	if (config_parse(list, list_len, &p, &c, err) < 0) {
		failed++;
		fprintf(stderr, "FAIL full spec: %s\n", err);
		return;
	}
	CHECK(p.argc == 2 && !strcmp(p.argv[1], "hello world") && p.argv[2] == NULL);
	CHECK(p.envc == 2 && p.envp[2] == NULL);
	CHECK_STR(env_lookup(p.envp, "A"), "b=c");
	CHECK_STR(env_lookup(p.envp, "PATH"), "/bin");
	CHECK(env_lookup(p.envp, "PAT") == NULL);
	CHECK_STR(p.cwd, "/work");
	CHECK(p.has_uid && p.uid == 1000 && p.has_gid && p.gid == 100);
	CHECK(p.ngroups == 2 && p.groups[0] == 5 && p.groups[1] == 6);
	CHECK(p.has_umask && p.umask == 022);
	CHECK(p.nrlimits == 1 && p.rlimits[0].resource == 7 && p.rlimits[0].soft == 1024 &&
	      p.rlimits[0].hard == UINT64_MAX);
	CHECK(p.has_caps && p.caps[CAP_BOUNDING] == 0xa80425fb && p.caps[CAP_INHERITABLE] == 0 &&
	      p.caps[CAP_AMBIENT] == 0);
	CHECK(p.no_new_privs && p.has_oom && p.oom_score_adj == -500);
	CHECK(p.terminal && p.rows == 24 && p.cols == 80);
	CHECK_STR(c.hostname, "box");
	CHECK_STR(c.domainname, "example");
	CHECK(c.nsysctls == 1 && !strcmp(c.sysctls[0].key, "net.ipv4.ip_forward") &&
	      !strcmp(c.sysctls[0].value, "1"));
	CHECK(c.nmounts == 2 && !strcmp(c.mounts[0].type, "proc") && c.mounts[0].flags == 14 &&
	      !strcmp(c.mounts[0].data, ""));
	CHECK(!strcmp(c.mounts[1].source, "/run/edera/binds/0") && c.mounts[1].flags == 20481);
	CHECK(c.nmasked == 1 && c.nreadonly == 1 && c.root_readonly);
	CHECK_STR(c.binds_disk, "xvdb");
	CHECK_STR(c.binds_share, "edera-binds");
	CHECK_STR(c.binds_share_opts, "trans=xen,version=9p2000.L");
	CHECK_STR(c.root_share, "edera-root");
	CHECK_STR(c.root_share_opts, "trans=xen");
	CHECK_STR(c.root_dev, "xvda");
	CHECK_STR(c.root_fstype, "ext4");
	CHECK(c.nifs == 1 && c.ifs[0].mtu == 1500 && !strcmp(c.ifs[0].mac, "00:16:3e:00:00:01"));
	CHECK(c.naddrs == 1 && !strcmp(c.addrs[0].addr, "10.0.0.2/24"));
	CHECK(c.nroutes == 1 && !strcmp(c.routes[0].gw, "10.0.0.1"));
	CHECK(c.nrecords == 14);
	proc_cfg_free(&p);
	container_cfg_free(&c);

	/* The shares survive a BINDS_DISK that comes after them (it freed them, leaving the
	 * pointers dangling: a use after free, and a double free at the end). */
	list_len = 0;
	REC(TAG_ARG, "true");
	REC(TAG_BINDS_SHARE, "edera-binds\0trans=xen");
	REC(TAG_ROOT_SHARE, "edera-root\0trans=xen,cache=none");
	REC(TAG_BINDS_DISK, "xvdb");
	CHECK(config_parse(list, list_len, &p, &c, err) == 0);
	CHECK_STR(c.binds_share, "edera-binds");
	CHECK_STR(c.binds_share_opts, "trans=xen");
	CHECK_STR(c.root_share, "edera-root");
	CHECK_STR(c.root_share_opts, "trans=xen,cache=none");
	CHECK_STR(c.binds_disk, "xvdb");
	proc_cfg_free(&p);
	container_cfg_free(&c);

	/* Defaults. */
	list_len = 0;
	REC(TAG_ARG, "true");
	REC(TAG_ROOT_DISK, "xvdc\0xfs");
	CHECK(config_parse(list, list_len, &p, &c, err) == 0);
	CHECK_STR(p.cwd, "/");
	CHECK(p.envc == 0 && p.envp && p.envp[0] == NULL);
	CHECK(!p.has_uid && !p.has_caps && !p.terminal);
	CHECK_STR(c.root_dev, "xvdc");
	CHECK_STR(c.root_fstype, "xfs");
	proc_cfg_free(&p);
	container_cfg_free(&c);
}

/* Each malformed list must be refused with a message naming the problem. */
static void expect_error(const char *what, const char *needle, bool exec)
{
	struct proc_cfg p = {0};
	struct container_cfg c = {0};
	char err[ERR_MAX] = "";
	int rc = config_parse(list, list_len, &p, exec ? NULL : &c, err);
	if (rc != -1 || !strstr(err, needle)) {
		failed++;
		fprintf(stderr, "FAIL %s: rc %d, err \"%s\" (expected \"%s\")\n", what, rc, err,
			needle);
	} else {
		passed++;
	}
	proc_cfg_free(&p);
	container_cfg_free(&c);
}

static void test_spec_errors(void)
{
	list_len = 0;
	REC(TAG_ENV, "A=1");
	expect_error("no ARG", "no ARG", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_UID, "12a");
	expect_error("bad uid", "UID", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_UID, "-1");
	expect_error("negative uid", "UID", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_ENV, "NOEQUALS");
	expect_error("env", "KEY=VALUE", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_CWD, "relative");
	expect_error("cwd", "not absolute", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_MOUNT, "/a\0tmpfs\0tmpfs\0");
	expect_error("mount fields", "4 fields, expected 5", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_RLIMIT, "7\0001\0002\0003");
	expect_error("rlimit fields", "more than 3", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_CAPS, "zz\0\0\0\0");
	expect_error("caps", "CAPS", false);

	list_len = 0;
	REC(TAG_ARG, "a\0b");
	expect_error("NUL in ARG", "ARG", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_OOM_SCORE_ADJ, "5000");
	expect_error("oom", "OOM_SCORE_ADJ", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_HOSTNAME, "h");
	expect_error("container record in EXEC", "not allowed in EXEC", true);

	list_len = 0;
	REC(TAG_ARG, "x");
	list_len += 3; /* a partial record header */
	expect_error("truncated", "truncated", false);
}

/* linux.seccomp records (PROTOCOL.md, SECCOMP_*): parsed into struct seccomp_cfg, then built
 * into a libseccomp filter (not loaded: the host tests load it). */
static void test_seccomp_records(void)
{
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0");
	REC(TAG_SECCOMP_ARCH, "SCMP_ARCH_X86_64");
	REC(TAG_SECCOMP_ARCH, "SCMP_ARCH_X86");
	REC(TAG_SECCOMP_FLAG, "SECCOMP_FILTER_FLAG_LOG");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ALLOW\0\0read,write,no_such_syscall");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ALLOW\0\0personality\0" "0\0" "8\0\0SCMP_CMP_EQ");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ERRNO\0" "38\0clone3");
	REC(TAG_SECCOMP_SYSCALL,
	    "SCMP_ACT_ALLOW\0\0clone\0" "0\0" "2114060288\0" "0\0SCMP_CMP_MASKED_EQ\0"
	    "0\0" "1\0\0SCMP_CMP_GE");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ERRNO\0\0getpid");
	struct proc_cfg p = {0};
	char err[ERR_MAX] = "";
	CHECK(config_parse(list, list_len, &p, NULL, err) == 0);
	struct seccomp_cfg *sc = &p.seccomp;
	CHECK(sc->present);
	CHECK(sc->default_action == SCMP_ACT_ERRNO(EPERM)); /* errnoRet not given: EPERM */
	CHECK(sc->narchs == 2 && str_eq(sc->archs[1], "SCMP_ARCH_X86"));
	CHECK(sc->flags == SECCOMP_FLAG_LOG);
	CHECK(sc->nrules == 5);
	if (sc->nrules == 5) {
		CHECK(sc->rules[0].nnames == 3 && str_eq(sc->rules[0].names[2], "no_such_syscall"));
		CHECK(sc->rules[0].action == SCMP_ACT_ALLOW && sc->rules[0].nargs == 0);
		CHECK(sc->rules[1].nargs == 1 && sc->rules[1].args[0].index == 0 &&
		      sc->rules[1].args[0].value == 8 && sc->rules[1].args[0].op == SCMP_CMP_EQ);
		CHECK(sc->rules[2].action == SCMP_ACT_ERRNO(38));
		CHECK(sc->rules[3].nargs == 2 && sc->rules[3].args[0].op == SCMP_CMP_MASKED_EQ &&
		      sc->rules[3].args[0].value == 2114060288u &&
		      sc->rules[3].args[1].op == SCMP_CMP_GE);
	}
	void *filter = NULL;
	struct filter_stats st;
	CHECK(filter_build(sc, &filter, &st, err) == 0);
	/* read, write, personality, clone3, clone twice (two conditions on argument 0 make a
	 * rule each); no_such_syscall skipped; the getpid rule repeats the default: skipped. */
	CHECK(st.rules == 6 && st.unknown_names == 1 && st.same_as_default == 1);
	/* The ENOSYS stub: x86_64 (5 instructions, with the x32 check), i386 (4), the return. */
	CHECK(st.stub == 10);
	CHECK(filter && filter_bpf_length(filter) > 20);
	filter_free(filter);
	/* A default action that allows needs no stub (runc's rule). */
	sc->default_action = SCMP_ACT_LOG;
	CHECK(filter_build(sc, &filter, &st, err) == 0 && st.stub == 0);
	filter_free(filter);
	proc_cfg_free(&p);

	/* Every action, with and without errnoRet. */
	struct { const char *name; bool has; uint64_t e; uint32_t want; } acts[] = {
		{"SCMP_ACT_KILL", false, 0, SCMP_ACT_KILL_THREAD},
		{"SCMP_ACT_KILL_THREAD", false, 0, SCMP_ACT_KILL_THREAD},
		{"SCMP_ACT_KILL_PROCESS", false, 0, SCMP_ACT_KILL_PROCESS},
		{"SCMP_ACT_TRAP", false, 0, SCMP_ACT_TRAP},
		{"SCMP_ACT_ERRNO", true, 18, SCMP_ACT_ERRNO(18)},
		{"SCMP_ACT_ERRNO", true, 0, SCMP_ACT_ERRNO(0)},
		{"SCMP_ACT_TRACE", false, 0, SCMP_ACT_TRACE(EPERM)},
		{"SCMP_ACT_TRACE", true, 7, SCMP_ACT_TRACE(7)},
		{"SCMP_ACT_ALLOW", true, 5, SCMP_ACT_ALLOW}, /* errnoRet ignored, as runc */
		{"SCMP_ACT_LOG", false, 0, SCMP_ACT_LOG},
	};
	for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
		uint32_t got = 0xdead;
		CHECK(seccomp_action(acts[i].name, acts[i].has, acts[i].e, &got, err) == 0 &&
		      got == acts[i].want);
	}
	uint32_t got;
	CHECK(seccomp_action("SCMP_ACT_NOTIFY", false, 0, &got, err) < 0 &&
	      strstr(err, "no seccomp agent"));
	CHECK(seccomp_action("SCMP_ACT_NOPE", false, 0, &got, err) < 0 &&
	      strstr(err, "SCMP_ACT_NOPE"));
	CHECK(seccomp_action("SCMP_ACT_ERRNO", true, 70000, &got, err) < 0);

	/* Every architecture the runtime-spec names resolves in this libseccomp. */
	const char *archs[] = {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
			       "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",
			       "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
			       "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
			       "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
			       "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
			       "SCMP_ARCH_RISCV64"};
	for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
		CHECK(filter_arch_token(archs[i]) != 0);
	CHECK(filter_arch_token("SCMP_ARCH_X86_64") == SCMP_ARCH_X86_64);
	CHECK(filter_arch_token("x86_64") == 0 && filter_arch_token("SCMP_ARCH_VAX") == 0);

	/* An architecture libseccomp does not know fails the build, naming it. */
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ALLOW\0");
	REC(TAG_SECCOMP_ARCH, "SCMP_ARCH_VAX");
	p = (struct proc_cfg){0};
	CHECK(config_parse(list, list_len, &p, NULL, err) == 0);
	CHECK(filter_build(&p.seccomp, &filter, &st, err) < 0 && strstr(err, "SCMP_ARCH_VAX") &&
	      !filter);
	proc_cfg_free(&p);

	/* No SECCOMP_DEFAULT: no filter. */
	list_len = 0;
	REC(TAG_ARG, "x");
	p = (struct proc_cfg){0};
	CHECK(config_parse(list, list_len, &p, NULL, err) == 0 && !p.seccomp.present);
	proc_cfg_free(&p);
}

static void test_seccomp_record_errors(void)
{
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_NOTIFY\0");
	expect_error("notify", "SCMP_ACT_NOTIFY: a zone has no seccomp agent", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_BOGUS\0");
	expect_error("unknown default action", "SECCOMP_DEFAULT: unknown seccomp action", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO");
	expect_error("default fields", "SECCOMP_DEFAULT: 1 fields, expected 2", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0x1");
	expect_error("bad errno", "bad errnoRet", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ALLOW\0\0read");
	expect_error("rule without default", "without SECCOMP_DEFAULT", true);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0");
	REC(TAG_SECCOMP_FLAG, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
	expect_error("flag", "SECCOMP_FLAG", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ALLOW\0\0personality\0" "6\0" "0\0\0SCMP_CMP_EQ");
	expect_error("arg index", "bad argument", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ALLOW\0\0personality\0" "0\0" "0\0\0SCMP_CMP_LIKE");
	expect_error("arg op", "bad argument", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ALLOW\0\0personality\0" "0\0" "0\0");
	expect_error("arg fields", "expected 3 + 4 per argument", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_ALLOW\0\0read,,write");
	expect_error("empty name", "empty syscall name", false);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_SECCOMP_DEFAULT, "SCMP_ACT_ERRNO\0");
	REC(TAG_SECCOMP_SYSCALL, "SCMP_ACT_NOTIFY\0\0read");
	expect_error("notify rule", "SECCOMP_SYSCALL: seccomp action SCMP_ACT_NOTIFY", true);
}

static void test_boundary_records(void)
{
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_NAMESPACE, "mount");
	REC(TAG_NAMESPACE, "pid");
	REC(TAG_NAMESPACE, "ipc");
	REC(TAG_NAMESPACE, "uts");
	REC(TAG_NAMESPACE, "cgroup");
	REC(TAG_DEVICE, "/dev/fuse\0c\00010\000229\000438\0000\0000");
	REC(TAG_DEVICE, "/dev/fifo\0p\0000\0000\000384\0001000\0001000");
	struct proc_cfg p = {0};
	struct container_cfg c = {0};
	char err[ERR_MAX] = "";
	CHECK(config_parse(list, list_len, &p, &c, err) == 0);
	CHECK(c.ns_flags == (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
			     CLONE_NEWCGROUP));
	CHECK(c.ndevices == 2 && !strcmp(c.devices[0].path, "/dev/fuse") &&
	      c.devices[0].type == 'c' && c.devices[0].major == 10 && c.devices[0].minor == 229 &&
	      c.devices[0].mode == 0666);
	CHECK(c.devices[1].type == 'p' && c.devices[1].uid == 1000 && c.devices[1].gid == 1000 &&
	      c.devices[1].mode == 0600);
	CHECK(c.nrecords == 7);
	proc_cfg_free(&p);
	container_cfg_free(&c);
	CHECK(namespace_flag("network") == 0 && namespace_flag("user") == 0 &&
	      namespace_flag("pid") == CLONE_NEWPID);

	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_NAMESPACE, "user");
	expect_error("user namespace", "NAMESPACE: \"user\"", false);
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_DEVICE, "/dev/x\0q\0001\0001\000438\0000\0000");
	expect_error("device type", "DEVICE", false);
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_DEVICE, "dev/x\0c\0001\0001\000438\0000\0000");
	expect_error("relative device", "DEVICE", false);
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_DEVICE, "/dev/x\0c\0001\0001\000438\0000");
	expect_error("device fields", "6 fields, expected 7", false);
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_NAMESPACE, "pid");
	expect_error("namespace in EXEC", "not allowed in EXEC", true);
}

static void test_zone_plumbing(void)
{
	const char *misc = " 58 xen/gntalloc\n 59 xen/gntdev\n 60 xen/evtchn\n229 fuse\n"
			   " 61 xen/xenbus\n 62 xen/privcmd\n";
	CHECK(zone_plumbing_device('c', 10, 58, misc));
	CHECK(zone_plumbing_device('c', 10, 61, misc));
	CHECK(zone_plumbing_device('c', 10, 62, misc));
	CHECK(!zone_plumbing_device('c', 10, 229, misc)); /* fuse */
	CHECK(!zone_plumbing_device('b', 10, 58, misc));  /* a block device 10:58 is not it */
	CHECK(zone_plumbing_device('b', 202, 16, NULL));  /* xvdb */
	CHECK(zone_plumbing_device('c', 229, 0, NULL));   /* hvc0 */
	CHECK(!zone_plumbing_device('c', 1, 3, misc));    /* null */
	CHECK(!zone_plumbing_device('c', 10, 58, NULL));  /* no /proc/misc: unknown, not refused */
}

static void test_mountinfo(void)
{
	const char *mi =
		"1 1 0:2 / / rw - rootfs rootfs rw\n"
		"20 1 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw\n"
		"21 20 0:20 / /dev/pts rw - devpts devpts rw\n"
		"30 1 202:0 / /run/edera/root rw - ext4 /dev/xvda rw\n"
		"31 1 0:30 / /with\\040space rw - tmpfs tmpfs rw";
	char out[512];
	int n = mountinfo_mount_points(mi, out, sizeof out);
	CHECK(n == 5);
	const char *expect[] = {"/", "/dev", "/dev/pts", "/run/edera/root", "/with space"};
	const char *p = out;
	for (int i = 0; i < 5 && n == 5; i++, p += strlen(p) + 1)
		CHECK_STR(p, expect[i]);
	CHECK(mountinfo_mount_points(mi, out, 10) == -1);
}

static void test_passwd_home(void)
{
	const char *pw = "root:x:0:0:root:/root:/bin/sh\n"
			 "broken line\n"
			 "user:x:1000:1000:A User:/home/user:/bin/sh\n"
			 "nohome:x:1001:1001:::/bin/false";
	char home[64];
	CHECK(passwd_home(pw, 0, home, sizeof home) == 0);
	CHECK_STR(home, "/root");
	CHECK(passwd_home(pw, 1000, home, sizeof home) == 0);
	CHECK_STR(home, "/home/user");
	CHECK(passwd_home(pw, 1001, home, sizeof home) == -1); /* empty home: runc's "/" */
	CHECK(passwd_home(pw, 4242, home, sizeof home) == -1);
	CHECK(passwd_home(pw, 1000, home, 5) == -1); /* does not fit */
}

static void test_close_fds_fallback(void)
{
	/* Without close_range: every descriptor /proc/self/fd lists from `low` up is closed. */
	int low = open("/dev/null", O_RDONLY);
	int a = open("/dev/null", O_RDONLY), b = dup2(a, 300);
	CHECK(low >= 3 && a > low && b == 300);
	CHECK(close_fds_from(a, false) == 0);
	CHECK(fcntl(a, F_GETFD) < 0 && errno == EBADF);
	CHECK(fcntl(300, F_GETFD) < 0);
	CHECK(fcntl(low, F_GETFD) >= 0); /* below the limit: kept */
	close(low);
}

/* A tiny interpreter for the opcodes device_program emits, to check what it decides. */
static int run_device_program(const struct bpf_insn *prog, int len, int type, unsigned maj,
			      unsigned min)
{
	uint64_t r[11] = {0};
	bool set[11] = {false, true}; /* r1 = the context; a read of any other unset register is
				       * what the verifier refuses */
	uint32_t ctx[3] = {(uint32_t)(BPF_DEVCG_ACC_READ << 16 | type), maj, min};
	for (int pc = 0, steps = 0; pc >= 0 && pc < len && steps < 1000; steps++) {
		const struct bpf_insn *in = &prog[pc];
		switch (in->code) {
		case BPF_LDX | BPF_MEM | BPF_W:
			if (in->src_reg != 1 || in->off % 4 || in->off > 8)
				return -1;
			r[in->dst_reg] = ctx[in->off / 4];
			set[in->dst_reg] = true;
			break;
		case BPF_ALU64 | BPF_AND | BPF_K:
			if (!set[in->dst_reg])
				return -1;
			r[in->dst_reg] &= (uint64_t)in->imm;
			break;
		case BPF_ALU64 | BPF_MOV | BPF_K:
			r[in->dst_reg] = (uint64_t)in->imm;
			set[in->dst_reg] = true;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			if (r[in->dst_reg] == (uint64_t)in->imm)
				pc += in->off;
			break;
		case BPF_JMP | BPF_JNE | BPF_K:
			if (r[in->dst_reg] != (uint64_t)in->imm)
				pc += in->off;
			break;
		case BPF_JMP | BPF_JA: pc += in->off; break;
		case BPF_JMP | BPF_EXIT: return set[0] ? (int)r[0] : -1;
		default: return -1;
		}
		pc++;
	}
	return -1;
}

static void test_device_program(void)
{
	unsigned minors[8];
	const char *misc = " 58 xen/gntalloc\n 59 xen/gntdev\n229 fuse\n 61 xen/xenbus\n";
	size_t n = xen_misc_minors(misc, minors, 8);
	CHECK(n == 3 && minors[0] == 58 && minors[1] == 59 && minors[2] == 61);
	struct bpf_insn prog[64];
	int len = device_program(minors, n, prog, 64);
	CHECK(len == 17);
	CHECK(device_program(minors, n, prog, 10) == -1);
	/* Every instruction is reachable (the verifier refuses a program with one that is not):
	 * each jump lands inside the program, and both exits are some jump's target. */
	bool target[64] = {false};
	for (int k = 0; k < len; k++) {
		int cls = prog[k].code & 0x07, op = prog[k].code & 0xf0;
		if (cls == BPF_JMP && op != BPF_EXIT) {
			int to = k + 1 + prog[k].off;
			CHECK(to > k && to < len);
			if (to > k && to < len)
				target[to] = true;
		}
	}
	CHECK(target[len - 4] && target[len - 2]); /* allow, deny */
	int C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK;
	CHECK(run_device_program(prog, len, C, 10, 58) == 0);  /* xen/gntalloc */
	CHECK(run_device_program(prog, len, C, 10, 61) == 0);  /* xen/xenbus */
	CHECK(run_device_program(prog, len, C, 10, 229) == 1); /* fuse */
	CHECK(run_device_program(prog, len, C, 1, 3) == 1);    /* null */
	CHECK(run_device_program(prog, len, C, 136, 0) == 1);  /* pts */
	CHECK(run_device_program(prog, len, C, 229, 0) == 0);  /* hvc0 */
	CHECK(run_device_program(prog, len, B, 202, 16) == 0); /* xvdb */
	CHECK(run_device_program(prog, len, B, 10, 58) == 1);  /* a block 10:58 is not xen */
	CHECK(run_device_program(prog, len, B, 7, 0) == 1);    /* loop0 */
	/* No xen misc device known: disks and console still denied. */
	len = device_program(minors, 0, prog, 64);
	CHECK(run_device_program(prog, len, B, 202, 0) == 0 &&
	      run_device_program(prog, len, C, 10, 58) == 1);
	CHECK(cgroup_setting_allowed("pids.max") && cgroup_setting_allowed("cpu.weight") &&
	      !cgroup_setting_allowed("cgroup.procs") && !cgroup_setting_allowed("../x"));
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_CGROUP, "cgroup.procs\0001");
	expect_error("cgroup file", "CGROUP", false);
}

static void test_numbers(void)
{
	uint64_t u;
	int64_t i;
	CHECK(parse_u64("18446744073709551615", 10, &u) == 0 && u == UINT64_MAX);
	CHECK(parse_u64("18446744073709551616", 10, &u) == -1);
	CHECK(parse_u64("", 10, &u) == -1);
	CHECK(parse_u64(" 1", 10, &u) == -1);
	CHECK(parse_u64("+1", 10, &u) == -1);
	CHECK(parse_u64("ff", 16, &u) == 0 && u == 255);
	CHECK(parse_i64("-17", &i) == 0 && i == -17);
	CHECK(parse_i64("1x", &i) == -1);
}

static char tmp[PATH_MAX];

static void touch(const char *rel)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	FILE *f = fopen(p, "w");
	if (f)
		fclose(f);
}

static void link_at(const char *target, const char *rel)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	if (symlink(target, p) < 0)
		perror("symlink");
}

static bool resolves(const char *path, const char *want_rel)
{
	char out[PATH_MAX], want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s%s", tmp, want_rel);
	if (resolve_in_root(tmp, path, out, sizeof out) < 0) {
		fprintf(stderr, "  resolve %s: %s\n", path, strerror(errno));
		return false;
	}
	if (strcmp(out, want))
		fprintf(stderr, "  resolve %s: got %s, want %s\n", path, out, want);
	return !strcmp(out, want);
}

static void test_resolve(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/edera-init-test.XXXXXX");
	if (!mkdtemp(tmp)) {
		failed++;
		perror("mkdtemp");
		return;
	}
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/run", tmp);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/var", tmp);
	mkdir(p, 0755);
	touch("run/file");
	link_at("/run", "var/run");         /* absolute: must stay inside the root */
	link_at("../run", "var/rel");       /* relative */
	link_at("../../../../etc", "escape"); /* .. past the root is clamped */
	link_at("loop", "loop");

	CHECK(resolves("/var/run/file", "/run/file"));
	CHECK(resolves("/var/rel/file", "/run/file"));
	CHECK(resolves("/var/run/missing/deeper", "/run/missing/deeper"));
	CHECK(resolves("/escape/passwd", "/etc/passwd"));
	CHECK(resolves("/../../etc", "/etc"));
	CHECK(resolves("//run/./file/", "/run/file"));
	CHECK(resolves("/", ""));
	char out[PATH_MAX];
	errno = 0;
	CHECK(resolve_in_root(tmp, "/loop/x", out, sizeof out) == -1 && errno == ELOOP);
	/* No root: a plain path. */
	CHECK(resolve_in_root("", "/tmp/../tmp", out, sizeof out) == 0 && !strcmp(out, "/tmp"));
	CHECK(resolve_in_root("/", "/", out, sizeof out) == 0 && !strcmp(out, "/"));

	/* ensure_path creates through the symlink, inside the root. */
	struct stat st;
	CHECK(ensure_path(tmp, "/var/run/made/dir", false, out, sizeof out) == 0);
	snprintf(p, sizeof p, "%s/run/made/dir", tmp);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(ensure_path(tmp, "/var/run/a/b/file", true, out, sizeof out) == 0);
	snprintf(p, sizeof p, "%s/run/a/b/file", tmp);
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode));

	snprintf(p, sizeof p, "rm -rf '%s'", tmp);
	if (system(p) != 0)
		fprintf(stderr, "  cleanup of %s failed\n", tmp);
}

static void test_net_parse(void)
{
	unsigned char a[16], mac[6];
	int prefix;
	CHECK(parse_cidr("10.1.2.3/24", a, &prefix) == AF_INET && prefix == 24 && a[0] == 10 &&
	      a[3] == 3);
	CHECK(parse_cidr("0.0.0.0/0", a, &prefix) == AF_INET && prefix == 0);
	CHECK(parse_cidr("10.1.2.3", a, &prefix) == AF_INET && prefix == 32);
	CHECK(parse_cidr("fd00::1/64", a, &prefix) == AF_INET6 && prefix == 64 && a[0] == 0xfd &&
	      a[15] == 1);
	CHECK(parse_cidr("10.1.2.3/33", a, &prefix) == -1);
	CHECK(parse_cidr("10.1.2.3/", a, &prefix) == -1);
	CHECK(parse_cidr("nonsense/8", a, &prefix) == -1);
	CHECK(parse_mac("00:16:3e:0a:0B:ff", mac) == 0 && mac[2] == 0x3e && mac[4] == 0x0b &&
	      mac[5] == 0xff);
	CHECK(parse_mac("00:16:3e:0a:0b", mac) == -1);
	CHECK(parse_mac("00:16:3e:0a:0b:ff:00", mac) == -1);
}

static void test_status(void)
{
	CHECK(map_status(3 << 8) == 3);
	CHECK(map_status(0) == 0);
	CHECK(map_status(SIGKILL) == 137);
	CHECK(map_status(SIGTERM) == 143);
	CHECK(exec_failure_status(ENOENT) == 127);
	CHECK(exec_failure_status(EACCES) == 126);
	CHECK(exec_failure_status(ENOEXEC) == 126);
}

static void test_stats(void)
{
	const char *meminfo = "MemTotal:        2000000 kB\nMemFree:  100 kB\n"
			      "MemAvailable:    1500000 kB\n";
	const char *stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
	CHECK(meminfo_kb(meminfo, "MemTotal") == 2000000);
	CHECK(meminfo_kb(meminfo, "MemAvailable") == 1500000);
	CHECK(meminfo_kb(meminfo, "Mem") == -1);
	CHECK(cpu_busy_ticks(stat) == 161);
	char out[256];
	stats_format(out, sizeof out, meminfo, stat, 4, 100);
	CHECK_STR(out, "mem_total_kb 2000000\nmem_available_kb 1500000\npids 4\n"
		       "cpu_usage_ns 1610000000\n");
	CHECK(stats_collect(NULL, out, sizeof out) > 0 && strstr(out, "mem_total_kb "));
}

static void test_cgroup_stats(void)
{
	struct cgroup_texts t = {
		.memory_current = "1048576\n", .memory_max = "max\n", .memory_swap_current = "",
		.memory_events = "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n",
		.pids_current = "3\n", .pids_max = "64\n",
		.cpu_stat = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\n"
			    "nr_throttled 2\nthrottled_usec 30\n",
		.memory_stat = "anon 4096\nfile 8192\nBad-Key 1\nnot_a_number x\n"
			       "pgfault 12\n",
	};
	char out[1024];
	cgroup_stats_format(out, sizeof out, &t);
	CHECK_STR(out, "mem_usage_bytes 1048576\noom 2\noom_kill 1\npids 3\npids_limit 64\n"
		       "cpu_usage_ns 1500000\ncpu_user_ns 1000000\ncpu_system_ns 500000\n"
		       "cpu_periods 4\ncpu_throttled_periods 2\ncpu_throttled_ns 30000\n"
		       "memstat_anon 4096\nmemstat_file 8192\nmemstat_pgfault 12\n");
	/* A limit is a number; a small buffer keeps whole lines only. */
	t.memory_max = "2097152\n";
	cgroup_stats_format(out, 60, &t);
	CHECK_STR(out, "mem_usage_bytes 1048576\nmem_limit_bytes 2097152\noom 2\n");
	CHECK(stat_value("oom 2\noom_kill 1\n", "oom_kill") == 1);
	CHECK(stat_value("oom_kill 1\n", "oom") == -1);
	CHECK(stat_value("oom x\n", "oom") == -1);
	unsigned missing = 99;
	CHECK(cpulist_subset("0", "0-1\n", &missing) == 0);
	CHECK(cpulist_subset("0-1,1", "0-1", &missing) == 0);
	CHECK(cpulist_subset("1,3", "0-1,4-7", &missing) == 1 && missing == 3);
	CHECK(cpulist_subset("5-6", "0-3,5-7\n", &missing) == 0);
	CHECK(cpulist_subset("1023", "0-1", &missing) == 1 && missing == 1023);
	CHECK(cpulist_subset("", "0-1", &missing) == -1);
	CHECK(cpulist_subset("2-1", "0-3", &missing) == -1);
	CHECK(cpulist_subset("a", "0-3", &missing) == -1);
	CHECK(cpulist_subset("1,", "0-3", &missing) == -1);
	CHECK(cpulist_subset("1-", "0-3", &missing) == -1);
	CHECK(cgroup_setting_allowed("cpuset.cpus") && cgroup_setting_allowed("io.weight") &&
	      cgroup_setting_allowed("memory.low") && !cgroup_setting_allowed("cgroup.kill"));
}

/* The settings go into the container's cgroup (here a plain directory, as a host test has). */
static void test_cgroup_update(void)
{
	char dir[] = "/tmp/edera-cg-XXXXXX", path[64], err[ERR_MAX], buf[64];
	CHECK(mkdtemp(dir) != NULL);
	uint8_t rec_before[32];
	CHECK(cgroup_update(rec_before, 0, err) == -1 && strstr(err, "no cgroup"));
	static const char *const files[] = {"pids.max", "memory.max", "cpu.max", "cpuset.cpus"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		close(open(path, O_CREAT | O_WRONLY, 0644));
	}
	cgroup_use_dir(dir);
	struct container_cfg c = {0};
	struct kv set[2] = {{"pids.max", "10"}, {"io.weight", "default 100"}};
	c.cgroup = set;
	c.ncgroup = 2;
	/* io.weight without the io controller (no file): accepted and ignored. */
	CHECK(cgroup_prepare(&c, err) == 0);
	snprintf(path, sizeof path, "%s/pids.max", dir);
	FILE *f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "10"));
	if (f)
		fclose(f);
	list_len = 0;
	REC(TAG_CGROUP, "pids.max\00020");
	REC(TAG_CGROUP, "cpu.max\00050000 100000");
	CHECK(cgroup_update(list, list_len, err) == 0);
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "20"));
	if (f)
		fclose(f);
	/* Nothing is written when one record is bad. */
	list_len = 0;
	REC(TAG_CGROUP, "pids.max\00030");
	REC(TAG_CGROUP, "cgroup.procs\0001");
	CHECK(cgroup_update(list, list_len, err) == -1 && strstr(err, "cgroup.procs"));
	list_len = 0;
	REC(TAG_CGROUP, "pids.max\00030");
	REC(TAG_CGROUP, "cpuset.cpus\0001023");
	CHECK(cgroup_update(list, list_len, err) == -1 && strstr(err, "no CPU 1023"));
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "20"));
	if (f)
		fclose(f);
	list_len = 0;
	REC(TAG_ARG, "x");
	CHECK(cgroup_update(list, list_len, err) == -1 && strstr(err, "not CGROUP"));
	list_len = 0;
	REC(TAG_CGROUP, "pids.max");
	CHECK(cgroup_update(list, list_len, err) == -1 && strstr(err, "file"));
	/* A file the cgroup lacks (here memory.low) is an error naming it. */
	list_len = 0;
	REC(TAG_CGROUP, "memory.low\0001");
	CHECK(cgroup_update(list, list_len, err) == -1 && strstr(err, "memory.low"));
	snprintf(path, sizeof path, "%s/memory.events", dir);
	f = fopen(path, "w");
	if (f) {
		fputs("oom 1\noom_kill 3\n", f);
		fclose(f);
	}
	CHECK(cgroup_oom_kills() == 3);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	test_frames();
	test_records();
	test_buf();
	test_spec();
	test_spec_errors();
	test_seccomp_records();
	test_seccomp_record_errors();
	test_boundary_records();
	test_zone_plumbing();
	test_mountinfo();
	test_passwd_home();
	test_close_fds_fallback();
	test_device_program();
	test_numbers();
	test_resolve();
	test_net_parse();
	test_status();
	test_stats();
	test_cgroup_stats();
	test_cgroup_update();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
