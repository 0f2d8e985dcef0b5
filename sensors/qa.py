"""QA bit decoding and translation into HLS v2.0 Fmask semantics.

HLS v2.0 Fmask (uint8, one byte per pixel; see the ``Fmask description`` tag of every HLS
granule): bit 0 cirrus (reserved, never set by HLS v2.0), bit 1 cloud, bit 2 adjacent to
cloud/shadow, bit 3 cloud shadow, bit 4 snow/ice, bit 5 water, bits 6-7 aerosol level
(00 climatology, 01 low, 10 average, 11 high); 255 = fill. A pixel is *clear* when it is not
fill and bits 1-3 are unset.

Other products' QA layers are translated into those bits (Sentinel-2 L2A SCL, Landsat
Collection 2 QA_PIXEL). Translations run on numpy arrays and, block by block, on dask arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

CIRRUS = 1 << 0
CLOUD = 1 << 1
ADJACENT = 1 << 2
SHADOW = 1 << 3
SNOW = 1 << 4
WATER = 1 << 5
AEROSOL_SHIFT = 6
AEROSOL_MASK = 0b11 << AEROSOL_SHIFT
#: Bits that make a pixel unusable (cloud, adjacent, shadow).
MASKED = CLOUD | ADJACENT | SHADOW
FMASK_FILL = 255

#: Sentinel-2 L2A scene classification (SCL) code -> Fmask bits (missing codes are fill).
#: Thin cirrus gets the cloud bit as well as the cirrus bit: HLS v2.0 folds cirrus into its
#: cloud bit (bit 0 is reserved), so a cirrus pixel must not count as clear. "Dark area /
#: topographic shadow" (2) and "unclassified" (7) are not cloud shadow or cloud: clear.
#: SCL has no adjacency or aerosol information, so bit 2 stays unset and bits 6-7 are 00.
SCL_TO_FMASK: dict[int, int] = {
    0: FMASK_FILL,  # no data
    1: FMASK_FILL,  # saturated or defective
    2: 0,  # dark area pixels / topographic cast shadows
    3: SHADOW,  # cloud shadows
    4: 0,  # vegetation
    5: 0,  # not vegetated
    6: WATER,  # water
    7: 0,  # unclassified
    8: CLOUD,  # cloud, medium probability
    9: CLOUD,  # cloud, high probability
    10: CLOUD | CIRRUS,  # thin cirrus
    11: SNOW,  # snow / ice
}

# Landsat Collection 2 QA_PIXEL bits (USGS LSDS-1619 / LSDS-1328).
QA_PIXEL_FILL = 1 << 0
QA_PIXEL_DILATED_CLOUD = 1 << 1
QA_PIXEL_CIRRUS = 1 << 2
QA_PIXEL_CLOUD = 1 << 3
QA_PIXEL_SHADOW = 1 << 4
QA_PIXEL_SNOW = 1 << 5
QA_PIXEL_CLEAR = 1 << 6
QA_PIXEL_WATER = 1 << 7

_SCL_LUT = np.full(256, FMASK_FILL, dtype=np.uint8)
for _code, _bits in SCL_TO_FMASK.items():
    _SCL_LUT[_code] = _bits


def _blockwise(func: Callable[[np.ndarray], np.ndarray], raw: Any) -> np.ndarray:
    """Apply ``func`` to a numpy array, or lazily to each block of a dask array."""
    if hasattr(raw, "map_blocks"):
        return raw.map_blocks(func, dtype=np.uint8)  # type: ignore[no-any-return]
    return func(np.asarray(raw))


def _as_index(raw: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Values usable as lookup-table indices (0..65535) and a fill mask.

    Fill: NaN, the nodata value, and anything outside 0..65535. uint8/uint16 input (what
    odc-stac loads) is used as is, without a copy.
    """
    if raw.dtype in (np.uint8, np.uint16):
        values = raw
        fill = np.zeros(raw.shape, dtype=bool)
    else:
        bad = (raw < 0) | (raw > 65535)
        if raw.dtype.kind == "f":
            bad |= ~np.isfinite(raw)
        values = np.where(bad, 0, raw).astype(np.uint16)
        fill = bad
    if nodata is not None and not np.isnan(nodata):
        fill |= raw == nodata
    return values, fill


def _qa_pixel_bits(values: np.ndarray) -> np.ndarray:
    """QA_PIXEL -> Fmask bits for every value (used once, to build the lookup table)."""
    out = np.zeros(values.shape, dtype=np.uint8)
    # Cirrus follows the SCL rule: cloud bit too, so it is never "clear".
    out[(values & (QA_PIXEL_CLOUD | QA_PIXEL_CIRRUS)) != 0] |= CLOUD
    out[(values & QA_PIXEL_CIRRUS) != 0] |= CIRRUS
    # USGS dilates clouds by a few pixels: the same idea as HLS's "adjacent to cloud" bit.
    out[(values & QA_PIXEL_DILATED_CLOUD) != 0] |= ADJACENT
    out[(values & QA_PIXEL_SHADOW) != 0] |= SHADOW
    out[(values & QA_PIXEL_SNOW) != 0] |= SNOW
    out[(values & QA_PIXEL_WATER) != 0] |= WATER
    out[(values & QA_PIXEL_FILL) != 0] = FMASK_FILL
    return out


