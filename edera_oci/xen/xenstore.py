"""A small XenStore client speaking the wire protocol over xenstored's Unix socket.

Why not pyxs: its last release (0.4.1) is from 2016, and in the project's channel measurements its
watch loop hung in a short-lived helper. The protocol we need (read, write, rm, set-perms,
directory, watch) is a 16-byte header plus NUL-separated strings (xen/include/public/io/xs_wire.h),
so owning it costs less than working around a dormant library.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

SOCKET_PATHS = ("/run/xenstored/socket", "/var/run/xenstored/socket")
DEVICE_PATH = "/dev/xen/xenbus"
HEADER = struct.Struct("<IIII")  # type, req_id, tx_id, len

XS_DIRECTORY = 1
XS_READ = 2
XS_GET_PERMS = 3
XS_WATCH = 4
XS_UNWATCH = 5
XS_WRITE = 11
XS_MKDIR = 12
XS_RM = 13
XS_SET_PERMS = 14
XS_WATCH_EVENT = 15
XS_ERROR = 16


class XenStoreError(OSError):
    """An error answer from xenstored, with the errno it names (ENOENT, EACCES, ...)."""


class XenStore:
    """One connection to xenstored. Not thread-safe; open one per process."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._fd: int | None = None
        # XENSTORED_PATH: the socket libxenstore (and so xl) would use; no fallback then.
        forced = os.environ.get("XENSTORED_PATH")
        if forced:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(forced)
            except OSError as e:
                s.close()
                raise XenStoreError(e.errno, f"cannot reach xenstored at {forced} "
                                    f"({e.strerror})") from e
            self._sock = s
        for path in () if forced else SOCKET_PATHS:
            if os.path.exists(path):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                except OSError:
                    s.close()
                    continue
                self._sock = s
                break
        if self._sock is None and not forced:
            try:
                self._fd = os.open(DEVICE_PATH, os.O_RDWR)
            except OSError as e:
                raise XenStoreError(e.errno, f"cannot reach xenstored ({e.strerror}): "
                                    "is this a Xen dom0 with the toolstack running?") from e
        self._req_id = 0
        self._events: deque[tuple[str, str]] = deque()

    # -- transport ------------------------------------------------------------------------------
    def fileno(self) -> int:
        return self._sock.fileno() if self._sock else self._fd  # type: ignore[return-value]

    def _send(self, data: bytes) -> None:
        if self._sock:
            self._sock.sendall(data)
        else:
            os.write(self._fd, data)  # type: ignore[arg-type]

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf)) if self._sock else os.read(self._fd, n - len(buf))
            if not chunk:
                raise XenStoreError(errno.ECONNRESET, "xenstored closed the connection")
            buf += chunk
        return buf

    def _read_msg(self) -> tuple[int, int, bytes]:
        mtype, req_id, _tx, length = HEADER.unpack(self._recv_exact(HEADER.size))
        return mtype, req_id, self._recv_exact(length) if length else b""

    def _request(self, mtype: int, payload: bytes) -> bytes:
        self._req_id = (self._req_id + 1) & 0xFFFFFFFF or 1
        self._send(HEADER.pack(mtype, self._req_id, 0, len(payload)) + payload)
        while True:
            rtype, req_id, body = self._read_msg()
            if rtype == XS_WATCH_EVENT:
                path, _, token = body.rstrip(b"\0").partition(b"\0")
                self._events.append((path.decode(), token.decode()))
                continue
            if req_id != self._req_id:
                continue
            if rtype == XS_ERROR:
                name = body.rstrip(b"\0").decode()
                code = getattr(errno, name, errno.EIO)
                raise XenStoreError(code, f"xenstore: {name}")
            return body

    # -- operations -----------------------------------------------------------------------------
    def read(self, path: str) -> str:
        return self._request(XS_READ, path.encode() + b"\0").decode()

    def try_read(self, path: str) -> str | None:
        try:
            return self.read(path)
        except XenStoreError as e:
            if e.errno in (errno.ENOENT, errno.EACCES):
                return None
            raise

    def write(self, path: str, value: str | bytes) -> None:
        raw = value.encode() if isinstance(value, str) else value
        self._request(XS_WRITE, path.encode() + b"\0" + raw)

    def mkdir(self, path: str) -> None:
        self._request(XS_MKDIR, path.encode() + b"\0")

    def rm(self, path: str) -> None:
        try:
            self._request(XS_RM, path.encode() + b"\0")
        except XenStoreError as e:
            if e.errno != errno.ENOENT:
                raise

    def ls(self, path: str) -> list[str]:
        body = self._request(XS_DIRECTORY, path.encode() + b"\0")
        return [p.decode() for p in body.split(b"\0") if p]

    def set_perms(self, path: str, perms: list[str]) -> None:
        """perms like ["n5"] (owner dom5, others none) or ["n0", "r5"] (owner dom0, dom5 reads)."""
        self._request(XS_SET_PERMS, path.encode() + b"\0" + b"".join(p.encode() + b"\0"
                                                                    for p in perms))

    def get_perms(self, path: str) -> list[str]:
        body = self._request(XS_GET_PERMS, path.encode() + b"\0")
        return [p.decode() for p in body.split(b"\0") if p]

    def watch(self, path: str, token: str) -> None:
        self._request(XS_WATCH, path.encode() + b"\0" + token.encode() + b"\0")

    def unwatch(self, path: str, token: str) -> None:
        try:
            self._request(XS_UNWATCH, path.encode() + b"\0" + token.encode() + b"\0")
        except XenStoreError as e:
            if e.errno != errno.ENOENT:
                raise

    def wait_for(
        self, path: str, ready: Callable[[str | None], bool], timeout: float
    ) -> str | None:
        """Wait until ready(value of path) holds; returns the value, raises TimeoutError.

        Watch events wake us early, but the value is re-read at least every 0.5 s: the lab's
        measurements showed a waiter must not depend on one event arriving.
        """
        token = f"edera-wait-{os.getpid()}-{time.monotonic_ns()}"
        self.watch(path, token)
        try:
            deadline = time.monotonic() + timeout
            while True:
                value = self.try_read(path)
                if ready(value):
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"xenstore: {path} not ready after {timeout:.0f} s")
                self._drain_events(min(0.5, left))
        finally:
            self.unwatch(path, token)

    def _drain_events(self, timeout: float) -> None:
        if self._events:
            self._events.clear()
            return
        r, _, _ = select.select([self.fileno()], [], [], timeout)
        if r:
            mtype, _req, body = self._read_msg()
            if mtype == XS_WATCH_EVENT:
                self._events.clear()

    def close(self) -> None:
        if self._sock:
            self._sock.close()
            self._sock = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> XenStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
