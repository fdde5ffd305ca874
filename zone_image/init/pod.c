/* A pod's further containers (PROTOCOL.md, "Pods"). The sandbox is the zone's own container
 * (SPEC, container.c's container_first); every CONTAINER frame adds one more, with a
 * container_state of its own that container.c's functions act on while container_cur points at
 * it. Its root disk and binds disk are hot-plugged by the host and mounted under
 * POD_DIR/<name>; it gets a cgroup of its own next to the sandbox's, under the same device
 * program (and a program of its own rules when it has DEVICE_RULE records); it shares the
 * zone's network and joins the sandbox's IPC and UTS namespaces (and the PID namespace when
 * the host asks). */
#include "pod.h"
#include "syscall_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "fsutil.h"
#include "platform.h"
#include "proto.h"
#include "setup.h"

#define CG_PODS "/sys/fs/cgroup/edera"

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > POD_NAME_MAX || s[0] == '.')
		return false;
	for (const char *c = s; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9') &&
		    !strchr("_.-", *c))
			return false;
	return true;
}

int pod_records(const uint8_t *p, size_t n, char name[POD_NAME_MAX + 1], int *join,
		char err[ERR_MAX])
{
	struct record_iter it;
	struct record r;
	int rc;
	bool root_disk = false;
	name[0] = 0;
	*join = 0;
	record_iter_init(&it, p, n);
	while ((rc = record_next(&it, &r)) == 1) {
		char v[POD_NAME_MAX + 2];
		if (r.tag == TAG_ROOT_DISK || r.tag == TAG_ROOT_BIND)
			root_disk = true;
		if (r.tag != TAG_POD_NAME && r.tag != TAG_POD_JOIN)
			continue;
		if (r.len > POD_NAME_MAX || memchr(r.value, 0, r.len))
			return errf(err, "record %s: bad value", r.tag == TAG_POD_NAME ? "POD_NAME"
											 : "POD_JOIN");
		memcpy(v, r.value, r.len);
		v[r.len] = 0;
		if (r.tag == TAG_POD_NAME) {
			if (!name_ok(v))
				return errf(err, "record POD_NAME: \"%s\" is not a name (letters, "
						 "digits, _ . -; at most %d)", v, POD_NAME_MAX);
			snprintf(name, POD_NAME_MAX + 1, "%s", v);
			continue;
		}
		int flag = !strcmp(v, "ipc") ? CLONE_NEWIPC : !strcmp(v, "uts") ? CLONE_NEWUTS
							   : !strcmp(v, "pid") ? CLONE_NEWPID : 0;
		if (!flag)
			return errf(err, "record POD_JOIN: \"%s\" is not ipc, uts or pid", v);
		*join |= flag;
	}
	if (rc < 0)
		return errf(err, "truncated record list");
	if (!name[0])
		return errf(err, "no POD_NAME record");
	if (!root_disk)
		return errf(err, "no ROOT_DISK or ROOT_BIND record: a pod's container brings its own "
			    "root");
	return 0;
}

static int mount_pod_disk(const char *dev, const char *fstype, const char *dst,
			  char err[ERR_MAX])
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "/dev/%s", dev);
	if (strchr(dev, '/') || wait_for_path(path, 10000) < 0)
		return errf(err, "disk %s did not appear within 10 s", path);
	if (mkdir_p(dst, 0755) < 0)
		return errf(err, "mkdir %s: %s", dst, strerror(errno));
	if (mount(path, dst, fstype, 0, NULL) < 0)
		return errf(err, "mount %s (%s) on %s: %s", path, fstype, dst, strerror(errno));
	return 0;
}

/* The container's rootfs, shared by the host into the pod's 9p share (ROOT_BIND), bound on
 * its root: its writes land in the bundle's rootfs, as a single container's do. */
