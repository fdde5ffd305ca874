"""The protobuf wire format, for the few messages the shim (and the lab's CRI client) read and
write by their field numbers.

The messages are containerd's and the CRI's public wire contracts (ttrpc's Request and Response,
the task service's Create and Stats, cgroups v2 Metrics, runc's shim options). Their .proto files
are not on a Debian 12 machine, and a handful of fields does not justify generated code or a
protobuf dependency: a message here is a dict of field number to value (int, str, bytes, a nested
dict, or a list for a repeated field).
"""

from __future__ import annotations

from typing import Any

Message = dict[int, Any]
Fields = dict[int, list[int | bytes]]


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64 go on the wire as ten-byte two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode(message: Message) -> bytes:
    out = bytearray()
    for number, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool | int):
                out += _varint(number << 3) + _varint(int(item))
            else:
                data = encode(item) if isinstance(item, dict) else (
                    item.encode() if isinstance(item, str) else item)
                out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def decode(data: bytes) -> Fields:
    """Field number to the values seen (varints as int, length-delimited as bytes)."""
    fields: Fields = {}
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ValueError("a truncated or overlong protobuf varint")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value: int | bytes = varint()
        elif wire == 2:
            size = varint()
            if pos + size > len(data):
                raise ValueError(f"protobuf field {number}: {size} bytes past the message's end")
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"protobuf wire type {wire} (field {number}) is not supported")
        fields.setdefault(number, []).append(value)
    return fields


def text(fields: Fields, number: int) -> str:
    value = fields.get(number, [b""])[-1]
    return value.decode() if isinstance(value, bytes) else ""


def number(fields: Fields, field: int) -> int:
    """A varint field as a signed 64-bit number (0 when absent)."""
    value = fields.get(field, [0])[-1]
    if not isinstance(value, int):
        return 0
    return value - (1 << 64) if value >= 1 << 63 else value


def nested(fields: Fields, field: int) -> Fields:
    value = fields.get(field, [b""])[-1]
    return decode(value) if isinstance(value, bytes) else {}
