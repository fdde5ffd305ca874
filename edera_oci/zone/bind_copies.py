"""Bind sources of a pod container, copied onto a disk hot-plugged into the pod's zone.

A single container's binds are shared live over 9pfs (shares.py), but libxl 4.17 cannot add a
9p device to a running domain, so a container that joins a pod's zone (pod.py) still gets a
copy of each source, as every container did before the shared filesystem (a snapshot: later
host changes do not reach the zone, nor zone writes the host). This module is that copy,
hardened as the reviews asked; it goes when a pod's later containers reach the pod's share.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from edera_oci.errors import ZoneError

from .disks import NO_COPY_PREFIXES

BINDS_DISK = "binds.ext4"


# Sources that are never copied whole: they (or what they contain) are the runtime's own.
ALWAYS_PROTECTED = ("/run/edera-oci",)
_SPECIAL = {stat.S_IFSOCK: "a unix socket", stat.S_IFIFO: "a FIFO",
            stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


class _Copy:
    """One bind source copied into the staging tree: regular files, directories and
    symlinks (as links) on the source's filesystem; special files inside a directory are
    skipped, never opened."""

    def __init__(self, field: str, source: str):
        self.field = field
        self.source = source
        self.skipped: list[str] = []

    def fail(self, path: str, what: str) -> ZoneError:
        return ZoneError(f"{self.field}: cannot copy {path}: {what}")

    def file(self, src: str, dst: str, st: os.stat_result) -> None:
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise self.fail(src, e.strerror) from None
        try:
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) or \
                    not stat.S_ISREG(opened.st_mode):
                raise self.fail(src, "it changed while it was being copied")
            out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600)
            try:
                with os.fdopen(fd, "rb", closefd=False) as fin, \
                        os.fdopen(out, "wb", closefd=False) as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                self._attrs(out, st)
            finally:
                os.close(out)
        except OSError as e:
            raise self.fail(src, e.strerror or str(e)) from None
        finally:
            os.close(fd)

    @staticmethod
    def _attrs(fd: int, st: os.stat_result) -> None:
        os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))

    def tree(self, src: str, dst: str, st: os.stat_result) -> None:
        """Copy the directory src (already lstat'ed as st) to dst, staying on st's device."""
        try:
            os.mkdir(dst, 0o700)
            entries = sorted(os.scandir(src), key=lambda e: e.name)
        except OSError as e:
            raise self.fail(src, e.strerror) from None
        for entry in entries:
            path = entry.path
            target = os.path.join(dst, entry.name)
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError as e:
                raise self.fail(path, e.strerror) from None
            kind = stat.S_IFMT(est.st_mode)
            if stat.S_ISLNK(est.st_mode):
                try:
                    os.symlink(os.readlink(path), target)
                    os.lchown(target, est.st_uid, est.st_gid)
                except OSError as e:
                    raise self.fail(path, e.strerror) from None
            elif stat.S_ISREG(est.st_mode):
                self.file(path, target, est)
            elif stat.S_ISDIR(est.st_mode):
                if est.st_dev != st.st_dev:
                    # another filesystem mounted here: not copied (like du -x), an empty dir
                    self.skipped.append(f"{path} (another filesystem)")
                    self._empty_dir(target, est)
                else:
                    self.tree(path, target, est)
            else:
                self.skipped.append(f"{path} ({_SPECIAL.get(kind, 'a special file')})")
        self._dir_attrs(dst, st, src)

    def _empty_dir(self, target: str, st: os.stat_result) -> None:
        try:
            os.mkdir(target, 0o700)
        except OSError as e:
            raise self.fail(target, e.strerror) from None
        self._dir_attrs(target, st, target)

    def _dir_attrs(self, directory: str, st: os.stat_result, named: str) -> None:
        """Give directory st's owner, mode and times; an error names ``named``."""
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self._attrs(fd, st)
            finally:
                os.close(fd)
        except OSError as e:
            raise self.fail(named, e.strerror) from None


def _inside(path: str, ancestor: str) -> bool:
    return ancestor == "/" or path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


def stage_binds(mounts, staging: Path, protected: Iterable[str | Path] = ()) -> dict[int, str]:
    """Copy each bind mount's host source into staging/<index>; returns index -> zone path.

    A source is resolved (symlinks followed, as a bind mount does), then refused if it is
    ``/``, under ``/dev``, ``/proc`` or ``/sys``, a socket, FIFO or device, or if it contains
    or lies in the disk directory, the default state root or any ``protected`` path (the
    caller passes its ``--root``): it would copy itself, or the runtime's secrets. Inside a
    directory, sockets, FIFOs and devices are skipped without being opened, and other
    filesystems are not entered. Every failure is a ZoneError naming ``mounts[i]``.
    """
    from edera_oci.logs import log

    from .records import BINDS_MOUNTPOINT

    guarded = [os.path.realpath(p) for p in
               (*ALWAYS_PROTECTED, staging.parent.parent, *protected)]
    sources: dict[int, str] = {}
    for i, m in enumerate(mounts):
        if not m.is_bind:
            continue
        field = f"mounts[{i}].source"
        src = m.source or ""
        if not os.path.isabs(src):
            raise ZoneError(f"{field}: a bind source must be an absolute path, got {src!r}")
        real = os.path.realpath(src)
        for path in {src, real}:
            if path.startswith(NO_COPY_PREFIXES) or path in ("/dev", "/proc", "/sys"):
                raise ZoneError(f"{field}: binding host {path} into a zone is not "
                                "supported (a zone has its own kernel and devices)")
        if real == "/":
            raise ZoneError(f"{field}: binding the host's / into a zone is not supported "
                            "(it would be copied whole)")
        for guard in guarded:
            if _inside(guard, real) or _inside(real, guard):
                raise ZoneError(f"{field}: {src} overlaps the runtime's own {guard}: "
                                "binding it into a zone is refused")
        try:
            st = os.stat(real)
        except FileNotFoundError:
            raise ZoneError(f"{field}: {src} does not exist") from None
        except OSError as e:
            raise ZoneError(f"{field}: {src}: {e.strerror}") from None
        copy = _Copy(field, src)
        target = str(staging / str(i))
        if stat.S_ISDIR(st.st_mode):
            copy.tree(real, target, st)
        elif stat.S_ISREG(st.st_mode):
            copy.file(real, target, st)
        else:
            what = _SPECIAL.get(stat.S_IFMT(st.st_mode), "a special file")
            raise ZoneError(f"{field}: {src} is {what}: a zone cannot share it with the host "
                            "(only files and directories are copied into a zone)")
        if copy.skipped:
            shown = ", ".join(copy.skipped[:5])
            more = f" and {len(copy.skipped) - 5} more" if len(copy.skipped) > 5 else ""
            log.warning(f"{field}: not copied into the zone: {shown}{more}")
        sources[i] = f"{BINDS_MOUNTPOINT}/{i}"
    return sources
