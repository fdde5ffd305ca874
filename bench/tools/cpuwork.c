/* Fixed workloads for bench/cpu_overhead.py, timed by the program itself (CLOCK_MONOTONIC), so
 * that a zone's boot and teardown are not in the figure. Built static on the host.
 *   cpuwork compute N   N rounds of an integer mixing loop (no memory traffic, no syscalls)
 *   cpuwork getppid N   N getppid() system calls
 *   cpuwork pipe N      N one-byte round trips between two processes through two pipes
 * Prints "<mode> <N> <seconds>" on stdout. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pipe_pingpong(long n)
{
    int up[2], down[2];
    char c = 'x';
    if (pipe(up) || pipe(down))
        return -1;
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        for (long i = 0; i < n; i++) {
            if (read(down[0], &c, 1) != 1 || write(up[1], &c, 1) != 1)
                _exit(1);
        }
        _exit(0);
    }
    for (long i = 0; i < n; i++) {
        if (write(down[1], &c, 1) != 1 || read(up[0], &c, 1) != 1)
            return -1;
    }
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cpuwork compute|getppid|pipe N\n");
        return 2;
    }
    long n = atol(argv[2]);
    volatile uint64_t sink = 0;
    double t0 = now();
    if (strcmp(argv[1], "compute") == 0) {
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (long i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x *= 0xFF51AFD7ED558CCDull;
        }
        sink = x;
    } else if (strcmp(argv[1], "getppid") == 0) {
        for (long i = 0; i < n; i++)
            sink += syscall(SYS_getppid);
    } else if (strcmp(argv[1], "pipe") == 0) {
        if (pipe_pingpong(n)) {
            perror("cpuwork pipe");
            return 1;
        }
    } else {
        fprintf(stderr, "cpuwork: unknown mode %s\n", argv[1]);
        return 2;
    }
    double t1 = now();
    printf("%s %ld %.6f\n", argv[1], n, t1 - t0);
    (void)sink;
    return 0;
}
