/* Paths inside the container root, resolved the way the container would see them. */
#ifndef EDERA_FSUTIL_H
#define EDERA_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Resolve `path` (as seen inside the container) to a path under `root`, following symlinks as
 * if root were "/": an absolute link target or ".." never leaves root. This matters because PID 1
 * stays outside the container: an image's /var/run -> /run must not reach the initramfs's /run.
 * Missing components are kept as they are. root "" or "/" means the real root.
 * Returns 0, or -1 with errno (ENAMETOOLONG, ELOOP, or an lstat/readlink error other than ENOENT). */
int resolve_in_root(const char *root, const char *path, char *out, size_t outlen);

/* mkdir -p of an already-resolved path. */
int mkdir_p(const char *path, mode_t mode);

/* Resolve `path` in root and create it when missing: an empty file when `file`, else a directory
 * (parents are created as directories). */
int ensure_path(const char *root, const char *path, bool file, char *out, size_t outlen);

/* Write a short string to a file (sysctl, oom_score_adj). 0, or -1 with errno. */
int write_file(const char *path, const char *s);

/* Read a small file (/proc, /sys, cgroup files) into buf, NUL-terminated and cut at n - 1
 * bytes; an unreadable file reads as "". */
void read_file(const char *path, char *buf, size_t n);

#endif
