#include "setup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup.h"
#include "fsutil.h"
#include "log.h"
#include "net.h"

#define PROPAGATION (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)

/* EBUSY means it is mounted already (e.g. a devtmpfs the kernel mounted itself): fine. */
static int boot_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		      const char *data)
{
	if (mkdir_p(dst, 0755) < 0 || (mount(src, dst, type, flags, data) < 0 && errno != EBUSY)) {
		log_msg("mount %s on %s: %s", type, dst, strerror(errno));
		return -1;
	}
	return 0;
}

/* The kernel opens /dev/console for init only if the initramfs has the node; make sure 0-2 are
 * open so no later descriptor (a vchan, a pipe) lands on them by accident. */
static void console_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int c = open("/dev/console", O_RDWR | O_NOCTTY);
		if (c < 0)
			c = open("/dev/null", O_RDWR);
		if (c >= 0 && c != fd) {
			dup2(c, fd);
			close(c);
		}
	}
}

static void load_modules(void)
{
	FILE *f = fopen(MODULE_LIST, "re");
	if (!f) {
		log_msg("open %s: %s (no modules loaded)", MODULE_LIST, strerror(errno));
		return;
	}
	char line[PATH_MAX];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_msg("module %s: %s", line, strerror(errno));
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			log_msg("load module %s: %s", line, strerror(errno));
		close(fd);
	}
	fclose(f);
}

int boot_setup(void)
{
	/* /dev first: the console lives there, and every later message goes to it. Without it
	 * there is no console and no vchan device: nothing useful can follow. */
	int rc = boot_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	console_fds();
	/* The rest only degrades things (stats, network lookup), so it is logged, not fatal. */
	boot_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	boot_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	/* Terminals for TERMINAL processes come from here when the container has no devpts. */
	boot_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
	load_modules();
	/* Each vchan with 64 KiB rings grants 33 pages; gntalloc's default limit of 1024 grants
	 * would cap a zone at ~30 channels, below the init's 64 sessions. */
	if (write_file("/sys/module/xen_gntalloc/parameters/limit", "4096") < 0)
		log_msg("raise the xen-gntalloc grant limit: %s", strerror(errno));
	return rc;
}

int wait_for_path(const char *path, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	struct stat st;
	while (stat(path, &st) < 0) {
		if (now_ms() >= end) {
			errno = ETIMEDOUT;
			return -1;
		}
		usleep(20000);
	}
	return 0;
}

/* The host's bind sources, shared live over Xen's 9pfs. The frontend connects to dom0's
 * backend (a QEMU libxl started with the domain) shortly after the module loads: until it has,
 * mount finds no channel with that tag, so retry for up to 10 s. */
static int mount_share(const char *tag, const char *opts, const char *dst, char err[ERR_MAX])
{
	if (mkdir_p(dst, 0755) < 0)
		return errf(err, "mkdir %s: %s", dst, strerror(errno));
	uint64_t end = now_ms() + 10000;
	while (mount(tag, dst, "9p", 0, opts) < 0) {
		if (now_ms() >= end)
			return errf(err, "mount the 9p share %s (%s) on %s: %s", tag, opts, dst,
				    strerror(errno));
		usleep(20000);
	}
	return 0;
}

static int mount_disk(const char *dev, const char *fstype, const char *dst, char err[ERR_MAX])
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

/* Flags a remount must keep: without them a bind remount in a user namespace gets EPERM, and
 * elsewhere it would silently drop e.g. nosuid from a proc or sysfs mount. */
