"""The zone's paravirtual disks, made from the bundle without writing into it.

xvda is the container's root: a writable ext4 image filled from the bundle's rootfs with
`mke2fs -d` (one disk, no overlay in the zone, writes land on disk instead of in the zone's RAM;
the price is the copy at create, and that the zone's writes do not show in the bundle's rootfs
directory). xvdb, only when the config has bind mounts, carries a copy of each host source
(a snapshot: later host changes do not reach the zone, nor zone writes the host).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from edera_oci.errors import ZoneError

ROOT_DISK = "root.ext4"
BINDS_DISK = "binds.ext4"
FREE_SPACE_MB = int(os.environ.get("EDERA_OCI_DISK_FREE_MB", "1024"))
NO_COPY_PREFIXES = ("/dev/", "/proc/", "/sys/")
LOOP_CLR_FD = 0x4C01  # <linux/loop.h>


def _used_mb(path: Path) -> int:
    out = subprocess.run(["du", "-sxk", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise ZoneError(f"cannot measure {path}: {out.stderr.strip()}")
    return int(out.stdout.split()[0]) // 1024 + 1


def make_ext4(source: Path, image: Path, label: str) -> None:
    """A sparse ext4 image holding source's tree, with room to write.

    No journal: a container's root lives as long as its zone, and the journal would cost a
    64 MB write at create and on every boot's replay check.
    """
    size_mb = int(_used_mb(source) * 1.2) + FREE_SPACE_MB
    proc = subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-L", label,
         "-E", "lazy_itable_init=1", "-d", str(source), str(image), f"{size_mb}M"],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise ZoneError(f"building the zone disk from {source} failed: {proc.stderr.strip()}")


def stage_binds(mounts, staging: Path) -> dict[int, str]:
    """Copy each bind mount's host source into staging/<index>; returns index -> zone path."""
    from .records import BINDS_MOUNTPOINT

    sources: dict[int, str] = {}
    for i, m in enumerate(mounts):
        if not m.is_bind:
            continue
        src = m.source or ""
        if not os.path.isabs(src):
            raise ZoneError(f"mounts[{i}].source: a bind source must be an absolute path, "
                            f"got {src!r}")
        if src.startswith(NO_COPY_PREFIXES) or src in ("/dev", "/proc", "/sys"):
            raise ZoneError(f"mounts[{i}].source: binding host {src} into a zone is not "
                            "supported (a zone has its own kernel and devices)")
        if not os.path.exists(src):
            raise ZoneError(f"mounts[{i}].source: {src} does not exist")
        target = staging / str(i)
        if os.path.isdir(src):
            shutil.copytree(src, target, symlinks=True)
        else:
            shutil.copy2(src, target)
        sources[i] = f"{BINDS_MOUNTPOINT}/{i}"
    return sources


def loops_backing(image: Path) -> list[str]:
    """The loop devices whose backing file is image, read from sysfs.

    No ``losetup -j``: each process costs about 0.1 s in the lab's emulated dom0, and this
    runs on every teardown.
    """
    target = os.path.realpath(image)
    found = []
    try:
        names = [n for n in os.listdir("/sys/block") if n.startswith("loop")]
    except FileNotFoundError:
        return []
    for name in names:
        try:
            with open(f"/sys/block/{name}/loop/backing_file", encoding="utf-8") as f:
                backing = f.read().rstrip("\n")
        except OSError:  # not configured: no loop/ directory
            continue
        if backing in (target, target + " (deleted)"):
            found.append(f"/dev/{name}")
    return found


def detach_loops(image: Path) -> None:
    """Free the loop devices backing image, once its zone is gone (blkback has let go).

    LOOP_CLR_FD on a device that is still open only marks it to clear on last close.
    """
    for dev in loops_backing(image):
        try:
            fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.ioctl(fd, LOOP_CLR_FD)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: already free
                raise ZoneError(f"cannot free {dev} (backing {image}): {e.strerror}") from None
        finally:
            os.close(fd)
