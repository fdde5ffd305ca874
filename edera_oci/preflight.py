"""``edera-oci check``: is this host ready to run zones? (as ``kata-runtime check`` is for Kata)

Each check looks at one thing a zone needs, says what it found, and when something is wrong says
how to fix it. Nothing here changes the host: a missing state root is reported as creatable, not
created. Every probe is bounded in time, so a hung xenstored makes a failed check, not a hung CLI.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import stat
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edera_oci import __version__
from edera_oci.errors import EderaError

# What a zone without a memory limit takes (zone.backend.DEFAULT_MEMORY_MB); imported lazily
# there, so it is repeated here and a unit test holds the two equal.
DEFAULT_ZONE_MEMORY_MB = 256
TESTED_XEN = (4, 17)
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: ``fix`` is empty when ``ok``."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


class CheckFailed(Exception):
    """A probe found a problem: the message says what, ``fix`` how to mend it."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.fix = fix


def _bounded(fn: Callable[[], str], what: str, fix: str) -> str:
    """Run fn in a thread and give up after PROBE_TIMEOUT_S (a stopped daemon never answers).

    The thread is a daemon: the CLI leaves with ``os._exit`` and does not wait for it."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller below
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    if thread.is_alive():
        raise CheckFailed(f"{what} did not answer within {PROBE_TIMEOUT_S:.0f} s", fix)
    if "error" in result:
        error = result["error"]
        if isinstance(error, CheckFailed):
            raise error
        raise CheckFailed(f"{what}: {error}", fix)
    return str(result["value"])


def _running(comm: str, proc: str = "/proc") -> list[int]:
    """Pids of processes whose command name is comm (what ``pidof`` finds)."""
    pids = []
    for entry in os.scandir(proc):
        if entry.name.isdigit():
            try:
                if Path(entry.path, "comm").read_text().strip() == comm:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


_XEN_SERVICE_FIX = "start Xen's daemons: `service xen start` (Debian's xen-utils-common)"


def check_dom0() -> str:
    from edera_oci.xen import domain

    if not Path("/proc/xen/capabilities").exists():
        raise CheckFailed(
            "not running under Xen (no /proc/xen/capabilities)",
            "boot this host into Xen (Debian: apt install xen-system-amd64, then the Xen boot "
            "entry); on a machine without Xen, use the project's lab (make demo)")
    if not domain.is_dom0():
        raise CheckFailed("this is a Xen guest, not dom0 (/proc/xen/capabilities has no control_d)",
                          "run edera-oci in dom0")
    return "Xen dom0 (control_d)"


def _xl_info() -> dict[str, str]:
    from edera_oci.xen import domain

    try:
        return domain.info()
    except domain.DomainError as e:
        raise CheckFailed(str(e), "install Xen's toolstack (apt install xen-utils-4.17) and "
                          "start its daemons (service xen start)") from e


def check_xl(info: dict[str, str]) -> str:
    version = f"{info.get('xen_major', '?')}.{info.get('xen_minor', '?')}"
    try:
        major, minor = int(info["xen_major"]), int(info["xen_minor"])
    except (KeyError, ValueError) as e:
        raise CheckFailed(f"`xl info` gave no Xen version ({version})",
                          "check that xl and the hypervisor belong to one Xen release") from e
    if (major, minor) < TESTED_XEN:
        raise CheckFailed(f"Xen {version} is older than {TESTED_XEN[0]}.{TESTED_XEN[1]}",
                          "upgrade Xen to 4.17 or newer (Debian 12's xen-system-amd64)")
    return f"xl answers: Xen {version}{info.get('xen_extra', '')} (tested with 4.17)"


def check_xenstored() -> str:
    from edera_oci.xen.xenstore import XenStore

    fix = _XEN_SERVICE_FIX
    pids = _running("xenstored") + _running("oxenstored")

    def probe() -> str:
        with XenStore() as xs:
            return xs.read("domid")

    domid = _bounded(probe, "xenstored", fix)
    where = f"pid {pids[0]}" if pids else "through /dev/xen/xenbus"
    return f"xenstored answers ({where}; this domain is {domid})"


def check_xenconsoled() -> str:
    pids = _running("xenconsoled")
    if not pids:
        raise CheckFailed("xenconsoled is not running (zones' consoles and logs need it)",
                          _XEN_SERVICE_FIX)
    return f"xenconsoled running (pid {pids[0]})"


def _backend(driver: str, module: str, what: str) -> str:
    path = Path("/sys/bus/xen-backend/drivers") / driver
    if not path.is_dir():
        raise CheckFailed(f"{what} backend ({module}) is not loaded ({path} is missing)",
                          f"modprobe {module}")
    return f"{what} backend ready ({module})"


def check_blkback() -> str:
    return _backend("vbd", "xen-blkback", "block")


def check_netback() -> str:
    return _backend("vif", "xen-netback", "network")


def check_channels() -> str:
    """dom0's end of the host-zone channel: libxenvchan maps the zone's grants, binds its port."""
    missing = [d for d in ("/dev/xen/gntdev", "/dev/xen/evtchn") if not Path(d).exists()]
    if missing:
        raise CheckFailed(f"missing {', '.join(missing)} (the host-zone channel needs them)",
                          "modprobe xen-gntdev xen-evtchn")
    if ctypes.util.find_library("xenvchan") is None:
        raise CheckFailed("libxenvchan is not installed", "apt install libxenvchan4.17")
    return "grant and event-channel devices and libxenvchan present"


# libxl's device model, which serves a zone's 9p shares (Debian's qemu-system-xen)
QEMU_DEVICE_MODEL = "/usr/libexec/xen-qemu-system-i386"


def check_9pfs(device_model: str = QEMU_DEVICE_MODEL) -> str:
    """The zone's root and volumes are the host's files, shared over Xen's PV 9pfs by a QEMU
    that libxl starts with the zone."""
    path = Path(device_model)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise CheckFailed(f"{device_model} is missing or not executable (the QEMU that shares "
                          "a zone's root and volumes over 9pfs)", "apt install qemu-system-xen")
    return f"9pfs backend present ({device_model})"


def check_disks() -> str:
    """The zone's disks: an ext4 image made with mke2fs, attached through a loop device."""
    if not Path("/dev/loop-control").exists():
        raise CheckFailed("no /dev/loop-control (loop devices back the zone's disks)",
                          "modprobe loop")
    if shutil.which("mke2fs") is None:
        raise CheckFailed("mke2fs not found (it builds the zone's disks)",
                          "apt install e2fsprogs")
    return "loop devices and mke2fs available"


