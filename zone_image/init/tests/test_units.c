/* Unit tests of the zone init's pure parts; run on the host by `make test` (no root needed). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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
static uint8_t list[65536];
static size_t list_len;
static void rec(uint16_t tag, const char *v, size_t len)
{
	list_len += record_encode(list + list_len, tag, v, (uint32_t)len);
}
#define REC(tag, lit) rec(tag, lit, sizeof(lit) - 1)
/* A DEVICE_RULE record: allow, type, major, minor, access. */
static void rule_rec(const char *allow, const char *type, const char *major, const char *minor,
		     const char *access)
{
	char v[128];
	int n = snprintf(v, sizeof v, "%s%c%s%c%s%c%s%c%s", allow, 0, type, 0, major, 0, minor, 0,
			 access);
	rec(TAG_DEVICE_RULE, v, (size_t)n);
}

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

static void test_device_rule_records(void)
{
	list_len = 0;
	REC(TAG_ARG, "x");
	rule_rec("0", "a", "-1", "-1", "rwm");
	rule_rec("1", "c", "1", "3", "mwr");
	rule_rec("1", "b", "8", "-1", "r");
	rule_rec("0", "c", "4294967295", "0", "ww");
	struct proc_cfg p = {0};
	struct container_cfg c = {0};
	char err[ERR_MAX] = "";
	CHECK(config_parse(list, list_len, &p, &c, err) == 0);
	CHECK(c.ndevice_rules == 4 && c.nrecords == 4);
	unsigned rwm = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
	if (c.ndevice_rules == 4) {
		CHECK(!c.device_rules[0].allow && c.device_rules[0].type == 'a' &&
		      c.device_rules[0].major == -1 && c.device_rules[0].minor == -1 &&
		      c.device_rules[0].access == rwm);
		CHECK(c.device_rules[1].allow && c.device_rules[1].type == 'c' &&
		      c.device_rules[1].major == 1 && c.device_rules[1].minor == 3 &&
		      c.device_rules[1].access == rwm);
		CHECK(c.device_rules[2].type == 'b' && c.device_rules[2].minor == -1 &&
		      c.device_rules[2].access == BPF_DEVCG_ACC_READ);
		CHECK(c.device_rules[3].major == 4294967295LL &&
		      c.device_rules[3].access == BPF_DEVCG_ACC_WRITE);
	}
	proc_cfg_free(&p);
	container_cfg_free(&c);
	static const char *const bad[][5] = {
		{"2", "c", "1", "3", "r"}, {"1", "u", "1", "3", "r"}, {"1", "cc", "1", "3", "r"},
		{"1", "c", "-2", "3", "r"}, {"1", "c", "1", "x", "r"}, {"1", "c", "1", "3", ""},
		{"1", "c", "1", "3", "rx"}, {"1", "c", "4294967296", "3", "r"}, {"1", "c", "", "3", "r"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		list_len = 0;
		REC(TAG_ARG, "x");
		rule_rec(bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4]);
		expect_error(bad[i][4], "record DEVICE_RULE: bad value", false);
	}
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_DEVICE_RULE, "1\0c\0001\0003");
	expect_error("rule fields", "4 fields, expected 5", false);
	list_len = 0;
	REC(TAG_ARG, "x");
	rule_rec("1", "c", "1", "3", "r");
	expect_error("rule in EXEC", "DEVICE_RULE is not allowed in EXEC", true);
	list_len = 0;
	REC(TAG_ARG, "x");
	for (int i = 0; i <= MAX_DEVICE_RULES; i++)
		rule_rec("1", "c", "1", "3", "r");
	expect_error("too many rules", "more than 1024 DEVICE_RULE", false);
	list_len = 0;
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

/* A tiny interpreter for the opcodes device_program emits, to check what it decides: 1 allow,
 * 0 deny, -1 for anything the kernel would not run (an unknown opcode, a register read before
 * it is written, a jump out of the program, no verdict). */
