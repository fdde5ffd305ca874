"""The cheap half of the state code: no dataclasses, no typing, only os/json/fcntl/stat/time.

``state`` (polled by engines and runtime-tools every second) answers from here alone when the
recorded status or a dead monitor already tells the truth; ``edera_oci.state`` builds the
typed ``ContainerState`` and the ``StateStore`` on top. See ``edera_oci/state.py`` for the
on-disk layout.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

from edera_oci import OCI_VERSION
from edera_oci.errors import EderaError, UsageError
from edera_oci.safeio import FileRefused, loads_strict, read_regular_file

DEFAULT_ROOT = "/run/edera-oci"
STATE_FILE = "state.json"
LOCK_FILE = ".lock"
CONFIG_SNAPSHOT = "config.json"

# Container ids: runc's rule (``^[\w+\-\.]+$``, ASCII ``\w``), not "." or "..", and at most
# 255 characters because the id names the state directory (NAME_MAX).
MAX_ID_LENGTH = 255
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")

STATUSES = ("creating", "created", "running", "paused", "stopped")


def validate_id(container_id: str) -> str:
    """Return ``container_id`` if it is a valid id, else raise UsageError."""
    if not container_id:
        raise UsageError("container id must not be empty")
    if len(container_id) > MAX_ID_LENGTH:
        raise UsageError(
            f"invalid container id: longer than {MAX_ID_LENGTH} characters "
            f"({len(container_id)})"
        )
    if container_id in (".", "..") or not _ID_CHARS.issuperset(container_id):
        raise UsageError(
            f"invalid container id {container_id!r}: use only letters, digits and _ + - . "
            "(and not . or ..)"
        )
    return container_id


def check_root(root: str) -> str:
    """The absolute ``--root``, or UsageError if it cannot be trusted.

    Refused: an empty path (``abspath("")`` would be the current directory; runc says
    ``invalid root``), a path that exists but is not a directory, and a directory that
    root does not own or that its group or others can write: whoever can write there can
    plant a ``state.json`` whose ``poststop`` hooks ``delete`` runs as root. A root that does
    not exist yet is fine (``create`` makes it 0700). The root may be reached through
    symlinks (``/var/run``); nothing below it is.
    """
    if not root:
        raise UsageError("invalid --root '': the state directory must not be empty")
    path = os.path.abspath(root)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as e:
        raise UsageError(f"--root {path}: cannot use it: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--root {path} is not a directory")
    if st.st_uid != 0:
        raise UsageError(
            f"--root {path} is owned by uid {st.st_uid}, not by root: refusing a state "
            "directory someone else controls (edera-oci runs as root: zones need it)"
        )
    if st.st_mode & 0o022:
        raise UsageError(
            f"--root {path} is writable by its group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}): refusing it; make it 0700"
        )
    return path


def now_rfc3339() -> str:
    """Current UTC time, RFC 3339 with nanoseconds (like runc's ``created``)."""
    t = time.time_ns()
    secs, nanos = divmod(t, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        if fields[0] in (b"Z", b"X"):  # zombie or dead: the process has exited
            return None
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, start_time: int | None) -> bool:
    """True if ``pid`` runs and (when known) is the same process that was recorded."""
    if pid <= 0:
        return False
    started = process_start_time(pid)
    if started is None:
        return False
    return start_time is None or started == start_time


class StateCorrupt(EderaError):
    """A container's state under ``--root`` cannot be trusted: its ``state.json`` is missing
    its shape (empty, truncated, not JSON, wrong types, missing keys, an unknown status,
    too large or too deep), is not a regular file (a directory, a FIFO, a symlink), or the
    container's directory itself is a symlink.

    Raised by :func:`read_state_file` (and so by ``StateStore.load`` and every verb) as the
    one error type for "this container's record is broken", so that callers can treat that
    container apart and go on: ``list`` shows it as ``unknown``, ``delete --force`` can tear it
    down from the names it derives from the id. ``container_id`` and ``path`` say which;
    ``reason`` says what is wrong.
    """

    def __init__(self, container_id: str, path: str, reason: str):
        super().__init__(f'state of container "{container_id}" is corrupt: {path} {reason}')
        self.container_id = container_id
        self.path = path
        self.reason = reason


# state.json holds the config's annotations, and config.json is capped at 4 MiB: 32 MiB
# leaves room for JSON escapes and still refuses a file that would take seconds to parse.
MAX_STATE_FILE = 32 << 20

# The recorded fields and the JSON types each may hold (None where the field is optional).
_STATE_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "bundle": (str,),
    "status": (str,),
    "rootfs": (str,),
    "created": (str,),
    "owner": (str,),
    "oci_version": (str,),
    "pid": (int,),
    "pid_start": (int, type(None)),
    "started": (str, type(None)),
    "annotations": (dict,),
    "hooks": (dict,),
    "zone": (dict,),
}
_REQUIRED_FIELDS = ("id", "bundle", "status")
# Keys the Xen backend records in ``zone`` that the host trusts as numbers or paths.
_ZONE_FIELDS: dict[str, tuple[type, ...]] = {
    "monitor_pid": (int,),
    "domid": (int,),
    "name": (str,),
    "state_dir": (str,),
    "disk_dir": (str,),
    "memory_mb": (int,),
    "vcpus": (int,),
    "max_memory_mb": (int,),
    "max_vcpus": (int,),
    "memory_reserve_mb": (int,),
    "interfaces": (list,),
}
_HOOK_FIELDS: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "args": (list,),
    "env": (list,),
    "timeout": (int,),
}


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), "?")


