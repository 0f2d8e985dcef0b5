"""A read error names the granule's file and its real cause: a corrupt file is corrupt, local or
remote, and only an HTTP failure of a remote file is a remote (or authorization) problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fault_world import ReadsWorld, region_geobox

from hlsmap.cube import load_cube, read_failure
from hlsmap.errors import CorruptRasterError, RemoteError

import servers


def _copy(reads_world: ReadsWorld, root: Path) -> ReadsWorld:
    """The world's granules copied under ``root`` (so that they can be damaged)."""
    shutil.copytree(reads_world.root / "g", root / "g")
    items = []
    for item in reads_world.items:
        copy = item.clone()
        for a in copy.assets.values():
            a.href = str(root / Path(a.href).relative_to(reads_world.root))
        items.append(copy)
    return ReadsWorld(root, items, reads_world.model)


@pytest.mark.parametrize("reader", ["direct", "odc"])
def test_a_corrupt_local_cog_is_corrupt_not_remote(reads_world, tmp_path, reader) -> None:
    """Under a folder whose name says "http" (a mirror's download folder), a garbage COG."""
    world = _copy(reads_world, tmp_path / "http-mirror")
    bad = Path(world.items[2].assets["B04"].href)
    bad.write_bytes(b"<html>502 Bad Gateway</html>" * 40)
    with pytest.raises(CorruptRasterError) as err:
        load_cube(world.items, geobox=region_geobox(), reader=reader)
    msg = str(err.value)
    assert bad.name in msg and "not recognized" in msg
    assert "authorized" not in msg and "remote" not in msg.lower()


@pytest.mark.parametrize("reader", ["direct", "odc"])
def test_a_truncated_cog_names_the_file_and_the_cause(reads_world, tmp_path, reader) -> None:
    world = _copy(reads_world, tmp_path / "w")
    bad = Path(world.items[3].assets["B8A"].href)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])
    with servers.range_server(world.root) as http:
        items = world.served(http)
        with pytest.raises(CorruptRasterError) as err:
            load_cube(items, geobox=region_geobox(), reader=reader)
    msg = str(err.value)
    assert f"{http.url}/g/{bad.parent.name}/{bad.name}" in msg
    assert "see previous exception" not in msg.lower()
    assert "truncated or corrupt" in msg and "tiff" in msg.lower()  # libtiff's own words


@pytest.mark.parametrize(
    ("code", "hint"), [(401, "not authorized"), (403, "not authorized"), (404, "not there")]
)
def test_an_http_failure_of_a_remote_file_is_remote(reads_world, tmp_path, code, hint) -> None:
    with servers.range_server(reads_world.root) as http:
        items = reads_world.served(http)
        href = items[0].assets["Fmask"].href
        http.faults[reads_world.rel(http, href)] = servers.Fault("status", code)
        with pytest.raises(RemoteError) as err:
            load_cube(items, geobox=region_geobox(), bands=())
    assert href in str(err.value) and hint in str(err.value) and str(code) in str(err.value)


def test_a_bare_assertion_error_is_named() -> None:
    """odc-loader can fail on a truncated file with ``AssertionError()``: the file is named."""
    try:
        raise AssertionError()
    except AssertionError as exc:
        err = read_failure(str(exc), "https://h.example/g/x.B04.tif?sig=s", exc)
    assert isinstance(err, CorruptRasterError)
    assert "https://h.example/g/x.B04.tif?REDACTED" in str(err) and "AssertionError" in str(err)
