"""The NumPy tensor-bundle reader on Dynamic World's checkpoint, intact and damaged."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from dwfixture import FORWARD, needs_fixtures

from hlsmap.errors import ModelError
from hlsmap.model.crc32c import crc32c, mask
from hlsmap.model.tfbundle import read_bundle, read_table

pytestmark = needs_fixtures
PREFIX = FORWARD / "variables" / "variables"


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "forward"
    shutil.copytree(FORWARD, dst)
    for f in dst.rglob("*"):
        f.chmod(0o644 if f.is_file() else 0o755)
    return dst / "variables" / "variables"


def _damage(path: Path, offset: int, *, truncate: bool = False) -> None:
    data = bytearray(path.read_bytes())
    if truncate:
        data = data[:offset]
    else:
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def test_crc32c_known_values():
    # RFC 3720 B.4 test vectors and the classic check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(bytes([0xFF] * 32)) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
    assert mask(0) == 0xA282EAD8


def test_reads_every_tensor():
    arrays = read_bundle(PREFIX)
    assert len(arrays) == 146
    assert sum(a.size for a in arrays.values()) == 231_209
    assert {a.dtype for a in arrays.values()} == {np.dtype(np.float32)}
    assert all(
        k.startswith("variables/") and k.endswith("/.ATTRIBUTES/VARIABLE_VALUE") for k in arrays
    )
    first = arrays["variables/0/.ATTRIBUTES/VARIABLE_VALUE"]
    assert first.shape == (3, 3, 9, 64) and np.isfinite(first).all() and first.std() > 0
    assert arrays["variables/145/.ATTRIBUTES/VARIABLE_VALUE"].shape == (9,)
    first[0, 0, 0, 0] = 1.0  # writable, not a view of a read-only buffer


def test_table_holds_header_and_object_graph():
    table = read_table(PREFIX.with_name("variables.index"))
    assert "" in table and "_CHECKPOINTABLE_OBJECT_GRAPH" in table
    assert len(table) == 148
    assert list(table) == sorted(table)  # a LevelDB table is sorted by key


def test_missing_files(tmp_path):
    with pytest.raises(ModelError, match="variables.index"):
        read_bundle(tmp_path / "variables")
    prefix = _copy(tmp_path)
    prefix.with_name("variables.data-00000-of-00001").unlink()
    with pytest.raises(ModelError, match="variables.data-00000-of-00001"):
        read_bundle(prefix)


@pytest.mark.parametrize("where", ["magic", "footer", "block", "truncated"])
def test_corrupt_index(tmp_path, where):
    prefix = _copy(tmp_path)
    index = prefix.with_name("variables.index")
    size = index.stat().st_size
    if where == "magic":
        _damage(index, size - 1)
    elif where == "footer":
        _damage(index, size - 48)  # the metaindex/index block handles
    elif where == "block":
        _damage(index, 100)  # inside the first (Snappy) data block
    else:
        _damage(index, size // 2, truncate=True)
    with pytest.raises(ModelError, match="variables.index"):
        read_bundle(prefix)


def test_corrupt_data(tmp_path):
    prefix = _copy(tmp_path)
    data = prefix.with_name("variables.data-00000-of-00001")
    _damage(data, 5000)
    with pytest.raises(ModelError, match="checksum mismatch"):
        read_bundle(prefix)
    # Unverified reads skip the tensor checksums (the index blocks are still parsed).
    assert len(read_bundle(prefix, verify=False)) == 146


def test_truncated_data(tmp_path):
    prefix = _copy(tmp_path)
    data = prefix.with_name("variables.data-00000-of-00001")
    _damage(data, data.stat().st_size - 100, truncate=True)
    with pytest.raises(ModelError, match="truncated"):
        read_bundle(prefix)


def test_foreign_file(tmp_path):
    prefix = _copy(tmp_path)
    prefix.with_name("variables.index").write_bytes(b"not a table at all" * 10)
    with pytest.raises(ModelError, match="not a TensorFlow tensor-bundle index"):
        read_bundle(prefix)
