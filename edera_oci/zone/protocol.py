"""Codec for the host <-> zone channel; the contract is zone_image/PROTOCOL.md.

The zone init (static C) implements the same frames and records; keep both in step.
"""

from __future__ import annotations

import re
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

# 2: EXEC_PORT, NAMESPACE, DEVICE, CGROUP; 3: the SECCOMP_* records, UPDATE, OOM_KILLS in
# EXIT, the storage shares, pods (CONTAINER, CONTAINER_PORT, POD_*); 4: DEVICE_RULE (an init
# that predates it would skip the rules: the zone image must be rebuilt)
PROTOCOL_VERSION = 5
MAX_PAYLOAD = 1 << 20
# An EXEC frame carries a u32 port before the process records.
MAX_EXEC_RECORDS = MAX_PAYLOAD - 4
# Zone -> host text that the host keeps (logs, error messages) is cut to this much.
MAX_TEXT = 2048
# A STATS frame is a few short lines (the init sends < 512 bytes).
MAX_STATS = 4096
MAX_STAT_VALUE = (1 << 64) - 1
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
    # both ways: host -> zone new cgroup settings; zone -> host the answer (empty = applied)
    UPDATE = 10
    CONTAINER = 11  # pods: one more container in the pod's zone (PROTOCOL.md, "Pods")
    CONTAINER_PORT = 12  # pods, zone -> host: the answer to CONTAINER
    # zone -> host
    READY = 32
    ERROR = 33
    STARTED = 34
    STDOUT = 35
    STDERR = 36
    EXIT = 37
    STATS = 38
    EXEC_PORT = 39


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
    DEVICE_RULE = 35  # linux.resources.devices: SPEC (and UPDATE) records
    # linux.seccomp: process records (SPEC, and EXEC for a filter of its own)
    SECCOMP_DEFAULT = 40
    SECCOMP_ARCH = 41
    SECCOMP_FLAG = 42
    SECCOMP_SYSCALL = 43
    # in the container's EXIT, after the status
    OOM_KILLS = 50
    BINDS_SHARE = 60
    ROOT_SHARE = 61
    ROOT_BIND = 62  # a pod container's root: a directory of its pod's binds share
    POD_NAME = 70  # pods (CONTAINER): the container's name in the zone
    POD_JOIN = 71  # pods: a namespace (ipc, uts, pid) joined from the sandbox


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
    """Accumulates bytes from the channel into a queue of whole frames, in arrival order.

    ``push`` parses everything complete; ``pop`` hands frames out one at a time, so a caller that
    stops after one frame (the boot handshake) leaves the rest queued, never lost or reordered.
    A length over the limit ends parsing: the frames before it are still handed out, then
    ``pop`` raises ProtocolError.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._frames: deque[Frame] = deque()
        self._error: str | None = None

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, data: bytes) -> None:
        if self._error is not None:
            return
        self._buf += data
        while len(self._buf) >= FRAME_HEADER.size:
            msg, length = FRAME_HEADER.unpack_from(self._buf)
            if length > MAX_PAYLOAD:
                self._error = f"frame of {length} bytes exceeds {MAX_PAYLOAD}"
                self._buf.clear()
                return
            end = FRAME_HEADER.size + length
            if len(self._buf) < end:
                return
            self._frames.append(Frame(msg, bytes(self._buf[FRAME_HEADER.size:end])))
            del self._buf[:end]

    def pop(self) -> Frame | None:
        """The oldest unhandled frame, or None when none is complete yet."""
        if self._frames:
            return self._frames.popleft()
        if self._error is not None:
            raise ProtocolError(self._error)
        return None

    def feed(self, data: bytes) -> list[Frame]:
        """push, then every queued frame (raises ProtocolError once those are out)."""
        self.push(data)
        frames = list(self._frames)
        self._frames.clear()
        if self._error is not None and not frames:
            raise ProtocolError(self._error)
        return frames


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


@dataclass(frozen=True)
class ExitReport:
    """EXIT: the status, and how many of the container's processes the OOM killer ended."""

    status: int
    oom_kills: int = 0


