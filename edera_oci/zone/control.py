"""The monitor's control socket: how `start`, `kill`, `exec` and `events` reach a running monitor.

One JSON request per connection, one JSON answer. The socket lives in the container's state
directory; its path can exceed the 108 bytes a sockaddr_un holds (docker's --root is long), so
both sides address it through /proc/self/fd/<dirfd>/, which is always short.
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

SOCKET_NAME = "monitor.sock"
# The monitor writes the workload's exit status here (read by `state` and `delete`).
EXIT_STATUS_FILE = "exit-status"
# ... and here how many of its processes the OOM killer ended (only when some were), before
# the exit status: `events` reports them as runc's "oom" events.
OOM_KILLS_FILE = "oom-kills"
# How long the monitor waits for the zone to report ready.
BOOT_TIMEOUT = float(os.environ.get("EDERA_ZONE_BOOT_TIMEOUT", "300"))


class ControlError(RuntimeError):
    """The monitor could not be reached or refused the request."""


@contextmanager
def short_path(directory: Path):
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET_NAME}"
    finally:
        os.close(fd)


def listen(directory: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_path(directory) as path:
        sock.bind(path)
    os.chmod(directory / SOCKET_NAME, 0o600)
    sock.listen(8)
    return sock


def request(directory: Path, op: str, timeout: float = 120, **args) -> dict:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with short_path(directory) as path:
            sock.connect(path)
        sock.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionRefusedError, FileNotFoundError) as e:
        raise ControlError("the container's monitor is not running") from e
    except TimeoutError as e:
        raise ControlError(f"the container's monitor did not answer {op!r} in time") from e
    except (ConnectionResetError, BrokenPipeError):
        # it exited with the request unread (or before it was sent): as a close, below
        data = b""
    finally:
        sock.close()
    if not data:
        raise ControlError(f"the container's monitor closed the connection during {op!r}")
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ControlError(f"the container's monitor gave a malformed answer to {op!r}")
    if not answer.get("ok"):
        raise ControlError(answer.get("error") or f"{op} failed")
    return answer
