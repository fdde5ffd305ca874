/* fileops: the file operations a busybox shell cannot make, for the volume tests in a zone
 * (built static on the host: `make test-xen` does it; dom0 and the zones have no compiler).
 *
 *   fileops mmap FILE    print FILE's bytes, read through a shared mapping of it
 *   fileops flock FILE   take an exclusive flock on one open file description of FILE and
 *                        print "held" if a second description cannot take it meanwhile and
 *                        can once it is released, else "not-held"
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "mmap"))
		return mmap_read(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "flock"))
		return flock_held(argv[2]);
	fprintf(stderr, "usage: fileops mmap|flock FILE\n");
	return 2;
}