def exit_report(payload: bytes) -> ExitReport:
    """EXIT: an i32 status (an exit code or 128+signal, so 0..255), then (protocol 3) a record
    list; OOM_KILLS is a decimal count, other tags are ignored. Anything else is a broken zone."""
    if len(payload) < 4:
        raise ProtocolError(f"EXIT payload of {len(payload)} bytes, expected at least 4")
    status = struct.unpack_from("<i", payload)[0]
    if not 0 <= status <= 255:
        raise ProtocolError(f"EXIT status {status} is outside 0..255")
    oom_kills = 0
    for tag, value in decode_records(payload[4:]):
        if tag == Tag.OOM_KILLS:
            if not re.fullmatch(rb"[0-9]{1,20}", value) or int(value) > MAX_STAT_VALUE:
                raise ProtocolError(f"EXIT's OOM_KILLS {value[:32]!r} is not a count")
            oom_kills = int(value)
    return ExitReport(status, oom_kills)


def exit_status(payload: bytes) -> int:
    """EXIT's status (see exit_report)."""
    return exit_report(payload).status


def update_answer(payload: bytes) -> str:
    """The zone's UPDATE answer: "" when applied, else why not (made safe to show)."""
    return zone_text(payload) if payload else ""


def exit_status_text(value: str | bytes | None) -> int | None:
    """The zone's ``edera/exit-status`` key (guest-written): 1-3 digits, 0..255, else None."""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if value is None or not re.fullmatch(r"[0-9]{1,3}", value):
        return None
    status = int(value)
    return status if status <= 255 else None


def started_pid(payload: bytes) -> int:
    if len(payload) != 4:
        raise ProtocolError(f"STARTED payload of {len(payload)} bytes, expected 4")
    pid = struct.unpack("<I", payload)[0]
    if not 0 < pid < 1 << 31:
        raise ProtocolError(f"STARTED pid {pid} is not a pid")
    return pid


_STAT_LINE = re.compile(r"([a-z][a-z0-9_]{0,63}) ([0-9]{1,20})")


def parse_stats(payload: bytes) -> dict[str, int]:
    """STATS text: ``key value`` lines of decimal counters, each within uint64."""
    if len(payload) > MAX_STATS:
        raise ProtocolError(f"STATS payload of {len(payload)} bytes exceeds {MAX_STATS}")
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("STATS payload is not ASCII text") from None
    stats: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _STAT_LINE.fullmatch(line)
        if not m or int(m.group(2)) > MAX_STAT_VALUE:
            raise ProtocolError(f"STATS line {n} is not 'key uint64': {line[:64]!r}")
        stats[m.group(1)] = int(m.group(2))
    return stats


def zone_text(payload: bytes) -> str:
    """Guest text made safe to log and show: cut to MAX_TEXT, control characters escaped."""
    text = payload[:MAX_TEXT].decode("utf-8", errors="replace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text + (" [...]" if len(payload) > MAX_TEXT else "")


def resize_payload(rows: int, cols: int) -> bytes:
    return struct.pack("<HH", rows, cols)


def exec_payload(port: int, records: bytes) -> bytes:
    """EXEC: port 0 asks the zone to choose (it answers EXEC_PORT); records within the limit."""
    check_exec_records(records)
    return struct.pack("<I", port) + records


def check_exec_records(records: bytes) -> None:
    if len(records) > MAX_EXEC_RECORDS:
        raise ProtocolError(
            f"the exec'd process (args, env, ...) encodes to {len(records)} bytes; the zone "
            f"channel takes at most {MAX_EXEC_RECORDS}")


def exec_port(payload: bytes) -> tuple[int, str]:
    """EXEC_PORT: (port, "") for a channel the zone opened, or (0, why it refused)."""
    if len(payload) < 4:
        raise ProtocolError(f"EXEC_PORT payload of {len(payload)} bytes, expected >= 4")
    port = struct.unpack_from("<I", payload)[0]
    if port != 0 and not 2 <= port <= 65535:
        raise ProtocolError(f"EXEC_PORT port {port} is outside 2..65535")
    return port, zone_text(payload[4:]) if port == 0 else ""


def container_payload(records: bytes) -> bytes:
    """CONTAINER: port 0 (the zone chooses and answers CONTAINER_PORT) + the records."""
    if len(records) > MAX_EXEC_RECORDS:
        raise ProtocolError(f"the pod container's records encode to {len(records)} bytes; the "
                            f"zone channel takes at most {MAX_EXEC_RECORDS}")
    return struct.pack("<I", 0) + records


def container_port(payload: bytes) -> tuple[int, str]:
    """CONTAINER_PORT: (port, "") of the container's channel, or (0, why the zone refused)."""
    try:
        return exec_port(payload)
    except ProtocolError as e:
        raise ProtocolError(str(e).replace("EXEC_PORT", "CONTAINER_PORT")) from None
