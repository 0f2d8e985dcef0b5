"""The cube: odc-stac through GDAL's HTTP reads against servers on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hlsmap.access import PCSigner, earthdata_gdal_env
from hlsmap.cube import clear_mask, load_cube, observed_mask, read_errors
from hlsmap.errors import (
    CorruptRasterError,
    EmptySearchError,
    InvalidRegionError,
    MissingAssetError,
    RemoteError,
)
from hlsmap.region import Region
from hlsmap.search import search

import hlsfixtures as hf
import servers


@pytest.fixture(scope="module")
def cube(archive):
    items = search(archive.api, bbox=archive.bbox, datetime="2024")
    return load_cube(items)


def test_cube_contract(cube) -> None:
    assert tuple(cube.dims) == ("time", "y", "x") or set(cube.dims) == {"time", "y", "x"}
    assert list(cube.data_vars) == ["blue", "green", "red", "nir08", "swir16", "swir22", "fmask"]
    assert all(cube[b].dtype == np.int16 for b in ("blue", "nir08", "swir22"))
    assert cube.fmask.dtype == np.uint8
    # 4 granules -> 3 observations: the two S30 granules of one overpass are fused
    assert cube.sizes["time"] == 3
    assert cube.sensor.values.tolist() == ["S30", "L30", "S30"]
    assert cube.platform.values.tolist() == ["Sentinel-2B", "Landsat 9", "Sentinel-2A"]
    gbox = cube.odc.geobox
    assert gbox.crs.epsg == 32613 and gbox.resolution.x == 30
    assert gbox.shape == (64, 96)


def test_fusion_and_band_mapping(cube) -> None:
    first = cube.isel(time=0)
    # left granule (value 1000 + band index) wins where both exist; right one fills the rest
    assert int(first.blue[30, 10]) == 1000 and int(first.nir08[30, 10]) == 1003
    assert int(first.blue[30, 90]) == 2000
    # the left granule's fill column (x 60..63) is filled by the right granule
    assert int(first.blue[30, 61]) == 2000
    l30 = cube.isel(time=1)
    assert int(l30.swir16[5, 5]) == 3004 and int(l30.blue[5, 80]) == -9999


def test_clear_and_observed_masks(cube) -> None:
    clear = clear_mask(cube).isel(time=0).values
    assert not clear[:20, :16].any()  # cloud + adjacent
    assert clear[30:, :60].all()
    observed = observed_mask(cube).isel(time=1).values
    assert observed[:, :64].all() and not observed[:, 64:].any()


def test_region_grid_and_lazy_load(archive) -> None:
    items = search(archive.api, bbox=archive.bbox, datetime="2024-05")
    region = Region.from_bbox(archive.bbox)
    lazy = load_cube(items, region=region, chunks={"x": 32, "y": 32})
    assert hasattr(lazy.blue.data, "dask")
    with read_errors():
        eager = lazy.load()
    assert eager.odc.geobox.crs.epsg == 32613
    assert int((eager.blue == 1000).sum()) > 0


def test_no_overlap_and_missing_asset(archive) -> None:
    items = search(archive.api, bbox=archive.bbox, datetime="2024")
    with pytest.raises(InvalidRegionError, match="none of the 4 items overlaps"):
        load_cube(items, region=Region.from_bbox((10, 10, 10.1, 10.1)))
    broken = items[0].clone()
    del broken.assets["B8A"]
    with pytest.raises(MissingAssetError, match="B8A"):
        load_cube([broken])
    with pytest.raises(EmptySearchError):
        load_cube([])


def _served_copy(archive, tmp_path: Path, http: servers.RangeServer, n: int = 1, root=None):
    """Copy the first granules and return their items pointing at ``http``."""
    items = []
    for item in archive.local_items[:n]:
        gid = item.id
        dest = (root or tmp_path) / "data" / gid
        if not dest.exists():
            shutil.copytree(Path(item.assets["B02"].href).parent, dest)
        new = item.clone()
        for a in new.assets.values():
            a.href = f"{http.url}/data/{gid}/{Path(a.href).name}"
        items.append(new)
    return items


def test_http_errors_retry_then_fail_clearly(archive, tmp_path: Path) -> None:
    with servers.range_server(tmp_path) as http:
        (item,) = _served_copy(archive, tmp_path, http)
        b04 = f"data/{item.id}/{item.id}.B04.tif"
        http.failures[b04] = [503, 2]  # transient: GDAL retries and succeeds
        cube = load_cube([item])
        assert int(cube.red[0, 30, 10]) == 1002
        assert http.hits[b04] >= 3
    # a new server (GDAL caches what it has read from the first one)
    with servers.range_server(tmp_path) as http:
        (item,) = _served_copy(archive, tmp_path / "x", http, root=tmp_path)
        http.failures[f"data/{item.id}/{item.id}.B04.tif"] = [404, 1000]
        with pytest.raises(RemoteError, match="B04"):
            load_cube([item])


def test_corrupt_cog(archive, tmp_path: Path) -> None:
    with servers.range_server(tmp_path) as http:
        (item,) = _served_copy(archive, tmp_path, http)
        path = tmp_path / "data" / item.id / f"{item.id}.B03.tif"
        path.write_bytes(path.read_bytes()[:300])  # truncated
        with pytest.raises(CorruptRasterError, match="B03"):
            load_cube([item])


def test_planetary_computer_signing_renews_tokens(archive, tmp_path, monkeypatch) -> None:
    from planetary_computer.sas import TOKEN_CACHE
    from planetary_computer.settings import Settings

    # tokens with < 60 s left count as stale: each read must fetch a fresh one
    tokens = servers.TokenServer(ttl=59)
    monkeypatch.setenv("PC_SDK_SAS_URL", tokens.url)
    Settings.get.cache_clear()
    TOKEN_CACHE.clear()
    try:
        with servers.range_server(tmp_path) as http:
            http.require_sas = True
            (item,) = _served_copy(archive, tmp_path, http)
            with pytest.raises(RemoteError):  # unsigned: refused
                load_cube([item])
            signer = PCSigner(hosts=("127.0.0.1",), account="hlsaccount")
            cube = load_cube([item], patch_url=signer)
            assert int(cube.green[0, 30, 10]) == 1001
            assert signer.signed == 7  # every asset signed at read time
            assert tokens.requests["hlsaccount/data"] == 7  # stale tokens were renewed
            tokens.ttl = 3600  # a long-lived token is fetched once and reused
            TOKEN_CACHE.clear()
            tokens.requests.clear()
            load_cube([item], patch_url=PCSigner(hosts=("127.0.0.1",), account="hlsaccount"))
            assert tokens.requests["hlsaccount/data"] == 1
    finally:
        tokens.stop()
        Settings.get.cache_clear()
        TOKEN_CACHE.clear()


def test_earthdata_bearer_token_reaches_gdal(archive, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EARTHDATA_TOKEN", "secret-token")
    # for listed hrefs the token is scoped to NASA's hosts (hlsmap.access.scope_earthdata_token),
    # never a global header; None is a caller's explicit "trust every href of this load"
    assert earthdata_gdal_env(["https://data.lpdaac.earthdatacloud.nasa.gov/x.tif"]) == {}
    assert earthdata_gdal_env(["https://example.org/x.tif"]) == {}
    env = earthdata_gdal_env(None)
    assert env == {"GDAL_HTTP_HEADERS": "Authorization: Bearer secret-token"}
    # (separate servers: GDAL remembers a URL that failed)
    with servers.range_server(tmp_path) as http:
        http.bearer = "secret-token"
        (item,) = _served_copy(archive, tmp_path, http)
        with pytest.raises(RemoteError):
            load_cube([item])
    with servers.range_server(tmp_path) as http:
        http.bearer = "secret-token"
        (item,) = _served_copy(archive, tmp_path, http)
        cube = load_cube([item], gdal_options=earthdata_gdal_env(None))
        assert int(cube.swir22[0, 30, 10]) == 1005


def test_netrc_credentials(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine urs.earthdata.nasa.gov login u password p\n")
    monkeypatch.setenv("NETRC", str(netrc))
    env = earthdata_gdal_env(None)
    assert env["GDAL_HTTP_NETRC"] == "YES" and env["GDAL_HTTP_NETRC_FILE"] == str(netrc)


def test_fixture_granules_are_on_the_hls_grid() -> None:
    assert hf.ULX % 30 == 0 and hf.ULY % 30 == 0


def test_region_across_utm_zones_is_one_crs(tmp_path: Path) -> None:
    import datetime as dt

    from pyproj import Transformer

    when = dt.datetime(2024, 5, 7, 17, 55, tzinfo=dt.UTC)
    # one granule each side of the 108 W zone boundary (zone 12 west, zone 13 east)
    x12, y12 = Transformer.from_crs(4326, 32612, always_xy=True).transform(-108.02, 29.3)
    x13, y13 = Transformer.from_crs(4326, 32613, always_xy=True).transform(-107.999, 29.3)
    west = hf.make_granule(
        tmp_path,
        "L30",
        when,
        tile="12RYS",
        epsg=32612,
        origin=(x12 // 30 * 30, y12 // 30 * 30),
        values=_vals(1111),
    )
    east = hf.make_granule(
        tmp_path,
        "L30",
        when,
        tile="13RBN",
        epsg=32613,
        origin=(x13 // 30 * 30, y13 // 30 * 30),
        values=_vals(2222),
    )
    region = Region.from_bbox((-108.02, 29.29, -107.97, 29.31))
    cube = load_cube([west, east], region=region)
    assert cube.odc.geobox.crs.epsg == 32613  # the zone of the region's centre
    blue = cube.blue.isel(time=0).values
    assert (blue == 1111).any() and (blue == 2222).any()  # both zones reprojected into one grid


def _vals(v: int) -> dict[str, np.ndarray]:
    return {
        b: np.full((64, 64), v, np.int16)
        for b in ("blue", "green", "red", "nir08", "swir16", "swir22", "coastal")
    }
