"""The cheap half of the state code: no dataclasses, no typing, only os/json/fcntl/time.

``state`` (polled by engines and runtime-tools every second) answers from here alone when the
recorded status or a dead monitor already tells the truth; ``edera_oci.state`` builds the
typed ``ContainerState`` and the ``StateStore`` on top. See ``edera_oci/state.py`` for the
on-disk layout.
"""

from __future__ import annotations

import fcntl
import json
import os
import time

from edera_oci import OCI_VERSION
from edera_oci.errors import EderaError, UsageError

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


def read_state_file(root: str, container_id: str) -> dict | None:
    """The raw state.json of a container, or None if it has none (no lock taken)."""
    path = os.path.join(root, container_id, STATE_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("id") != container_id:
            raise ValueError("not the state of this container")
    except ValueError as e:
        raise EderaError(
            f"state file {path} is corrupt ({e}); remove {os.path.dirname(path)} by hand"
        ) from None
    return raw


def lock_busy(root: str, container_id: str) -> bool:
    """True if some process holds ``<root>/<id>/.lock`` (a create in progress, ...)."""
    try:
        fd = os.open(os.path.join(root, container_id, LOCK_FILE), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
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