static unsigned long kept_flags(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return 0;
	unsigned long f = 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static int apply_mount(const char *root, const struct mount_cfg *m, char err[ERR_MAX])
{
	unsigned long prop = m->flags & PROPAGATION;
	unsigned long flags = m->flags & ~PROPAGATION;
	bool bind = (flags & MS_BIND) || !strcmp(m->type, "bind");
	bool file = false;
	struct stat st;
	char dest[PATH_MAX];

	if (bind) {
		if (stat(m->source, &st) < 0)
			return errf(err, "bind mount source %s (for %s): %s", m->source, m->dest,
				    strerror(errno));
		file = !S_ISDIR(st.st_mode);
	}
	if (ensure_path(root, m->dest, file, dest, sizeof dest) < 0)
		return errf(err, "create mount point %s in the container: %s", m->dest,
			    strerror(errno));
	if (bind) {
		if (mount(m->source, dest, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
			return errf(err, "bind mount %s on %s: %s", m->source, dest, strerror(errno));
		/* Per-mount flags on a bind only take effect through a remount. */
		unsigned long extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
		if (extra && mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | extra | kept_flags(dest),
				   NULL) < 0)
			return errf(err, "remount %s with flags 0x%lx: %s", dest, extra,
				    strerror(errno));
	} else {
		const char *src = m->source[0] ? m->source : m->type;
		if (mount(src, dest, m->type, flags, m->data[0] ? m->data : NULL) < 0)
			return errf(err, "mount %s (%s) on %s: %s", m->dest, m->type, dest,
				    strerror(errno));
	}
	if (prop && mount(NULL, dest, NULL, prop | (flags & MS_REC), NULL) < 0)
		return errf(err, "set propagation 0x%lx on %s: %s", prop, dest, strerror(errno));
	return 0;
}

/* What the config mounts on /dev: runc populates a /dev it mounted (tmpfs) and leaves a bind
 * alone. With no /dev mount at all, the container still gets a tmpfs /dev made for it, never
 * the image's nodes nor the zone's devtmpfs. */
enum dev_kind { DEV_NONE, DEV_TMPFS, DEV_BIND };

static bool is_dev(const char *d)
{
	size_t n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		n--;
	return n == 4 && !strncmp(d, "/dev", 4);
}

static enum dev_kind dev_kind(const struct container_cfg *c)
{
	enum dev_kind kind = DEV_NONE;
	for (size_t i = 0; i < c->nmounts; i++) {
		const struct mount_cfg *m = &c->mounts[i];
		if (is_dev(m->dest))
			kind = (m->flags & MS_BIND) || !strcmp(m->type, "bind") ? DEV_BIND : DEV_TMPFS;
	}
	return kind;
}

bool zone_plumbing_device(char type, unsigned maj, unsigned min, const char *proc_misc)
{
	if (type == 'b' && maj == 202) /* xvd*: the zone's disks */
		return true;
	if (type == 'c' && maj == 229) /* hvc*: the zone's console */
		return true;
	if (type != 'c' || maj != 10 || !proc_misc)
		return false;
	/* Misc devices named xen/... (xenbus, evtchn, gntalloc, gntdev, privcmd) carry the
	 * zone init's channel to dom0; their minors are dynamic, so read them. */
	for (const char *line = proc_misc; *line;) {
		unsigned m;
		char name[64];
		if (sscanf(line, "%u %63s", &m, name) == 2 && m == min && !strncmp(name, "xen/", 4))
			return true;
		const char *nl = strchr(line, '\n');
		if (!nl)
			break;
		line = nl + 1;
	}
	return false;
}

static char *read_text(const char *path)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	return buf;
}

/* mknod, or (no CAP_MKNOD, e.g. a user namespace in host tests) a bind of the zone's own node. */
static int make_node(const char *path, mode_t type, dev_t dev, mode_t perm, const char *zone_path)
{
	if (mknod(path, type | perm, dev) == 0)
		return chmod(path, perm);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, perm);
	if (fd >= 0)
		close(fd);
	if (fd < 0 || mount(zone_path, path, NULL, MS_BIND, NULL) < 0)
		return -1;
	return 0;
}

