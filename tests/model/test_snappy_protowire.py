"""The pure-Python Snappy decoder and protobuf wire reader on hand-made vectors."""

from __future__ import annotations

import pytest

from hlsmap.model import protowire as pw
from hlsmap.model.snappy import SnappyError, decompress, uncompressed_length


def _literal(data: bytes) -> bytes:
    n = len(data) - 1
    if n < 60:
        return bytes([n << 2]) + data
    return bytes([60 << 2, n]) + data  # one extra length byte


@pytest.mark.parametrize(
    ("compressed", "expected"),
    [
        (b"\x00", b""),
        (b"\x05" + _literal(b"hello"), b"hello"),
        # literal "ab", then a 1-byte-offset copy of 8 bytes at offset 2 (overlapping: repeats)
        (b"\x0a" + _literal(b"ab") + bytes([0x01 | (8 - 4) << 2, 2]), b"ab" * 5),
        # literal "abc", then a 2-byte-offset copy of 6 bytes at offset 3
        (b"\x09" + _literal(b"abc") + bytes([0x02 | (6 - 1) << 2, 3, 0]), b"abc" * 3),
        # 4-byte-offset copy of 2 bytes at offset 4, then a literal
        (
            b"\x07" + _literal(b"wxyz") + bytes([0x03 | (2 - 1) << 2, 4, 0, 0, 0]) + _literal(b"!"),
            b"wxyzwx!",
        ),
        # a 100-byte literal needs the 1-byte extended length
        (b"\x64" + _literal(bytes(range(100))), bytes(range(100))),
        # 11-bit offset: offset 300 = (1 << 8) | 44 in the tag's top bits + one byte
        (
            b"\xb0\x02"
            + _literal(bytes(range(60))) * 5
            + bytes([0x01 | (4 - 4) << 2 | 1 << 5, 44]),
            bytes(range(60)) * 5 + bytes(range(60))[0:4],
        ),
    ],
)
def test_known_vectors(compressed, expected):
    assert uncompressed_length(compressed) == len(expected)
    assert decompress(compressed) == expected


@pytest.mark.parametrize(
    "bad",
    [
        b"",  # no preamble
        b"\x05" + bytes([4 << 2]) + b"hel",  # literal runs past the end
        b"\x06" + _literal(b"ab") + bytes([0x01, 3]),  # copy reaches before the start
        b"\x04" + _literal(b"ab") + bytes([0x01, 0]),  # offset 0
        b"\x09" + _literal(b"abc"),  # shorter than announced
        b"\x02" + _literal(b"abc"),  # longer than announced
        b"\x05" + _literal(b"ab") + bytes([0x02]),  # truncated copy offset
    ],
)
def test_malformed_blocks_raise(bad):
    with pytest.raises(SnappyError):
        decompress(bad)


def test_wire_reader_fields():
    # field 1 varint 150, field 2 bytes "hi", field 3 fixed32 1, field 4 fixed64 2,
    # field 5 varint -1 as int64 (ten bytes)
    msg = (
        b"\x08\x96\x01"
        + b"\x12\x02hi"
        + b"\x1d\x01\x00\x00\x00"
        + b"\x21\x02\x00\x00\x00\x00\x00\x00\x00"
        + b"\x28"
        + b"\xff" * 9
        + b"\x01"
    )
    f = pw.fields(msg)
    assert pw.first_int(f, 1) == 150
    assert pw.first_bytes(f, 2) == b"hi"
    assert pw.first_int(f, 3) == 1 and pw.first_int(f, 4) == 2
    assert pw.signed64(pw.first_int(f, 5)) == -1
    assert pw.first_int(f, 9, default=7) == 7 and pw.first_bytes(f, 9) == b""
    assert pw.all_bytes(pw.fields(b"\x0a\x01a\x0a\x01b"), 1) == [b"a", b"b"]


@pytest.mark.parametrize(
    "bad",
    [b"\x08", b"\x12\x05abc", b"\x1d\x01\x00", b"\x0b", b"\x00\x01", b"\x08" + b"\xff" * 11],
)
def test_wire_reader_rejects_malformed(bad):
    with pytest.raises(pw.WireError):
        pw.fields(bad)
