/* Zone setup: the initramfs at boot, then the container root from the SPEC's records. */
#ifndef EDERA_SETUP_H
#define EDERA_SETUP_H

#include <stdbool.h>

#include "config.h"

#define ZONE_ROOT "/run/edera/root"
#define ZONE_BINDS "/run/edera/binds"
#define MODULE_LIST "/etc/edera/modules"

/* Boot (zone only): mount /proc, /sys, /dev, /dev/pts; give fds 0-2 the console; load the
 * modules listed in MODULE_LIST. Returns -1 only when nothing useful can follow. */
int boot_setup(void);

/* Wait until `path` exists, polling, for at most timeout_ms. 0 or -1 (ETIMEDOUT). */
int wait_for_path(const char *path, int timeout_ms);

/* PID 1's part of a SPEC, in the zone's own namespaces: mount the root and binds disks and
 * configure the network (a host test only logs). 0, or -1 with err. */
int zone_prepare(const struct container_cfg *c, const char *root, bool zone, char err[ERR_MAX]);

/* Apply the container records under root, in the container's init process after it entered
 * its namespaces (so proc, mqueue and cgroup2 mounts are the container's): MOUNTs, a /dev made
 * for the container (a tmpfs with runc's nodes and links plus linux.devices, unless /dev is a
 * bind), sysctls (zone only), hostname and domainname (zone, or a host test with a UTS
 * namespace), masked and read-only paths, the read-only root. Returns 0, or -1 with err. */
int container_setup(const struct container_cfg *c, const char *root, bool zone,
		    char err[ERR_MAX]);

/* Is this device node one of the zone's own (its disks xvd*, console hvc*, or a xen/ misc
 * device such as xenbus, evtchn, gntalloc, gntdev, privcmd)? proc_misc: /proc/misc's text. */
bool zone_plumbing_device(char type, unsigned maj, unsigned min, const char *proc_misc);

#endif
