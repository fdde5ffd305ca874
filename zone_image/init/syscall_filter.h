/* linux.seccomp in the zone: the filter is built with libseccomp (linked statically) in PID 1
 * from a struct seccomp_cfg, so a profile libseccomp refuses fails SPEC or EXEC with ERROR, and
 * the forked process loads it in run_process (launch.c) where runc does: before it drops
 * capabilities and changes user without noNewPrivileges (loading needs CAP_SYS_ADMIN then),
 * else just before execve. */
#ifndef EDERA_SYSCALL_FILTER_H
#define EDERA_SYSCALL_FILTER_H

#include <stddef.h>

#include "config.h"

struct filter_stats {
	size_t rules;         /* libseccomp rules added */
	size_t unknown_names; /* syscall names libseccomp does not know: skipped, as runc does */
	size_t same_as_default; /* rules with the default action: skipped, as runc does */
	size_t stub;            /* instructions of the ENOSYS stub in front (0: none) */
};

/* The libseccomp architecture token for an OCI name ("SCMP_ARCH_X86_64"), or 0. */
unsigned filter_arch_token(const char *oci_name);

/* Build the filter of sc into *out: libseccomp's BPF program, behind runc's "ENOSYS stub" (a
 * syscall newer than any the profile names gets ENOSYS, not the default action). 0, or -1
 * with err naming the part. */
int filter_build(const struct seccomp_cfg *sc, void **out, struct filter_stats *st,
		 char err[ERR_MAX]);
/* Load it into the calling process: 0 or a negative errno. */
int filter_load(void *filter);
void filter_free(void *filter);

/* How many BPF instructions the built filter has (for tests). */
long filter_bpf_length(void *filter);

#endif