def _check_fields(doc: dict, fields: dict[str, tuple[type, ...]], where: str) -> str | None:
    for key, types in fields.items():
        if key not in doc:
            continue
        value = doc[key]
        # bool is an int in Python, never in this file
        if isinstance(value, bool) or not isinstance(value, types):
            return f"{where}{key} is {_type_name(value)}"
    return None


def state_problem(raw: object, container_id: str) -> str | None:
    """What is wrong with a parsed state.json (None if it can be used), in a few words."""
    if not isinstance(raw, dict):
        return f"holds {_type_name(raw)}, not an object"
    for key in _REQUIRED_FIELDS:
        if key not in raw:
            return f"has no {key!r}"
    problem = _check_fields(raw, _STATE_FIELDS, "")
    if problem:
        return problem
    if raw["id"] != container_id:
        return f"is the state of another container ({raw['id'][:80]!r})"
    if raw["status"] not in STATUSES:
        return f"records an unknown status {raw['status'][:40]!r}"
    if raw.get("pid", 0) < 0:
        return "records a negative pid"
    for key, value in raw.get("annotations", {}).items():
        if not isinstance(value, str):
            return f"annotations[{key[:80]!r}] is {_type_name(value)}"
    for kind, hooks in raw.get("hooks", {}).items():
        if not isinstance(hooks, list):
            return f"hooks.{kind[:40]} is {_type_name(hooks)}"
        for i, hook in enumerate(hooks):
            if not isinstance(hook, dict) or not isinstance(hook.get("path"), str):
                return f"hooks.{kind[:40]}[{i}] has no path"
            problem = _check_fields(hook, _HOOK_FIELDS, f"hooks.{kind[:40]}[{i}].")
            if problem:
                return problem
            for key in ("args", "env"):
                if not all(isinstance(x, str) for x in hook.get(key, ())):
                    return f"hooks.{kind[:40]}[{i}].{key} holds a non-string"
    return _check_fields(raw["zone"], _ZONE_FIELDS, "zone.") if "zone" in raw else None


def open_dir(path: str, *, dir_fd: int | None = None, follow: bool = True) -> int:
    """A descriptor of the directory ``path`` (relative to ``dir_fd``); OSError if it is not
    one. With ``follow=False`` a symlink is refused (ELOOP or ENOTDIR)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    return os.open(path, flags, dir_fd=dir_fd)


def open_container_dir(root: str, container_id: str) -> int | None:
    """A descriptor of ``<root>/<id>`` (None if absent); StateCorrupt if it is a symlink or
    not a directory. The root itself may be reached through symlinks (``/var/run``)."""
    try:
        root_fd = open_dir(root)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return open_dir(container_id, dir_fd=root_fd, follow=False)
    except FileNotFoundError:
        return None
    except OSError as e:
        path = os.path.join(root, container_id)
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "is a symbolic link" if os.path.islink(path) else "is not a directory"
            raise StateCorrupt(container_id, path, kind + " (refused)") from None
        raise StateCorrupt(container_id, path, f"cannot be opened: {e.strerror}") from None
    finally:
        os.close(root_fd)


def read_state_file(root: str, container_id: str) -> dict | None:
    """The raw state.json of a container, checked for shape; None if the container has none
    (no directory, or a directory whose create has not written it yet). No lock is taken.

    Raises :class:`StateCorrupt` if it cannot be used (see there). Nothing is followed
    through a symlink under ``root``.
    """
    dir_fd = open_container_dir(root, container_id)
    if dir_fd is None:
        return None
    path = os.path.join(root, container_id, STATE_FILE)
    try:
        data = read_regular_file(STATE_FILE, MAX_STATE_FILE, dir_fd=dir_fd, follow=False)
    except FileRefused as e:
        if e.missing:
            return None
        raise StateCorrupt(container_id, path, e.reason) from None
    finally:
        os.close(dir_fd)
    try:
        raw = loads_strict(data)
    except ValueError as e:
        reason = "is empty" if not data.strip() else f"is not valid JSON ({_short(str(e))})"
        raise StateCorrupt(container_id, path, reason) from None
    problem = state_problem(raw, container_id)
    if problem:
        raise StateCorrupt(container_id, path, problem)
    return raw


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def lock_busy(root: str, container_id: str) -> bool:
    """True if some process holds ``<root>/<id>/.lock`` (a create in progress, ...)."""
    try:
        dir_fd = open_container_dir(root, container_id)
    except StateCorrupt:
        return False
    if dir_fd is None:
        return False
    try:
        fd = os.open(LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return False
    finally:
        os.close(dir_fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def oci_state(raw: dict, status: str) -> dict:
    """The runtime-spec State JSON (plus runc's ``rootfs``, ``created``, ``owner``)."""
    out = {
        "ociVersion": OCI_VERSION,
        "id": raw["id"],
        "pid": 0 if status == "stopped" else raw.get("pid", 0),
        "status": status,
        "bundle": raw["bundle"],
        "rootfs": raw.get("rootfs", ""),
        "created": raw.get("created", ""),
        "owner": raw.get("owner", ""),
    }
    if raw.get("annotations"):
        out["annotations"] = dict(raw["annotations"])
    return out
