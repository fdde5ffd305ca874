/* The bare-Xen floor's init: the zone kernel runs it as PID 1 and it powers the domain off at
 * once, so `xl create -F` times the domain build, the kernel's boot and the destroy, and
 * nothing of the runtime. Built static on the host by bench/run_vs_runc.py. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}