static int bind_pod_root(const char *src, const char *dst, char err[ERR_MAX])
{
	struct stat st;
	if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
		return errf(err, "the container's root %s is not in the pod's share", src);
	if (mkdir_p(dst, 0755) < 0)
		return errf(err, "mkdir %s: %s", dst, strerror(errno));
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errf(err, "bind %s on %s: %s", src, dst, strerror(errno));
	return 0;
}

static int make_cgroup(struct pod_ctr *pc, char err[ERR_MAX])
{
	if (mkdir(pc->cgroup, 0755) < 0)
		return errf(err, "create the container's cgroup %s: %s", pc->cgroup, strerror(errno));
	pc->cgroup_made = true;
	for (size_t i = 0; i < pc->cfg.ncgroup; i++) {
		char path[256];
		snprintf(path, sizeof path, "%s/%s", pc->cgroup, pc->cfg.cgroup[i].key);
		/* A host test's fake cgroup is a directory of plain files, made here. */
		if (cgroup_uses_fake_dir())
			close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		if (write_file(path, pc->cfg.cgroup[i].value) < 0)
			return errf(err, "cgroup %s = %s: %s", pc->cfg.cgroup[i].key,
				    pc->cfg.cgroup[i].value, strerror(errno));
	}
	if (pc->cfg.ndevice_rules)
		return cgroup_device_rules(pc->cgroup, pc->cfg.device_rules, pc->cfg.ndevice_rules,
					   &pc->device_prog, err);
	return 0;
}

struct pod_ctr *pod_create(const uint8_t *p, size_t n, struct proc_cfg *proc,
			   const struct platform *pl, pid_t sandbox, int sandbox_ns,
			   char err[ERR_MAX])
{
	struct pod_ctr *pc = xrealloc(NULL, sizeof *pc);
	memset(pc, 0, sizeof *pc);
	pc->st = (struct container_state)CONTAINER_STATE_INIT;
	pc->device_prog = -1;
	int join;
	if (pod_records(p, n, pc->name, &join, err) < 0 || config_parse(p, n, proc, &pc->cfg, err) < 0)
		goto fail;
	/* Its own linux.seccomp (none without records), built before its process is forked, which
	 * loads it at START as the first container's does. */
	if (proc->seccomp.present) {
		struct filter_stats fst;
		if (filter_build(&proc->seccomp, &proc->filter, &fst, err) < 0)
			goto fail;
		proc->owns_filter = true;
	}
	if (pc->cfg.nifs || pc->cfg.naddrs || pc->cfg.nroutes) {
		errf(err, "NET_* records: a pod's containers share the zone's network");
		goto fail;
	}
	/* Joining a namespace the sandbox does not have of its own is sharing the zone's: then
	 * there is nothing to join, and nothing of that type is made either. */
	pc->cfg.ns_flags &= ~join;
	join &= sandbox_ns;
	snprintf(pc->root, sizeof pc->root, POD_DIR "/%s/root", pc->name);
	snprintf(pc->binds, sizeof pc->binds, POD_DIR "/%s/binds", pc->name);
	/* Beside the sandbox's (a host test: inside its fake cgroup directory). */
	snprintf(pc->cgroup, sizeof pc->cgroup, "%s/pod-%s",
		 cgroup_uses_fake_dir() && cgroup_dir() ? cgroup_dir() : CG_PODS, pc->name);
	if (pl->zone) {
		struct stat st;
		if (stat(pc->root, &st) == 0) {
			errf(err, "a container named %s is in the pod already", pc->name);
			goto fail;
		}
		if (pc->cfg.root_bind ? bind_pod_root(pc->cfg.root_bind, pc->root, err) < 0
				      : mount_pod_disk(pc->cfg.root_dev, pc->cfg.root_fstype, pc->root,
						       err) < 0)
			goto fail;
		pc->root_mounted = true;
		if (pc->cfg.binds_disk) {
			if (mount_pod_disk(pc->cfg.binds_disk, "ext4", pc->binds, err) < 0)
				goto fail;
			pc->binds_mounted = true;
		}
	}
	if (cgroup_dir() && make_cgroup(pc, err) < 0)
		goto fail;
	pc->st.join_pid = sandbox;
	pc->st.join_flags = join;
	pc->st.cgroup_dir = pc->cgroup_made ? pc->cgroup : NULL;
	struct platform ppl = *pl;
	ppl.root = pod_root(pc, pl);
	container_cur = &pc->st;
	int rc = container_create(&pc->cfg, proc, &ppl, err);
	container_cur = &container_first;
	if (rc < 0)
		goto fail;
	/* An exec joins what the container's process has: its own and the joined ones. */
	pc->st.ns_flags |= join;
	log_msg("pod container %s: created (root %s, joins 0x%x of pid %d)", pc->name, ppl.root,
		join, sandbox);
	return pc;
fail:
	pod_free(pc);
	return NULL;
}

