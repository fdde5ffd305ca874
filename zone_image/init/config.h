/* Record lists (SPEC, EXEC) turned into plain C structs. */
#ifndef EDERA_CONFIG_H
#define EDERA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum { CAP_BOUNDING, CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE, CAP_AMBIENT, CAP_SETS };

struct rlimit_cfg {
	int resource;
	uint64_t soft, hard;
};

/* One argument condition of a seccomp rule (linux.seccomp.syscalls[].args[]). */
struct seccomp_arg_cfg {
	unsigned index;           /* 0..5 */
	int op;                   /* enum scmp_compare */
	uint64_t value, value_two;
};

/* One linux.seccomp.syscalls[] entry: its names, the libseccomp action, its conditions. */
struct seccomp_rule_cfg {
	char **names;
	size_t nnames;
	uint32_t action; /* SCMP_ACT_*, errno/trace data included */
	struct seccomp_arg_cfg *args;
	size_t nargs;
};

/* linux.seccomp, as the SECCOMP_* records carry it (names still unresolved: libseccomp
 * resolves architectures and syscalls when the filter is built, see syscall_filter.h). */
struct seccomp_cfg {
	bool present; /* a SECCOMP_DEFAULT record was seen */
	uint32_t default_action;
	char **archs; /* "SCMP_ARCH_X86_64", ... */
	size_t narchs;
	unsigned flags; /* SECCOMP_FLAG_* below */
	struct seccomp_rule_cfg *rules;
	size_t nrules;
};

enum { SECCOMP_FLAG_TSYNC = 1, SECCOMP_FLAG_LOG = 2, SECCOMP_FLAG_SPEC_ALLOW = 4 };

/* The process records: the container's init (SPEC) or an exec'd process (EXEC). */
struct proc_cfg {
	char **argv; /* NULL-terminated */
	size_t argc;
	char **envp; /* NULL-terminated */
	size_t envc;
	char *cwd;
	bool has_uid, has_gid;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	bool has_umask;
	mode_t umask;
	struct rlimit_cfg *rlimits;
	size_t nrlimits;
	bool has_caps;
	uint64_t caps[CAP_SETS];
	bool no_new_privs;
	bool has_oom;
	int oom_score_adj;
	bool terminal;
	unsigned rows, cols; /* 0 = not given */
	struct seccomp_cfg seccomp;
	/* The built filter (a scmp_filter_ctx) run_process loads; NULL = none. An exec'd
	 * process without SECCOMP records borrows the container's (owns_filter false). */
	void *filter;
	bool owns_filter;
};

struct kv {
	char *key, *value;
};

struct mount_cfg {
	char *dest, *type, *source, *data;
	unsigned long flags;
};

struct net_if_cfg {
	char *name, *mac;
	unsigned mtu; /* 0 = leave */
};

struct net_addr_cfg {
	char *ifname, *addr; /* addr is "address/prefix" */
};

/* linux.devices: a node made in the container's /dev. */
struct device_cfg {
	char *path;
	char type; /* 'c', 'b' or 'p' */
	unsigned major, minor;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

/* One linux.resources.devices rule (DEVICE_RULE), as runc reads config.json's: type 'a' (any
 * device), 'c' or 'b'; major and minor -1 for any; access the BPF_DEVCG_ACC_* bits of its
 * "rwm" letters (never 0). */
struct device_rule {
	bool allow;
	char type;
	int64_t major, minor;
	unsigned access;
};

/* At most this many DEVICE_RULE records per container: its device program stays well within
 * the verifier's limits. */
#define MAX_DEVICE_RULES 1024

struct net_route_cfg {
	char *ifname, *dst, *gw; /* gw may be "" */
};

/* The container records (SPEC only). */
struct container_cfg {
	char *hostname, *domainname;
	struct kv *sysctls;
	size_t nsysctls;
	struct mount_cfg *mounts;
	size_t nmounts;
	char **masked;
	size_t nmasked;
	char **readonly;
	size_t nreadonly;
	bool root_readonly;
	char *binds_disk;
	char *binds_share, *binds_share_opts; /* 9p tag and mount options (BINDS_SHARE) */
	char *root_share, *root_share_opts; /* the root over 9p instead of root_dev (ROOT_SHARE) */
	char *root_bind; /* a pod container's root: a directory under ZONE_BINDS (ROOT_BIND) */
	char *root_dev, *root_fstype;
	struct net_if_cfg *ifs;
	size_t nifs;
	struct net_addr_cfg *addrs;
	size_t naddrs;
	struct net_route_cfg *routes;
	size_t nroutes;
	int ns_flags; /* CLONE_NEW* of the namespaces made for the workload (NAMESPACE) */
	struct device_cfg *devices;
	size_t ndevices;
	struct kv *cgroup; /* CGROUP: file in the container's cgroup, value */
	size_t ncgroup;
	/* DEVICE_RULE, in config.json's order; none = no list (every device but the zone's
	 * plumbing is allowed) */
	struct device_rule *device_rules;
	size_t ndevice_rules;
	size_t nrecords; /* container records seen, for "skipped" diagnostics */
};

/* Parse a record list. ctr == NULL means an EXEC: container records are then an error.
 * Returns 0, or -1 with err set; the structs may be partly filled either way (free them). */
int config_parse(const uint8_t *p, size_t n, struct proc_cfg *proc, struct container_cfg *ctr,
		 char err[ERR_MAX]);
void proc_cfg_free(struct proc_cfg *p);
void seccomp_cfg_free(struct seccomp_cfg *sc);
void container_cfg_free(struct container_cfg *c);

/* A DEVICE_RULE record's value ("allow\0type\0major\0minor\0access") into *out; 0, or -1
 * with err (also for UPDATE's records). */
struct record;
int device_rule_parse(const struct record *r, struct device_rule *out, char err[ERR_MAX]);

/* The value of NAME in a NULL-terminated KEY=VALUE list, or NULL. */
const char *env_lookup(char *const *envp, const char *name);

/* The CLONE_NEW* flag of a namespace type as config.json names it, or 0 for a type the zone
 * init does not create. */
int namespace_flag(const char *type);

/* The libseccomp action for an OCI action name and errnoRet (has_errno false = not given:
 * EPERM for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, as runc). 0 with *out set, or -1 with err. */
int seccomp_action(const char *name, bool has_errno, uint64_t errno_ret, uint32_t *out,
		   char err[ERR_MAX]);

/* Strict number parsing (whole string, no sign for unsigned). 0 on success. */
int parse_u64(const char *s, int base, uint64_t *out);
int parse_i64(const char *s, int64_t *out);

#endif
