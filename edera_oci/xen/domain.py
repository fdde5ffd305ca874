"""Domains through Xen's own toolstack (xl/libxl): build, pause, unpause, destroy, resize.

`xl` does the domain build and runs the block and vif hotplug scripts; everything else the
runtime needs from Xen (is the domain alive, its XenStore subtree) goes straight to XenStore.

Resize (a pod's zone growing and shrinking, edera_oci.zone.pod "Growth"): ``xl mem-set``
(libxl_set_memory_target) raises or lowers Xen's limit on the domain's pages and writes
``memory/target``, which the guest's balloon driver follows; it refuses a target above
``memory/static-max``, which libxl writes from the config's ``maxmem`` at build and which
nothing raises later, so a zone can only ever grow up to the ``maxmem`` it was built with. It
does not ask whether Xen has the memory: the guest's balloon just falls short, so the caller
asks first (:func:`free_memory_mb`). ``xl vcpu-set`` marks vCPUs online or offline in
``cpu/<n>/availability``, up to the config's ``maxvcpus``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .xenstore import XenStore


class DomainError(RuntimeError):
    """xl refused; the message carries xl's own error lines."""


@dataclass
class DomainConfig:
    """What a zone's xl config says; written to the container's state directory.

    memory_mb and vcpus are what the zone boots with; max_memory_mb (``maxmem``) and max_vcpus
    (``maxvcpus``) what it may grow to later (None: no growth). ``maxmem`` costs Xen nothing
    until the zone grows; the guest kernel pays for it at boot (edera_oci.zone.pod "Growth")."""

    name: str
    kernel: Path
    ramdisk: Path
    cmdline: str
    memory_mb: int
    vcpus: int
    max_memory_mb: int | None = None
    max_vcpus: int | None = None
    disks: list[Path] = field(default_factory=list)
    vifs: list[str] = field(default_factory=list)  # xl vif specs, e.g. "bridge=xenbr0,mac=..."
    disk_script: Path | None = None  # the block hotplug script; None: Xen's own `block`
    p9: list[str] = field(default_factory=list)  # xl p9 specs: "tag=..,security_model=..,path=.."

    def render(self) -> str:
        script = f", backendtype=phy, script={self.disk_script}" if self.disk_script else ""
        disks = ", ".join(
            f"'format=raw, vdev=xvd{chr(ord('a') + i)}, access=rw{script}, target={p}'"
            for i, p in enumerate(self.disks)
        )
        vifs = ", ".join(f"'{v}'" for v in self.vifs)
        return "\n".join([
            f'name = "{self.name}"',
            'type = "pv"',
            f'kernel = "{self.kernel}"',
            f'ramdisk = "{self.ramdisk}"',
            f'extra = "{self.cmdline}"',
            f"memory = {self.memory_mb}",
            f"maxmem = {max(self.memory_mb, self.max_memory_mb or 0)}",
            f"vcpus = {self.vcpus}",
            f"maxvcpus = {max(self.vcpus, self.max_vcpus or 0)}",
            f"disk = [ {disks} ]",
            f"vif = [ {vifs} ]",
            *([f"p9 = [ {', '.join(repr(s) for s in self.p9)} ]"] if self.p9 else []),
            'on_poweroff = "destroy"',
            'on_reboot = "destroy"',
            'on_crash = "destroy"',
            "",
        ])


