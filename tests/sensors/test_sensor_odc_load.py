"""odc-stac reads tiny COGs with each adapter's stac_cfg, then harmonize/to_fmask finish the job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from odc.stac import load
from rasterio.transform import from_origin

from hlsmap.sensors import BANDS, get_sensor

EPSG = 32613
ULX, ULY = 300000.0, 3300000.0
SHAPE = (64, 64)


def _cog(path: Path, data: np.ndarray, nodata: float) -> None:
    with rasterio.open(
        path, "w", driver="COG", width=SHAPE[1], height=SHAPE[0], count=1, dtype=data.dtype,
        crs=f"EPSG:{EPSG}", transform=from_origin(ULX, ULY, 30, 30), nodata=nodata,
    ) as dst:  # fmt: skip
        dst.write(data, 1)


def _item(
    tmp: Path, collection: str, item_id: str, assets: dict[str, tuple[np.ndarray, float, dict]],
    props: dict,
) -> pystac.Item:  # fmt: skip
    bbox = [-106.1, 29.7, -105.4, 29.9]
    item = pystac.Item(item_id, None, bbox, dt.datetime(2024, 5, 7, tzinfo=dt.UTC), props,
                       collection=collection)  # fmt: skip
    item.stac_extensions.append("https://stac-extensions.github.io/projection/v1.1.0/schema.json")
    for key, (data, nodata, extra) in assets.items():
        path = tmp / f"{item_id}.{key}.tif"
        _cog(path, data, nodata)
        item.add_asset(key, pystac.Asset(
            str(path), media_type=pystac.MediaType.COG, roles=["data"],
            extra_fields={"proj:epsg": EPSG, "proj:shape": list(SHAPE),
                          "proj:transform": [30.0, 0.0, ULX, 0.0, -30.0, ULY], **extra},
        ))  # fmt: skip
    return item


def _load(items: list[pystac.Item], name: str):  # type: ignore[no-untyped-def]
    return load(
        items, bands=[*BANDS, "fmask"], stac_cfg=get_sensor(name).odc_stac_config(),
        crs=f"EPSG:{EPSG}", resolution=30, groupby="solar_day",
    )  # fmt: skip


def test_s30_loads_b8a_as_nir08_not_b08(tmp_path: Path) -> None:
    a = get_sensor("S30")
    assets = {}
    for i, (band, spec) in enumerate(a.bands.items()):
        data = np.full(SHAPE, 100 * (i + 1), np.int16)
        data[:, :8] = -9999
        eo = {"name": spec.asset} | ({} if band == "nir08" else {"common_name": band})
        assets[spec.asset] = (data, -9999, {"eo:bands": [eo]})
    # the broad NIR band PC tags "nir": a loader that picks NIR by common_name gets 7777
    assets["B08"] = (np.full(SHAPE, 7777, np.int16), -9999,
                     {"eo:bands": [{"name": "B08", "common_name": "nir"}]})  # fmt: skip
    fmask = np.full(SHAPE, 64, np.uint8)
    fmask[:4] = 2  # cloud rows
    fmask[:, :8] = 255
    assets["Fmask"] = (fmask, 255, {"eo:bands": [{"name": "Fmask"}]})
    item = _item(tmp_path, "hls2-s30", "HLS.S30.T13RCN.2024128T173909.v2.0", assets,
                 {"platform": "Sentinel-2B"})  # fmt: skip
    ds = _load([item], "S30")
    assert ds.odc.geobox.resolution.x == 30 and ds.sizes["x"] == 64 and ds.sizes["y"] == 64
    nir = a.harmonize("nir08", ds["nir08"].values[0], item.properties)
    assert nir.dtype == np.int16
    assert (nir[:, 8:] == 500).all() and (nir[:, :8] == -9999).all()  # B8A is the 5th band
    assert ds["red"].dtype == np.int16 and int(ds["red"].values[0, 0, 20]) == 400
    fm = a.to_fmask(ds["fmask"].values[0])
    assert fm.dtype == np.uint8
    assert (fm[:, :8] == 255).all() and (fm[:4, 8:] == 2).all() and (fm[4:, 8:] == 64).all()
    assert a.platform(item) == "Sentinel-2B"


@pytest.mark.parametrize("baseline,expected", [("05.10", 1500), ("03.00", 2500)])
def test_sentinel2_l2a_load(tmp_path: Path, baseline: str, expected: int) -> None:
    a = get_sensor("S2L2A")
    assets = {spec.asset: (np.full(SHAPE, 2500, np.uint16), 0, {}) for spec in a.bands.values()}
    scl = np.full(SHAPE, 4, np.uint8)
    scl[:2] = 9
    scl[-2:] = 0
    assets["SCL"] = (scl, 0, {})
    item = _item(tmp_path, "sentinel-2-l2a", f"S2B_MSIL2A_{baseline}", assets,
                 {"s2:processing_baseline": baseline})  # fmt: skip
    ds = _load([item], "S2L2A")
    assert ds["blue"].dtype == np.uint16
    blue = a.harmonize("blue", ds["blue"].values[0], item.properties)
    assert (blue == expected).all()
    fm = a.to_fmask(ds["fmask"].values[0])
    assert (fm[:2] == 2).all() and (fm[-2:] == 255).all() and (fm[2:-2] == 0).all()


def test_landsat_c2_l2_load(tmp_path: Path) -> None:
    a = get_sensor("LC2L2")
    assets = {spec.asset: (np.full(SHAPE, 10000, np.uint16), 0, {}) for spec in a.bands.values()}
    qa_pixel = np.full(SHAPE, 21824, np.uint16)  # clear land
    qa_pixel[:3] = 22280  # high-confidence cloud
    qa_pixel[-3:] = 1  # fill
    assets["qa_pixel"] = (qa_pixel, 1, {})
    item = _item(tmp_path, "landsat-c2-l2", "LC09_L2SP_033040_20240507_02_T1", assets,
                 {"platform": "landsat-9"})  # fmt: skip
    ds = _load([item], "LC2L2")
    swir = a.harmonize("swir22", ds["swir22"].values[0], item.properties)
    assert (swir == 750).all()  # 10000 * 0.0000275 - 0.2 = 0.075
    fm = a.to_fmask(ds["fmask"].values[0])
    assert (fm[:3] == 2).all() and (fm[-3:] == 255).all() and (fm[3:-3] == 0).all()
    assert a.platform(item) == "Landsat 9"
