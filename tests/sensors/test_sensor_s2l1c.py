"""The Sentinel-2 L1C adapter (Earth Search v1 ``sentinel-2-l1c``): asset keys, the -1000 offset
from processing baseline 04.00, the no-data-only Fmask, and 10 m reads through the cube, on
generated items."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from odc.geo.geom import box
from rasterio.transform import from_origin

from hlsmap.cube import load_cube
from hlsmap.sensors import get_sensor, sensor_for_collection

DW_BANDS = ("blue", "green", "red", "rededge071", "rededge075", "rededge078", "nir", "swir16",
            "swir22")  # fmt: skip
EPSG = 32613
ULX, ULY = 300000.0, 3300000.0
TEN_M = ("blue", "green", "red", "nir")


def _cog(path: Path, data: np.ndarray, res: float) -> None:
    with rasterio.open(
        path, "w", driver="COG", width=data.shape[1], height=data.shape[0], count=1,
        dtype=data.dtype, crs=f"EPSG:{EPSG}", transform=from_origin(ULX, ULY, res, res), nodata=0,
    ) as dst:  # fmt: skip
        dst.write(data, 1)


def _l1c_item(tmp: Path, baseline: str) -> pystac.Item:
    """A 640 m L1C item: 10 m and 20 m bands, and a 60 m cirrus band whose right third is fill."""
    geom = box(ULX, ULY - 640, ULX + 640, ULY, f"EPSG:{EPSG}").to_crs("EPSG:4326")
    item = pystac.Item(
        f"S2A_13RCN_20240507_0_L1C_{baseline}", geom.json, list(geom.boundingbox),
        dt.datetime(2024, 5, 7, 17, 39, tzinfo=dt.UTC),
        {"s2:processing_baseline": baseline, "platform": "sentinel-2a"},
        collection="sentinel-2-l1c",
    )  # fmt: skip
    for i, spec in enumerate(get_sensor("S2L1C").bands.values()):
        ten = spec.asset in TEN_M
        n = 64 if ten else 32
        _cog(tmp / f"{spec.asset}.tif", np.full((n, n), 2000 + 100 * i, np.uint16),
             10.0 if ten else 20.0)  # fmt: skip
        item.add_asset(spec.asset, pystac.Asset(str(tmp / f"{spec.asset}.tif")))
    cirrus = np.full((12, 12), 1100, np.uint16)
    cirrus[:, 8:] = 0  # outside the swath
    _cog(tmp / "cirrus.tif", cirrus, 60.0)
    item.add_asset("cirrus", pystac.Asset(str(tmp / "cirrus.tif")))
    return item


def test_l1c_is_registered_with_earth_search_asset_keys() -> None:
    a = get_sensor("S2L1C")
    assert sensor_for_collection("sentinel-2-l1c").name == "S2L1C"
    assets = {b: a.bands[b].asset for b in DW_BANDS}
    assert assets == {"blue": "blue", "green": "green", "red": "red", "rededge071": "rededge1",
                      "rededge075": "rededge2", "rededge078": "rededge3", "nir": "nir",
                      "swir16": "swir16", "swir22": "swir22"}  # fmt: skip
    assert a.bands["nir08"].asset == "nir08"  # B8A, never the broad B08
    from hlsmap.inference.contract import sensor_gaps

    assert sensor_gaps(DW_BANDS, ["S2L1C"]) == {}  # Dynamic World can read it


@pytest.mark.parametrize(
    "props,offset",
    [({"s2:processing_baseline": "04.00"}, -1000), ({"s2:processing_baseline": "05.11"}, -1000),
     ({"s2:processing_baseline": "02.14"}, 0)],
)  # fmt: skip
def test_l1c_offset_from_baseline_04_00_on_every_band(props: dict[str, str], offset: int) -> None:
    a = get_sensor("S2L1C")
    dn = np.array([0, 2500 - offset], dtype=np.uint16)  # TOA reflectance 0.25
    for band in a.bands:
        assert a.harmonize(band, dn, props).tolist() == [-9999, 2500], band


@pytest.mark.parametrize("baseline,offset", [("05.10", -1000), ("03.01", 0)])
def test_l1c_dynamic_world_bands_on_a_10m_grid(tmp_path: Path, baseline: str, offset: int) -> None:
    item = _l1c_item(tmp_path, baseline)
    geobox = GeoBox.from_bbox((ULX, ULY - 640, ULX + 640, ULY), f"EPSG:{EPSG}", resolution=10)
    cube = load_cube([item], geobox=geobox, bands=DW_BANDS, resampling="bilinear")
    assert list(cube.data_vars) == [*DW_BANDS, "fmask"]
    assert str(cube["sensor"].values[0]) == "S2L1C"
    names = list(get_sensor("S2L1C").bands)
    for band in DW_BANDS:
        values = cube[band].values[0]
        assert (values == 2000 + 100 * names.index(band) + offset).all(), band
    fm = cube["fmask"].values[0]
    # no cloud mask: clear wherever the 60 m cirrus band has data, fill where it has none
    assert (fm[:, :40] == 0).all() and (fm[:, 56:] == 255).all()
