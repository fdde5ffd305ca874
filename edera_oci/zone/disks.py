"""The zone's paravirtual disk, made from the bundle without writing into it.

xvda is the container's root: a writable ext4 image filled from the bundle's rootfs with
`mke2fs -d` (one disk, no overlay in the zone, writes land on disk instead of in the zone's RAM;
the price is the copy at create, and that the zone's writes do not show in the bundle's rootfs
directory). Bind mounts are not copied: they are shared live over 9pfs (shares.py).
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
from pathlib import Path

from edera_oci.errors import ZoneError

ROOT_DISK = "root.ext4"
FREE_SPACE_MB = int(os.environ.get("EDERA_OCI_DISK_FREE_MB", "1024"))
NO_COPY_PREFIXES = ("/dev/", "/proc/", "/sys/")
LOOP_CLR_FD = 0x4C01  # <linux/loop.h>


def _used_mb(path: Path) -> int:
    out = subprocess.run(["du", "-sxk", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise ZoneError(f"cannot measure {path}: {out.stderr.strip()}")
    return int(out.stdout.split()[0]) // 1024 + 1


def make_disk_dir(path: Path) -> None:
    """Create a zone's disk directory, exactly 0700 (its images hold the rootfs and copies of
    bind sources such as secrets). Missing parents are made 0700 too; existing ones are left
    as they are (the directory itself is what keeps others out)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)


def make_ext4(source: Path, image: Path, label: str) -> None:
    """A sparse ext4 image holding source's tree, with room to write; the image is 0600.

    No journal: a container's root lives as long as its zone, and the journal would cost a
    64 MB write at create and on every boot's replay check. The image file is created 0600
    before mke2fs writes into it, so it is never readable by others, whatever the umask.
    """
    size_mb = int(_used_mb(source) * 1.2) + FREE_SPACE_MB
    try:
        fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except OSError as e:
        raise ZoneError(f"cannot create the zone disk {image}: {e.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    proc = subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-L", label,
         "-E", "lazy_itable_init=1", "-d", str(source), str(image), f"{size_mb}M"],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise ZoneError(f"building the zone disk from {source} failed: {proc.stderr.strip()}")


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