static int run_device_program(const struct bpf_insn *prog, int len, int type, unsigned access,
			      unsigned maj, unsigned min)
{
	uint64_t r[11] = {0};
	bool set[11] = {false, true}; /* r1 = the context; a read of any other unset register is
				       * what the verifier refuses */
	uint32_t ctx[3] = {(uint32_t)(access << 16 | type), maj, min};
	for (int pc = 0, steps = 0; pc >= 0 && pc < len && steps < 100000; steps++) {
		const struct bpf_insn *in = &prog[pc];
		int cls = in->code & 0x07, op = in->code & 0xf0;
		bool reads_dst = (cls == BPF_JMP && op != BPF_EXIT && op != BPF_JA) ||
				 ((cls == BPF_ALU || cls == BPF_ALU64) && op != BPF_MOV);
		bool reads_src = (cls == BPF_ALU || cls == BPF_ALU64 || cls == BPF_JMP) &&
				 (in->code & BPF_X);
		if ((reads_dst && !set[in->dst_reg]) || (reads_src && !set[in->src_reg]))
			return -1;
		uint64_t k = (uint64_t)(int64_t)in->imm, *d = &r[in->dst_reg];
		switch (in->code) {
		case BPF_LDX | BPF_MEM | BPF_W:
			if (in->src_reg != 1 || in->off % 4 || in->off > 8)
				return -1;
			*d = ctx[in->off / 4];
			set[in->dst_reg] = true;
			break;
		case BPF_ALU64 | BPF_AND | BPF_K: *d &= k; break;
		case BPF_ALU64 | BPF_AND | BPF_X: *d &= r[in->src_reg]; break;
		case BPF_ALU64 | BPF_OR | BPF_K: *d |= k; break;
		case BPF_ALU64 | BPF_OR | BPF_X: *d |= r[in->src_reg]; break;
		case BPF_ALU64 | BPF_XOR | BPF_K: *d ^= k; break;
		case BPF_ALU64 | BPF_SUB | BPF_K: *d -= k; break;
		case BPF_ALU64 | BPF_MUL | BPF_K: *d *= k; break;
		case BPF_ALU64 | BPF_RSH | BPF_K: *d >>= in->imm; break;
		case BPF_ALU64 | BPF_ARSH | BPF_K: *d = (uint64_t)((int64_t)*d >> in->imm); break;
		case BPF_ALU64 | BPF_MOV | BPF_K:
			*d = k;
			set[in->dst_reg] = true;
			break;
		case BPF_ALU64 | BPF_MOV | BPF_X:
			*d = r[in->src_reg];
			set[in->dst_reg] = true;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			if (r[in->dst_reg] == (uint64_t)(int64_t)in->imm)
				pc += in->off;
			break;
		case BPF_JMP | BPF_JNE | BPF_K:
			if (r[in->dst_reg] != (uint64_t)(int64_t)in->imm)
				pc += in->off;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			if (r[in->dst_reg] & (uint64_t)(int64_t)in->imm)
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

/* What the verifier's first pass checks: jumps forward and inside the program, the last
 * instruction an exit or a jump, and every instruction reachable. */
static bool program_well_formed(const struct bpf_insn *prog, int len)
{
	static bool seen[16384];
	memset(seen, 0, sizeof seen);
	if (len <= 0 || len > 16384)
		return false;
	seen[0] = true;
	for (int k = 0; k < len; k++) {
		if (!seen[k])
			return false;
		int cls = prog[k].code & 0x07, op = prog[k].code & 0xf0;
		if (cls != BPF_JMP) {
			if (k + 1 >= len)
				return false;
			seen[k + 1] = true;
			continue;
		}
		if (op == BPF_EXIT)
			continue;
		int to = k + 1 + prog[k].off;
		if (to <= k || to >= len)
			return false;
		seen[to] = true;
		if (op != BPF_JA) {
			if (k + 1 >= len)
				return false;
			seen[k + 1] = true;
		}
	}
	return true;
}

enum { M = BPF_DEVCG_ACC_MKNOD, R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE };
enum { C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK };

static struct device_rule rule(bool allow, char type, int64_t major, int64_t minor,
			       unsigned access)
{
	return (struct device_rule){allow, type, major, minor, access};
}

/* The semantics written plainly: the zone's plumbing is denied; else each access bit asked
 * for is decided by the last rule that matches the device and names it, and denied when none
 * does (allowed when there are no rules). */
static int reference(const struct device_rule *rules, size_t n, const unsigned *minors,
		     size_t nminors, int type, unsigned access, unsigned maj, unsigned min)
{
	if ((type == B && maj == 202) || (type == C && maj == 229))
		return 0;
	for (size_t k = 0; type == C && maj == 10 && k < nminors; k++)
		if (minors[k] == min)
			return 0;
	if (!n)
		return 1;
	for (unsigned bit = 1; bit <= 4; bit <<= 1) {
		if (!(access & bit))
			continue;
		int verdict = 0;
		for (size_t k = 0; k < n; k++) {
			const struct device_rule *r = &rules[k];
			bool match = (r->type == 'a' || (r->type == 'c') == (type == C)) &&
				     (r->major < 0 || r->major == maj) &&
				     (r->minor < 0 || r->minor == min) && (r->access & bit);
			if (match)
				verdict = r->allow;
		}
		if (!verdict)
			return 0;
	}
	return 1;
}

static int decide(const struct device_rule *rules, size_t n, int type, unsigned access,
		  unsigned maj, unsigned min)
{
	static const unsigned minors[] = {58, 59, 61};
	struct bpf_insn prog[8192];
	int len = device_program(minors, 3, rules, n, prog, 8192);
	if (len < 0 || !program_well_formed(prog, len))
		return -2;
	return run_device_program(prog, len, type, access, maj, min);
}

/* Every device of a small grid, every access: the program decides as the reference does. */
static int disagreements(const struct device_rule *rules, size_t n)
{
	static const unsigned minors[] = {58, 59, 61};
	static const unsigned majors[] = {0, 1, 5, 7, 10, 136, 202, 229, 4095};
	static const unsigned mins[] = {0, 1, 3, 5, 58, 61, 200, 1048575};
	struct bpf_insn prog[8192];
	int len = device_program(minors, 3, rules, n, prog, 8192), bad = 0;
	if (len < 0 || !program_well_formed(prog, len))
		return 1;
	for (int t = 0; t < 2; t++)
		for (unsigned a = 1; a < 8; a++)
			for (size_t i = 0; i < sizeof majors / sizeof *majors; i++)
				for (size_t j = 0; j < sizeof mins / sizeof *mins; j++) {
					int type = t ? B : C;
					int want = reference(rules, n, minors, 3, type, a, majors[i],
							     mins[j]);
					int got = run_device_program(prog, len, type, a, majors[i],
								     mins[j]);
					if (got != want && bad++ < 3)
						fprintf(stderr, "  %c %u:%u access %u: %d, expected %d\n",
							t ? 'b' : 'c', majors[i], mins[j], a, got, want);
				}
	return bad;
}

static void test_device_program(void)
{
	unsigned minors[8];
	const char *misc = " 58 xen/gntalloc\n 59 xen/gntdev\n229 fuse\n 61 xen/xenbus\n";
	size_t n = xen_misc_minors(misc, minors, 8);
	CHECK(n == 3 && minors[0] == 58 && minors[1] == 59 && minors[2] == 61);
	struct bpf_insn prog[64];
	int len = device_program(minors, n, NULL, 0, prog, 64);
	CHECK(len == 19 && (size_t)len <= device_program_max(n, 0));
	CHECK(device_program(minors, n, NULL, 0, prog, 10) == -1);
	CHECK(program_well_formed(prog, len));
	CHECK(run_device_program(prog, len, C, R, 10, 58) == 0);  /* xen/gntalloc */
	CHECK(run_device_program(prog, len, C, W, 10, 61) == 0);  /* xen/xenbus */
	CHECK(run_device_program(prog, len, C, M, 10, 61) == 0);  /* mknod too */
	CHECK(run_device_program(prog, len, C, R, 10, 229) == 1); /* fuse */
	CHECK(run_device_program(prog, len, C, R | W, 1, 3) == 1); /* null */
	CHECK(run_device_program(prog, len, C, R, 136, 0) == 1);  /* pts */
	CHECK(run_device_program(prog, len, C, R, 229, 0) == 0);  /* hvc0 */
	CHECK(run_device_program(prog, len, B, R, 202, 16) == 0); /* xvdb */
	CHECK(run_device_program(prog, len, B, R, 10, 58) == 1);  /* a block 10:58 is not xen */
	CHECK(run_device_program(prog, len, B, R, 7, 0) == 1);    /* loop0 */
	CHECK(disagreements(NULL, 0) == 0);
	/* No xen misc device known: disks and console still denied. */
	len = device_program(minors, 0, NULL, 0, prog, 64);
	CHECK(run_device_program(prog, len, B, R, 202, 0) == 0 &&
	      run_device_program(prog, len, C, R, 10, 58) == 1);
	CHECK(cgroup_setting_allowed("pids.max") && cgroup_setting_allowed("cpu.weight") &&
	      !cgroup_setting_allowed("cgroup.procs") && !cgroup_setting_allowed("../x"));
	list_len = 0;
	REC(TAG_ARG, "x");
	REC(TAG_CGROUP, "cgroup.procs\0001");
	expect_error("cgroup file", "CGROUP", false);
}

static void test_device_rules(void)
{
	/* deny all, then /dev/null and a read-only /dev/zero */
	struct device_rule l1[] = {rule(false, 'a', -1, -1, R | W | M), rule(true, 'c', 1, 3, R | W | M),
				   rule(true, 'c', 1, 5, R)};
	CHECK(decide(l1, 3, C, R | W, 1, 3) == 1 && decide(l1, 3, C, M, 1, 3) == 1);
	CHECK(decide(l1, 3, C, R, 1, 5) == 1);
	CHECK(decide(l1, 3, C, W, 1, 5) == 0 && decide(l1, 3, C, R | W, 1, 5) == 0 &&
	      decide(l1, 3, C, M, 1, 5) == 0);
	CHECK(decide(l1, 3, C, R, 1, 8) == 0 && decide(l1, 3, C, M, 1, 8) == 0);
	CHECK(decide(l1, 3, B, R, 1, 3) == 0); /* a block 1:3 is not /dev/null */
	/* privileged: everything, but never the zone's plumbing */
	struct device_rule l2[] = {rule(true, 'a', -1, -1, R | W | M)};
	CHECK(decide(l2, 1, B, R | W, 8, 0) == 1 && decide(l2, 1, C, R, 10, 229) == 1);
	CHECK(decide(l2, 1, B, R, 202, 0) == 0 && decide(l2, 1, C, R | W, 229, 1) == 0 &&
	      decide(l2, 1, C, M, 10, 61) == 0);
	/* allow all but writing /dev/zero: asking for read and write at once is no way around
	 * the deny */
	struct device_rule l3[] = {rule(true, 'a', -1, -1, R | W | M), rule(false, 'c', 1, 5, W)};
	CHECK(decide(l3, 2, C, R, 1, 5) == 1 && decide(l3, 2, C, W, 1, 5) == 0 &&
	      decide(l3, 2, C, R | W, 1, 5) == 0 && decide(l3, 2, C, R | W, 1, 3) == 1);
	/* each bit by its own last rule: read from one, write from another */
	struct device_rule l4[] = {rule(false, 'a', -1, -1, R | W | M), rule(true, 'c', 1, -1, R),
				   rule(true, 'c', -1, 5, W)};
	CHECK(decide(l4, 3, C, R | W, 1, 5) == 1 && decide(l4, 3, C, W, 1, 3) == 0 &&
	      decide(l4, 3, C, W, 2, 5) == 1 && decide(l4, 3, C, R, 2, 5) == 0);
	/* the last match wins, both ways */
	struct device_rule l5[] = {rule(true, 'c', 1, 3, R | W | M), rule(false, 'c', 1, 3, W)};
	CHECK(decide(l5, 2, C, R, 1, 3) == 1 && decide(l5, 2, C, W, 1, 3) == 0);
	struct device_rule l6[] = {rule(false, 'c', 1, 3, W), rule(true, 'c', 1, 3, R | W | M)};
	CHECK(decide(l6, 2, C, W, 1, 3) == 1);
	/* only denials: all is denied */
	struct device_rule l7[] = {rule(false, 'c', 1, 3, R | W | M)};
	CHECK(decide(l7, 1, C, R, 1, 3) == 0 && decide(l7, 1, C, R, 1, 5) == 0);
	/* type a with numbers: char and block alike */
	struct device_rule l8[] = {rule(false, 'a', -1, -1, R | W | M), rule(true, 'a', 1, 3, R)};
	CHECK(decide(l8, 2, C, R, 1, 3) == 1 && decide(l8, 2, B, R, 1, 3) == 1 &&
	      decide(l8, 2, B, W, 1, 3) == 0);
	/* a number no Linux device has matches nothing: the rule is left out */
	struct device_rule l9[] = {rule(false, 'a', -1, -1, R | W | M), rule(true, 'c', 5000, 1, R),
				   rule(true, 'c', 1, 1 << 20, R), rule(true, 'c', 1, 3, R)};
	struct bpf_insn a[64], b[64];
	CHECK(device_program(NULL, 0, l9, 4, a, 64) == device_program(NULL, 0, l9 + 3, 1, b, 64) + 1);
	CHECK(decide(l9, 4, C, R, 1, 3) == 1 && decide(l9, 4, C, R, 5000 & 0xfff, 1) == 0);
	struct device_rule lists[][4] = {
		{rule(false, 'a', -1, -1, R | W | M), rule(true, 'c', 1, 3, R | W | M),
		 rule(true, 'c', 1, 5, R), rule(false, 'b', -1, -1, M)},
		{rule(true, 'b', 8, -1, R | W), rule(false, 'b', 8, 0, W), rule(true, 'c', 136, -1, R),
		 rule(false, 'a', 1, -1, M)},
		{rule(false, 'c', -1, 3, R), rule(true, 'a', -1, -1, M), rule(true, 'c', 10, 58, R),
		 rule(false, 'c', 5, 0, R | W)},
	};
	for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
		for (size_t k = 0; k <= 4; k++)
			CHECK(disagreements(lists[i], k) == 0);
	/* and many random lists */
	unsigned seed = 12345;
	for (int round = 0; round < 300; round++) {
		struct device_rule rs[12];
		size_t n = 1 + (size_t)(round % 12);
		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245 + 12345;
			unsigned x = seed >> 8;
			static const int64_t majors[] = {-1, 1, 5, 10, 202};
			static const int64_t mins[] = {-1, 0, 3, 5, 58};
			rs[k] = rule(x & 1, "acb"[(x >> 1) % 3], majors[(x >> 3) % 5],
				     mins[(x >> 6) % 5], 1 + (x >> 9) % 7);
		}
		CHECK(disagreements(rs, n) == 0);
	}
	/* the most rules a container may have fit the program's bound */
	static struct device_rule many[MAX_DEVICE_RULES];
	static struct bpf_insn big[16 + 4 + 13 * MAX_DEVICE_RULES];
	for (size_t k = 0; k < MAX_DEVICE_RULES; k++)
		many[k] = rule(k % 2, 'c', (int64_t)k, 3, R);
	int len = device_program(NULL, 0, many, MAX_DEVICE_RULES, big,
				 device_program_max(0, MAX_DEVICE_RULES));
	CHECK(len > 0 && program_well_formed(big, len));
}

/* The cgroup2 mount point from mountinfo's text into out; false without one. */
static bool cgroup2_mount(const char *mountinfo, char *out, size_t n)
{
	for (const char *line = mountinfo; line && *line;) {
		char point[256], fstype[32];
		const char *dash = strstr(line, " - ");
		const char *nl = strchr(line, '\n');
		if (dash && (!nl || dash < nl) && sscanf(line, "%*s %*s %*s %*s %255s", point) == 1 &&
		    sscanf(dash + 3, "%31s", fstype) == 1 && !strcmp(fstype, "cgroup2")) {
			snprintf(out, n, "%s", point);
			return true;
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

struct kernel_case {
	char type; /* 'c' or 'b' */
	unsigned maj, min, access; /* access M: mknod, else open for R, W or R|W */
};

/* In a child: a private tmpfs with the device nodes made first, then into cgroup `procs`, and
 * each case tried: 'Y' when the kernel let it through (a missing driver's ENXIO included), 'N'
 * for EPERM (the device program), '?' when the node could not even be made beforehand. */
static void kernel_child(const char *procs, const char *dir, const struct kernel_case *cases,
			 size_t n, int out)
{
	char verdicts[64] = "";
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "mode=700") < 0)
		_exit(2);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/n%zu", dir, i);
		mode_t kind = cases[i].type == 'b' ? S_IFBLK : S_IFCHR;
		verdicts[i] = mknod(path, kind | 0600, makedev(cases[i].maj, cases[i].min)) < 0 ? '?' : '.';
	}
	if (write_file(procs, "0") < 0)
		_exit(3);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		const struct kernel_case *k = &cases[i];
		int rc;
		if (k->access == M) {
			snprintf(path, sizeof path, "%s/m%zu", dir, i);
			rc = mknod(path, (k->type == 'b' ? S_IFBLK : S_IFCHR) | 0600,
				   makedev(k->maj, k->min));
		} else if (verdicts[i] == '?') {
			continue;
		} else {
			snprintf(path, sizeof path, "%s/n%zu", dir, i);
			int flags = k->access == (R | W) ? O_RDWR : k->access == W ? O_WRONLY : O_RDONLY;
			rc = open(path, flags | O_NONBLOCK | O_CLOEXEC);
			if (rc >= 0)
				close(rc);
		}
		verdicts[i] = rc < 0 && errno == EPERM ? 'N' : 'Y';
	}
	_exit(write(out, verdicts, n) == (ssize_t)n ? 0 : 4);
}

/* Where this host lets the test use bpf(2) and cgroup v2 (root, as the zone init is): the
 * kernel itself. Its verifier loads every program the rules above make, and a process in a
 * cgroup laid out as a zone's (the plumbing program on the parent, the rules on the child, both
 * BPF_F_ALLOW_MULTI) is let through or refused as `reference` says. Elsewhere this part says
 * it was skipped; the interpreter above still checks every decision. */
static void test_device_program_kernel(void)
{
	struct device_rule rules[] = {
		rule(false, 'a', -1, -1, R | W | M), rule(true, 'a', -1, -1, M),
		rule(false, 'b', -1, -1, M), rule(true, 'c', 1, 3, R | W | M),
		rule(true, 'c', 1, 5, R), rule(true, 'c', 1, 7, W), rule(false, 'c', 1, 3, M),
	};
	size_t nrules = sizeof rules / sizeof *rules;
	char err[ERR_MAX] = "";
	int fd = device_program_load(rules, nrules, err);
	if (fd < 0 && (errno == EPERM || errno == ENOSYS || errno == EACCES)) {
		printf("device program: kernel check skipped (bpf: %s)\n", strerror(errno));
		return;
	}
	CHECK(fd >= 0);
	if (fd < 0) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	/* the verifier takes the biggest program and one without an allow */
	static struct device_rule many[MAX_DEVICE_RULES];
	for (size_t k = 0; k < MAX_DEVICE_RULES; k++)
		many[k] = rule(k % 3 == 0, "acb"[k % 3], (int64_t)(k % 300), (int64_t)k % 5 - 1,
			       1 + k % 7);
	int big = device_program_load(many, MAX_DEVICE_RULES, err);
	CHECK(big >= 0);
	if (big >= 0)
		close(big);
	else
		fprintf(stderr, "  %s\n", err);
	int denials = device_program_load(rules, 1, err);
	CHECK(denials >= 0);
	if (denials >= 0)
		close(denials);
	int plumbing = device_program_load(NULL, 0, err);
	CHECK(plumbing >= 0);

	static char mi[65536];
	read_file("/proc/self/mountinfo", mi, sizeof mi);
	char mnt[256], parent[512], child[600], procs[640];
	char dir[] = "/tmp/edera-unit-dev-XXXXXX";
	snprintf(parent, sizeof parent, "/nonexistent");
	bool made_parent = false, made_child = false, made_dir = false;
	int held = -1;
	if (!cgroup2_mount(mi, mnt, sizeof mnt)) {
		printf("device program: kernel decisions skipped (no cgroup2 mount)\n");
		goto out;
	}
	snprintf(parent, sizeof parent, "%s/edera-unit-%d", mnt, (int)getpid());
	snprintf(child, sizeof child, "%s/container", parent);
	snprintf(procs, sizeof procs, "%s/cgroup.procs", child);
	made_parent = mkdir(parent, 0755) == 0;
	made_child = made_parent && mkdir(child, 0755) == 0;
	made_dir = mkdtemp(dir) != NULL;
	if (!made_child || !made_dir ||
	    device_program_attach(parent, plumbing, NULL, err) < 0 ||
	    (plumbing = -1, device_program_attach(child, fd, &held, err) < 0)) {
		printf("device program: kernel decisions skipped (cgroup %s: %s)\n", child,
		       err[0] ? err : strerror(errno));
		fd = -1;
		goto out;
	}
	fd = -1;
	static const struct kernel_case cases[] = {
		{'c', 1, 3, R | W}, {'c', 1, 3, M},  {'c', 1, 5, R}, {'c', 1, 5, W},
		{'c', 1, 5, R | W}, {'c', 1, 5, M},  {'c', 1, 7, W}, {'c', 1, 7, R},
		{'c', 1, 8, R},     {'c', 1, 9, M},  {'b', 7, 0, R}, {'b', 7, 0, M},
		{'c', 229, 0, R},   {'c', 229, 0, M}, {'b', 202, 0, M},
	};
	size_t n = sizeof cases / sizeof *cases;
	int pipefd[2];
	if (pipe(pipefd) < 0)
		goto out;
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		kernel_child(procs, dir, cases, n, pipefd[1]);
	}
	close(pipefd[1]);
	char verdicts[64] = "";
	ssize_t r = read(pipefd[0], verdicts, n);
	close(pipefd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (r != (ssize_t)n) {
		printf("device program: kernel decisions skipped (child status %d)\n",
		       WEXITSTATUS(status));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct kernel_case *k = &cases[i];
		int want = reference(rules, nrules, NULL, 0, k->type == 'b' ? B : C, k->access,
				     k->maj, k->min);
		if (verdicts[i] == '?')
			continue; /* the node could not be made here at all */
		CHECK((verdicts[i] == 'Y') == (want == 1));
		if ((verdicts[i] == 'Y') != (want == 1))
			fprintf(stderr, "  kernel: %c %u:%u access %u: %c, expected %d\n", k->type,
				k->maj, k->min, k->access, verdicts[i], want);
	}
	printf("device program: %zu decisions checked in the kernel's cgroup %s (%.*s)\n", n, child,
	       (int)n, verdicts);
out:
	if (held >= 0)
		close(held);
	if (fd >= 0)
		close(fd);
	if (plumbing >= 0)
		close(plumbing);
	/* The child's exit leaves its cgroup a moment later. */
	for (int i = 0; made_child && i < 100 && rmdir(child) < 0 && errno == EBUSY; i++)
		usleep(10000);
	if (made_parent)
		rmdir(parent);
	if (made_dir)
		rmdir(dir);
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
	CHECK(cgroup_update(NULL, NULL, rec_before, 0, err) == -1 && strstr(err, "no cgroup"));
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
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == 0);
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "20"));
	if (f)
		fclose(f);
	/* DEVICE_RULE records ride along (a host test attaches no program); a bad one refuses
	 * the whole UPDATE before anything is written. */
	list_len = 0;
	REC(TAG_CGROUP, "pids.max\00021");
	rule_rec("0", "a", "-1", "-1", "rwm");
	rule_rec("1", "c", "1", "3", "rwm");
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == 0);
	list_len = 0;
	REC(TAG_CGROUP, "pids.max\00022");
	rule_rec("1", "z", "-1", "-1", "rwm");
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == -1 && strstr(err, "DEVICE_RULE"));
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "21"));
	if (f)
		fclose(f);
	/* Nothing is written when one record is bad. */
	list_len = 0;
	REC(TAG_CGROUP, "pids.max\00030");
	REC(TAG_CGROUP, "cgroup.procs\0001");
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == -1 && strstr(err, "cgroup.procs"));
	list_len = 0;
	REC(TAG_CGROUP, "pids.max\00030");
	REC(TAG_CGROUP, "cpuset.cpus\0001023");
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == -1 && strstr(err, "no CPU 1023"));
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "21"));
	if (f)
		fclose(f);
	list_len = 0;
	REC(TAG_ARG, "x");
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == -1 && strstr(err, "not CGROUP"));
	list_len = 0;
	REC(TAG_CGROUP, "pids.max");
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == -1 && strstr(err, "file"));
	/* A file the cgroup lacks (here memory.low) is an error naming it. */
	list_len = 0;
	REC(TAG_CGROUP, "memory.low\0001");
	CHECK(cgroup_update(NULL, NULL, list, list_len, err) == -1 && strstr(err, "memory.low"));
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
	test_device_rule_records();
	test_zone_plumbing();
	test_mountinfo();
	test_passwd_home();
	test_close_fds_fallback();
	test_device_program();
	test_device_rules();
	test_device_program_kernel();
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
