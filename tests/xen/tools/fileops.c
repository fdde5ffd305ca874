/* fileops: the file operations a busybox shell cannot make, for the volume tests in a zone
 * (built static on the host: `make test-xen` does it; dom0 and the zones have no compiler).
 *
 *   fileops mmap FILE    print FILE's bytes, read through a shared mapping of it
 *   fileops flock FILE   take an exclusive flock on one open file description of FILE and
 *                        print "held" if a second description cannot take it meanwhile and
 *                        can once it is released, else "not-held"
 *   fileops swap A B N   N times: A out of the way, B renamed to A, then back (9p has no
 *                        RENAME_EXCHANGE), so that A is by turns what it was and what B was
 *   fileops connect P    connect a unix stream socket to P; print "connected" or the errno's
 *                        name (ECONNREFUSED: a socket file, but no listener in this kernel)
 *   fileops readloop P N open and read P N times; print each distinct outcome (its first
 *                        line, or the errno's name) with its count: "zone-own=40 ENOENT=2"
 */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int mmap_read(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return 1;
	}
	if (st.st_size == 0)
		return 0;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	fwrite(p, 1, (size_t)st.st_size, stdout);
	return 0;
}

static int flock_held(const char *path)
{
	int a = open(path, O_RDWR | O_CLOEXEC), b = open(path, O_RDWR | O_CLOEXEC);
	if (a < 0 || b < 0) {
		perror(path);
		return 1;
	}
	if (flock(a, LOCK_EX | LOCK_NB) < 0) {
		perror("flock");
		return 1;
	}
	int busy = flock(b, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	flock(a, LOCK_UN);
	int free_after = flock(b, LOCK_EX | LOCK_NB) == 0;
	puts(busy && free_after ? "held" : "not-held");
	return 0;
}

static int swap(const char *a, const char *b, long n)
{
	char held[4096];
	snprintf(held, sizeof held, "%s.held", a);
	for (long i = 0; i < n; i++)
		if (rename(a, held) < 0 || rename(b, a) < 0 || rename(a, b) < 0 ||
		    rename(held, a) < 0) {
			perror("rename");
			return 1;
		}
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || strlen(path) >= sizeof sa.sun_path) {
		perror("socket");
		return 1;
	}
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		puts("connected");
	else
		puts(errno == ECONNREFUSED ? "ECONNREFUSED" : errno == ENOENT ? "ENOENT" :
		     errno == EACCES ? "EACCES" : "error");
	close(fd);
	return 0;
}

#define OUTCOMES 16

static int read_loop(const char *path, long n)
{
	char seen[OUTCOMES][64];
	long counts[OUTCOMES] = {0};
	int kinds = 0;
	for (long i = 0; i < n; i++) {
		char buf[64] = "";
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(buf, sizeof buf, "%s", errno == ENOENT ? "ENOENT" : errno == ELOOP ?
				 "ELOOP" : errno == ENOTDIR ? "ENOTDIR" : "error");
		} else {
			ssize_t got = read(fd, buf, sizeof buf - 1);
			buf[got > 0 ? got : 0] = 0;
			buf[strcspn(buf, "\n")] = 0;
			close(fd);
		}
		int k = 0;
		while (k < kinds && strcmp(seen[k], buf))
			k++;
		if (k == kinds && kinds < OUTCOMES)
			snprintf(seen[kinds++], sizeof seen[0], "%s", buf);
		if (k < kinds)
			counts[k]++;
	}
	for (int k = 0; k < kinds; k++)
		printf("%s%s=%ld", k ? " " : "", seen[k], counts[k]);
	putchar('\n');
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "swap"))
		return swap(argv[2], argv[3], atol(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "connect"))
		return connect_to(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "readloop"))
		return read_loop(argv[2], atol(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "mmap"))
		return mmap_read(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "flock"))
		return flock_held(argv[2]);
	fprintf(stderr, "usage: fileops mmap|flock FILE\n");
	return 2;
}
