"""Read a TensorFlow tensor bundle (a checkpoint's ``variables/``) with NumPy only.

A bundle is ``<prefix>.index`` plus ``<prefix>.data-00000-of-00001``. The index is a
LevelDB-format table (SSTable): a 48-byte footer (metaindex and index block handles, padding,
magic ``0xdb4775248b80fb57``); blocks of prefix-compressed key/value entries with restart points,
each followed by a 1-byte compression type (0 none, 1 Snappy) and a masked CRC-32C. Its keys are
checkpoint keys; its values ``BundleEntryProto`` messages (dtype, shape, shard, offset, size,
masked CRC-32C of the tensor bytes) locating each tensor in the data file. The entry with the
empty key is the ``BundleHeaderProto`` (shard count, endianness, format version).

Only what TensorFlow's SavedModels use is supported: one shard, little-endian, unsliced tensors of
numeric dtypes. Anything else is a :class:`~hlsmap.errors.ModelError` naming the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from hlsmap.errors import ModelError
from hlsmap.model import protowire as pw
from hlsmap.model.crc32c import crc32c, mask
from hlsmap.model.snappy import SnappyError, decompress

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two BlockHandles padded to 40 bytes + 8-byte magic
BLOCK_TRAILER = 5  # compression type + masked crc32c

DT_STRING = 7  # e.g. _CHECKPOINTABLE_OBJECT_GRAPH: serialized protos, not arrays; skipped

# TensorFlow DataType enum values -> NumPy dtypes (types.proto). Only plain numeric types:
# strings and resources are not stored as raw bytes.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    17: np.dtype("<u2"),
    19: np.dtype("<f2"),
    22: np.dtype("<u4"),
    23: np.dtype("<u8"),
}


def _block_handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = pw.read_varint(buf, pos)
    size, pos = pw.read_varint(buf, pos)
    return offset, size, pos


def _read_block(data: bytes, offset: int, size: int, name: str, verify: bool) -> bytes:
    end = offset + size
    if offset < 0 or end + BLOCK_TRAILER > len(data):
        raise ModelError(
            f"{name}: block at {offset}+{size} runs past the end of the file ({len(data)} bytes);"
            " the index is truncated, download it again."
        )
    raw = data[offset:end]
    ctype = data[end]
    if verify:
        stored = struct.unpack_from("<I", data, end + 1)[0]
        if mask(crc32c(data[offset : end + 1])) != stored:
            raise ModelError(
                f"{name}: checksum mismatch in the block at byte {offset}; the index is"
                " corrupt, download it again."
            )
    if ctype == 0:
        return raw
    if ctype == 1:
        try:
            return decompress(raw)
        except SnappyError as e:
            raise ModelError(f"{name}: bad Snappy block at byte {offset} ({e}).") from None
    raise ModelError(f"{name}: block at byte {offset} uses unknown compression type {ctype}.")


def _block_entries(block: bytes, name: str) -> list[tuple[bytes, bytes]]:
    """Decode the key/value entries of one table block (keys are prefix-compressed)."""
    if len(block) < 4:
        raise ModelError(f"{name}: a table block is shorter than its restart count.")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise ModelError(f"{name}: a table block claims {num_restarts} restart points.")
    entries: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < limit:
        shared, pos = pw.read_varint(block, pos)
        unshared, pos = pw.read_varint(block, pos)
        vlen, pos = pw.read_varint(block, pos)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise ModelError(f"{name}: a table entry runs past its block.")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + vlen]))
        pos += vlen
    return entries


def read_table(path: str | Path, *, verify: bool = True) -> dict[str, bytes]:
    """All key/value pairs of a LevelDB-format table file.

    Args:
        path: the ``.index`` file.
        verify: check every block's masked CRC-32C.

    Returns:
        ``{key (UTF-8): raw value}`` in the table's order.

    Raises:
        ModelError: missing, truncated, corrupt or not a LevelDB table.
    """
    path = Path(path)
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{name}: cannot read the tensor-bundle index ({e.strerror}).") from None
    if len(data) < FOOTER_SIZE:
        raise ModelError(f"{name}: {len(data)} bytes is too short for a tensor-bundle index.")
    if struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise ModelError(
            f"{name}: not a TensorFlow tensor-bundle index (LevelDB table magic missing);"
            " the file is truncated or foreign."
        )
    footer = data[len(data) - FOOTER_SIZE :]
    try:
        meta_off, meta_size, pos = _block_handle(footer, 0)
        index_off, index_size, _ = _block_handle(footer, pos)
        # The metaindex holds nothing TensorFlow uses, but reading it checks the footer.
        _read_block(data, meta_off, meta_size, name, verify)
        out: dict[str, bytes] = {}
        index = _read_block(data, index_off, index_size, name, verify)
        for _, handle in _block_entries(index, name):
            off, size, _ = _block_handle(handle, 0)
            block = _read_block(data, off, size, name, verify)
            for key, value in _block_entries(block, name):
                out[key.decode("utf-8")] = value
    except pw.WireError as e:
        raise ModelError(f"{name}: malformed table ({e}); the index is corrupt.") from None
    except UnicodeDecodeError:
        raise ModelError(f"{name}: a table key is not UTF-8; the index is corrupt.") from None
    return out


def _entry(
    value: bytes, key: str, name: str
) -> tuple[np.dtype | None, tuple[int, ...], int, int, int]:
    """``(dtype, shape, offset, size, masked crc)`` of one entry; dtype ``None``: strings."""
    f = pw.fields(value)
    code = pw.first_int(f, 1)
    if code not in DTYPES and code != DT_STRING:
        raise ModelError(f"{name}: tensor {key!r} has unsupported TensorFlow dtype {code}.")
    shape = []
    for dim in pw.all_bytes(pw.fields(pw.first_bytes(f, 2)), 2):
        shape.append(pw.signed64(pw.first_int(pw.fields(dim), 1)))
    if any(s < 0 for s in shape):
        raise ModelError(f"{name}: tensor {key!r} has an unknown dimension {shape}.")
    if pw.first_int(f, 3) != 0 or f.get(7):
        raise ModelError(
            f"{name}: tensor {key!r} is sharded or sliced; only single-shard bundles are read."
        )
    dtype = None if code == DT_STRING else DTYPES[code]
    return dtype, tuple(shape), pw.first_int(f, 4), pw.first_int(f, 5), pw.first_int(f, 6)


def read_bundle(prefix: str | Path, *, verify: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of a single-shard TensorFlow tensor bundle.

    Args:
        prefix: the bundle prefix, e.g. ``saved_model_dir/variables/variables`` (the files are
            ``<prefix>.index`` and ``<prefix>.data-00000-of-00001``).
        verify: check the index blocks' and each tensor's masked CRC-32C (about 0.2 s per MB in
            pure Python).

    Returns:
        ``{checkpoint key: array}`` (fresh, writable arrays); the header entry and string
        tensors (such as ``_CHECKPOINTABLE_OBJECT_GRAPH``) are left out.

    Raises:
        ModelError: a missing, truncated, corrupt or unsupported file (the message names it).
    """
    prefix = Path(prefix)
    index_path = prefix.with_name(prefix.name + ".index")
    data_path = prefix.with_name(prefix.name + ".data-00000-of-00001")
    table = read_table(index_path, verify=verify)
    iname = str(index_path)
    try:
        header = pw.fields(table.get("", b""))
        if "" not in table:
            raise ModelError(f"{iname}: no bundle header entry; not a TensorFlow tensor bundle.")
        if pw.first_int(header, 1) != 1:
            raise ModelError(
                f"{iname}: bundle has {pw.first_int(header, 1)} shards; only 1 is supported."
            )
        if pw.first_int(header, 2) != 0:
            raise ModelError(f"{iname}: bundle is big-endian; only little-endian is supported.")
        entries = {k: _entry(v, k, iname) for k, v in table.items() if k}
    except pw.WireError as e:
        raise ModelError(f"{iname}: malformed bundle entry ({e}); the index is corrupt.") from None
    try:
        data = data_path.read_bytes()
    except OSError as e:
        raise ModelError(f"{data_path}: cannot read the tensor data ({e.strerror}).") from None
    out: dict[str, np.ndarray] = {}
    for key, (dtype, shape, offset, size, crc) in entries.items():
        count = int(np.prod(shape, dtype=np.int64))
        if dtype is not None and size != count * dtype.itemsize:
            raise ModelError(
                f"{iname}: tensor {key!r} is {size} bytes, its shape {shape} needs"
                f" {count * dtype.itemsize}; the index is corrupt."
            )
        if offset + size > len(data):
            raise ModelError(
                f"{data_path}: tensor {key!r} at {offset}+{size} runs past the end of the file"
                f" ({len(data)} bytes); the data file is truncated, download it again."
            )
        if dtype is None:
            # String tensors (their CRC covers decoded lengths, not the stored bytes) are
            # bounds-checked only: nothing here uses them.
            continue
        raw = data[offset : offset + size]
        if verify and mask(crc32c(raw)) != crc:
            raise ModelError(
                f"{data_path}: checksum mismatch for tensor {key!r}; the data file is corrupt,"
                " download it again."
            )
        out[key] = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    return out
