"""ttrpc's framing (containerd/ttrpc PROTOCOL.md): a 10-byte header (data length and stream id,
both big-endian uint32, a message type and flags, one byte each) before each message, and the
Request and Response messages that carry a unary call."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from edera_oci.shim.wire import Message, decode, encode, nested, text

HEADER = struct.Struct(">IIBB")
MAX_DATA = 4 << 20  # the protocol's limit on one message
REQUEST, RESPONSE, DATA = 1, 2, 3

# google.rpc.Code values a shim answers with
NOT_FOUND, UNKNOWN, UNAVAILABLE = 5, 2, 14


class FrameError(Exception):
    """The peer sent something that is not a ttrpc frame."""


@dataclass(frozen=True)
class Frame:
    stream_id: int
    kind: int
    flags: int
    data: bytes

    def to_bytes(self) -> bytes:
        return HEADER.pack(len(self.data), self.stream_id, self.kind, self.flags) + self.data


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None at a clean end of the stream."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise FrameError("the connection ended inside a frame's header") from None
        return None
    length, stream_id, kind, flags = HEADER.unpack(header)
    if length > MAX_DATA:
        raise FrameError(f"a frame of {length} bytes, over ttrpc's {MAX_DATA}")
    try:
        data = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FrameError("the connection ended inside a frame") from None
    return Frame(stream_id, kind, flags, data)


@dataclass(frozen=True)
class Call:
    """A Request message: which method of which service, and its payload."""

    service: str
    method: str
    payload: bytes

    @classmethod
    def parse(cls, data: bytes) -> Call:
        fields = decode(data)
        payload = fields.get(3, [b""])[-1]
        return cls(text(fields, 1), text(fields, 2),
                   payload if isinstance(payload, bytes) else b"")


def request(stream_id: int, service: str, method: str, payload: bytes) -> Frame:
    return Frame(stream_id, REQUEST, 0, encode({1: service, 2: method, 3: payload}))


def with_payload(frame: Frame, payload: bytes) -> Frame:
    """A request frame with its payload replaced, the rest of the Request kept."""
    fields = decode(frame.data)
    fields[3] = [payload]
    return Frame(frame.stream_id, frame.kind, frame.flags, encode(fields))


def response(stream_id: int, payload: bytes = b"", code: int = 0, message: str = "") -> Frame:
    """A Response: the payload, or an error status (google.rpc.Status {code 1, message 2})."""
    body: Message = {1: {1: code, 2: message}} if code else {2: payload}
    return Frame(stream_id, RESPONSE, 0, encode(body))


def parse_response(data: bytes) -> tuple[int, str, bytes]:
    """(status code, status message, payload) of a Response."""
    fields = decode(data)
    status = nested(fields, 1)
    payload = fields.get(2, [b""])[-1]
    code = status.get(1, [0])[-1]
    return (code if isinstance(code, int) else UNKNOWN, text(status, 2),
            payload if isinstance(payload, bytes) else b"")