def _xl(*args: str, timeout: float = 300, preexec: Callable[[], None] | None = None) -> str:
    try:
        proc = subprocess.run(["xl", *args], capture_output=True, text=True, timeout=timeout,
                              preexec_fn=preexec)
    except FileNotFoundError as e:
        raise DomainError("xl not found: Xen's toolstack (xen-utils) is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise DomainError(f"xl {args[0]} did not finish within {timeout:.0f} s") from e
    if proc.returncode != 0:
        detail = " ".join(ln.strip() for ln in proc.stderr.splitlines() if ln.strip())[-800:]
        raise DomainError(f"xl {args[0]} failed: {detail or 'exit ' + str(proc.returncode)}")
    return proc.stdout


def info() -> dict[str, str]:
    """`xl info` as key -> value (xen_major, xen_minor, free_memory in MiB, ...)."""
    fields: dict[str, str] = {}
    for line in _xl("info", timeout=30).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def create_paused(config_file: Path, name: str,
                  preexec: Callable[[], None] | None = None) -> int:
    """Build the domain from config_file, leave it paused, return its domid. preexec runs in
    the child before xl is executed (the zone's shares are mounted there)."""
    _xl("create", "-p", "-q", str(config_file), preexec=preexec)
    return domid_of(name)


def domid_of(name: str) -> int:
    """The id of the domain called name, from XenStore (cheaper than starting `xl domid`)."""
    with XenStore() as xs:
        for domid in xs.ls("/local/domain"):
            if xs.try_read(f"/local/domain/{domid}/name") == name:
                return int(domid)
    raise DomainError(f"no domain is called {name}")


def unpause(domid: int) -> None:
    _xl("unpause", str(domid))


def pause(domid: int) -> None:
    _xl("pause", str(domid))


def destroy(domid: int) -> None:
    _xl("destroy", str(domid))


# Device kinds whose backend is the zone's QEMU (xl's ``p9``).
QEMU_DEVICE_KINDS = ("9pfs",)


def has_qemu_devices(xs: XenStore, domid: int) -> bool:
    """Whether libxl records a QEMU-served device of the domain."""
    return any(xs.try_read(f"/libxl/{domid}/device/{kind}") is not None
               for kind in QEMU_DEVICE_KINDS)


def forget_qemu_devices(xs: XenStore, domid: int) -> None:
    """Remove the domain's QEMU-served devices from XenStore (libxl's record of them, their
    backend and frontend directories), once their QEMU has been stopped and before ``xl
    destroy``. libxl removes a QEMU-served device of a paused or dying domain, as every one is
    at destroy, by waiting a fixed 2 s (LIBXL_QEMU_BODGE_TIMEOUT) instead of watching its
    backend: measured in the lab, ``xl destroy`` of a zone with a 9p share took 2.6 s against
    0.9 s without, the same 2.0 s with its QEMU already dead. What libxl would do after the
    wait is this removal."""
    for kind in QEMU_DEVICE_KINDS:
        for path in (f"/libxl/{domid}/device/{kind}", f"/local/domain/0/backend/{kind}/{domid}",
                     f"/local/domain/{domid}/device/{kind}"):
            xs.rm(path)


def free_memory_mb() -> int:
    """What Xen has free for domains, in MiB (`xl info`'s free_memory)."""
    try:
        return int(info()["free_memory"])
    except (KeyError, ValueError):
        raise DomainError("`xl info` gave no free_memory") from None


def set_memory(domid: int, memory_mb: int) -> None:
    """The domain's memory target (``xl mem-set``): its balloon driver follows it, up to the
    ``maxmem`` it was built with."""
    _xl("mem-set", str(domid), f"{memory_mb}m", timeout=60)


def set_vcpus(domid: int, vcpus: int) -> None:
    """How many of the domain's vCPUs are online (``xl vcpu-set``), up to its ``maxvcpus``."""
    _xl("vcpu-set", str(domid), str(vcpus), timeout=60)


def memory_target_kb(xs: XenStore, domid: int) -> int | None:
    """The domain's memory target in KiB (``memory/target``); None when XenStore has none."""
    value = xs.try_read(f"/local/domain/{domid}/memory/target")
    return int(value) if value is not None and value.isdigit() else None


def online_vcpus(xs: XenStore, domid: int) -> int | None:
    """How many of the domain's vCPUs libxl marks online (``cpu/<n>/availability``); None
    when XenStore lists none."""
    try:
        names = xs.ls(f"/local/domain/{domid}/cpu")
    except OSError:
        return None
    cpus = [n for n in names if n.isdigit()]
    if not cpus:
        return None
    return sum(1 for n in cpus
               if xs.try_read(f"/local/domain/{domid}/cpu/{n}/availability") == "online")


def is_alive(xs: XenStore, domid: int, name: str) -> bool:
    """The domain with this id exists and is still ours (ids are reused after a destroy)."""
    return xs.try_read(f"/local/domain/{domid}/name") == name


def is_paused(domid: int) -> bool:
    out = _xl("list", str(domid))
    lines = out.strip().splitlines()
    return len(lines) >= 2 and "p" in lines[1].split()[4]


def is_dom0() -> bool:
    try:
        return "control_d" in Path("/proc/xen/capabilities").read_text()
    except OSError:
        return False


def block_attach(domid: int, disk_spec: str, timeout: float = 120) -> None:
    """Hot-plug a disk (an xl disk spec) into a running domain."""
    _xl("block-attach", str(domid), disk_spec, timeout=timeout)


def block_detach(domid: int, devid: int, timeout: float = 60) -> None:
    """Unplug a domain's disk by its device id; waits for the guest to let it go."""
    _xl("block-detach", str(domid), str(devid), timeout=timeout)
