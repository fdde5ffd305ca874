"""The dom0 end of a libxenvchan channel to a zone, through ctypes on Xen's own library.

The zone init is the vchan server (it grants the ring pages to dom0); the monitor connects as the
client. Used non-blocking: poll() the event-channel fd, then libxenvchan_wait() consumes the event.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

LIB_NAMES = ("libxenvchan.so.4.17", "libxenvchan.so")
# struct libxenvchan (x86-64): three pointers, u32 event_port, then the flag bits; bit 2 is
# `blocking`, which libxenvchan_client_init leaves uninitialised.
FLAGS_OFFSET = 28
BLOCKING_BIT = 1 << 2

_lib: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        last: OSError | None = None
        for name in LIB_NAMES:
            try:
                lib = ctypes.CDLL(name, use_errno=True)
                break
            except OSError as e:
                last = e
        else:
            raise OSError(errno.ENOENT, f"libxenvchan not found ({last}): install Xen's tools")
        lib.libxenvchan_client_init.restype = ctypes.c_void_p
        lib.libxenvchan_client_init.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p]
        for fn in ("libxenvchan_read", "libxenvchan_write"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
            getattr(lib, fn).restype = ctypes.c_int
        for fn in ("libxenvchan_wait", "libxenvchan_fd_for_select", "libxenvchan_is_open",
                   "libxenvchan_data_ready", "libxenvchan_buffer_space"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
            getattr(lib, fn).restype = ctypes.c_int
        lib.libxenvchan_close.argtypes = [ctypes.c_void_p]
        lib.libxenvchan_close.restype = None
        _lib = lib
    return _lib


class VchanClosed(Exception):
    """The zone end of the channel went away."""


class VchanClient:
    def __init__(self, domid: int, xs_path: str) -> None:
        lib = _load()
        ptr = lib.libxenvchan_client_init(None, domid, xs_path.encode())
        if not ptr:
            err = ctypes.get_errno()
            raise OSError(err, f"vchan connect to domain {domid} at {xs_path}: "
                          f"{os.strerror(err) if err else 'failed'}")
        self._lib = lib
        self._ptr = ctypes.c_void_p(ptr)
        flags = ctypes.c_uint8.from_address(ptr + FLAGS_OFFSET)
        flags.value &= ~BLOCKING_BIT & 0xFF
        self._buf = ctypes.create_string_buffer(65536)

    def fileno(self) -> int:
        return self._lib.libxenvchan_fd_for_select(self._ptr)

    def ack_event(self) -> None:
        """Consume the pending event; call after poll() reports the fd readable."""
        self._lib.libxenvchan_wait(self._ptr)

    def is_open(self) -> bool:
        return self._lib.libxenvchan_is_open(self._ptr) == 1

    def read(self) -> bytes:
        """What is in the ring now (may be b""). Raises VchanClosed once the zone is gone."""
        n = self._lib.libxenvchan_read(self._ptr, self._buf, len(self._buf))
        if n < 0:
            raise VchanClosed("vchan read failed: the zone closed the channel")
        if n == 0 and not self.is_open():
            raise VchanClosed("the zone closed the channel")
        return self._buf.raw[:n]

    def write(self, data: bytes) -> int:
        """Write what fits; returns the number of bytes taken (0 when the ring is full)."""
        n = self._lib.libxenvchan_write(self._ptr, data, len(data))
        if n < 0:
            raise VchanClosed("vchan write failed: the zone closed the channel")
        return n

    def buffer_space(self) -> int:
        return self._lib.libxenvchan_buffer_space(self._ptr)

    def close(self) -> None:
        if self._ptr:
            self._lib.libxenvchan_close(self._ptr)
            self._ptr = None  # type: ignore[assignment]
