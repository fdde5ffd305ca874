/* zonefs: what the storage bench's prototypes do in a zone that busybox cannot (built static
 * on the host by bench/storage.py; dom0 and the zones have no compiler).
 *
 *   zonefs insmod MODULE.ko...            load each module in order (finit_module); one
 *                                         loaded already is fine
 *   zonefs mount TYPE SOURCE TARGET DATA  mount(2), DATA the filesystem's own option string
 *                                         (NFS's "vers=4.2,addr=...", overlay's dirs)
 *   zonefs mountro TYPE SOURCE TARGET     the same, read-only, with no options
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int insmod(int n, char **paths)
{
	for (int i = 0; i < n; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(paths[i]);
			return 1;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) {
			fprintf(stderr, "finit_module %s: %s\n", paths[i], strerror(errno));
			return 1;
		}
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "insmod"))
		return insmod(argc - 2, argv + 2);
	if ((argc == 6 && !strcmp(argv[1], "mount")) || (argc == 5 && !strcmp(argv[1], "mountro"))) {
		int ro = argc == 5;
		if (mount(argv[3], argv[4], argv[2], ro ? MS_RDONLY : 0, ro ? NULL : argv[5]) < 0) {
			fprintf(stderr, "mount %s on %s: %s\n", argv[3], argv[4], strerror(errno));
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: zonefs insmod MODULE...|mount TYPE SOURCE TARGET DATA|"
		"mountro TYPE SOURCE TARGET\n");
	return 2;
}