/* The devices and links runc creates in the /dev it mounts, then linux.devices. */
static int make_devices(const struct container_cfg *c, const char *root, char err[ERR_MAX])
{
	static const struct { const char *name; unsigned maj, min; } nodes[] = {
		{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
		{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
	};
	static const struct { const char *name, *target; } links[] = {
		{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
		{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
		{"core", "/proc/kcore"}, {"ptmx", "pts/ptmx"},
	};
	char dev[PATH_MAX], path[PATH_MAX + 16];
	struct stat st;
	if (resolve_in_root(root, "/dev", dev, sizeof dev) < 0)
		return errf(err, "resolve /dev in the container: %s", strerror(errno));
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dev, nodes[i].name);
		if (lstat(path, &st) == 0)
			continue;
		char zone_path[64];
		snprintf(zone_path, sizeof zone_path, "/dev/%s", nodes[i].name);
		if (make_node(path, S_IFCHR, makedev(nodes[i].maj, nodes[i].min), 0666, zone_path) < 0)
			return errf(err, "create device %s: %s", path, strerror(errno));
	}
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dev, links[i].name);
		if (symlink(links[i].target, path) < 0 && errno != EEXIST)
			return errf(err, "symlink %s -> %s: %s", path, links[i].target,
				    strerror(errno));
	}
	snprintf(path, sizeof path, "%s/shm", dev);
	if (mkdir(path, 01777) == 0)
		chmod(path, 01777);
	const char *misc = c->ndevices ? read_text("/proc/misc") : NULL;
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct device_cfg *d = &c->devices[i];
		if (zone_plumbing_device(d->type, d->major, d->minor, misc)) {
			log_msg("linux.devices %s (%c %u:%u) not created: it is the zone's own "
				"disk, console or channel to dom0", d->path, d->type, d->major,
				d->minor);
			continue;
		}
		if (resolve_in_root(root, d->path, path, sizeof path) < 0)
			return errf(err, "device %s: %s", d->path, strerror(errno));
		if (lstat(path, &st) == 0)
			continue; /* one of the standard nodes above */
		char *slash = strrchr(path, '/');
		*slash = 0;
		int made = mkdir_p(path, 0755);
		*slash = '/';
		if (made < 0)
			return errf(err, "device %s: %s", d->path, strerror(errno));
		mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
		if (make_node(path, type, makedev(d->major, d->minor), d->mode & 07777, d->path) < 0)
			return errf(err, "create device %s: %s", d->path, strerror(errno));
		if (lchown(path, d->uid, d->gid) < 0 && errno != EINVAL)
			return errf(err, "chown device %s: %s", d->path, strerror(errno));
	}
	return 0;
}

static int apply_sysctl(const struct kv *s, char err[ERR_MAX])
{
	char path[PATH_MAX];
	if (strstr(s->key, "..") || s->key[0] == '/' || s->key[0] == '.')
		return errf(err, "sysctl %s: bad key", s->key);
	int n = snprintf(path, sizeof path, "/proc/sys/%s", s->key);
	for (char *p = path + 10; p < path + n; p++)
		if (*p == '.')
			*p = '/';
	if (write_file(path, s->value) < 0)
		return errf(err, "sysctl %s=%s (%s): %s", s->key, s->value, path, strerror(errno));
	return 0;
}

static int mask_path(const char *root, const char *p, char err[ERR_MAX])
{
	char path[PATH_MAX];
	struct stat st;
	if (resolve_in_root(root, p, path, sizeof path) < 0 || stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return errf(err, "masked path %s: %s", p, strerror(errno));
	}
	/* A file is masked by the container's own /dev/null, as runc does after pivot_root;
	 * the zone's (devtmpfs) only where the container has none. */
	char null_dev[PATH_MAX];
	struct stat nst;
	if (snprintf(null_dev, sizeof null_dev, "%s/dev/null", root) >= (int)sizeof null_dev ||
	    lstat(null_dev, &nst) < 0 || !S_ISCHR(nst.st_mode))
		strcpy(null_dev, "/dev/null");
	int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0")
				     : mount(null_dev, path, NULL, MS_BIND, NULL);
	if (rc < 0)
		return errf(err, "mask %s: %s", path, strerror(errno));
	return 0;
}

