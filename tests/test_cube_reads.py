"""The direct (paste) reader gives exactly odc-stac's cube, and hands everything else to it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from hlsmap.cube import load_cube
from hlsmap.cube_reads import NotPasteable, paste_window
from hlsmap.errors import ConfigError

import hlsfixtures as hf

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "hls"


def _both(items, **kw) -> tuple[xr.Dataset, xr.Dataset]:
    return load_cube(items, reader="odc", **kw), load_cube(items, reader="auto", **kw)


def test_same_cube_as_odc_stac_over_http(archive) -> None:
    """Fused overlapping S30 granules, fill outside the swath, L30 + S30, served over HTTP."""
    ref, got = _both(archive.items)
    xr.testing.assert_identical(ref, got)
    direct = load_cube(archive.items, reader="direct")
    xr.testing.assert_identical(ref, direct)
    # a grid larger than the granules (fill around them) and one inside them
    geobox = ref.odc.geobox
    padded, inside = (
        _both(archive.local_items, geobox=gb) for gb in (geobox.pad(7), geobox[5:40, 20:90])
    )
    for ref, got in (padded, inside):
        xr.testing.assert_identical(ref, got)
    assert (padded[1].blue.values[:, :7] == -9999).all()  # the pad is fill
    assert (inside[1].blue.values[0] == 1000).any() and (inside[1].blue.values[0] == 2000).any()


def test_bands_only_and_fmask_only(archive) -> None:
    for kw in ({"bands": ()}, {"bands": ("red", "swir22"), "fmask": False}):
        ref, got = _both(archive.local_items, **kw)
        xr.testing.assert_identical(ref, got)


def test_off_grid_requests_go_to_odc_stac(archive) -> None:
    ref = load_cube(archive.local_items, reader="odc")
    gb = ref.odc.geobox
    half = GeoBox(gb.shape, gb.transform * Affine.translation(0.5, 0.5), gb.crs)
    coarse = GeoBox.from_bbox(gb.boundingbox, gb.crs, resolution=60)
    for other in (half, coarse):
        a, b = _both(archive.local_items, geobox=other)
        xr.testing.assert_identical(a, b)
        with pytest.raises(ConfigError, match="not on the output grid"):
            load_cube(archive.local_items, geobox=other, reader="direct")
    # granules declaring another CRS are reprojected by odc-stac
    utm14 = gb.to_crs("EPSG:32614")
    a, b = _both(archive.local_items, geobox=utm14)
    xr.testing.assert_identical(a, b)
    with pytest.raises(ConfigError, match="eagerly"):
        load_cube(archive.local_items, reader="direct", chunks={"x": 32})
    with pytest.raises(ConfigError, match="reader 'fast'"):
        load_cube(archive.local_items, reader="fast")


def test_a_file_that_lies_about_its_grid_falls_back(archive, tmp_path: Path) -> None:
    """Items without projection metadata are checked on opening: a file off the grid sends
    the whole load to odc-stac."""
    when = dt.datetime(2024, 6, 1, 17, 0, tzinfo=dt.UTC)
    on = hf.make_granule(tmp_path, "S30", when)
    off = hf.make_granule(
        tmp_path, "S30", when + dt.timedelta(seconds=3), tile="13RDN",
        origin=(hf.ULX + 30 * 40 + 12, hf.ULY),
    )  # fmt: skip
    for item in (on, off):
        for key in ("proj:epsg", "proj:transform", "proj:shape"):
            item.properties.pop(key)
    gb = GeoBox.from_bbox(
        (hf.ULX, hf.ULY - 30 * 64, hf.ULX + 30 * 100, hf.ULY), "EPSG:32613", resolution=30
    )
    a, b = _both([on, off], geobox=gb)
    xr.testing.assert_identical(a, b)
    with pytest.raises(ConfigError, match="not on the output grid"):
        load_cube([on, off], geobox=gb, reader="direct")


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared HLS fixtures absent")
def test_real_hls_fmask_cog() -> None:
    """A window of NASA's S30 Fmask COG (3660 px, internal tiles): pasted = odc-stac's read."""
    gid = "HLS.S30.T13RCN.2024128T173909.v2.0"
    path = FIXTURES / f"{gid}.Fmask.tif"
    with rasterio.open(path) as src:
        full = GeoBox((src.height, src.width), src.transform, src.crs.to_wkt())
    from odc.geo.geom import Geometry

    footprint = Geometry(full.extent.to_crs("EPSG:4326").geom.__geo_interface__, "EPSG:4326")
    item = pystac.Item(
        gid, footprint.json, list(footprint.boundingbox),
        dt.datetime(2024, 5, 7, 17, 39, 9, tzinfo=dt.UTC), {}, collection="hls2-s30",
    )  # fmt: skip
    item.add_asset("Fmask", pystac.Asset(str(path), media_type=pystac.MediaType.COG))
    inside, corner = (
        _both([item], geobox=gb, bands=())
        for gb in (full[1000:1600, 2500:3100], full[-200:, -300:].pad(50))
    )
    for ref, got in (inside, corner):
        xr.testing.assert_identical(ref, got)
    assert len(np.unique(inside[1].fmask.values)) > 3  # a real mix of Fmask states
    assert (corner[1].fmask.values[:, -50:] == 255).all()  # beyond the granule: fill


def test_paste_window() -> None:
    gb = GeoBox((10, 20), Affine(30, 0, 1000, 0, -30, 5000), "EPSG:32613")
    # a raster 2 columns right and 3 rows down of the grid's corner, 5 x 30 px
    t = Affine(30, 0, 1060, 0, -30, 4910)
    dst, src = paste_window(t, (5, 30), gb)
    assert dst == (slice(3, 8), slice(2, 20)) and src == (slice(0, 5), slice(0, 18))
    # above-left of the grid: the source window starts inside it
    dst, src = paste_window(Affine(30, 0, 940, 0, -30, 5030), (4, 4), gb)
    assert dst == (slice(0, 3), slice(0, 2)) and src == (slice(1, 4), slice(2, 4))
    assert paste_window(Affine(30, 0, 10000, 0, -30, 5000), (4, 4), gb) is None
    with pytest.raises(NotPasteable):
        paste_window(Affine(30, 0, 1015, 0, -30, 5000), (4, 4), gb)
    with pytest.raises(NotPasteable):
        paste_window(Affine(10, 0, 1000, 0, -10, 5000), (4, 4), gb)


def test_relative_hrefs_resolve_against_the_item(archive) -> None:
    """Static catalogs link COGs relative to the item file; both readers resolve them."""
    items = []
    for item in archive.local_items:
        rel = item.clone()
        folder = Path(next(iter(item.assets.values())).href).parent
        rel.set_self_href(str(folder / f"{item.id}.json"))
        for asset in rel.assets.values():
            asset.href = f"./{Path(asset.href).name}"
        items.append(rel)
    ref, got = _both(items)
    xr.testing.assert_identical(ref, got)
    xr.testing.assert_identical(got, load_cube(archive.local_items))


def test_concat_time_is_xarray_concat_then_sortby(archive) -> None:
    """Both sensors of a batch are merged in time order with one copy of the data; lazy or
    differing parts are left to xarray."""
    from hlsmap.cube_reads import concat_time

    cube = load_cube(archive.items)
    assert len(set(cube.sensor.values)) == 2
    # parts whose times interleave: every other time step, then the rest
    parts = [cube.isel(time=slice(0, None, 2)), cube.isel(time=slice(1, None, 2))]
    got = concat_time(parts)
    assert got is not None
    xr.testing.assert_identical(got, xr.concat(parts, dim="time").sortby("time"))
    xr.testing.assert_identical(got, cube)
    assert concat_time([p.chunk() for p in parts]) is None
    assert concat_time([parts[0], parts[1].drop_vars("red")]) is None
    # the lazy route (xarray's concat) gives the same cube
    lazy = load_cube(archive.items, chunks={"x": 64, "y": 64})
    xr.testing.assert_identical(lazy.compute(), cube)
