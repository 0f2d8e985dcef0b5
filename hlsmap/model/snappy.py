"""A pure-Python Snappy *decompressor* (raw block format, no framing).

TensorFlow writes the blocks of a tensor-bundle index (a LevelDB table) Snappy-compressed. The
index is a few KB, so a small pure-Python decoder is plenty and avoids a compiled dependency.

Format (https://github.com/google/snappy/blob/main/format_description.txt): a varint with the
uncompressed length, then elements whose tag byte's low two bits say what follows:
``00`` a literal (length - 1 in the upper six bits, or in the next 1-4 bytes when those bits are
60-63), ``01`` a copy of 4-11 bytes with an 11-bit offset, ``10`` a copy of 1-64 bytes with a
16-bit offset, ``11`` the same with a 32-bit offset. Copies may overlap their own output
(offset < length repeats a pattern).
"""

from __future__ import annotations

from hlsmap.model.protowire import WireError, read_varint


class SnappyError(ValueError):
    """Bytes that are not a valid Snappy block."""


def uncompressed_length(data: bytes | memoryview) -> int:
    """The uncompressed size a Snappy block announces in its preamble."""
    try:
        return read_varint(data, 0)[0]
    except WireError as e:
        raise SnappyError(f"bad snappy preamble: {e}") from None


def decompress(data: bytes | memoryview) -> bytes:
    """Decompress one raw Snappy block.

    Args:
        data: the compressed bytes (preamble included).

    Returns:
        The uncompressed bytes.

    Raises:
        SnappyError: a truncated element, a copy reaching before the start of the output, or an
            output whose size differs from the preamble's.
    """
    data = bytes(data)
    try:
        expected, pos = read_varint(data, 0)
    except WireError as e:
        raise SnappyError(f"bad snappy preamble: {e}") from None
    out = bytearray()
    n = len(data)
    while pos < n:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            length = tag >> 2
            if length >= 60:
                nbytes = length - 59
                if pos + nbytes > n:
                    raise SnappyError("truncated literal length")
                length = int.from_bytes(data[pos : pos + nbytes], "little")
                pos += nbytes
            length += 1
            if pos + length > n:
                raise SnappyError("literal runs past the end of the input")
            out += data[pos : pos + length]
            pos += length
            continue
        if kind == 1:
            if pos + 1 > n:
                raise SnappyError("truncated 1-byte-offset copy")
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:
            nbytes = 2 if kind == 2 else 4
            if pos + nbytes > n:
                raise SnappyError("truncated copy offset")
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos : pos + nbytes], "little")
            pos += nbytes
        if offset == 0 or offset > len(out):
            raise SnappyError(f"copy offset {offset} outside the {len(out)} bytes decoded so far")
        start = len(out) - offset
        if offset >= length:
            out += out[start : start + length]
        else:
            # Overlapping copy: the pattern of `offset` bytes repeats.
            chunk = out[start:]
            reps, rest = divmod(length, offset)
            out += chunk * reps + chunk[:rest]
        if len(out) > expected:
            raise SnappyError(f"output exceeds the announced {expected} bytes")
    if len(out) != expected:
        raise SnappyError(f"decoded {len(out)} bytes, the preamble announced {expected}")
    return bytes(out)