static int readonly_path(const char *root, const char *p, char err[ERR_MAX])
{
	char path[PATH_MAX];
	struct stat st;
	if (resolve_in_root(root, p, path, sizeof path) < 0 || stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return errf(err, "read-only path %s: %s", p, strerror(errno));
	}
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept_flags(path),
		  NULL) < 0)
		return errf(err, "make %s read-only: %s", path, strerror(errno));
	return 0;
}

int zone_prepare(const struct container_cfg *c, const char *root, bool zone, char err[ERR_MAX])
{
	if (!zone) {
		log_msg("host test: root disk %s, binds disk %s and share %s not mounted; root is %s",
			c->root_dev, c->binds_disk ? c->binds_disk : "-",
			c->binds_share ? c->binds_share : "-", root);
		return 0;
	}
	if (c->root_bind)
		return errf(err, "record ROOT_BIND: only a pod's container (CONTAINER) has its root "
			    "in the zone's share");
	if (c->root_share ? mount_share(c->root_share, c->root_share_opts, root, err) < 0
			  : mount_disk(c->root_dev, c->root_fstype, root, err) < 0)
		return -1;
	if (c->binds_disk && mount_disk(c->binds_disk, "ext4", ZONE_BINDS, err) < 0)
		return -1;
	if (c->binds_share && mount_share(c->binds_share, c->binds_share_opts, ZONE_BINDS, err) < 0)
		return -1;
	if (cgroup_prepare(c, err) < 0)
		return -1;
	return net_setup(c, err);
}

int container_setup(const struct container_cfg *c, const char *root, bool zone,
		    char err[ERR_MAX])
{
	bool own_uts = c->ns_flags & CLONE_NEWUTS;
	/* The root must be a mount point of its own for ROOT_READONLY's remount and for
	 * pivot_root; in a zone it is the root disk already. */
	if (!zone && (c->root_readonly || (c->ns_flags & CLONE_NEWNS)) &&
	    mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errf(err, "bind mount %s on itself: %s", root, strerror(errno));
	enum dev_kind dev = dev_kind(c);
	if (dev == DEV_NONE) {
		char path[PATH_MAX];
		if (ensure_path(root, "/dev", false, path, sizeof path) < 0 ||
		    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_STRICTATIME,
			  "mode=755,size=65536k") < 0)
			return errf(err, "mount a tmpfs on the container's /dev: %s", strerror(errno));
	}
	for (size_t i = 0; i < c->nmounts; i++)
		if (apply_mount(root, &c->mounts[i], err) < 0)
			return -1;
	if (dev != DEV_BIND && make_devices(c, root, err) < 0)
		return -1;
	if (zone) {
		for (size_t i = 0; i < c->nsysctls; i++)
			if (apply_sysctl(&c->sysctls[i], err) < 0)
				return -1;
	} else if (c->nsysctls || c->nifs || c->naddrs || c->nroutes) {
		log_msg("host test: sysctl and network records skipped");
	}
	if (zone || own_uts) {
		if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
			return errf(err, "sethostname %s: %s", c->hostname, strerror(errno));
		if (c->domainname && setdomainname(c->domainname, strlen(c->domainname)) < 0)
			return errf(err, "setdomainname %s: %s", c->domainname, strerror(errno));
	} else if (c->hostname || c->domainname) {
		log_msg("host test without a UTS namespace: hostname and domainname skipped");
	}
	for (size_t i = 0; i < c->nmasked; i++)
		if (mask_path(root, c->masked[i], err) < 0)
			return -1;
	for (size_t i = 0; i < c->nreadonly; i++)
		if (readonly_path(root, c->readonly[i], err) < 0)
			return -1;
	if (c->root_readonly &&
	    mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(root), NULL) < 0)
		return errf(err, "remount the container root %s read-only: %s", root,
			    strerror(errno));
	return 0;
}
