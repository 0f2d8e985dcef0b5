"""QA translation into HLS v2.0 Fmask bits, on hand-made arrays covering every code and bit."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from hlsmap.errors import ConfigError
from hlsmap.sensors import qa


def test_fmask_bit_positions_match_hls_v2() -> None:
    # HLS v2.0 user guide / the "Fmask description" tag: LSB first.
    assert (qa.CIRRUS, qa.CLOUD, qa.ADJACENT, qa.SHADOW, qa.SNOW, qa.WATER) == (1, 2, 4, 8, 16, 32)
    assert qa.AEROSOL_MASK == 0b1100_0000
    assert qa.MASKED == 0b1110


def test_scl_every_code() -> None:
    scl = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = qa.scl_to_fmask(scl)
    assert out.dtype == np.uint8 and out.shape == scl.shape
    flat = out.ravel()
    expected = {
        0: 255,  # no data
        1: 255,  # saturated / defective
        2: 0,  # dark area: not cloud shadow
        3: qa.SHADOW,
        4: 0,
        5: 0,
        6: qa.WATER,
        7: 0,
        8: qa.CLOUD,
        9: qa.CLOUD,
        10: qa.CLOUD | qa.CIRRUS,
        11: qa.SNOW,
    }
    for code, bits in expected.items():
        assert flat[code] == bits, code
    assert (flat[12:] == 255).all()  # codes SCL never uses are fill, not "clear"
    clear = qa.clear_mask(out).ravel()
    assert set(np.flatnonzero(clear)) == {2, 4, 5, 6, 7, 11}


def test_qa_pixel_every_bit() -> None:
    bits = np.array([1 << b for b in range(16)], dtype=np.uint16)
    out = qa.qa_pixel_to_fmask(bits)
    expected = [
        255,  # 0 fill
        qa.ADJACENT,  # 1 dilated cloud
        qa.CLOUD | qa.CIRRUS,  # 2 cirrus
        qa.CLOUD,  # 3 cloud
        qa.SHADOW,  # 4 cloud shadow
        qa.SNOW,  # 5 snow
        0,  # 6 clear
        qa.WATER,  # 7 water
    ] + [0] * 8  # 8-15 confidence pairs carry no Fmask bit
    assert out.tolist() == expected


def test_qa_pixel_typical_landsat_values() -> None:
    # Real Landsat 8 C2 QA_PIXEL values: clear land, water, high-confidence cloud, fill.
    values = np.array([21824, 21952, 22280, 1, 23888, 30048, 55052], dtype=np.uint16)
    out = qa.qa_pixel_to_fmask(values)
    assert out[0] == 0
    assert out[1] == qa.WATER
    assert out[2] == qa.CLOUD
    assert out[3] == 255
    assert out[4] == qa.SHADOW
    assert out[5] == qa.SNOW
    assert out[6] & qa.CLOUD and out[6] & qa.CIRRUS
    # fill wins over anything else set alongside it
    assert qa.qa_pixel_to_fmask(np.array([1 | 8 | 128], np.uint16)).tolist() == [255]


def test_fmask_passthrough_and_fill() -> None:
    raw = np.array([[0, 2, 64, 255], [194, 8, 16, 32]], dtype=np.uint8)
    out = qa.translate("fmask", raw, nodata=255)
    np.testing.assert_array_equal(out, raw)
    floats = np.array([np.nan, 2.0, 300.0, -1.0])
    assert qa.translate("fmask", floats, nodata=255).tolist() == [255, 2, 255, 255]


def test_translation_stays_lazy_on_dask() -> None:
    raw = da.from_array(np.array([[3, 9], [0, 6]], dtype=np.uint8), chunks=1)
    out = qa.translate("scl", raw, nodata=0)
    assert isinstance(out, da.Array) and out.dtype == np.uint8
    assert out.compute().tolist() == [[qa.SHADOW, qa.CLOUD], [255, qa.WATER]]


def test_clear_mask_fractions_and_aerosol() -> None:
    fm = np.array([0, 64, 64 | qa.CLOUD, qa.ADJACENT, qa.SHADOW, qa.SNOW, qa.WATER, 255], np.uint8)
    assert qa.clear_mask(fm).tolist() == [True, True, False, False, False, True, True, False]
    refl = np.array([10, 0, 10, 10, 10, 10, 10, 10], np.int16)
    assert qa.clear_mask(fm, refl).tolist()[:2] == [True, False]
    fr = qa.fractions(fm)
    assert fr["fill"] == pytest.approx(1 / 8)
    assert fr["cloud"] == pytest.approx(1 / 7)
    assert fr["clear"] == pytest.approx(4 / 7)
    assert qa.aerosol_level(np.array([0, 64, 128, 192], np.uint8)).tolist() == [0, 1, 2, 3]


def test_unknown_qa_kind() -> None:
    with pytest.raises(ConfigError, match="unknown QA kind 'foo'"):
        qa.translate("foo", np.zeros(2, np.uint8))
