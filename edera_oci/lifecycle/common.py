"""Shared pieces of the lifecycle: the runtime context, status reconciliation, pid files."""

from __future__ import annotations

import os
import pwd
import stat
import time
from typing import Any

from edera_oci.errors import (
    BackendUnavailable,
    ConfigError,
    EderaError,
    UsageError,
    WrongState,
    ZoneError,
)
from edera_oci.lifecycle.backend import ZoneBackend, get_backend
from edera_oci.lifecycle.container_state import quick_status
from edera_oci.logs import log
from edera_oci.state import DEFAULT_ROOT, ContainerState, StateStore, write_file_atomic

BACKEND_STATUSES = ("created", "running", "paused", "stopped")


class Runtime:
    """One invocation's context: the state store under ``--root`` and the zone backend.

    The backend is loaded on first use; tests pass their own.
    """

    def __init__(self, root: str = DEFAULT_ROOT, backend: ZoneBackend | None = None):
        self.store = StateStore(root)
        self._backend = backend

    @property
    def root(self) -> str:
        return self.store.root

    def backend(self) -> ZoneBackend:
        if self._backend is None:
            self._backend = get_backend()
        return self._backend


def current_status(rt: Runtime, st: ContainerState, *, locked: bool = False) -> str:
    """The container's real status: the record, reconciled with the monitor and the backend.

    ``locked``: the caller holds the container's lock, so a recorded ``creating`` can only
    be a create that died half-way (reported ``stopped``, so ``delete`` can clean it up).
    """
    quick = quick_status(rt.root, st.to_dict(), locked=locked)
    if quick is not None:
        return quick
    try:
        backend = rt.backend()
    except BackendUnavailable as e:
        log.debug(f"{e}; reporting the recorded status {st.status!r}")
        return st.status
    status = backend.status(st)
    if status not in BACKEND_STATUSES:
        raise ZoneError(f"zone backend reported an unknown status {status!r}")
    return status


def require_status(rt: Runtime, st: ContainerState, allowed: tuple[str, ...], verb: str) -> str:
    status = current_status(rt, st, locked=True)
    if status not in allowed:
        raise WrongState(f'cannot {verb} container "{st.id}": it is {status}')
    return status


def owner_name() -> str:
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_pid_file(pid_file: str | None) -> str | None:
    """Absolute pid file path, refusing early a directory that does not exist."""
    if not pid_file:
        return None
    path = os.path.abspath(pid_file)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise UsageError(f"--pid-file {pid_file}: directory {parent} not found")
    if os.path.isdir(path):
        raise UsageError(f"--pid-file {pid_file}: is a directory")
    return path


def write_pid_file(path: str, pid: int) -> None:
    """Write the pid atomically (readers never see an empty file), like runc: no newline."""
    write_file_atomic(path, str(pid).encode(), mode=0o644)


def check_console_socket(path: str | None) -> str | None:
    if path is None:
        return None
    path = os.path.abspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(f"--console-socket {path}: not found") from None
    except OSError as e:
        raise ConfigError(f"--console-socket {path}: {e.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"--console-socket {path}: not a unix socket")
    return path


def check_terminal(terminal: bool, console_socket: str | None, detach: bool, what: str) -> None:
    """runc's rules for a terminal and a console socket."""
    if console_socket and not terminal:
        raise ConfigError(
            f"--console-socket was given but {what}.terminal is false: no terminal to send"
        )
    if terminal and detach and not console_socket:
        raise ConfigError(
            f"{what}.terminal is true: --console-socket is required to receive the terminal "
            "(the runtime does not stay around to hold it)"
        )


def check_preserve_fds(count: int) -> None:
    if count < 0:
        raise UsageError("--preserve-fds must not be negative")
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise UsageError(
                f"--preserve-fds {count}: file descriptor {fd} is not open"
            ) from None


def kill_quietly(rt: Runtime, st: ContainerState) -> None:
    """Best-effort SIGKILL of every process of the container (after a failed hook)."""
    try:
        rt.backend().signal(st, 9, True)
    except EderaError as e:
        log.warning(f'could not kill container "{st.id}": {e}')


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def hook_state(st: ContainerState, status: str) -> dict[str, Any]:
    return st.oci_state(status)
