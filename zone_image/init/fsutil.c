#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40

static int append(char *dst, size_t cap, const char *a, size_t alen)
{
	size_t n = strlen(dst);
	if (n + alen + 1 >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dst + n, a, alen);
	dst[n + alen] = 0;
	return 0;
}

int resolve_in_root(const char *root, const char *path, char *out, size_t outlen)
{
	char base[PATH_MAX];
	char rest[2 * PATH_MAX]; /* what is left to walk */
	char cur[PATH_MAX] = ""; /* resolved so far, relative to root: "" or "/a/b" */
	int links = 0;

	size_t rl = strlen(root);
	while (rl && root[rl - 1] == '/')
		rl--;
	if (rl >= sizeof base || strlen(path) >= sizeof rest) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(base, root, rl);
	base[rl] = 0;
	strcpy(rest, path);

	while (rest[0]) {
		/* Pop the first component of rest. */
		char *p = rest;
		while (*p == '/')
			p++;
		size_t clen = strcspn(p, "/");
		char comp[NAME_MAX + 1];
		if (clen > NAME_MAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, p, clen);
		comp[clen] = 0;
		memmove(rest, p + clen, strlen(p + clen) + 1);

		if (!clen || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			char *slash = strrchr(cur, '/');
			if (slash)
				*slash = 0;
			continue;
		}
		char candidate[PATH_MAX];
		if (snprintf(candidate, sizeof candidate, "%s%s/%s", base, cur, comp) >=
		    (int)sizeof candidate) {
			errno = ENAMETOOLONG;
			return -1;
		}
		struct stat st;
		if (lstat(candidate, &st) == 0 && S_ISLNK(st.st_mode)) {
			if (++links > MAX_LINKS) {
				errno = ELOOP;
				return -1;
			}
			char target[PATH_MAX];
			ssize_t tl = readlink(candidate, target, sizeof target - 1);
			if (tl < 0)
				return -1;
			target[tl] = 0;
			if (target[0] == '/')
				cur[0] = 0;
			/* Walk the target next, then what was left. */
			char tail[2 * PATH_MAX];
			if (snprintf(tail, sizeof tail, "%s/%s", target, rest) >= (int)sizeof rest) {
				errno = ENAMETOOLONG;
				return -1;
			}
			strcpy(rest, tail);
			continue;
		}
		/* Not a link, or not there (yet): keep the name; later calls report real errors. */
		if (append(cur, sizeof cur, "/", 1) || append(cur, sizeof cur, comp, clen))
			return -1;
	}
	if (snprintf(out, outlen, "%s%s", base, cur[0] ? cur : (base[0] ? "" : "/")) >=
	    (int)outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (strlen(path) >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(tmp, path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int ensure_path(const char *root, const char *path, bool file, char *out, size_t outlen)
{
	if (resolve_in_root(root, path, out, outlen) < 0)
		return -1;
	struct stat st;
	if (stat(out, &st) == 0)
		return 0;
	if (!file)
		return mkdir_p(out, 0755);
	char parent[PATH_MAX];
	strcpy(parent, out);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = 0;
		if (mkdir_p(parent, 0755) < 0)
			return -1;
	}
	int fd = open(out, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = strlen(s);
	ssize_t w = write(fd, s, n);
	int saved = errno;
	close(fd);
	if (w != (ssize_t)n) {
		errno = w < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}

void read_file(const char *path, char *buf, size_t n)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	buf[r > 0 ? r : 0] = 0;
}
