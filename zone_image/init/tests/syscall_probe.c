/* syscall-probe: makes the syscalls its arguments name and prints one line each,
 * "name=0" (or the syscall's return value) or "name=-ERRNO", so the seccomp tests can show
 * what a filter blocks. "status" prints the Seccomp mode of /proc/self/status; "wait" prints
 * "waiting" and reads stdin to its end. Static, so it runs in any container root. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long probe(const char *what)
{
	if (!strcmp(what, "unshare-user"))
		return syscall(SYS_unshare, CLONE_NEWUSER);
	if (!strcmp(what, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring, created */
		return syscall(SYS_keyctl, 0, -3, 1);
	if (!strcmp(what, "add_key")) /* a user key in the process keyring */
		return syscall(SYS_add_key, "user", "edera-probe", "x", 1, -2);
	if (!strncmp(what, "personality:", 12))
		return syscall(SYS_personality, strtoul(what + 12, NULL, 0));
	if (!strcmp(what, "clone3")) /* bad arguments: EINVAL unless a filter answers first */
		return syscall(SYS_clone3, NULL, 0);
	if (!strcmp(what, "close_range")) /* first > last: EINVAL unless a filter answers */
		return syscall(SYS_close_range, 1000, 999, 0);
	if (!strcmp(what, "getpid"))
		return syscall(SYS_getpid);
	if (!strcmp(what, "getppid"))
		return syscall(SYS_getppid);
	if (!strcmp(what, "uname")) {
		char buf[512];
		return syscall(SYS_uname, buf);
	}
	fprintf(stderr, "syscall-probe: unknown probe %s\n", what);
	exit(2);
}

static void status(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	buf[n > 0 ? n : 0] = 0;
	char *line = strstr(buf, "\nSeccomp:");
	int mode = -1;
	if (line)
		mode = atoi(line + 9 + strspn(line + 9, " \t"));
	printf("status=%d\n", mode);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "status")) {
			status();
		} else if (!strcmp(argv[i], "wait")) {
			char buf[256];
			printf("waiting\n");
			fflush(stdout);
			while (read(0, buf, sizeof buf) > 0)
				;
		} else {
			long rc = probe(argv[i]);
			printf("%s=%ld\n", argv[i], rc < 0 ? -(long)errno : rc > 0 ? 1 : 0);
		}
		fflush(stdout);
	}
	return 0;
}
