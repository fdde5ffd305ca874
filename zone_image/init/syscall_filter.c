#include "syscall_filter.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int filter_build(const struct seccomp_cfg *sc, void **out, struct filter_stats *st,
		 char err[ERR_MAX])
{
	static const struct { unsigned flag; enum scmp_filter_attr attr; const char *name; } flags[] = {
		{SECCOMP_FLAG_TSYNC, SCMP_FLTATR_CTL_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"},
		{SECCOMP_FLAG_LOG, SCMP_FLTATR_CTL_LOG, "SECCOMP_FILTER_FLAG_LOG"},
		{SECCOMP_FLAG_SPEC_ALLOW, SCMP_FLTATR_CTL_SSB, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
	};
	*out = NULL;
	*st = (struct filter_stats){0};
	scmp_filter_ctx ctx = seccomp_init(sc->default_action);
	if (!ctx)
		return errf(err, "seccomp: libseccomp refuses the default action %#x",
			    sc->default_action);
	/* The process sets no_new_privs itself when config.json asks (runc does the same). */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* The kernel's own errno when loading fails (EACCES, ...), not libseccomp's ECANCELED. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	if (rc < 0) {
		errf(err, "seccomp: set the filter's attributes: %s", strerror(-rc));
		goto fail;
	}
	for (size_t i = 0; i < sc->narchs; i++) {
		unsigned arch = filter_arch_token(sc->archs[i]);
		if (!arch) {
			errf(err, "seccomp architecture \"%s\" is not known to libseccomp",
			     sc->archs[i]);
			goto fail;
		}
		rc = seccomp_arch_add(ctx, arch);
		if (rc < 0 && rc != -EEXIST) {
			errf(err, "seccomp architecture %s: %s", sc->archs[i], strerror(-rc));
			goto fail;
		}
	}
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (!(sc->flags & flags[i].flag))
			continue;
		rc = seccomp_attr_set(ctx, flags[i].attr, 1);
		if (rc < 0) {
			errf(err, "seccomp flag %s: %s", flags[i].name, strerror(-rc));
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
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

int filter_load(void *filter)
{
	return seccomp_load(filter);
}

void filter_free(void *filter)
{
	if (filter)
		seccomp_release(filter);
}

long filter_bpf_length(void *filter)
{
	/* seccomp_export_bpf writes the program to a descriptor: a pipe would need a reader, so
	 * a temporary file. */
	FILE *f = tmpfile();
	if (!f)
		return -1;
	long n = -1;
	if (seccomp_export_bpf(filter, fileno(f)) == 0) {
		fflush(f);
		n = lseek(fileno(f), 0, SEEK_END) / 8; /* struct sock_filter is 8 bytes */
	}
	fclose(f);
	return n;
}
