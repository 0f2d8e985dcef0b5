"""QA decoding on real HLS v2.0 Fmask COGs (with NASA CMR metadata) from shared fixtures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from hlsmap.sensors import get_sensor, qa

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "hls"
GRANULES = {
    "L30": "HLS.L30.T06WVS.2024120T211159.v2.0",
    "S30": "HLS.S30.T13RCN.2024128T173909.v2.0",
}
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared HLS fixtures absent")


def _cmr(granule: str, name: str) -> str:
    root = ET.parse(FIXTURES / f"{granule}.cmr.xml").getroot()
    for attr in root.iter("AdditionalAttribute"):
        if attr.findtext("Name") == name:
            return str(attr.findtext("Values/Value"))
    raise KeyError(name)


@pytest.fixture(scope="module")
def fmasks() -> dict[str, np.ndarray]:
    out = {}
    for sensor, granule in GRANULES.items():
        with rasterio.open(FIXTURES / f"{granule}.Fmask.tif") as ds:
            assert ds.dtypes[0] == "uint8" and ds.nodata == 255
            out[sensor] = get_sensor(sensor).to_fmask(ds.read(1))
    return out


@pytest.mark.parametrize("sensor", ["L30", "S30"])
def test_cloud_cover_matches_nasa_metadata(fmasks: dict[str, np.ndarray], sensor: str) -> None:
    # NASA's CLOUD_COVERAGE is the percentage of cloud (bit 1) or cloud-shadow (bit 3) pixels:
    # decoding the wrong bits (e.g. counting from the MSB) cannot reproduce it.
    fm = fmasks[sensor]
    valid = fm[~qa.is_fill(fm)]
    cloud_or_shadow = np.mean((valid & (qa.CLOUD | qa.SHADOW)) != 0) * 100
    assert round(cloud_or_shadow) == int(_cmr(GRANULES[sensor], "CLOUD_COVERAGE"))
    assert int(_cmr(GRANULES[sensor], "QA_FILLVALUE")) == qa.FMASK_FILL


@pytest.mark.parametrize("sensor", ["L30", "S30"])
def test_fractions_are_sensible(fmasks: dict[str, np.ndarray], sensor: str) -> None:
    fr = qa.fractions(fmasks[sensor])
    assert 0.85 < fr["clear"] < 0.95  # both scenes are ~90% clear
    assert 0.0 < fr["shadow"] < fr["cloud"] < 0.1
    assert fr["fill"] < 0.01  # SPATIAL_COVERAGE = 100
    fm = fmasks[sensor]
    valid = fm[~qa.is_fill(fm)]
    assert not (valid & qa.CIRRUS).any()  # bit 0 is reserved in HLS v2.0
    assert set(np.unique(qa.aerosol_level(valid))) <= {0, 1, 2, 3}


def test_scene_content_matches_geography(fmasks: dict[str, np.ndarray]) -> None:
    # T06WVS: interior Alaska on 29 April (snow, rivers); T13RCN: desert New Mexico in May.
    alaska, desert = qa.fractions(fmasks["L30"]), qa.fractions(fmasks["S30"])
    assert alaska["snow"] > 0.02 and desert["snow"] < 0.001
    assert alaska["water"] > 0.005 and desert["water"] < 0.001


def test_fill_window_maps_to_fill() -> None:
    path = FIXTURES / f"{GRANULES['L30']}.Fmask.tif"
    with rasterio.open(path) as ds:
        raw = ds.read(1, window=Window(2304, 3328, 256, 256))
    out = get_sensor("L30").to_fmask(raw)
    assert (raw == 255).sum() > 1000
    np.testing.assert_array_equal(out == 255, raw == 255)
    np.testing.assert_array_equal(out, raw)  # HLS Fmask passes through unchanged
    assert not qa.clear_mask(out)[raw == 255].any()
