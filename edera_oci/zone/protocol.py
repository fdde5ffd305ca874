"""Codec for the host <-> zone channel; the contract is zone_image/PROTOCOL.md.

The zone init (static C) implements the same frames and records; keep both in step.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 1 << 20
FRAME_HEADER = struct.Struct("<II")
RECORD_HEADER = struct.Struct("<HI")


class Msg(IntEnum):
    """Frame types (PROTOCOL.md, "vchan framing")."""

    # host -> zone
    SPEC = 1
    START = 2
    STDIN = 3
    STDIN_EOF = 4
    SIGNAL = 5
    RESIZE = 6
    EXEC = 7
    EXIT_ACK = 8
    STATS_REQ = 9
    # zone -> host
    READY = 32
    ERROR = 33
    STARTED = 34
    STDOUT = 35
    STDERR = 36
    EXIT = 37
    STATS = 38


class Tag(IntEnum):
    """Record tags (PROTOCOL.md, "Record lists")."""

    ARG = 1
    ENV = 2
    CWD = 3
    UID = 4
    GID = 5
    ADDITIONAL_GID = 6
    UMASK = 7
    RLIMIT = 8
    CAPS = 9
    NO_NEW_PRIVS = 10
    OOM_SCORE_ADJ = 11
    TERMINAL = 12
    TERM_SIZE = 13
    HOSTNAME = 20
    DOMAINNAME = 21
    SYSCTL = 22
    MOUNT = 23
    MASKED_PATH = 24
    READONLY_PATH = 25
    ROOT_READONLY = 26
    BINDS_DISK = 27
    ROOT_DISK = 28
    NET_IF = 29
    NET_ADDR = 30
    NET_ROUTE = 31
    NAMESPACE = 32
    DEVICE = 33
    CGROUP = 34


class ProtocolError(Exception):
    """The peer sent something this side cannot parse."""


@dataclass(frozen=True)
class Frame:
    type: int
    payload: bytes = b""


def encode_frame(msg: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return FRAME_HEADER.pack(int(msg), len(payload)) + payload


class FrameReader:
    """Accumulates bytes from the channel and yields whole frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buf += data
        while len(self._buf) >= FRAME_HEADER.size:
            msg, length = FRAME_HEADER.unpack_from(self._buf)
            if length > MAX_PAYLOAD:
                raise ProtocolError(f"frame of {length} bytes exceeds {MAX_PAYLOAD}")
            end = FRAME_HEADER.size + length
            if len(self._buf) < end:
                return
            payload = bytes(self._buf[FRAME_HEADER.size:end])
            del self._buf[:end]
            yield Frame(msg, payload)


def _value(value: str | bytes | int | Iterable[str | int]) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int):
        return str(value).encode()
    return b"\0".join(_value(v) for v in value)


def encode_records(records: Iterable[tuple[int, str | bytes | int | Iterable[str | int]]]) -> bytes:
    """Encode (tag, value) pairs; a value that is a sequence becomes NUL-separated fields."""
    out = bytearray()
    for tag, value in records:
        raw = _value(value)
        out += RECORD_HEADER.pack(int(tag), len(raw)) + raw
    return bytes(out)


def decode_records(data: bytes) -> list[tuple[int, bytes]]:
    records = []
    offset = 0
    while offset < len(data):
        if offset + RECORD_HEADER.size > len(data):
            raise ProtocolError("truncated record header")
        tag, length = RECORD_HEADER.unpack_from(data, offset)
        offset += RECORD_HEADER.size
        if offset + length > len(data):
            raise ProtocolError(f"record {tag} claims {length} bytes past the end")
        records.append((tag, data[offset:offset + length]))
        offset += length
    return records


def signal_payload(signo: int, all_processes: bool = False) -> bytes:
    return struct.pack("<II", signo, 1 if all_processes else 0)


def exit_status(payload: bytes) -> int:
    if len(payload) != 4:
        raise ProtocolError(f"EXIT payload of {len(payload)} bytes, expected 4")
    return struct.unpack("<i", payload)[0]


def started_pid(payload: bytes) -> int:
    if len(payload) != 4:
        raise ProtocolError(f"STARTED payload of {len(payload)} bytes, expected 4")
    return struct.unpack("<I", payload)[0]


def resize_payload(rows: int, cols: int) -> bytes:
    return struct.pack("<HH", rows, cols)


def exec_payload(port: int, records: bytes) -> bytes:
    return struct.pack("<I", port) + records