# Lookup tables over the whole uint16 domain: one gather per pixel instead of bit arithmetic.
_FMASK_LUT = np.full(65536, FMASK_FILL, dtype=np.uint8)
_FMASK_LUT[:256] = np.arange(256, dtype=np.uint8)
_SCL_LUT16 = np.full(65536, FMASK_FILL, dtype=np.uint8)
_SCL_LUT16[:256] = _SCL_LUT
_QA_PIXEL_LUT = _qa_pixel_bits(np.arange(65536, dtype=np.uint32))


def _lut_block(lut: np.ndarray) -> Callable[[np.ndarray, float | None], np.ndarray]:
    def block(raw: np.ndarray, nodata: float | None) -> np.ndarray:
        values, fill = _as_index(raw, nodata)
        out = lut[values]
        out[fill] = FMASK_FILL
        return out

    return block


_TRANSLATORS: dict[str, Callable[[np.ndarray, float | None], np.ndarray]] = {
    "fmask": _lut_block(_FMASK_LUT),
    "scl": _lut_block(_SCL_LUT16),
    "qa_pixel": _lut_block(_QA_PIXEL_LUT),
}
#: QA encodings :func:`translate` understands (``QASpec.kind``).
QA_KINDS: tuple[str, ...] = tuple(_TRANSLATORS)


def translate(kind: str, raw: Any, nodata: float | None = None) -> np.ndarray:
    """Translate a QA layer into HLS v2.0 Fmask bits.

    Args:
        kind: ``"fmask"`` (HLS; passed through), ``"scl"`` (Sentinel-2 L2A) or ``"qa_pixel"``
            (Landsat Collection 2).
        raw: QA values as stored (numpy or dask array; float arrays with NaN fill work too).
        nodata: The stored fill value; those pixels become 255.

    Returns:
        uint8 Fmask array (255 = fill), lazy when ``raw`` is a dask array.

    Raises:
        hlsmap.errors.ConfigError: For an unknown ``kind``.
    """
    try:
        func = _TRANSLATORS[kind]
    except KeyError:
        from hlsmap.errors import ConfigError

        raise ConfigError(
            f"unknown QA kind {kind!r}; use one of {', '.join(QA_KINDS)}, or override "
            "to_fmask() in your sensor adapter."
        ) from None
    return _blockwise(lambda block: func(block, nodata), raw)


def scl_to_fmask(scl: Any) -> np.ndarray:
    """Sentinel-2 L2A SCL codes -> Fmask bits (0 no data and 1 defective become fill)."""
    return translate("scl", scl, nodata=0)


def qa_pixel_to_fmask(qa_pixel: Any) -> np.ndarray:
    """Landsat Collection 2 QA_PIXEL bits -> Fmask bits (the fill bit becomes 255)."""
    return translate("qa_pixel", qa_pixel, nodata=None)


def is_fill(fmask: Any) -> Any:
    """True where an Fmask array is fill (255)."""
    return fmask == FMASK_FILL


def clear_mask(fmask: Any, reflectance: Any | None = None) -> Any:
    """True where a pixel is clear: not fill, bits 1-3 unset, and reflectance > 0 if given.

    Args:
        fmask: uint8 Fmask array (numpy, dask or xarray).
        reflectance: Optional int16 band (or bands stacked on a leading axis all must pass).

    Returns:
        Boolean array of the same type as ``fmask``.
    """
    clear = (fmask != FMASK_FILL) & ((fmask & MASKED) == 0)
    if reflectance is not None:
        clear = clear & (reflectance > 0)
    return clear


def aerosol_level(fmask: Any) -> Any:
    """Aerosol level 0..3 (climatology, low, average, high) from bits 6-7 (fill gives 3)."""
    return (fmask & AEROSOL_MASK) >> AEROSOL_SHIFT


def fractions(fmask: Any) -> dict[str, float]:
    """Share of each condition among non-fill pixels, plus the fill share of all pixels.

    Args:
        fmask: uint8 Fmask array (read into memory).

    Returns:
        ``{"fill", "cloud", "adjacent", "shadow", "snow", "water", "clear"}`` -> fraction.
    """
    arr = np.asarray(fmask)
    valid = arr[arr != FMASK_FILL]
    out = {"fill": float(np.mean(arr == FMASK_FILL)) if arr.size else 0.0}
    n = max(valid.size, 1)
    for key, bit in (
        ("cloud", CLOUD),
        ("adjacent", ADJACENT),
        ("shadow", SHADOW),
        ("snow", SNOW),
        ("water", WATER),
    ):
        out[key] = float(np.count_nonzero(valid & bit)) / n
    out["clear"] = float(np.count_nonzero((valid & MASKED) == 0)) / n
    return out
