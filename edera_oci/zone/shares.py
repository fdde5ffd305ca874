"""Bind mounts shared live with the zone over Xen's PV 9pfs, not copied.

Every bind mount's host source is checked and opened here (``O_PATH``, after symlinks are
resolved, as a bind mount resolves them), then bind-mounted on ``<state dir>/binds/<i>/<name>``
(<name> the source's own; a directory, or an empty file for a single-file bind such as
/etc/hosts) inside a mount namespace of its own. Only ``xl create`` and what it starts live in
that namespace: the zone's 9pfs backend (the QEMU libxl runs for a PV domain with ``p9``
devices, which stops with the domain) and xl's domain watcher. So the host's mount table never
holds these mounts, they go when the zone goes, on every path, and removing the state directory
can never descend into a user's volume. QEMU exports ``<state dir>/binds`` as one 9p device (tag
``edera-binds``); the zone init mounts it on /run/edera/binds and binds each ``<i>/<name>`` on
its destination (PROTOCOL.md, ``BINDS_SHARE``).

A pod's zone keeps its share open to the pod's later containers: a pod sandbox exports its
staging directory even with no binds of its own, and a container joining the pod gets its
sources mounted on ``<sandbox's staging>/pod-<name>/<i>/<name>`` in the mount namespace of the
running zone's QEMU (``share_with_running_zone``), which serves them under the zone's
``/run/edera/binds/pod-<name>/<i>/<name>``: live, as a single container's are, although libxl
cannot add a 9p device to a running domain; its root the same way, on
``<sandbox's staging>/pod-<name>/root``. Each is carried there as a clone of the checked mount
(``open_tree``), since a source mounted after the zone was made under a private mount (podman's
storage) never propagates to the QEMU's namespace. Removing those mount points in the host's
namespace (``remove_mount_points``) detaches the mounts in QEMU's (Linux detaches mounts on a
directory or file removed in another namespace).

Least privilege on the dom0 side: every staged mount is ``nodev`` and ``nosuid`` (QEMU cannot
open a device node found in, or made in, a volume on the zone's behalf), read-only binds are
read-only in dom0's kernel (the zone cannot write whatever it asks QEMU), and QEMU's 9p server
resolves every path component with ``O_NOFOLLOW`` under the export, so a zone's symlinks are
never followed on the host.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edera_oci.errors import ZoneError
from edera_oci.xen import domain
from edera_oci.xen.xenstore import XenStore

from .records import BINDS_MOUNTPOINT, MS_BIND, MS_RDONLY, MS_REC, mount_flags

SHARE_TAG = "edera-binds"
STAGING_DIR = "binds"
ROOT_TAG = "edera-root"
ROOT_DIR = "rootfs-share"  # in the state directory: where the bundle's rootfs is mounted
POD_PREFIX = "pod-"  # <staging>/pod-<name>: a pod container's binds, in its sandbox's share
# config.json's annotation that asks for the ext4 copy of the root instead of the 9p share
ROOT_ANNOTATION = "org.edera-oci.rootfs"
# passthrough: files keep the owners and modes the zone gives them (and the host's are shown
# as they are), as with runc; the QEMU backend runs as root in dom0 to do that.
SECURITY_MODEL = "passthrough"
# cache=mmap: nothing cached but what a shared writable mmap needs, so a write on either side
# is seen on the other at once. msize: a quarter of each direction of the ring QEMU offers
# (order 8: 512 KiB each way), so that replies in flight always fit: QEMU's Xen backend
# disconnects when one does not.
ZONE_MOUNT_OPTIONS = "trans=xen,version=9p2000.L,cache=mmap,msize=131072"

# Sources never shared: they (or what they contain) are the runtime's own.
ALWAYS_PROTECTED = ("/run/edera-oci",)
KERNEL_PREFIXES = ("/dev", "/proc", "/sys")
_SPECIAL = {stat.S_IFSOCK: "a unix socket", stat.S_IFIFO: "a FIFO",
            stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
            stat.S_IFLNK: "a symbolic link"}

CLONE_NEWNS = 0x00020000
MS_SLAVE = 1 << 19
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
SYS_MOUNT_SETATTR = 442  # x86_64 (and every architecture since 5.12's unified numbers)
SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429
OPEN_TREE_CLONE, AT_EMPTY_PATH, MOVE_MOUNT_F_EMPTY_PATH = 0x1, 0x1000, 0x4


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


@dataclass
class ShareEntry:
    """One bind mount's source, opened and checked: what gets mounted at staging/<index>."""

    index: int  # mounts[index]; -1 for the container's root
    source: str  # as config.json names it, for messages
    real: str  # the source with symlinks resolved
    fd: int  # O_PATH descriptor of the resolved source
    is_dir: bool
    readonly: bool
    recursive: bool
    target: Path  # its mount point (in xl's namespace)

    @property
    def field(self) -> str:
        return "root.path" if self.index < 0 else f"mounts[{self.index}].source"


