"""CRC-32C (Castagnoli), pure Python, and the masking LevelDB and TensorFlow apply to it.

Used to verify a tensor bundle: each index block carries a masked CRC of its bytes, and each
tensor entry a masked CRC of the tensor's bytes in the data file.
"""

from __future__ import annotations

_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8


def _table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()


def crc32c(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data``, continuing from ``crc`` (0 to start)."""
    table = _TABLE
    c = crc ^ 0xFFFFFFFF
    for b in bytes(data):
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    """LevelDB/TensorFlow masked CRC (rotate right 15 bits, add a constant).

    Stored CRCs are masked because a CRC of a string that itself contains CRCs is weak.
    """
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF
