"""A minimal protocol-buffers wire-format reader (no ``protobuf`` package, no generated code).

TensorFlow's files (``saved_model.pb``, the tensor-bundle index values) are protobuf messages.
Reading the handful of fields a converter needs takes only the wire format: each field is a
varint key ``(number << 3) | wire_type`` followed by a varint (type 0), 8 bytes (type 1), a
length-prefixed byte string (type 2, also sub-messages and packed repeats) or 4 bytes (type 5).
Fields are returned raw; the caller knows which numbers are sub-messages.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint.

    Args:
        buf: the message bytes.
        pos: offset of the varint's first byte.

    Returns:
        ``(value, offset after the varint)``.

    Raises:
        WireError: the varint runs past the end of ``buf`` or is longer than 10 bytes.
    """
    result = 0
    shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def iter_fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)`` for each field of one message.

    ``value`` is an ``int`` for varint and fixed-width fields (fixed ones as unsigned integers)
    and ``bytes`` for length-delimited fields.

    Raises:
        WireError: on a truncated field, an unknown wire type or field number 0.
    """
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = read_varint(buf, pos)
        number, wtype = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        value: int | bytes
        if wtype == VARINT:
            value, pos = read_varint(buf, pos)
        elif wtype == FIXED64:
            if pos + 8 > n:
                raise WireError("truncated fixed64 field")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wtype == BYTES:
            size, pos = read_varint(buf, pos)
            if pos + size > n:
                raise WireError(f"length-delimited field {number} runs past the message end")
            value = bytes(buf[pos : pos + size])
            pos += size
        elif wtype == FIXED32:
            if pos + 4 > n:
                raise WireError("truncated fixed32 field")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wtype} (field {number})")
        yield number, wtype, value


def fields(buf: bytes | memoryview) -> dict[int, list[int | bytes]]:
    """All fields of one message grouped by number, in order of appearance."""
    out: dict[int, list[int | bytes]] = {}
    for number, _, value in iter_fields(buf):
        out.setdefault(number, []).append(value)
    return out


def first_int(f: dict[int, list[int | bytes]], number: int, default: int = 0) -> int:
    """The first value of a scalar integer field (proto3 default when absent)."""
    vals = f.get(number)
    if not vals:
        return default
    v = vals[0]
    if not isinstance(v, int):
        raise WireError(f"field {number} is length-delimited where an integer was expected")
    return v


def first_bytes(f: dict[int, list[int | bytes]], number: int) -> bytes:
    """The first value of a length-delimited field (``b""`` when absent)."""
    vals = f.get(number)
    if not vals:
        return b""
    v = vals[0]
    if not isinstance(v, bytes):
        raise WireError(f"field {number} is an integer where bytes were expected")
    return v


def all_bytes(f: dict[int, list[int | bytes]], number: int) -> list[bytes]:
    """Every value of a repeated length-delimited field (sub-messages, strings)."""
    out = []
    for v in f.get(number, []):
        if not isinstance(v, bytes):
            raise WireError(f"field {number} is an integer where bytes were expected")
        out.append(v)
    return out


def signed64(value: int) -> int:
    """Reinterpret a varint-decoded ``int64`` (two's complement in 64 bits) as signed."""
    return value - (1 << 64) if value >= 1 << 63 else value