@dataclass
class SharePlan:
    """The binds of one zone: staging directory, opened sources, and what xl and the zone get."""

    staging: Path
    entries: list[ShareEntry] = field(default_factory=list)
    root: ShareEntry | None = None  # the bundle's rootfs, when it is shared too
    # A pod's sandbox: the staging directory is exported even without binds, for the pod's
    # later containers (share_with_running_zone).
    pod_share: bool = False
    # Where the zone sees the staging directory: BINDS_MOUNTPOINT, or a pod container's
    # directory under it.
    zone_dir: str = BINDS_MOUNTPOINT

    @property
    def exported(self) -> bool:
        """Whether the staging directory is the zone's binds share."""
        return bool(self.entries) or self.pod_share

    @property
    def needed(self) -> bool:
        """Anything to share: then xl create runs in the shares' namespace."""
        return self.exported or self.root is not None

    def bind_sources(self) -> dict[int, str]:
        """mount index -> the source's path in the zone."""
        return {e.index: f"{self.zone_dir}/{e.index}/{e.target.name}" for e in self.entries}

    def xl_p9(self) -> list[str]:
        """The xl ``p9`` device list: one 9p device for all the binds (each device costs the
        zone 2 MiB of ring memory), none without binds unless the zone is a pod's (then no
        QEMU runs at all)."""
        devices = []
        if self.exported:
            devices.append(f"tag={SHARE_TAG},security_model={SECURITY_MODEL},path={self.staging}")
        if self.root is not None:
            devices.append(f"tag={ROOT_TAG},security_model={SECURITY_MODEL},"
                           f"path={self.root.target}")
        for device in devices:
            if "," in device.split("path=", 1)[1]:
                raise ZoneError(f"the state directory {self.staging.parent} has a comma in "
                                "its path: xl cannot name it as a 9p share")
        return devices

    def zone_share(self) -> tuple[str, str] | None:
        """(9p tag, mount options) for the zone's BINDS_SHARE record."""
        return (SHARE_TAG, ZONE_MOUNT_OPTIONS) if self.exported else None

    @property
    def shared(self) -> list[ShareEntry]:
        """Every entry mounted for the zone: the binds, then the root when it is shared."""
        return self.entries + ([self.root] if self.root else [])

    def root_in_zone(self) -> str | None:
        """A pod container's root: its path in the zone, in its pod's share (ROOT_BIND)."""
        return f"{self.zone_dir}/{self.root.target.name}" if self.root is not None else None

    def root_share(self) -> tuple[str, str] | None:
        """(9p tag, mount options) for the zone's ROOT_SHARE record."""
        return (ROOT_TAG, ZONE_MOUNT_OPTIONS) if self.root is not None else None

    def close(self) -> None:
        for e in self.shared:
            if e.fd >= 0:
                os.close(e.fd)
                e.fd = -1

    def enter(self) -> None:
        """In the child that becomes ``xl create`` (between fork and exec): a mount namespace
        of its own with every source mounted on its staging entry. A failure is written to
        stderr (which ``xl create``'s caller reads) naming ``mounts[i]``, and the child exits
        125 without running xl."""
        try:
            _enter(self)
        except OSError as e:
            os.write(2, f"{e.strerror or e}\n".encode(errors="replace"))
            os._exit(125)


