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

/* Apply the container records under root. zone = a real zone: also mount the disks and apply
 * sysctls, hostname and network (on a host test those are skipped with a log line, because they
 * would change the host). Returns 0, or -1 with err naming what failed. */
int container_setup(const struct container_cfg *c, const char *root, bool zone,
		    char err[ERR_MAX]);

#endif