const char *pod_root(const struct pod_ctr *pc, const struct platform *pl)
{
	return pl->zone ? pc->root : pl->root;
}

pid_t pod_start(struct pod_ctr *pc, const struct proc_cfg *p, struct launch_io *io,
		char err[ERR_MAX])
{
	container_cur = &pc->st;
	pid_t pid = container_start(p, io, err);
	container_cur = &container_first;
	return pid;
}

void pod_kill_all(struct pod_ctr *pc, int sig)
{
	if (pc->cgroup_made) {
		char path[256], buf[8192];
		snprintf(path, sizeof path, "%s/cgroup.procs", pc->cgroup);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t len = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		if (fd >= 0)
			close(fd);
		buf[len > 0 ? len : 0] = 0;
		for (char *s = buf, *end; *s; s = end) {
			long pid = strtol(s, &end, 10);
			if (end == s)
				break;
			if (pid > 1)
				kill((pid_t)pid, sig);
		}
	}
	if (pc->st.pid > 0)
		kill(pc->st.pid, sig);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void pod_free(struct pod_ctr *pc)
{
	if (!pc)
		return;
	if (pc->st.pid > 0)
		pod_kill_all(pc, SIGKILL);
	close_fd(&pc->st.ctl);
	close_fd(&pc->st.in_w);
	close_fd(&pc->st.out_r);
	close_fd(&pc->st.err_r);
	close_fd(&pc->st.master);
	close_fd(&pc->st.own_pid_ns);
	close_fd(&pc->device_prog); /* the cgroup's removal detaches it */
	filter_free(pc->filter);
	/* Detached: the disk is let go once the last of the container's processes is gone, and
	 * the host's block-detach then completes. */
	if (pc->binds_mounted && umount2(pc->binds, MNT_DETACH) < 0)
		log_msg("pod container %s: detach %s: %s", pc->name, pc->binds, strerror(errno));
	if (pc->root_mounted && umount2(pc->root, MNT_DETACH) < 0)
		log_msg("pod container %s: detach %s: %s", pc->name, pc->root, strerror(errno));
	if (pc->root_mounted) {
		char dir[160];
		rmdir(pc->root);
		rmdir(pc->binds);
		snprintf(dir, sizeof dir, POD_DIR "/%s", pc->name);
		rmdir(dir);
	}
	/* Its processes were just killed: give them a moment to leave the cgroup. */
	for (int i = 0; pc->cgroup_made && i < 50 && rmdir(pc->cgroup) < 0 && errno == EBUSY; i++)
		usleep(10000);
	container_cfg_free(&pc->cfg);
	free(pc);
}

int pod_ns_open(pid_t pid, const char *type)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, type);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int pod_join_namespaces(pid_t pid, int flags)
{
	static const struct { const char *name; int flag; } kinds[] = {
		{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (!(flags & kinds[i].flag))
			continue;
		int fd = pod_ns_open(pid, kinds[i].name);
		if (fd < 0 || setns(fd, kinds[i].flag) < 0) {
			int saved = errno;
			if (fd >= 0)
				close(fd);
			errno = saved;
			return -1;
		}
		close(fd);
	}
	return 0;
}

int pod_cgroup_join(const char *dir)
{
	char path[256];
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	return write_file(path, "0");
}