def root_over_9p(annotations: dict[str, str]) -> bool:
    """Whether the container's root is the bundle's rootfs shared over 9pfs (the default, as
    runc's: the workload's writes land in the rootfs, where docker diff/cp/commit and a later
    start find them, and nothing is copied) rather than copied into an ext4 image on blkback
    (``org.edera-oci.rootfs: ext4``: faster metadata, but the writes stay in the copy and are
    gone with the container)."""
    value = annotations.get(ROOT_ANNOTATION, "9p")
    if value not in ("9p", "ext4"):
        raise ZoneError(f"annotations[{ROOT_ANNOTATION!r}]: {value!r} is neither '9p' nor "
                        "'ext4'")
    return value == "9p"


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mounting_libc():
    libc = _libc()
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    return libc


def _enter(plan: SharePlan) -> None:
    libc = _mounting_libc()
    _check(libc.unshare(CLONE_NEWNS), "a mount namespace for the zone's shares")
    # slave: the host's later unmounts still reach this namespace; nothing goes back.
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None),
           "make the zone's mount namespace a slave of the host's")
    if plan.exported:
        _seal(libc, os.fsencode(plan.staging))
    _mount_entries(libc, plan.shared)


def _seal(libc, staging: bytes) -> None:
    """Make the staging directory read-only (and nosuid, nodev, noexec) where QEMU serves it,
    before the sources are mounted on its entries: the zone reads and writes through its
    binds only, and can make nothing of its own in dom0's /run, neither filling it nor
    leaving a link or directory for dom0 to follow later. It is a bind of the directory on
    itself, so the pod containers' mount points the host makes there later still show."""
    _check(libc.mount(staging, staging, None, MS_BIND, None),
           "a read-only view of the binds' staging directory")
    _set_mount_attrs(libc, AT_FDCWD, staging, 0,
                     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     "making the binds' staging directory read-only")