def check_zone_image() -> str:
    from edera_oci.zone.image import find_zone_image

    try:
        image = find_zone_image()
    except EderaError as e:
        raise CheckFailed(str(e).split(": run ")[0],
                          "build it (make zone-image) or install it (make install)") from e
    except (OSError, ValueError) as e:  # an unreadable or corrupt manifest
        raise CheckFailed(f"the zone image's manifest cannot be read: {e}",
                          "rebuild it: make zone-image") from e
    missing = [p for p in (image.kernel, image.ramdisk) if not p.is_file()]
    if missing:
        raise CheckFailed(f"the zone image is incomplete: {', '.join(map(str, missing))} missing",
                          "rebuild it: make zone-image")
    return f"zone image for edera-oci {__version__} in {image.kernel.parent}"


def check_memory(info: dict[str, str]) -> str:
    try:
        free = int(info["free_memory"])
    except (KeyError, ValueError) as e:
        raise CheckFailed("`xl info` gave no free_memory", "check Xen's toolstack") from e
    if free < DEFAULT_ZONE_MEMORY_MB:
        raise CheckFailed(
            f"Xen has {free} MiB free, a default zone needs {DEFAULT_ZONE_MEMORY_MB} MiB",
            "free memory: destroy unused domains (xl list), or give dom0 less (dom0_mem=)")
    return (f"Xen has {free} MiB free: room for {free // DEFAULT_ZONE_MEMORY_MB} default zones "
            f"of {DEFAULT_ZONE_MEMORY_MB} MiB")


def check_state_root(root: str) -> str:
    if not root or not os.path.isabs(root):
        raise CheckFailed(f"--root {root!r} is not an absolute path", "pass an absolute --root")
    path = Path(root)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise CheckFailed(f"{root} does not exist and {parent} is not writable",
                              f"create it: install -d -m 700 {root}") from None
        return f"{root} does not exist yet; it will be created (mode 0700)"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise CheckFailed(f"{root} is not a directory (or is a symlink)",
                          f"remove it, and let edera-oci create {root}")
    if st.st_uid != 0:
        raise CheckFailed(f"{root} is owned by uid {st.st_uid}, not by root",
                          f"chown root:root {root}")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise CheckFailed(f"{root} has mode {mode:04o}: others can read container state",
                          f"chmod 700 {root}")
    if not os.access(path, os.W_OK):
        raise CheckFailed(f"{root} is not writable", f"remount or fix {root}")
    return f"{root} is private (mode {mode:04o}) and writable"


def run_checks(root: str) -> list[CheckResult]:
    """Every check, in the order a reader would fix them; none stops the others."""
    results: list[CheckResult] = []

    def record(name: str, probe: Callable[[], str]) -> bool:
        try:
            results.append(CheckResult(name, True, probe()))
            return True
        except CheckFailed as e:
            results.append(CheckResult(name, False, str(e), e.fix))
            return False

    def unchecked(name: str, why: str) -> None:
        results.append(CheckResult(name, False, f"not checked: {why}", "fix the checks above"))

    in_dom0 = record("xen", check_dom0)
    info: dict[str, str] = {}

    def xl() -> str:
        info.update(_xl_info())
        return check_xl(info)

    dom0_checks = [("xl", xl), ("xenstored", check_xenstored),
                   ("xenconsoled", check_xenconsoled), ("blkback", check_blkback),
                   ("netback", check_netback), ("channels", check_channels),
                   ("9pfs", check_9pfs)]
    for name, probe in dom0_checks:
        if in_dom0:
            record(name, probe)
        else:
            unchecked(name, "this host is not a Xen dom0")
    record("disks", check_disks)
    record("zone-image", check_zone_image)
    if info:
        record("memory", lambda: check_memory(info))
    else:
        unchecked("memory", "xl could not tell Xen's free memory")
    record("state-root", lambda: check_state_root(root))
    return results


def report_json(results: list[CheckResult]) -> dict:
    return {"ok": all(r.ok for r in results), "checks": [asdict(r) for r in results]}


def report_text(results: list[CheckResult]) -> str:
    width = max(len(r.name) for r in results)
    lines = []
    for r in results:
        if r.ok:
            lines.append(f"ok    {r.name:<{width}}  {r.detail}")
        else:
            lines.append(f"FAIL  {r.name:<{width}}  {r.detail}; fix: {r.fix}")
    failed = sum(not r.ok for r in results)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines)
