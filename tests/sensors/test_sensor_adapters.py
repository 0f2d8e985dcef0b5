"""Built-in adapters: band maps against Planetary Computer's collections, scaling, platforms."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from hlsmap.errors import ConfigError
from hlsmap.sensors import BANDS, MSI_BANDS, OPTIONAL_BANDS, SensorAdapter, get_sensor
from hlsmap.sensors.sentinel2 import boa_offset

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "hls"
# STAC 1.1 eo common names of the red edge bands: centre wavelength range, nm
RED_EDGE_NM = {"rededge071": (700, 720), "rededge075": (740, 760), "rededge078": (770, 790)}


@pytest.mark.parametrize("name", ["L30", "S30", "S2L2A", "LC2L2"])
def test_contract(name: str) -> None:
    a = get_sensor(name)
    assert isinstance(a, SensorAdapter) and a.name == name
    assert set(BANDS) <= set(a.bands) <= set(BANDS + OPTIONAL_BANDS)
    assert "pc" in a.collections and a.resolution > 0 and a.title
    cfg = a.odc_stac_config()
    assert set(cfg) == set(a.collections.values())
    for entry in cfg.values():
        for band, spec in a.bands.items():
            assert entry["assets"][spec.asset] == {
                "data_type": spec.dtype,
                "nodata": spec.nodata,
                "unit": "1",
            }
            assert entry["aliases"].get(band, band) == spec.asset
        assert entry["assets"][a.qa.asset]["nodata"] == a.qa.nodata
        assert entry["aliases"]["fmask"] == a.qa.asset


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared HLS fixtures absent")
@pytest.mark.parametrize("name,collection", [("L30", "hls2-l30"), ("S30", "hls2-s30")])
def test_hls_assets_match_planetary_computer(name: str, collection: str) -> None:
    doc = json.loads((FIXTURES / f"pc-{collection}-collection.json").read_text())
    assert doc["id"] == collection
    item_assets = doc["item_assets"]
    a = get_sensor(name)
    assert a.collections == {"pc": collection, "nasa": f"HLS{name}_2.0"}
    assert a.qa.asset in item_assets
    for band, spec in a.bands.items():
        eo = item_assets[spec.asset]["eo:bands"][0]
        assert eo["name"] == spec.asset
        if band == "nir08":
            # PC tags L30 B05 "nir" and S30 B8A not at all; S30's "nir" is broad B08.
            assert 0.85 < eo["center_wavelength"] < 0.88
            assert eo.get("common_name") in (None, "nir")
        elif band in RED_EDGE_NM:
            # PC gives the red edge bands no common name; STAC 1.1's names say where they lie
            lo, hi = RED_EDGE_NM[band]
            assert "common_name" not in eo and lo < 1000 * eo["center_wavelength"] < hi
        else:
            assert eo["common_name"] == band
    assert doc["summaries"]["gsd"] == [a.resolution]
    if name == "S30":  # every MSI band Dynamic World reads, broad NIR included
        assert set(MSI_BANDS) <= set(a.bands)
        assert item_assets[a.bands["nir"].asset]["title"] == "NIR Broad"
        assert item_assets[a.bands["nir08"].asset]["title"] == "NIR Narrow"
    else:  # PC's L30 B05-B07 are NIR and SWIR: no red edge, no broad NIR to map
        assert not set(MSI_BANDS) & set(a.bands)


def test_s30_nir08_is_b8a_not_b08() -> None:
    assert get_sensor("S30").bands["nir08"].asset == "B8A"
    assert get_sensor("S2L2A").bands["nir08"].asset == "B8A"
    assert get_sensor("L30").bands["nir08"].asset == "B05"


def test_hls_harmonize_is_identity_beyond_fill() -> None:
    raw = np.array([[-9999, 0, 1234], [-100, 16000, 32767]], dtype=np.int16)
    for name in ("L30", "S30"):
        out = get_sensor(name).harmonize("red", raw, {})
        assert out.dtype == np.int16
        np.testing.assert_array_equal(out, raw)
        assert out is raw  # stored HLS int16 is the result: no pass over the data
    out = get_sensor("L30").harmonize("red", np.array([np.nan, 12.0]), {})
    assert out.tolist() == [-9999, 12]


@pytest.mark.parametrize(
    "props,offset",
    [
        ({"s2:processing_baseline": "05.11"}, -1000),
        ({"s2:processing_baseline": "04.00"}, -1000),
        ({"s2:processing_baseline": "03.01"}, 0),
        ({"s2:processing_baseline": "02.14"}, 0),
        ({"s2:product_uri": "S2B_MSIL2A_20240507T173909_N0510_R098_T13RCN_2024.SAFE"}, -1000),
        ({"s2:product_uri": "S2A_MSIL2A_20210507T173909_N0300_R098_T13RCN_2021.SAFE"}, 0),
    ],
)
def test_s2_boa_offset_by_baseline(props: dict[str, str], offset: int) -> None:
    assert boa_offset(props) == offset
    raw = np.array([0, 1, 1000, 2500, 65535], dtype=np.uint16)
    out = get_sensor("S2L2A").harmonize("nir08", raw, props)
    assert out.dtype == np.int16
    assert out[0] == -9999  # DN 0 is no data
    assert out[1:4].tolist() == [1 + offset, 1000 + offset, 2500 + offset]
    assert out[4] == 32767  # clipped to int16, not wrapped


def test_s2_offset_from_date_warns_and_missing_everything_raises() -> None:
    with pytest.warns(UserWarning, match="processing_baseline"):
        assert boa_offset({"datetime": "2023-06-01T10:00:00Z"}) == -1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert boa_offset({"datetime": "2021-06-01T10:00:00Z"}) == 0
    with pytest.raises(ConfigError, match="processing baseline"):
        boa_offset({})


def test_landsat_scale_offset_to_hls() -> None:
    # reflectance = DN * 0.0000275 - 0.2  ->  HLS int16 = round(DN * 0.275 - 2000)
    raw = np.array([0, 1, 7273, 10000, 43636, 65535], dtype=np.uint16)
    out = get_sensor("LC2L2").harmonize("swir16", raw, {})
    assert out.dtype == np.int16
    assert out.tolist() == [-9999, -2000, 0, 750, 10000, 16022]
    refl = (raw[1:].astype(float) * 0.0000275 - 0.2) / 0.0001
    assert np.abs(out[1:] - refl).max() <= 0.5


def test_harmonize_stays_lazy_on_dask() -> None:
    raw = da.from_array(np.array([0, 7273, 10000], dtype=np.uint16), chunks=2)
    out = get_sensor("LC2L2").harmonize("red", raw, {})
    assert isinstance(out, da.Array)
    assert out.compute().tolist() == [-9999, 0, 750]
    s2 = get_sensor("S2L2A").harmonize("red", raw, {"s2:processing_baseline": "05.00"})
    assert isinstance(s2, da.Array) and s2.dtype == np.int16
    assert s2.compute().tolist() == [-9999, 6273, 9000]


def test_unknown_band() -> None:
    # L30 (OLI) has no broad NIR or red edge: asking for one names what L30 has
    for band in MSI_BANDS:
        with pytest.raises(ConfigError, match=f"sensor L30 has no band '{band}'.*blue"):
            get_sensor("L30").harmonize(band, np.zeros(1, np.int16), {})
    with pytest.raises(ConfigError, match="no band 'rededge'"):
        get_sensor("S30").harmonize("rededge", np.zeros(1, np.int16), {})


@pytest.mark.parametrize(
    "name,item,expected",
    [
        ("L30", {"properties": {"platform": "Landsat 9"}}, "Landsat 9"),
        ("L30", {"properties": {"platform": "LANDSAT-8"}}, "Landsat 8"),  # NASA CMR-STAC
        ("L30", {"properties": {}}, "Landsat"),
        ("S30", {"properties": {"platform": ["sentinel-2b"]}}, "Sentinel-2B"),
        ("S30", {"properties": {"platform": "Sentinel-2C"}}, "Sentinel-2C"),
        (
            "S2L2A",
            {"id": "S2A_MSIL2A_20240507T173909_R098_T13RCN", "properties": {}},
            "Sentinel-2A",
        ),
        ("LC2L2", {"properties": {"platform": "landsat-9"}}, "Landsat 9"),
        ("LC2L2", {"id": "LE07_L2SP_069014_20200429_02_T1", "properties": {}}, "Landsat 7"),
    ],
)
def test_platform(name: str, item: dict[str, object], expected: str) -> None:
    assert get_sensor(name).platform(item) == expected


def test_platform_from_pystac_item() -> None:
    import datetime as dt

    import pystac

    item = pystac.Item("x", None, None, dt.datetime(2024, 1, 1), {"platform": "sentinel-2a"})
    assert get_sensor("S30").platform(item) == "Sentinel-2A"
