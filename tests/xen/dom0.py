"""What edera-oci may leave in dom0, found and (after a failed test) swept away.

Every Xen test ends with nothing of edera-oci's in dom0: no domain, loop device, disk image,
vif, state directory or XenStore directory of a dead domain. The `no_leftovers` fixture in
conftest checks that after each test and sweeps what it finds, so one test's leak fails that
test and does not fail every test after it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

DISKS = Path("/var/lib/edera-oci/disks")
STATE_ROOTS = (Path("/run/edera-oci"), Path("/run/docker/runtime-runc/moby"))


def _out(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def domains() -> list[str]:
    return [ln.split()[0] for ln in _out("xl", "list").splitlines()[1:]
            if ln.startswith("edera-")]


def loops() -> list[str]:
    return [ln.split(":")[0] for ln in _out("losetup", "-a").splitlines() if "edera-oci" in ln]


def vifs() -> list[str]:
    names = [ln.split(":")[1].strip().split("@")[0] for ln in _out("ip", "-o", "link").splitlines()]
    return [n for n in names if n.startswith("vif")]


def _xs_list(path: str) -> list[str]:
    return _out("xenstore-list", path).split()


def stale_xenstore(settle: float = 1.0) -> list[str]:
    """XenStore directories of domains that no longer exist: a device's backend in dom0
    (``/local/domain/0/backend/<kind>/<domid>``) or libxl's record (``/libxl/<domid>``). libxl
    removes them at destroy; edera-oci removes a 9p share's itself before it. Only what is
    still there ``settle`` seconds later counts: libxl removes a domain's directories one
    after another, and a powered-off zone's are removed by xl's watcher on its own time."""

    def stale() -> set[str]:
        live = set(_xs_list("/local/domain"))
        found = {f"/libxl/{d}" for d in _xs_list("/libxl") if d not in live}
        for kind in _xs_list("/local/domain/0/backend"):
            found |= {f"/local/domain/0/backend/{kind}/{d}"
                      for d in _xs_list(f"/local/domain/0/backend/{kind}") if d not in live}
        return found

    found = stale()
    if found:
        time.sleep(settle)
        found &= stale()
    return sorted(found)


def processes(matches: Callable[[list[bytes]], bool]) -> list[str]:
    """The pids of dom0's processes whose argv matches."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if matches(argv):
            found.append(entry.name)
    return found


def qemus() -> list[str]:
    """The Xen device-model QEMUs of guests (a zone's 9pfs backend), which libxl stops with
    their domain. Not dom0's own (``-xen-domid 0``), which Xen's init script starts at boot
    once qemu-system-xen is installed."""

    def guests(argv: list[bytes]) -> bool:
        dom0 = any(argv[i:i + 2] == [b"-xen-domid", b"0"] for i in range(len(argv) - 1))
        return argv[0].endswith(b"xen-qemu-system-i386") and not dom0

    return processes(guests)


def shim_proxies() -> list[str]:
    """containerd-shim-edera-v2's proxies still running (each ends with its runc shim)."""
    return processes(lambda argv: b"edera_oci.shim.main" in argv and b"proxy" in argv)


def describe(state_dir: Path) -> str:
    """What a leftover state directory holds, so that the failure says how it came about."""
    try:
        names = sorted(f.name for f in state_dir.iterdir())
    except OSError as e:
        return f"(unreadable: {e.strerror})"
    tail = ""
    log = state_dir / "monitor.log"
    if log.is_file():
        tail = " monitor.log ends: " + " | ".join(log.read_text(errors="replace").splitlines()[-4:])
    return f"holding {names}{tail}"


def state_dirs(roots: tuple[Path, ...]) -> list[Path]:
    return [d for r in roots if r.is_dir() for d in r.iterdir()]


def leftovers(*roots: Path) -> list[str]:
    """Anything of edera-oci's still in dom0, for the given state roots and the default ones."""
    all_roots = tuple(dict.fromkeys((*roots, *STATE_ROOTS)))
    found = [f"domain {d}" for d in domains()]
    found += [f"loop {lo}" for lo in loops()]
    if DISKS.is_dir():
        found += [f"disk dir {p}" for p in DISKS.iterdir()]
    found += [f"state dir {p} {describe(p)}" for p in state_dirs(all_roots)]
    found += [f"vif {v}" for v in vifs()]
    found += [f"qemu {pid}" for pid in qemus()]
    found += [f"shim proxy {pid}" for pid in shim_proxies()]
    found += [f"xenstore {path}" for path in stale_xenstore()]
    return found


def sweep(*roots: Path) -> None:
    """Remove what a failed test left, so that the next test starts from a clean dom0."""
    for d in domains():
        subprocess.run(["xl", "destroy", d], capture_output=True)
    for lo in loops():
        subprocess.run(["losetup", "-d", lo], capture_output=True)
    if DISKS.is_dir():
        for p in DISKS.iterdir():
            shutil.rmtree(p, ignore_errors=True)
    for d in state_dirs(tuple(dict.fromkeys((*roots, *STATE_ROOTS)))):
        shutil.rmtree(d, ignore_errors=True)
    for v in vifs():
        subprocess.run(["ip", "link", "del", v], capture_output=True)
    for path in stale_xenstore():
        subprocess.run(["xenstore-rm", path], capture_output=True)


def dump_diagnostics(*roots: Path) -> None:
    """Shown by pytest when the test failed: the monitors' logs under the state roots, the
    zones' consoles and their 9pfs backends' logs."""
    for log in sorted(log for root in roots for log in root.glob("*/monitor.log")):
        print(f"--- {log}\n{log.read_text()[-3000:]}")
    for log in sorted(Path("/var/log/xen/console").glob("guest-edera-*.log")):
        print(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}")
    for log in sorted(Path("/var/log/xen").glob("qemu-dm-edera-*.log")):  # 9pfs backends
        print(f"--- {log}\n{log.read_text(errors='replace')[-2000:]}")


ENGINE_WORDS = (b"edera", b"conmon", b"podman", b"docker", b"containerd", b"xl", b"qemu",
                b"runc")


def _proc_line(pid: str) -> str | None:
    """One process as ps -o pid,ppid,stat,wchan,args would show it, from /proc (the lab's dom0
    has no procps)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return f"{pid:>7} {fields[1]:>7} {fields[0]} {wchan or '-':<28} {argv.decode(errors='replace')}"


def print_hang_report(what: str) -> None:
    """Printed (and shown by pytest) when an engine's command did not end in time: dom0's
    processes of the engines, edera-oci, xl and QEMU with where each waits, the domains, and
    each container's state, monitor log and zone console, so that the hang says where it is."""
    print(f"===== {what} did not end in time: dom0 as it is now")
    words = processes(lambda argv: any(w in a for a in argv[:3] for w in ENGINE_WORDS))
    print("    pid    ppid S wchan                        args")
    for pid in sorted(words, key=int):
        if (line := _proc_line(pid)) is not None:
            print(line)
    print(_out("xl", "list"))
    # each device's backend and frontend state (4 connected, 5-6 closing): a boot or a
    # teardown waiting on a device shows here
    for ln in _out("xenstore-ls", "-f", "/local/domain").splitlines():
        key = ln.split(" = ")[0]
        if key.endswith("/state") and ("/device/" in key or "/backend/" in key):
            print(ln)
    for d in state_dirs(STATE_ROOTS):
        state = d / "state.json"
        if state.is_file():
            print(f"--- {state}\n{state.read_text(errors='replace')[:2000]}")
    dump_diagnostics(*STATE_ROOTS)
