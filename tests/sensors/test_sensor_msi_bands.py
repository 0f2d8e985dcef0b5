"""Sentinel-2 MSI's extra bands (red edge, broad NIR): band maps, input scaling, 10 m reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin

from hlsmap.cube import load_cube
from hlsmap.errors import ConfigError, MissingAssetError
from hlsmap.sensors import BANDS, HLS_SCALE, MSI_BANDS, OPTIONAL_BANDS, describe_sensors, get_sensor

# Dynamic World's inputs, in hlsmap names (S2 B2 B3 B4 B5 B6 B7 B8 B11 B12)
DW_BANDS = ("blue", "green", "red", "rededge071", "rededge075", "rededge078", "nir", "swir16",
            "swir22")  # fmt: skip
MSI_ASSETS = {"rededge071": "B05", "rededge075": "B06", "rededge078": "B07", "nir": "B08"}
EPSG = 32613
ULX, ULY = 300000.0, 3300000.0


def test_msi_bands_are_optional_and_not_in_the_default_set() -> None:
    assert MSI_BANDS == tuple(MSI_ASSETS)
    assert set(MSI_BANDS) <= set(OPTIONAL_BANDS) and not set(MSI_BANDS) & set(BANDS)
    assert len(set(BANDS + OPTIONAL_BANDS)) == len(BANDS + OPTIONAL_BANDS)


@pytest.mark.parametrize("name", ["S30", "S2L2A"])
def test_msi_sensors_map_every_dynamic_world_band(name: str) -> None:
    a = get_sensor(name)
    assert set(DW_BANDS) <= set(a.bands)
    assert {b: a.bands[b].asset for b in MSI_BANDS} == MSI_ASSETS
    assert a.bands["nir08"].asset == "B8A" and a.bands["nir"].asset == "B08"  # never swapped
    cfg = next(iter(a.odc_stac_config().values()))
    for band, asset in MSI_ASSETS.items():
        assert cfg["aliases"][band] == asset
        spec = a.bands[band]
        assert cfg["assets"][asset] == {"data_type": spec.dtype, "nodata": spec.nodata, "unit": "1"}


@pytest.mark.parametrize("name", ["L30", "LC2L2"])
def test_landsat_offers_no_msi_band(name: str) -> None:
    a = get_sensor(name)
    assert not set(MSI_BANDS) & set(a.bands)
    cfg = next(iter(a.odc_stac_config().values()))
    assert not set(MSI_BANDS) & set(cfg["aliases"])  # L30's "nir"-tagged B05 is no alias


def test_sensors_registry_summary_lists_the_msi_bands() -> None:
    rows = {row["name"]: row for row in describe_sensors()}
    assert {b: rows["S30"]["bands"][b] for b in MSI_BANDS} == MSI_ASSETS
    assert {b: rows["S2L2A"]["bands"][b] for b in MSI_BANDS} == MSI_ASSETS
    assert not set(MSI_BANDS) & set(rows["L30"]["bands"])


def test_hls_values_are_the_dn_dynamic_world_takes() -> None:
    # HLS stores surface reflectance / 0.0001: reflectance 0.2345 is stored (and fed) as 2345
    refl = np.array([0.0123, 0.2345, 0.4567, 1.2])
    stored = np.rint(refl / HLS_SCALE).astype(np.int16)
    s30 = get_sensor("S30")
    for band in DW_BANDS:
        out = s30.harmonize(band, stored, {})
        assert out.dtype == np.int16 and out.tolist() == [123, 2345, 4567, 12000]
        np.testing.assert_allclose(out * s30.bands[band].scale, refl)


@pytest.mark.parametrize(
    "props,offset",
    [
        ({"s2:processing_baseline": "05.10"}, -1000),
        ({"s2:processing_baseline": "04.00"}, -1000),
        ({"s2:processing_baseline": "03.01"}, 0),
        ({"s2:product_uri": "S2B_MSIL2A_20240507T173909_N0510_R098_T13RCN_2024.SAFE"}, -1000),
    ],
)
def test_s2_boa_offset_applies_to_every_reflectance_band(
    props: dict[str, str], offset: int
) -> None:
    # the same surface (reflectance 0.25) in every band: from baseline 04.00 the DN is 3500
    a = get_sensor("S2L2A")
    dn = np.array([0, 2500 - offset], dtype=np.uint16)
    for band in a.bands:
        out = a.harmonize(band, dn, props)
        assert out.tolist() == [-9999, 2500], band


def _cog(path: Path, data: np.ndarray, res: float, nodata: float) -> None:
    with rasterio.open(
        path, "w", driver="COG", width=data.shape[1], height=data.shape[0], count=1,
        dtype=data.dtype, crs=f"EPSG:{EPSG}", transform=from_origin(ULX, ULY, res, res),
        nodata=nodata,
    ) as dst:  # fmt: skip
        dst.write(data, 1)


def _footprint(size_m: float) -> tuple[dict[str, object], list[float]]:
    """GeoJSON polygon and bbox (EPSG:4326) of the ``size_m`` square at (ULX, ULY)."""
    from odc.geo.geom import box

    geom = box(ULX, ULY - size_m, ULX + size_m, ULY, f"EPSG:{EPSG}").to_crs("EPSG:4326")
    return geom.json, list(geom.boundingbox)


def _s2_item(tmp: Path, baseline: str) -> pystac.Item:
    """A 640 m Sentinel-2 L2A item: 10 m bands, 20 m bands (red edge, B8A, SWIR) and SCL."""
    geometry, bbox = _footprint(640)
    item = pystac.Item(
        f"S2B_MSIL2A_20240507T173909_N{baseline.replace('.', '')}_R098_T13RCN", geometry, bbox,
        dt.datetime(2024, 5, 7, 17, 39, tzinfo=dt.UTC), {"s2:processing_baseline": baseline},
        collection="sentinel-2-l2a",
    )  # fmt: skip
    a = get_sensor("S2L2A")
    cols20 = np.arange(32)[None, :].repeat(32, 0)
    for i, spec in enumerate(a.bands.values()):
        if spec.asset in ("B02", "B03", "B04", "B08"):
            res, data = 10.0, np.full((64, 64), 1000 + 100 * i, np.uint16)
        else:  # a ramp along x at 20 m: bilinear reads fall between neighbours
            res, data = 20.0, (2000 + 100 * i + 10 * cols20).astype(np.uint16)
        _cog(tmp / f"{spec.asset}.tif", data, res, 0)
        item.add_asset(spec.asset, pystac.Asset(str(tmp / f"{spec.asset}.tif")))
    scl = np.where((np.indices((32, 32)).sum(0) % 2) == 0, 4, 8).astype(np.uint8)  # veg/cloud
    _cog(tmp / "SCL.tif", scl, 20.0, 0)
    item.add_asset("SCL", pystac.Asset(str(tmp / "SCL.tif")))
    return item


@pytest.mark.parametrize("baseline,offset", [("05.10", -1000), ("03.00", 0)])
def test_s2l2a_dynamic_world_bands_on_a_10m_grid(
    tmp_path: Path, baseline: str, offset: int
) -> None:
    item = _s2_item(tmp_path, baseline)
    geobox = GeoBox.from_bbox((ULX, ULY - 640, ULX + 640, ULY), f"EPSG:{EPSG}", resolution=10)
    cube = load_cube([item], geobox=geobox, bands=DW_BANDS, resampling="bilinear")
    assert list(cube.data_vars) == [*DW_BANDS, "fmask"]
    a = get_sensor("S2L2A")
    i_nir = list(a.bands).index("nir")
    nir = cube["nir"].values[0]  # 10 m B08, read as is: not B8A
    assert (nir == 1000 + 100 * i_nir + offset).all()
    i_re = list(a.bands).index("rededge075")
    row = cube["rededge075"].values[0, 20].astype(int) - offset - 2000 - 100 * i_re
    # 20 m ramp of 10 DN per pixel read at 10 m: 5 DN steps in the interior, i.e. values
    # between the 20 m neighbours that nearest neighbour would never make
    steps = np.diff(row[2:-2])
    assert set(np.unique(steps)) <= {4, 5, 6} and (row % 10 != 0).any()
    # SCL is categorical: vegetation (4) / cloud (8) neighbours never blend into water (6)
    fm = cube["fmask"].values[0]
    assert set(np.unique(fm)) == {0, 2}


def test_l30_asked_for_msi_bands_is_a_clean_error(tmp_path: Path) -> None:
    geometry, bbox = _footprint(300)
    when = dt.datetime(2024, 5, 7, tzinfo=dt.UTC)
    item = pystac.Item("HLS.L30.T13RCN.2024128T173909.v2.0", geometry, bbox, when, {},
                       collection="hls2-l30")  # fmt: skip
    geobox = GeoBox.from_bbox((ULX, ULY - 300, ULX + 300, ULY), f"EPSG:{EPSG}", resolution=30)
    with pytest.raises(MissingAssetError, match="L30 has no band nir, rededge071; it offers"):
        load_cube([item], geobox=geobox, bands=("red", "nir", "rededge071"))


def test_unknown_resampling_is_a_config_error(tmp_path: Path) -> None:
    item = _s2_item(tmp_path, "05.10")
    geobox = GeoBox.from_bbox((ULX, ULY - 640, ULX + 640, ULY), f"EPSG:{EPSG}", resolution=10)
    with pytest.raises(ConfigError, match="resampling 'linear' unknown; use one of.*bilinear"):
        load_cube([item], geobox=geobox, resampling="linear")
