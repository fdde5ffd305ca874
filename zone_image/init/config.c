#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <seccomp.h>
#include <string.h>

#include "cgroup.h"
#include "proto.h"
#include "setup.h"
#include "syscall_filter.h"

#define PUSH(arr, n, item)                                                   \
	do {                                                                 \
		(arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr)));         \
		(arr)[(n)++] = (item);                                       \
	} while (0)

int parse_u64(const char *s, int base, uint64_t *out)
{
	if (!*s || !isxdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int parse_i64(const char *s, int64_t *out)
{
	if (!*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

const char *env_lookup(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

static const char *tag_name(uint16_t tag)
{
	static const char *const names[] = {
		[TAG_ARG] = "ARG", [TAG_ENV] = "ENV", [TAG_CWD] = "CWD", [TAG_UID] = "UID",
		[TAG_GID] = "GID", [TAG_ADDITIONAL_GID] = "ADDITIONAL_GID", [TAG_UMASK] = "UMASK",
		[TAG_RLIMIT] = "RLIMIT", [TAG_CAPS] = "CAPS", [TAG_NO_NEW_PRIVS] = "NO_NEW_PRIVS",
		[TAG_OOM_SCORE_ADJ] = "OOM_SCORE_ADJ", [TAG_TERMINAL] = "TERMINAL",
		[TAG_TERM_SIZE] = "TERM_SIZE", [TAG_HOSTNAME] = "HOSTNAME",
		[TAG_DOMAINNAME] = "DOMAINNAME", [TAG_SYSCTL] = "SYSCTL", [TAG_MOUNT] = "MOUNT",
		[TAG_MASKED_PATH] = "MASKED_PATH", [TAG_READONLY_PATH] = "READONLY_PATH",
		[TAG_ROOT_READONLY] = "ROOT_READONLY", [TAG_BINDS_DISK] = "BINDS_DISK",
		[TAG_ROOT_DISK] = "ROOT_DISK", [TAG_NET_IF] = "NET_IF", [TAG_NET_ADDR] = "NET_ADDR",
		[TAG_NET_ROUTE] = "NET_ROUTE", [TAG_NAMESPACE] = "NAMESPACE", [TAG_DEVICE] = "DEVICE",
		[TAG_CGROUP] = "CGROUP", [TAG_DEVICE_RULE] = "DEVICE_RULE",
		[TAG_SECCOMP_DEFAULT] = "SECCOMP_DEFAULT",
		[TAG_SECCOMP_ARCH] = "SECCOMP_ARCH", [TAG_SECCOMP_FLAG] = "SECCOMP_FLAG",
		[TAG_SECCOMP_SYSCALL] = "SECCOMP_SYSCALL",
		[TAG_BINDS_SHARE] = "BINDS_SHARE",
		[TAG_ROOT_SHARE] = "ROOT_SHARE", [TAG_ROOT_BIND] = "ROOT_BIND",
	};
	if (tag < sizeof names / sizeof names[0] && names[tag])
		return names[tag];
	return "?";
}

/* Split a record value into exactly `want` NUL-separated fields, each copied as a C string. */
static int fields(const struct record *r, char **out, int want, char err[ERR_MAX])
{
	int got = 0;
	size_t start = 0;
	for (size_t i = 0; i <= r->len; i++) {
		if (i < r->len && r->value[i])
			continue;
		if (got == want) {
			for (int j = 0; j < got; j++)
				free(out[j]);
			return errf(err, "record %s: more than %d fields", tag_name(r->tag), want);
		}
		size_t n = i - start;
		out[got] = memcpy(xrealloc(NULL, n + 1), r->value + start, n);
		out[got][n] = 0;
		got++;
		start = i + 1;
	}
	if (got != want) {
		for (int i = 0; i < got; i++)
			free(out[i]);
		return errf(err, "record %s: %d fields, expected %d", tag_name(r->tag), got, want);
	}
	return 0;
}

/* "/a/b": every component named, none "." or "..", no empty one. */
static bool plain_components(const char *path)
{
	while (*path == '/') {
		const char *name = path + 1, *end = strchrnul(name, '/');
		size_t len = (size_t)(end - name);
		if (!len || (len == 1 && name[0] == '.') || (len == 2 && !strncmp(name, "..", 2)))
			return false;
		path = end;
	}
	return !*path;
}

static int text(const struct record *r, char **out, char err[ERR_MAX])
{
	return fields(r, out, 1, err);
}

static int number_u(const struct record *r, uint64_t max, uint64_t *v, char err[ERR_MAX])
{
	char *s;
	if (text(r, &s, err))
		return -1;
	int bad = parse_u64(s, 10, v) || *v > max;
	if (bad)
		errf(err, "record %s: bad number \"%s\"", tag_name(r->tag), s);
	free(s);
	return bad ? -1 : 0;
}

static void free_strv(char **v, size_t n);

/* Every NUL-separated field of a record, for records with a variable number of fields. */
static size_t all_fields(const struct record *r, char ***out)
{
	size_t got = 0, start = 0;
	*out = NULL;
	for (size_t i = 0; i <= r->len; i++) {
		if (i < r->len && r->value[i])
			continue;
		size_t n = i - start;
		char *f = memcpy(xrealloc(NULL, n + 1), r->value + start, n);
		f[n] = 0;
		PUSH(*out, got, f);
		start = i + 1;
	}
	return got;
}

int seccomp_action(const char *name, bool has_errno, uint64_t errno_ret, uint32_t *out,
		   char err[ERR_MAX])
{
	static const struct { const char *name; uint32_t action; bool data; } actions[] = {
		{"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false},
		{"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
		{"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
		{"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
		{"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
		{"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
		{"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
		{"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
	};
	if (!strcmp(name, "SCMP_ACT_NOTIFY"))
		return errf(err, "seccomp action SCMP_ACT_NOTIFY: a zone has no seccomp agent");
	if (has_errno && errno_ret > 0xffff)
		return errf(err, "seccomp errnoRet %" PRIu64 " is over 65535", errno_ret);
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		if (strcmp(name, actions[i].name))
			continue;
		/* errnoRet only means something to ERRNO and TRACE (runc ignores it elsewhere);
		 * not given, both return EPERM, as under runc. */
		*out = actions[i].action;
		if (actions[i].data)
			*out |= (uint32_t)(has_errno ? errno_ret : EPERM);
		return 0;
	}
	return errf(err, "unknown seccomp action \"%s\"", name);
}

static int seccomp_op(const char *name)
{
	static const struct { const char *name; int op; } ops[] = {
		{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
		{"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
		{"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
		{"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (!strcmp(name, ops[i].name))
			return ops[i].op;
	return 0;
}

/* "action\0errnoRet": errnoRet empty when config.json has none. */
static int parse_action_fields(const char *tag, const char *action, const char *errno_text,
			       uint32_t *out, char err[ERR_MAX])
{
	uint64_t e = 0;
	if (errno_text[0] && parse_u64(errno_text, 10, &e))
		return errf(err, "record %s: bad errnoRet \"%s\"", tag, errno_text);
	char why[ERR_MAX];
	if (seccomp_action(action, errno_text[0] != 0, e, out, why) < 0)
		return errf(err, "record %s: %s", tag, why);
	return 0;
}

/* SECCOMP_SYSCALL: "action\0errnoRet\0name,name,...\0" then "index\0value\0valueTwo\0op"
 * per argument condition. */
static int parse_seccomp_syscall(const struct record *r, struct seccomp_cfg *sc,
				 char err[ERR_MAX])
{
	char **f;
	size_t n = all_fields(r, &f);
	struct seccomp_rule_cfg rule = {0};
	int rc = -1;
	if (n < 3 || (n - 3) % 4) {
		errf(err, "record SECCOMP_SYSCALL: %zu fields, expected 3 + 4 per argument", n);
		goto out;
	}
	if (parse_action_fields("SECCOMP_SYSCALL", f[0], f[1], &rule.action, err) < 0)
		goto out;
	for (char *name = f[2], *end; *name; name = *end ? end + 1 : end) {
		end = name + strcspn(name, ",");
		if (end == name) {
			errf(err, "record SECCOMP_SYSCALL: empty syscall name in \"%s\"", f[2]);
			goto out;
		}
		char *copy = memcpy(xrealloc(NULL, end - name + 1), name, end - name);
		copy[end - name] = 0;
		PUSH(rule.names, rule.nnames, copy);
	}
	if (!rule.nnames) {
		errf(err, "record SECCOMP_SYSCALL: no syscall names");
		goto out;
	}
	for (size_t i = 3; i < n; i += 4) {
		struct seccomp_arg_cfg a;
		uint64_t index;
		a.op = seccomp_op(f[i + 3]);
		if (parse_u64(f[i], 10, &index) || index > 5 || parse_u64(f[i + 1], 10, &a.value) ||
		    (f[i + 2][0] && parse_u64(f[i + 2], 10, &a.value_two)) || !a.op) {
			errf(err, "record SECCOMP_SYSCALL %s: bad argument \"%s %s %s %s\"",
			     rule.names[0], f[i], f[i + 1], f[i + 2], f[i + 3]);
			goto out;
		}
		if (!f[i + 2][0])
			a.value_two = 0;
		a.index = (unsigned)index;
		PUSH(rule.args, rule.nargs, a);
	}
	PUSH(sc->rules, sc->nrules, rule);
	rc = 0;
out:
	free_strv(f, n);
	if (rc < 0) {
		free_strv(rule.names, rule.nnames);
		free(rule.args);
	}
	return rc;
}

static int parse_seccomp_record(const struct record *r, struct seccomp_cfg *sc,
				char err[ERR_MAX])
{
	static const struct { const char *name; unsigned flag; } flags[] = {
		{"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FLAG_TSYNC},
		{"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FLAG_LOG},
		{"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FLAG_SPEC_ALLOW},
	};
	char *f[2];
	switch (r->tag) {
	case TAG_SECCOMP_DEFAULT: {
		if (fields(r, f, 2, err))
			return -1;
		int rc = parse_action_fields("SECCOMP_DEFAULT", f[0], f[1], &sc->default_action,
					     err);
		free(f[0]), free(f[1]);
		if (rc < 0)
			return -1;
		sc->present = true;
		return 0;
	}
	case TAG_SECCOMP_ARCH:
		if (text(r, f, err))
			return -1;
		PUSH(sc->archs, sc->narchs, f[0]);
		return 0;
	case TAG_SECCOMP_FLAG:
		if (text(r, f, err))
			return -1;
		for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
			if (!strcmp(f[0], flags[i].name)) {
				sc->flags |= flags[i].flag;
				free(f[0]);
				return 0;
			}
		}
		errf(err, "record SECCOMP_FLAG: \"%s\" is not a flag the zone applies", f[0]);
		free(f[0]);
		return -1;
	case TAG_SECCOMP_SYSCALL:
		return parse_seccomp_syscall(r, sc, err);
	}
	return 1;
}

static int parse_proc_record(const struct record *r, struct proc_cfg *p, char err[ERR_MAX])
{
	char *f[5];
	uint64_t v;
	switch (r->tag) {
	case TAG_ARG:
		if (text(r, f, err))
			return -1;
		PUSH(p->argv, p->argc, f[0]);
		return 0;
	case TAG_ENV:
		if (text(r, f, err))
			return -1;
		if (!strchr(f[0], '=')) {
			errf(err, "record ENV: \"%s\" is not KEY=VALUE", f[0]);
			free(f[0]);
			return -1;
		}
		PUSH(p->envp, p->envc, f[0]);
		return 0;
	case TAG_CWD:
		if (text(r, f, err))
			return -1;
		if (f[0][0] != '/') {
			errf(err, "record CWD: \"%s\" is not absolute", f[0]);
			free(f[0]);
			return -1;
		}
		free(p->cwd);
		p->cwd = f[0];
		return 0;
	case TAG_UID:
		if (number_u(r, UINT32_MAX - 1, &v, err))
			return -1;
		p->has_uid = true;
		p->uid = v;
		return 0;
	case TAG_GID:
		if (number_u(r, UINT32_MAX - 1, &v, err))
			return -1;
		p->has_gid = true;
		p->gid = v;
		return 0;
	case TAG_ADDITIONAL_GID:
		if (number_u(r, UINT32_MAX - 1, &v, err))
			return -1;
		PUSH(p->groups, p->ngroups, (gid_t)v);
		return 0;
	case TAG_UMASK:
		if (number_u(r, 0777, &v, err))
			return -1;
		p->has_umask = true;
		p->umask = v;
		return 0;
	case TAG_RLIMIT: {
		if (fields(r, f, 3, err))
			return -1;
		struct rlimit_cfg rl;
		uint64_t res = 0;
		int bad = parse_u64(f[0], 10, &res) || res > 64 || parse_u64(f[1], 10, &rl.soft) ||
			  parse_u64(f[2], 10, &rl.hard);
		if (bad)
			errf(err, "record RLIMIT: bad value \"%s %s %s\"", f[0], f[1], f[2]);
		free(f[0]), free(f[1]), free(f[2]);
		if (bad)
			return -1;
		rl.resource = (int)res;
		PUSH(p->rlimits, p->nrlimits, rl);
		return 0;
	}
	case TAG_CAPS: {
		if (fields(r, f, CAP_SETS, err))
			return -1;
		int bad = 0;
		for (int i = 0; i < CAP_SETS; i++) {
			if (!bad && parse_u64(f[i], 16, &p->caps[i]))
				bad = errf(err, "record CAPS: bad mask \"%s\"", f[i]);
			free(f[i]);
		}
		if (bad)
			return -1;
		p->has_caps = true;
		return 0;
	}
	case TAG_NO_NEW_PRIVS:
		p->no_new_privs = true;
		return 0;
	case TAG_OOM_SCORE_ADJ: {
		int64_t adj;
		if (text(r, f, err))
			return -1;
		int bad = parse_i64(f[0], &adj) || adj < -1000 || adj > 1000;
		if (bad)
			errf(err, "record OOM_SCORE_ADJ: bad value \"%s\"", f[0]);
		free(f[0]);
		if (bad)
			return -1;
		p->has_oom = true;
		p->oom_score_adj = (int)adj;
		return 0;
	}
	case TAG_TERMINAL:
		p->terminal = true;
		return 0;
	case TAG_TERM_SIZE: {
		uint64_t rows, cols;
		if (fields(r, f, 2, err))
			return -1;
		int bad = parse_u64(f[0], 10, &rows) || parse_u64(f[1], 10, &cols) ||
			  rows > 65535 || cols > 65535;
		if (bad)
			errf(err, "record TERM_SIZE: bad value \"%s %s\"", f[0], f[1]);
		free(f[0]), free(f[1]);
		if (bad)
			return -1;
		p->rows = rows;
		p->cols = cols;
		return 0;
	}
	}
	return parse_seccomp_record(r, &p->seccomp, err); /* 1: not a process record */
}

int namespace_flag(const char *type)
{
	static const struct { const char *name; int flag; } types[] = {
		{"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
		{"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP},
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(type, types[i].name))
			return types[i].flag;
	return 0;
}

static int parse_device(const struct record *r, struct container_cfg *c, char err[ERR_MAX])
{
	char *f[7];
	if (fields(r, f, 7, err))
		return -1;
	uint64_t major, minor, mode, uid, gid;
	int bad = f[0][0] != '/' || strlen(f[1]) != 1 || !strchr("cbp", f[1][0]) ||
		  parse_u64(f[2], 10, &major) || major > 0xfff || parse_u64(f[3], 10, &minor) ||
		  minor > 0xfffff || parse_u64(f[4], 10, &mode) || mode > 07777 ||
		  parse_u64(f[5], 10, &uid) || uid > UINT32_MAX - 1 || parse_u64(f[6], 10, &gid) ||
		  gid > UINT32_MAX - 1;
	if (bad)
		errf(err, "record DEVICE: bad value \"%s %s %s %s %s %s %s\"", f[0], f[1], f[2],
		     f[3], f[4], f[5], f[6]);
	if (!bad)
		PUSH(c->devices, c->ndevices,
		     ((struct device_cfg){.path = f[0], .type = f[1][0], .major = major,
					  .minor = minor, .mode = mode, .uid = uid, .gid = gid}));
	else
		free(f[0]);
	for (int i = 1; i < 7; i++)
		free(f[i]);
	return bad ? -1 : 0;
}

int device_rule_parse(const struct record *r, struct device_rule *out, char err[ERR_MAX])
{
	char *f[5];
	if (fields(r, f, 5, err))
		return -1;
	int64_t major = 0, minor = 0;
	unsigned access = 0;
	bool bad_access = !f[4][0];
	for (const char *a = f[4]; *a; a++) {
		if (!strchr("rwm", *a)) {
			bad_access = true;
			break;
		}
		access |= *a == 'm' ? BPF_DEVCG_ACC_MKNOD
			  : *a == 'r' ? BPF_DEVCG_ACC_READ : BPF_DEVCG_ACC_WRITE;
	}
	int bad = (strcmp(f[0], "1") && strcmp(f[0], "0")) || strlen(f[1]) != 1 ||
		  !strchr("acb", f[1][0]) || parse_i64(f[2], &major) || major < -1 ||
		  major > UINT32_MAX || parse_i64(f[3], &minor) || minor < -1 ||
		  minor > UINT32_MAX || bad_access;
	if (bad)
		errf(err, "record DEVICE_RULE: bad value \"%s %s %s %s %s\"", f[0], f[1], f[2],
		     f[3], f[4]);
	else
		*out = (struct device_rule){.allow = f[0][0] == '1', .type = f[1][0],
					    .major = major, .minor = minor, .access = access};
	for (int i = 0; i < 5; i++)
		free(f[i]);
	return bad ? -1 : 0;
}

static int parse_container_record(const struct record *r, struct container_cfg *c,
				  char err[ERR_MAX])
{
	char *f[5];
	switch (r->tag) {
	case TAG_HOSTNAME:
		if (text(r, f, err))
			return -1;
		free(c->hostname);
		c->hostname = f[0];
		return 0;
	case TAG_DOMAINNAME:
		if (text(r, f, err))
			return -1;
		free(c->domainname);
		c->domainname = f[0];
		return 0;
	case TAG_SYSCTL:
		if (fields(r, f, 2, err))
			return -1;
		PUSH(c->sysctls, c->nsysctls, ((struct kv){f[0], f[1]}));
		return 0;
	case TAG_MOUNT: {
		if (fields(r, f, 5, err))
			return -1;
		uint64_t flags;
		if (parse_u64(f[3], 10, &flags) || f[0][0] != '/') {
			errf(err, "record MOUNT: bad destination or flags \"%s\" \"%s\"", f[0], f[3]);
			for (int i = 0; i < 5; i++)
				free(f[i]);
			return -1;
		}
		free(f[3]);
		PUSH(c->mounts, c->nmounts,
		     ((struct mount_cfg){.dest = f[0], .type = f[1], .source = f[2], .data = f[4],
					 .flags = flags}));
		return 0;
	}
	case TAG_MASKED_PATH:
		if (text(r, f, err))
			return -1;
		PUSH(c->masked, c->nmasked, f[0]);
		return 0;
	case TAG_READONLY_PATH:
		if (text(r, f, err))
			return -1;
		PUSH(c->readonly, c->nreadonly, f[0]);
		return 0;
	case TAG_ROOT_READONLY:
		c->root_readonly = true;
		return 0;
	case TAG_BINDS_DISK:
		if (text(r, f, err))
			return -1;
		free(c->binds_disk);
		c->binds_disk = f[0];
		return 0;
	case TAG_BINDS_SHARE:
		if (fields(r, f, 2, err))
			return -1;
		free(c->binds_share), free(c->binds_share_opts);
		c->binds_share = f[0];
		c->binds_share_opts = f[1];
		return 0;
	case TAG_ROOT_SHARE:
		if (fields(r, f, 2, err))
			return -1;
		free(c->root_share), free(c->root_share_opts);
		c->root_share = f[0];
		c->root_share_opts = f[1];
		return 0;
	case TAG_ROOT_BIND: {
		if (text(r, f, err))
			return -1;
		/* Only a directory the host shared with the pod's zone, never a path out of it. */
		if (strncmp(f[0], ZONE_BINDS "/", strlen(ZONE_BINDS) + 1) ||
		    !plain_components(f[0] + strlen(ZONE_BINDS))) {
			errf(err, "record ROOT_BIND: \"%s\" is not a directory under " ZONE_BINDS,
			     f[0]);
			free(f[0]);
			return -1;
		}
		free(c->root_bind);
		c->root_bind = f[0];
		return 0;
	}
	case TAG_ROOT_DISK:
		if (fields(r, f, 2, err))
			return -1;
		free(c->root_dev), free(c->root_fstype);
		c->root_dev = f[0];
		c->root_fstype = f[1];
		return 0;
	case TAG_NET_IF: {
		if (fields(r, f, 3, err))
			return -1;
		uint64_t mtu = 0;
		if (f[2][0] && (parse_u64(f[2], 10, &mtu) || mtu > 65535)) {
			errf(err, "record NET_IF: bad mtu \"%s\"", f[2]);
			free(f[0]), free(f[1]), free(f[2]);
			return -1;
		}
		free(f[2]);
		PUSH(c->ifs, c->nifs, ((struct net_if_cfg){f[0], f[1], (unsigned)mtu}));
		return 0;
	}
	case TAG_NET_ADDR:
		if (fields(r, f, 2, err))
			return -1;
		PUSH(c->addrs, c->naddrs, ((struct net_addr_cfg){f[0], f[1]}));
		return 0;
	case TAG_NET_ROUTE:
		if (fields(r, f, 3, err))
			return -1;
		PUSH(c->routes, c->nroutes, ((struct net_route_cfg){f[0], f[1], f[2]}));
		return 0;
	case TAG_NAMESPACE: {
		if (text(r, f, err))
			return -1;
		int flag = namespace_flag(f[0]);
		if (!flag)
			errf(err, "record NAMESPACE: \"%s\" is not a namespace the zone creates", f[0]);
		free(f[0]);
		if (!flag)
			return -1;
		c->ns_flags |= flag;
		return 0;
	}
	case TAG_DEVICE:
		return parse_device(r, c, err);
	case TAG_CGROUP:
		if (fields(r, f, 2, err))
			return -1;
		if (!cgroup_setting_allowed(f[0]) || strchr(f[1], '\n')) {
			errf(err, "record CGROUP: \"%s\" is not a setting the zone applies", f[0]);
			free(f[0]), free(f[1]);
			return -1;
		}
		PUSH(c->cgroup, c->ncgroup, ((struct kv){f[0], f[1]}));
		return 0;
	case TAG_DEVICE_RULE: {
		struct device_rule rule;
		if (c->ndevice_rules == MAX_DEVICE_RULES)
			return errf(err, "more than %d DEVICE_RULE records", MAX_DEVICE_RULES);
		if (device_rule_parse(r, &rule, err) < 0)
			return -1;
		PUSH(c->device_rules, c->ndevice_rules, rule);
		return 0;
	}
	}
	return 1;
}

int config_parse(const uint8_t *p, size_t n, struct proc_cfg *proc, struct container_cfg *ctr,
		 char err[ERR_MAX])
{
	struct record_iter it;
	struct record r;
	int rc;
	record_iter_init(&it, p, n);
	while ((rc = record_next(&it, &r)) == 1) {
		int done = parse_proc_record(&r, proc, err);
		if (done < 0)
			return -1;
		if (done == 0)
			continue;
		if ((r.tag >= TAG_HOSTNAME && r.tag <= TAG_DEVICE_RULE) ||
		    (r.tag >= TAG_STORAGE_FIRST && r.tag <= TAG_STORAGE_LAST)) {
			if (!ctr)
				return errf(err, "record %s is not allowed in EXEC", tag_name(r.tag));
			if (parse_container_record(&r, ctr, err) < 0)
				return -1;
			ctr->nrecords++;
		}
		/* Unknown tags are skipped: a newer host may send records this init predates. */
	}
	if (rc < 0)
		return errf(err, "truncated record list");
	if (!proc->argc)
		return errf(err, "no ARG record: the process has no command");
	if (!proc->seccomp.present &&
	    (proc->seccomp.narchs || proc->seccomp.flags || proc->seccomp.nrules))
		return errf(err, "SECCOMP_ARCH, SECCOMP_FLAG or SECCOMP_SYSCALL without "
			    "SECCOMP_DEFAULT");
	/* NULL-terminate argv and envp for execve. */
	proc->argv = xrealloc(proc->argv, (proc->argc + 1) * sizeof(char *));
	proc->argv[proc->argc] = NULL;
	proc->envp = xrealloc(proc->envp, (proc->envc + 1) * sizeof(char *));
	proc->envp[proc->envc] = NULL;
	if (!proc->cwd)
		proc->cwd = xstrdup("/");
	if (ctr && !ctr->root_dev) {
		ctr->root_dev = xstrdup("xvda");
		ctr->root_fstype = xstrdup("ext4");
	}
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void seccomp_cfg_free(struct seccomp_cfg *sc)
{
	free_strv(sc->archs, sc->narchs);
	for (size_t i = 0; i < sc->nrules; i++) {
		free_strv(sc->rules[i].names, sc->rules[i].nnames);
		free(sc->rules[i].args);
	}
	free(sc->rules);
	memset(sc, 0, sizeof *sc);
}

void proc_cfg_free(struct proc_cfg *p)
{
	free_strv(p->argv, p->argc);
	free_strv(p->envp, p->envc);
	free(p->cwd);
	free(p->groups);
	free(p->rlimits);
	seccomp_cfg_free(&p->seccomp);
	if (p->owns_filter)
		filter_free(p->filter);
	memset(p, 0, sizeof *p);
}

void container_cfg_free(struct container_cfg *c)
{
	free(c->hostname);
	free(c->domainname);
	for (size_t i = 0; i < c->nsysctls; i++)
		free(c->sysctls[i].key), free(c->sysctls[i].value);
	free(c->sysctls);
	for (size_t i = 0; i < c->nmounts; i++) {
		struct mount_cfg *m = &c->mounts[i];
		free(m->dest), free(m->type), free(m->source), free(m->data);
	}
	free(c->mounts);
	free_strv(c->masked, c->nmasked);
	free_strv(c->readonly, c->nreadonly);
	free(c->binds_disk);
	free(c->binds_share), free(c->binds_share_opts);
	free(c->root_share), free(c->root_share_opts);
	free(c->root_bind);
	free(c->root_dev);
	free(c->root_fstype);
	for (size_t i = 0; i < c->nifs; i++)
		free(c->ifs[i].name), free(c->ifs[i].mac);
	free(c->ifs);
	for (size_t i = 0; i < c->naddrs; i++)
		free(c->addrs[i].ifname), free(c->addrs[i].addr);
	free(c->addrs);
	for (size_t i = 0; i < c->nroutes; i++)
		free(c->routes[i].ifname), free(c->routes[i].dst), free(c->routes[i].gw);
	free(c->routes);
	for (size_t i = 0; i < c->ndevices; i++)
		free(c->devices[i].path);
	free(c->devices);
	for (size_t i = 0; i < c->ncgroup; i++)
		free(c->cgroup[i].key), free(c->cgroup[i].value);
	free(c->cgroup);
	free(c->device_rules);
	memset(c, 0, sizeof *c);
}