def _mount_entries(libc, entries: list[ShareEntry]) -> None:
    """Mount each checked source on its staging entry, in the caller's mount namespace."""
    for e in entries:
        target = os.fsencode(e.target)
        # A bind mount's source must be in the caller's namespace: the checked descriptor is
        # the host namespace's, so the source is opened again here and must be the same inode.
        try:
            fd = os.open(e.real, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            raise OSError(err.errno, f"{e.field}: sharing {e.source} with the zone: "
                                     f"{err.strerror}") from None
        st, checked = os.fstat(fd), os.fstat(e.fd)
        if (st.st_dev, st.st_ino) != (checked.st_dev, checked.st_ino):
            raise OSError(0, f"{e.field}: {e.source} changed while it was being shared")
        _check(libc.mount(f"/proc/self/fd/{fd}".encode(), target, None,
                          MS_BIND | (MS_REC if e.recursive else 0), None),
               f"{e.field}: sharing {e.source} with the zone")
        os.close(fd)
        _restrict(libc, e, AT_FDCWD, target, AT_RECURSIVE if e.recursive else 0)


def _restrict(libc, e: ShareEntry, dirfd: int, path: bytes, flags: int) -> None:
    """Make e's staged mount (dirfd + path, as mount_setattr takes them) nosuid and nodev,
    and read-only when e is."""
    _set_mount_attrs(libc, dirfd, path, flags,
                     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                     (MOUNT_ATTR_RDONLY if e.readonly else 0),
                     f"{e.field}: making the share of {e.source} nosuid, nodev"
                     + (", read-only" if e.readonly else ""))


def _set_mount_attrs(libc, dirfd: int, path: bytes, flags: int, attrs: int, what: str) -> None:
    """mount_setattr(2): set attrs (MOUNT_ATTR_*) on the mount at dirfd + path."""
    attr = _MountAttr(attrs, 0, 0, 0)
    _check(libc.syscall(SYS_MOUNT_SETATTR, dirfd, path, flags, ctypes.byref(attr),
                        ctypes.sizeof(attr)), what)


def _inside(path: str, ancestor: str) -> bool:
    return ancestor == "/" or path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


def _open_source(index: int, src: str, guarded: list[str]) -> tuple[int, bool]:
    """Check one bind source and open it; (O_PATH fd, is a directory). ZoneError names
    mounts[index]."""
    fld = f"mounts[{index}].source"
    if not os.path.isabs(src):
        raise ZoneError(f"{fld}: a bind source must be an absolute path, got {src!r}")
    real = os.path.realpath(src)
    for path in dict.fromkeys((src, real)):
        if any(_inside(path, p) for p in KERNEL_PREFIXES):
            raise ZoneError(f"{fld}: binding host {path} into a zone is not supported "
                            "(a zone has its own kernel and devices)")
    if real == "/":
        raise ZoneError(f"{fld}: binding the host's / into a zone is refused")
    for guard in guarded:
        if _inside(guard, real) or _inside(real, guard):
            raise ZoneError(f"{fld}: {src} overlaps the runtime's own {guard}: "
                            "binding it into a zone is refused")
    try:
        fd = os.open(real, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ZoneError(f"{fld}: {src} does not exist") from None
    except OSError as e:
        raise ZoneError(f"{fld}: {src}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if os.readlink(f"/proc/self/fd/{fd}") != real:
            raise ZoneError(f"{fld}: {src} changed while it was being checked")
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            what = _SPECIAL.get(stat.S_IFMT(st.st_mode), "a special file")
            raise ZoneError(f"{fld}: {src} is {what}: a zone cannot share it with the host "
                            "(it has its own kernel; only files and directories are shared)")
    except BaseException:
        os.close(fd)
        raise
    return fd, stat.S_ISDIR(st.st_mode)


def _entry_name(real: str) -> str:
    """The mount point's name in ``<staging>/<i>/``: the source's own, so that the zone's
    mountinfo shows the bind's root as ``/<i>/<name>`` and its last component is the
    source's, as a bind on the host shows it (OCI runtime-tools compares them)."""
    name = os.path.basename(real.rstrip("/"))
    return name if name not in ("", ".", "..") else "source"


def plan_binds(mounts, staging: Path, protected: Iterable[str | Path] = (),
               root=None, pod_share: bool = False,
               zone_dir: str = BINDS_MOUNTPOINT, root_dir: Path | None = None) -> SharePlan:
    """Check and open every bind source of mounts and make its staging entry (nothing is
    mounted yet: SharePlan.enter does that for ``xl create``).

    Refused, each with a ZoneError naming ``mounts[i]``, and with nothing left behind: a
    relative or missing source, ``/``, anything under /dev, /proc or /sys, a socket, FIFO or
    device, and a source that contains or lies in /run/edera-oci or a ``protected`` path (the
    caller's --root and disk directory). With ``root`` (config.json's root, a spec.Root), the
    bundle's rootfs is shared too, mounted on ``root_dir``: by default
    ``<staging>/../rootfs-share``, its own 9p device; a pod container's is ``<staging>/root``,
    in its pod's share. A bad root is refused naming ``root.path``. ``pod_share``: the staging
    directory is made (and exported) even without binds; ``zone_dir``: where the zone sees it.
    """
    guarded = list(dict.fromkeys(os.path.realpath(p) for p in (*ALWAYS_PROTECTED, *protected)))
    plan = SharePlan(staging=staging, pod_share=pod_share, zone_dir=zone_dir)
    try:
        for i, m in enumerate(mounts):
            if not m.is_bind:
                continue
            fd, is_dir = _open_source(i, m.source or "", guarded)
            real = os.readlink(f"/proc/self/fd/{fd}")
            flags, _data = mount_flags(m.options or ())
            plan.entries.append(ShareEntry(index=i, source=m.source, real=real, fd=fd,
                                           is_dir=is_dir,
                                           readonly=bool(flags & MS_RDONLY),
                                           recursive=bool(flags & MS_REC),
                                           target=staging / str(i) / _entry_name(real)))
        if root is not None:
            try:
                fd, is_dir = _open_source(-1, root.path, guarded)
            except ZoneError as e:
                raise ZoneError(str(e).replace("mounts[-1].source", "root.path")) from None
            # Writable in dom0 even for root.readonly, which is the container's view (as
            # under runc): its mount points are made in the rootfs first, then the zone's
            # kernel remounts the root read-only.
            plan.root = ShareEntry(index=-1, source=root.path,
                                   real=os.readlink(f"/proc/self/fd/{fd}"), fd=fd,
                                   is_dir=is_dir, readonly=False, recursive=True,
                                   target=root_dir or staging.parent / ROOT_DIR)
            if not is_dir:
                raise ZoneError(f"root.path: {root.path} is not a directory")
        if plan.exported:
            staging.mkdir(mode=0o700)
            for e in plan.entries:
                e.target.parent.mkdir(mode=0o700)
                if e.is_dir:
                    e.target.mkdir(mode=0o700)
                else:
                    os.close(os.open(e.target, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                                     os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        if plan.root is not None:
            plan.root.target.mkdir(mode=0o700)
    except OSError as e:
        plan.close()
        remove_staging(staging)
        raise ZoneError(f"staging the bind mounts in {staging}: {e.strerror}") from None
    except BaseException:
        plan.close()
        remove_staging(staging)
        raise
    return plan


QEMU = b"xen-qemu-system-i386"
BACKEND_GRACE = 5.0  # seconds libxl's own stop of the QEMU gets before it is killed here


def backend_pids(name: str, domid: int | None = None, proc: Path = Path("/proc")) -> list[int]:
    """The pids of the zone's 9pfs QEMU(s): Xen's device model, started with ``-name NAME``
    (or ``-xen-domid DOMID``)."""
    wanted = {(b"-name", name.encode())}
    if domid is not None:
        wanted.add((b"-xen-domid", str(domid).encode()))
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(QEMU) and any(
                (argv[i], argv[i + 1]) in wanted for i in range(len(argv) - 1)):
            found.append(int(entry.name))
    return found


def stop_backends(name: str, domid: int | None = None) -> list[int]:
    """After the zone's domain is destroyed: wait for libxl's stop of its QEMU, and kill what
    is left after BACKEND_GRACE, so that no backend (nor the namespace holding the zone's
    shares) outlives the zone. Returns the pids that had to be killed."""
    deadline = time.monotonic() + BACKEND_GRACE
    while (pids := backend_pids(name, domid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pids:
        kill_backends(name, domid)
    return pids


def destroy_domain(xs: XenStore, domid: int, name: str) -> None:
    """``xl destroy`` of a zone's domain; with a 9p share, its QEMU is killed and the devices it
    served are removed from XenStore first, so that libxl does not wait its fixed 2 s for them
    (domain.forget_qemu_devices). A QEMU that will not die keeps them: libxl then removes them
    its own way."""
    if domain.has_qemu_devices(xs, domid) and kill_backends(name, domid):
        domain.forget_qemu_devices(xs, domid)
    domain.destroy(domid)


def kill_backends(name: str, domid: int | None = None, wait: float = 2.0) -> bool:
    """SIGKILL the zone's QEMU(s) and wait for them to go; whether none is left. Nothing is
    lost by it: QEMU's 9p server caches no write (each is a write(2) on the host at once), and
    the zone the QEMU serves is being destroyed."""
    pids = backend_pids(name, domid)
    if not pids:
        return True  # nothing to wait for: no second walk of /proc
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + wait
    while (left := backend_pids(name, domid)) and time.monotonic() < end:
        time.sleep(0.05)
    return not left


def _clone_trees(libc, entries: list[ShareEntry]) -> list[int]:
    """A detached copy of each checked source's mount (open_tree on its O_PATH descriptor:
    the very inode checked), made nosuid, nodev (and read-only as asked). The copies are
    carried into another mount namespace, where the source's path may show something else:
    podman's storage is a private mount, so a container's overlay mounted after the pod's
    zone was made never propagates to its QEMU's namespace."""
    trees: list[int] = []
    try:
        for e in entries:
            tree = libc.syscall(SYS_OPEN_TREE, e.fd, b"", OPEN_TREE_CLONE | os.O_CLOEXEC |
                                AT_EMPTY_PATH | (AT_RECURSIVE if e.recursive else 0))
            _check(0 if tree >= 0 else -1, f"{e.field}: sharing {e.source} with the zone")
            trees.append(tree)
            _restrict(libc, e, tree, b"", AT_EMPTY_PATH | AT_RECURSIVE)
    except BaseException:
        for tree in trees:
            os.close(tree)
        raise
    return trees


def share_with_running_zone(plan: SharePlan, backend_pid: int) -> None:
    """Mount plan's sources on their staging entries in the mount namespace of a running
    zone's 9pfs QEMU (``backend_pid``), whose export holds the staging directory: the zone
    sees them at once under plan.zone_dir. Each source's mount is cloned here, from the
    descriptor that was checked (_clone_trees), and attached there by a forked child (setns
    needs a process of one thread). ZoneError naming ``mounts[i]`` on failure (the caller
    removes the mount points)."""
    entries = plan.shared
    try:
        ns_fd = os.open(f"/proc/{backend_pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ZoneError(f"the pod's zone's 9pfs backend (pid {backend_pid}): {e.strerror}") \
            from None
    libc = _mounting_libc()
    try:
        trees = _clone_trees(libc, entries)
    except OSError as e:
        os.close(ns_fd)
        raise ZoneError(e.strerror or str(e)) from None
    r, w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            code = 125
            try:
                os.close(r)
                _check(libc.setns(ns_fd, CLONE_NEWNS),
                       "entering the mount namespace of the pod's share")
                for e, tree in zip(entries, trees, strict=True):
                    _check(libc.syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD,
                                        os.fsencode(e.target), MOVE_MOUNT_F_EMPTY_PATH),
                           f"{e.field}: sharing {e.source} with the zone")
                code = 0
            except OSError as e:
                os.write(w, f"{e.strerror or e}".encode(errors="replace"))
            finally:
                os._exit(code)
        os.close(w)
        w = -1
        chunks = []
        while chunk := os.read(r, 4096):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
    finally:
        for fd in (ns_fd, r, w, *trees):
            if fd >= 0:
                os.close(fd)
    if status != 0:
        message = b"".join(chunks).decode(errors="replace").strip()
        raise ZoneError(message or f"sharing the binds with the pod's zone failed ({status})")


def remove_mount_points(directory: Path) -> None:
    """Remove a directory of mount points: empty directories and files only, entry by entry
    (and one level into a pod container's ``pod-<name>``), never a tree: in the host's
    namespace nothing is mounted on them, and a mount on one in another namespace, xl's or
    QEMU's, is detached by the removal. An entry that is not empty is kept, with its
    directory. Nothing found here is followed: every step is relative to a directory opened
    with ``O_NOFOLLOW``, and a link in place of an entry is unlinked, never entered."""
    fd = _open_dir(AT_FDCWD, os.fsencode(directory))
    if fd is None:
        return
    try:
        for name in os.listdir(fd):
            if name.startswith(POD_PREFIX):  # a pod container's, in its sandbox's share
                _remove_points_in(fd, name, depth=2)
            else:  # <i>: it holds mounts[i]'s mount point (or, in an older layout, is it)
                _remove_points_in(fd, name, depth=1)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(directory)


def _open_dir(dirfd: int, name: bytes | str) -> int | None:
    """An O_NOFOLLOW descriptor of the directory dirfd/name, or None (missing, a link, a
    file)."""
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=None if dirfd == AT_FDCWD else dirfd)
    except OSError:
        return None


def _remove_points_in(parent: int, name: str, depth: int) -> None:
    """parent/name: a mount point (an empty directory, or a file or link, unlinked), or with
    depth left a directory of them, emptied of those first. rmdir keeps what is not empty."""
    with contextlib.suppress(OSError):
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=parent)
            return
        if depth > 0 and (fd := _open_dir(parent, name)) is not None:
            try:
                for inner in os.listdir(fd):
                    _remove_points_in(fd, inner, depth - 1)
            finally:
                os.close(fd)
        os.rmdir(name, dir_fd=parent)


def remove_staging(staging: Path) -> None:
    """Remove the staging directory and the root's mount point (remove_mount_points)."""
    with contextlib.suppress(OSError):
        os.rmdir(staging.parent / ROOT_DIR)
    remove_mount_points(staging)
