"""Container state on disk: one directory per container under ``--root``.

Layout::

    <root>/<id>/state.json   the ContainerState, replaced atomically (temp + fsync + rename)
    <root>/<id>/.lock        flock(2) target: one writer per container at a time
    <root>/<id>/config.json  the config as it was at create (later edits must not matter)

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
from edera_oci.statefile import (
    CONFIG_SNAPSHOT,
    DEFAULT_ROOT,
    LOCK_FILE,
    MAX_ID_LENGTH,
    STATE_FILE,
    STATUSES,
    lock_busy,
    now_rfc3339,
    oci_state,
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
    "StateStore",
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


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: temp file in the same dir, fsync, rename, fsync dir."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quiet(tmp)
        raise
    os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    _fsync_dir(directory)


def _unlink_quiet(path: str) -> None:
    with suppress(OSError):
        os.unlink(path)


class StateStore:
    """The ``--root`` directory: create, load, save, lock and remove container states."""

    def __init__(self, root: str = DEFAULT_ROOT):
        self.root = os.path.abspath(root)

    def dir(self, container_id: str) -> str:
        return os.path.join(self.root, validate_id(container_id))

    def exists(self, container_id: str) -> bool:
        return os.path.isdir(self.dir(container_id))

    def list_ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        ids = []
        for name in sorted(names):
            if name.startswith("."):
                continue
            try:
                validate_id(name)
            except UsageError:
                continue
            if os.path.isdir(os.path.join(self.root, name)):
                ids.append(name)
        return ids

    def load(self, container_id: str) -> ContainerState:
        raw = read_state_file(self.root, validate_id(container_id))
        if raw is None:
            raise NotFound(container_id)
        return ContainerState.from_dict(raw)

    def save(self, state: ContainerState) -> None:
        data = json.dumps(state.to_dict(), indent=1, sort_keys=True).encode()
        write_file_atomic(os.path.join(self.dir(state.id), STATE_FILE), data)

    def save_config(self, container_id: str, config: dict[str, Any]) -> None:
        data = json.dumps(config, indent=1).encode()
        write_file_atomic(os.path.join(self.dir(container_id), CONFIG_SNAPSHOT), data)

    def load_config(self, container_id: str) -> dict[str, Any]:
        with open(os.path.join(self.dir(container_id), CONFIG_SNAPSHOT), "rb") as f:
            return json.loads(f.read())

    @contextmanager
    def claim(self, container_id: str) -> Iterator[str]:
        """Atomically create ``<root>/<id>`` and hold its lock; AlreadyExists if taken.

        The directory is left in place when the block ends (the caller removes it on
        failure with :meth:`remove`).
        """
        path = self.dir(container_id)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise AlreadyExists(container_id) from None
        fd = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path
        finally:
            os.close(fd)

    @contextmanager
    def locked(self, container_id: str, *, blocking: bool = True) -> Iterator[str]:
        """Hold the container's lock; NotFound if it does not exist (or was just deleted).

        With ``blocking=False`` a busy lock raises ``BlockingIOError``.
        """
        path = self.dir(container_id)
        lock_path = os.path.join(path, LOCK_FILE)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.isdir(path):
                # a directory without a lock file: a create that died right after mkdir
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            else:
                raise NotFound(container_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            try:
                same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
            except FileNotFoundError:
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
        except NotFound:
            return False

    def remove(self, container_id: str) -> None:
        """Remove ``<root>/<id>``: first renamed away (atomic), then deleted."""
        path = self.dir(container_id)
        grave = os.path.join(self.root, f".deleted-{container_id[:200]}-{os.getpid()}")
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            shutil.rmtree(grave, ignore_errors=True)
            os.rename(path, grave)
        shutil.rmtree(grave, ignore_errors=True)
