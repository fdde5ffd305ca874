"""Container state on disk: one directory per container under ``--root``.

Layout::

    <root>/<id>/state.json   the ContainerState, replaced atomically (temp + fsync + rename)
    <root>/<id>/.lock        flock(2) target: one writer per container at a time
    <root>/<id>/config.json  the config as it was at create (later edits must not matter)

``--root`` and each ``<root>/<id>`` are 0700 and every file 0600 (they hold the container's
argv, env and hooks); ``--root`` is refused if someone else owns it or can write it
(``check_root``). Below ``--root`` nothing is opened through a symlink, and a broken record
is one error, ``StateCorrupt``, so that one bad container never blocks the others.

Why this shape:

* Nothing lives only in memory: a killed edera-oci leaves a readable state behind, and the
  next command reconciles it with the zone backend (the monitor may have died meanwhile).
* ``mkdir`` of ``<root>/<id>`` is the single atomic "claim" of an id: two concurrent
  ``create`` of one id cannot both succeed, and different ids never share a lock.
* Readers (``state``, ``list``) never lock: writes are atomic renames, so a reader sees the
  old or the new file, never half of one. Writers hold ``.lock`` for the whole operation;
  after getting it they check that the directory is still the one they locked (``delete``
  renames it away before removing it), so a waiter never acts on a deleted container.

The monitor process spawned by the backend must not keep file descriptors it inherits from
the runtime: the ``.lock`` descriptor is close-on-exec, but a bare ``fork()`` keeps it and the
lock would then be held for as long as the monitor lives.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from edera_oci import OCI_VERSION
from edera_oci.errors import AlreadyExists, NotFound, UsageError
from edera_oci.safeio import FileRefused, loads_strict, read_regular_file
from edera_oci.statefile import (
    CONFIG_SNAPSHOT,
    DEFAULT_ROOT,
    LOCK_FILE,
    MAX_ID_LENGTH,
    MAX_STATE_FILE,
    STATE_FILE,
    STATUSES,
    StateCorrupt,
    check_root,
    lock_busy,
    now_rfc3339,
    oci_state,
    open_container_dir,
    open_dir,
    process_alive,
    process_start_time,
    read_state_file,
    validate_id,
)

__all__ = [
    "CONFIG_SNAPSHOT",
    "DEFAULT_ROOT",
    "LOCK_FILE",
    "MAX_ID_LENGTH",
    "STATE_FILE",
    "STATUSES",
    "ContainerState",
    "StateCorrupt",
    "StateStore",
    "check_root",
    "lock_busy",
    "now_rfc3339",
    "process_alive",
    "process_start_time",
    "read_state_file",
    "validate_id",
    "write_file_atomic",
]

@dataclass
class ContainerState:
    """What edera-oci remembers about one container between invocations.

    ``status`` is the status *as recorded*; the truth is reconciled with the backend on
    every read (``edera_oci.lifecycle.container_state.current_status``). ``pid`` is the
    monitor's pid: the process the engine waits for, a descendant of the ``create`` caller.
    ``zone`` is opaque here and owned by the Xen backend (domid, name, disk images, control
    socket path, ...).
    """

    id: str
    bundle: str
    rootfs: str
    created: str
    status: str
    pid: int = 0
    pid_start: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    oci_version: str = OCI_VERSION
    hooks: dict[str, Any] = field(default_factory=dict)
    started: str | None = None
    zone: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerState:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def oci_state(self, status: str | None = None) -> dict[str, Any]:
        """The runtime-spec State JSON (plus runc's ``rootfs``, ``created``, ``owner``)."""
        return oci_state(self.to_dict(), status or self.status)


def _fsync_dir(dir_fd: int) -> None:
    os.fsync(dir_fd)


def _temp_name(name: str) -> str:
    """An unpredictable name next to ``name`` (a planted file or symlink cannot be guessed)."""
    return f".{name[:200]}.tmp-{os.getpid()}-{os.urandom(8).hex()}"


TEMP_ATTEMPTS = 8


def write_file_atomic(
    path: str, data: bytes, mode: int = 0o600, *, dir_fd: int | None = None
) -> None:
    """Replace ``path`` with ``data``: temp file in the same dir, fsync, rename, fsync dir.

    The temp file has a random name and is created with ``O_EXCL|O_NOFOLLOW``, so in a
    shared directory (a pid file in ``/tmp``) a planted symlink never makes us write through
    it; its mode is exactly ``mode`` whatever the umask. With ``dir_fd``, ``path`` is a name
    in that directory (nothing is looked up by path again).
    """
    own_dir = dir_fd is None
    if own_dir:
        directory, name = os.path.split(os.path.abspath(path))
        dir_fd = os.open(directory or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        name = path
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        for attempt in range(TEMP_ATTEMPTS):
            tmp = _temp_name(name)
            try:
                fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
                break
            except FileExistsError:
                if attempt == TEMP_ATTEMPTS - 1:
                    raise
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink_quiet(tmp, dir_fd)
            raise
        os.close(fd)
        try:
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            _unlink_quiet(tmp, dir_fd)
            raise
        _fsync_dir(dir_fd)
    finally:
        if own_dir:
            os.close(dir_fd)


def _unlink_quiet(name: str, dir_fd: int | None = None) -> None:
    with suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


class StateStore:
    """The ``--root`` directory: create, load, save, lock and remove container states.

    ``--root`` is checked on construction (:func:`check_root`). Below it nothing is opened
    through a symlink: each container directory is opened with ``O_NOFOLLOW`` and the
    files in it relative to that descriptor, also with ``O_NOFOLLOW``.
    """

    def __init__(self, root: str = DEFAULT_ROOT):
        self.root = check_root(root)

    def dir(self, container_id: str) -> str:
        return os.path.join(self.root, validate_id(container_id))

    def exists(self, container_id: str) -> bool:
        return os.path.lexists(self.dir(container_id))

    def list_ids(self) -> list[str]:
        """Ids of the entries under root that are directories (or symlinks, which
        ``read_state_file`` then reports as corrupt)."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise UsageError(f"--root {self.root}: cannot list it: {e.strerror}") from None
        ids = []
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            try:
                validate_id(entry.name)
            except UsageError:
                continue
            with suppress(OSError):
                if entry.is_symlink() or entry.is_dir(follow_symlinks=False):
                    ids.append(entry.name)
        return ids

    def load(self, container_id: str) -> ContainerState:
        """The container's state; NotFound, or StateCorrupt if its record is broken."""
        raw = read_state_file(self.root, validate_id(container_id))
        if raw is None:
            raise NotFound(container_id)
        return ContainerState.from_dict(raw)

    @contextmanager
    def _container_dir(self, container_id: str) -> Iterator[int]:
        fd = open_container_dir(self.root, validate_id(container_id))
        if fd is None:
            raise NotFound(container_id)
        try:
            yield fd
        finally:
            os.close(fd)

    def save(self, state: ContainerState) -> None:
        data = json.dumps(state.to_dict(), indent=1, sort_keys=True).encode()
        with self._container_dir(state.id) as dir_fd:
            write_file_atomic(STATE_FILE, data, dir_fd=dir_fd)

    def save_config(self, container_id: str, config: dict[str, Any]) -> None:
        data = json.dumps(config, indent=1).encode()
        with self._container_dir(container_id) as dir_fd:
            write_file_atomic(CONFIG_SNAPSHOT, data, dir_fd=dir_fd)

    def load_config(self, container_id: str) -> dict[str, Any]:
        """The config snapshot taken at create; StateCorrupt if it is broken."""
        path = os.path.join(self.dir(container_id), CONFIG_SNAPSHOT)
        with self._container_dir(container_id) as dir_fd:
            try:
                data = read_regular_file(
                    CONFIG_SNAPSHOT, MAX_STATE_FILE, dir_fd=dir_fd, follow=False
                )
            except FileRefused as e:
                raise StateCorrupt(container_id, path, e.reason) from None
        try:
            doc = loads_strict(data)
        except ValueError as e:
            raise StateCorrupt(container_id, path, f"is not valid JSON ({e})") from None
        if not isinstance(doc, dict):
            raise StateCorrupt(container_id, path, "is not a JSON object")
        return doc

    @contextmanager
    def claim(self, container_id: str) -> Iterator[str]:
        """Atomically create ``<root>/<id>`` (0700) and hold its lock; AlreadyExists if taken.

        The root is made 0700 if it does not exist (like runc). The directory is left in place
        when the block ends (the caller removes it on failure with :meth:`remove`).
        """
        path = self.dir(container_id)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        check_root(self.root)  # it may have existed already, made by someone else
        root_fd = open_dir(self.root)
        try:
            try:
                os.mkdir(container_id, 0o700, dir_fd=root_fd)
            except FileExistsError:
                raise AlreadyExists(container_id) from None
            dir_fd = open_dir(container_id, dir_fd=root_fd, follow=False)
        finally:
            os.close(root_fd)
        try:
            os.fchmod(dir_fd, 0o700)  # exactly, whatever the umask
            fd = os.open(LOCK_FILE, _LOCK_FLAGS | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path
        finally:
            os.close(fd)

    @contextmanager
    def locked(self, container_id: str, *, blocking: bool = True) -> Iterator[str]:
        """Hold the container's lock; NotFound if it does not exist (or was just deleted).

        With ``blocking=False`` a busy lock raises ``BlockingIOError``. A container directory
        that is a symlink raises StateCorrupt (nothing is created through it).
        """
        path = self.dir(container_id)
        with self._container_dir(container_id) as dir_fd:
            try:
                fd = os.open(LOCK_FILE, _LOCK_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                # a directory without a lock file: a create that died right after mkdir
                fd = os.open(LOCK_FILE, _LOCK_FLAGS | os.O_CREAT, 0o600, dir_fd=dir_fd)
            except OSError as e:
                raise StateCorrupt(
                    container_id, os.path.join(path, LOCK_FILE), f"cannot be opened: {e.strerror}"
                ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            try:
                same = os.fstat(fd).st_ino == os.stat(
                    os.path.join(path, LOCK_FILE), follow_symlinks=False
                ).st_ino
            except (FileNotFoundError, NotADirectoryError):
                same = False
            if not same:
                raise NotFound(container_id)
            yield path
        finally:
            os.close(fd)

    def is_busy(self, container_id: str) -> bool:
        """True if another process holds the container's lock right now."""
        try:
            with self.locked(container_id, blocking=False):
                return False
        except BlockingIOError:
            return True
        except (NotFound, StateCorrupt):
            return False

    def remove(self, container_id: str) -> None:
        """Remove ``<root>/<id>``: first renamed away (atomic), then deleted.

        A symlink there is removed itself, never what it points to.
        """
        path = self.dir(container_id)
        grave = os.path.join(self.root, f".deleted-{container_id[:200]}-{os.getpid()}")
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            _remove_tree(grave)
            os.rename(path, grave)
        _remove_tree(grave)


def _remove_tree(path: str) -> None:
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        _unlink_quiet(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


_LOCK_FLAGS = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
