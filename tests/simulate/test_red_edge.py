"""S30's red edge and broad NIR in the synthetic world: spectra, files, STAC, and 10 m reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from scipy import ndimage

from hlsmap.cube import load_cube
from hlsmap.errors import CorruptRasterError, RemoteError
from hlsmap.sensors import BANDS, MSI_BANDS, get_sensor
from hlsmap.simulate import World, WorldConfig
from hlsmap.simulate.atmosphere import FMASK_ADJACENT, FMASK_CLOUD, FMASK_SHADOW, Sky, apply_sky
from hlsmap.simulate.build import Scene, build_scene
from hlsmap.simulate.render import Rendered, render
from hlsmap.simulate.spectra import ALL_BAND_NAMES, ENDMEMBERS

import stacval

MSI_KEYS = {"B05": "rededge071", "B06": "rededge075", "B07": "rededge078", "B08": "nir"}
DW_BANDS = ("blue", "green", "red", "rededge071", "rededge075", "rededge078", "nir", "swir16",
            "swir22")  # fmt: skip
# indices in a rendered (11, y, x) array
RED, NIR08, SWIR1 = 3, 4, 5
RE071, RE075, RE078, NIR = (ALL_BAND_NAMES.index(b) for b in MSI_BANDS)
NOT_CLEAR = FMASK_CLOUD | FMASK_ADJACENT | FMASK_SHADOW


@pytest.fixture(scope="module")
def scene() -> Scene:
    return build_scene(WorldConfig(seed=7, size=128, tiles_per_side=1, red_edge=True))


@pytest.fixture(scope="module")
def rendered(scene: Scene) -> list[Rendered]:
    s30 = [o for o in scene.schedule if o.sensor == "S30"][::3]
    return [render(scene.config, scene.land, scene.events, o) for o in s30]


def _medians(rendered: list[Rendered], code: int, clear: bool = True) -> np.ndarray:
    """Per band, the median over observations of the median reflectance of class ``code``."""
    out = []
    for r in rendered:
        core = ndimage.binary_erosion(r.truth == code, iterations=1)  # no PSF-mixed edges
        if clear:
            core &= (r.fmask != 255) & ((r.fmask & NOT_CLEAR) == 0)
        b = r.bands[:, core].astype(np.float32) / 1e4
        if code in (2, 5):
            b = b[:, (b[NIR08] - b[RED]) / (b[NIR08] + b[RED]) > 0.6]  # leaf-on canopies
        if b.shape[1] >= 5:
            out.append(np.median(b, axis=1))
    assert len(out) >= 5, f"class {code} seen clear in only {len(out)} observations"
    return np.median(np.array(out), axis=0)


def test_msi_names_are_the_sensors_names() -> None:
    assert ALL_BAND_NAMES[7:] == MSI_BANDS
    assert all(len(v) == len(ALL_BAND_NAMES) for v in ENDMEMBERS.values())


@pytest.mark.parametrize("code", [2, 5])  # trees, crops
def test_vegetation_red_edge_rises_from_red_to_nir(rendered: list[Rendered], code: int) -> None:
    m = _medians(rendered, code)
    red, re1, re2, re3, nir08, nir = m[[RED, RE071, RE075, RE078, NIR08, NIR]]
    assert red < re1 < re2 < re3 < nir08
    span = nir08 - red
    assert (re1 - red) / span < 0.3  # B05 low, near red
    assert 0.35 < (re2 - red) / span < 0.8  # B06 mid-slope
    assert re3 / nir08 > 0.85  # B07 close to the NIR plateau
    assert 0.9 < nir / nir08 < 1.0  # broad B08 close to, a little under, narrow B8A


def test_water_dark_snow_bright_bare_and_built_flat(rendered: list[Rendered]) -> None:
    water = _medians(rendered, 1)
    assert (water[[RE071, RE075, RE078, NIR]] < 0.06).all()
    assert water[RE071] > water[RE075] > water[RE078] >= water[NIR08]  # falling into the NIR
    snow = _medians(rendered, 9)
    assert (snow[[RE071, RE075, RE078, NIR]] > 0.35).all()
    assert (snow[[RE071, RE075, RE078, NIR]] > 4 * snow[SWIR1]).all()  # drops in the SWIR
    assert snow[RE071] >= snow[NIR] >= snow[NIR08]
    for code in (7, 8):  # built, bare: a gentle ramp, no red edge
        m = _medians(rendered, code)
        band = m[[RED, RE071, RE075, RE078, NIR, NIR08]]
        assert band.max() / band.min() < 1.8
        assert (m[RE071] - m[RED]) < 0.5 * (m[NIR08] - m[RED]) + 0.03


def test_clouds_bright_shadows_dark_fill_everywhere(scene: Scene, rendered: list[Rendered]) -> None:
    cloud = _medians(rendered, 10, clear=False)
    assert (cloud[[RE071, RE075, RE078, NIR]] > 0.3).all()
    # shadow and cloud act on the MSI bands as on their neighbours
    refl = np.full((11, 2, 2), 0.2, np.float32)
    zero = np.zeros((2, 2), np.float32)
    shade = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)
    alpha = np.array([[0.0, 0.0], [1.0, 0.0]], np.float32)
    apply_sky(refl, Sky(alpha, alpha >= 0.5, shade, shade >= 0.5, zero, 0.25))
    shadowed, clouded = refl[:, 0, 1], refl[:, 1, 0]
    msi = [RE071, RE075, RE078, NIR]
    assert (shadowed[msi] < 0.1).all() and (clouded[msi] > 0.5).all()
    for px in (shadowed, clouded):  # between red and nir08, as their wavelengths are
        msi = px[[RE071, RE075, RE078, NIR]]
        assert (min(px[RED], px[NIR08]) <= msi).all() and (msi <= max(px[RED], px[NIR08])).all()
    np.testing.assert_allclose(refl[:, 0, 0], 0.2)
    # a swath edge across the region (side orbits are Landsat's; S30 rendering is what counts)
    side = [o for o in scene.schedule if o.orbit == "side"][0]
    side = dataclasses.replace(side, sensor="S30", platform="Sentinel-2A")
    r = render(scene.config, scene.land, scene.events, side)
    outside = r.fmask == 255
    assert r.bands.shape[0] == 11 and 0.1 < outside.mean() < 0.9
    assert (r.bands[:, outside] == -9999).all() and (r.bands[:, ~outside] > -9999).all()


def test_red_edge_leaves_the_other_bands_and_fmask_unchanged(scene: Scene) -> None:
    off = dataclasses.replace(scene.config, red_edge=False)
    for obs in [o for o in scene.schedule if o.sensor == "S30"][:3] + scene.schedule[:1]:
        a = render(off, scene.land, scene.events, obs)
        b = render(scene.config, scene.land, scene.events, obs)
        assert a.bands.shape[0] == 7 and b.bands.shape[0] == (11 if obs.sensor == "S30" else 7)
        np.testing.assert_array_equal(a.bands, b.bands[:7])
        np.testing.assert_array_equal(a.fmask, b.fmask)


def test_s30_items_list_the_msi_assets_like_planetary_computer(red_edge_world: World) -> None:
    items = red_edge_world.items()
    s30 = [i for i in items if i.collection_id == "hls2-s30"]
    l30 = [i for i in items if i.collection_id == "hls2-l30"]
    assert s30 and l30
    for item in s30[:3]:
        stacval.validate(item.to_dict())
        for key, band in MSI_KEYS.items():
            asset = item.assets[key]
            assert asset.href.endswith(f"{item.id}.{key}.tif") and Path(asset.href).is_file()
            eo = asset.to_dict()["eo:bands"][0]
            assert eo["name"] == key
            assert eo.get("common_name") == ("nir" if band == "nir" else None)
            assert get_sensor("S30").bands[band].asset == key
        with rasterio.open(item.assets["B06"].href) as src:
            assert src.dtypes[0] == "int16" and src.nodata == -9999
            assert src.scales[0] == pytest.approx(0.0001)
            assert src.tags(1)["long_name"] == "Red_Edge2"
    for item in l30:  # L30 is Landsat: no red edge, and its B05-B07 are NIR and SWIR
        assert set(item.assets) == {"B02", "B03", "B04", "B05", "B06", "B07", "Fmask"}
    colls = {c.id: c for c in red_edge_world.collections()}
    s30_assets = colls["hls2-s30"].to_dict()["item_assets"]
    assert (
        set(MSI_KEYS) <= set(s30_assets) and "B08" not in colls["hls2-l30"].to_dict()["item_assets"]
    )
    stacval.validate(colls["hls2-s30"].to_dict())


def test_default_world_has_no_msi_assets(tiny_world: World) -> None:
    assert tiny_world.config.red_edge is False
    s30 = [i for i in tiny_world.items() if i.collection_id == "hls2-s30"]
    assert s30 and not any(set(MSI_KEYS) & set(i.assets) for i in s30)
    assert (
        WorldConfig.from_dict(
            {k: v for k, v in tiny_world.config.to_dict().items() if k != "red_edge"}
        )
        == tiny_world.config
    )  # manifests written before the option still open


def _full_s30(world: World) -> pystac.Item:
    """An S30 granule that covers the whole world (one tile, not a side orbit)."""
    obs = world.observations
    full = {o["granules"][0] for o in obs if o["sensor"] == "S30" and o["coverage"] == 1.0}
    return next(i for i in world.items() if i.id in full)


def test_default_cube_reads_only_the_six_bands(red_edge_world: World) -> None:
    item = _full_s30(red_edge_world)
    for key in MSI_KEYS:  # the MSI files now point nowhere: reading one would fail
        item.assets[key].href = str(red_edge_world.root / "missing" / f"{key}.tif")
    cube = load_cube([item], geobox=red_edge_world.geobox)
    assert list(cube.data_vars) == [*BANDS, "fmask"]
    with pytest.raises((CorruptRasterError, RemoteError)):
        load_cube([item], geobox=red_edge_world.geobox, bands=("nir",))


def test_10m_cube_bilinear_reflectance_nearest_fmask(red_edge_world: World) -> None:
    item = _full_s30(red_edge_world)
    g30 = red_edge_world.geobox[8:40, 8:40]
    g10 = GeoBox.from_bbox(g30.boundingbox, g30.crs, resolution=10)
    assert g10.shape == (96, 96)
    cube = load_cube([item], geobox=g10, bands=DW_BANDS, resampling="bilinear")
    near = load_cube([item], geobox=g10, bands=DW_BANDS)
    assert list(cube.data_vars) == [*DW_BANDS, "fmask"] and cube.sizes["time"] == 1
    src30 = load_cube([item], geobox=red_edge_world.geobox[7:41, 7:41], bands=DW_BANDS)
    for band in DW_BANDS:
        hi, lo = cube[band].values[0].astype(int), near[band].values[0].astype(int)
        s = src30[band].values[0].astype(int)  # 30 m, one pixel of margin around g30
        # nearest repeats each 30 m pixel 3x3; bilinear makes values between neighbours
        np.testing.assert_array_equal(lo, np.kron(s[1:-1, 1:-1], np.ones((3, 3), int)))
        assert (hi != lo).mean() > 0.5
        np.testing.assert_array_equal(hi[1::3, 1::3], s[1:-1, 1:-1])  # the centres coincide
        for y in range(96):
            # a 10 m pixel lies between the 2x2 30 m pixels whose centres surround its centre
            # (at (y + 0.5) / 3 + 1 in 30 m pixels of ``s``)
            i = int(np.floor((y + 0.5) / 3 + 0.5))
            for x in range(0, 96, 7):
                j = int(np.floor((x + 0.5) / 3 + 0.5))
                block = s[i : i + 2, j : j + 2]
                assert block.min() - 1 <= hi[y, x] <= block.max() + 1, (band, y, x)
    fm10, fm30 = cube["fmask"].values[0], src30["fmask"].values[0][1:-1, 1:-1]
    np.testing.assert_array_equal(fm10, np.kron(fm30, np.ones((3, 3), np.uint8)))
    assert set(np.unique(fm10)) <= set(np.unique(fm30))
