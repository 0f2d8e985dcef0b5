"""RECEPTIVE_RADIUS and tiling: which inputs reach which outputs, and when crops are exact."""

from __future__ import annotations

import numpy as np
import pytest
from dwfixture import dw_predict, needs_fixtures

from hlsmap.model.dynamicworld import RECEPTIVE_RADIUS, TILE_ALIGN, normalize_dn

pytestmark = needs_fixtures
SIZE = 96  # whole image; crops are 64 x 64 (two compiled shapes in all)
CROP = 64


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    # Smooth-ish fields plus noise, in a plausible DN range.
    dn = rng.uniform(200, 4000, size=(1, SIZE, SIZE, 9))
    x = normalize_dn(dn)
    return x, dw_predict()(x)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).max(axis=(0, 3)) > 0  # (H, W) mask of any change, bit-exact


@pytest.mark.parametrize("p", [48, 49])
def test_receptive_radius_is_exact(scene, p):
    x, base = scene
    x2 = x.copy()
    x2[0, p, p, :] = 1.0 - x2[0, p, p, :]
    changed = _changed(dw_predict()(x2), base)
    rows = np.flatnonzero(changed.any(axis=1))
    cols = np.flatnonzero(changed.any(axis=0))
    # Nothing changes beyond the radius, and the radius is reached (so it is tight): even
    # outputs reach i-22 .. i+21, odd ones i-21 .. i+22, so a perturbed pixel p reaches
    # p-21 .. p+22 (p even) or p-22 .. p+21 (p odd).
    lo, hi = (p - 21, p + 22) if p % 2 == 0 else (p - 22, p + 21)
    assert RECEPTIVE_RADIUS == 22
    assert (rows.min(), rows.max()) == (lo, hi)
    assert (cols.min(), cols.max()) == (lo, hi)
    assert max(p - rows.min(), rows.max() - p) == RECEPTIVE_RADIUS


def test_even_offset_crop_matches_whole_interior(scene):
    x, base = scene
    r = RECEPTIVE_RADIUS
    for oy, ox in [(16, 18), (0, 32)]:  # even offsets; (0, 32) shares the top image edge
        assert oy % TILE_ALIGN == 0 and ox % TILE_ALIGN == 0
        crop = dw_predict()(x[:, oy : oy + CROP, ox : ox + CROP])
        top = 0 if oy == 0 else r  # at the image edge both clamp the same way
        inner = crop[:, top : CROP - r, r : CROP - r]
        whole = base[:, oy + top : oy + CROP - r, ox + r : ox + CROP - r]
        assert inner.size > 0
        np.testing.assert_allclose(inner, whole, atol=1e-5, rtol=0)
        # A thinner halo is not enough: the ring just inside the radius differs.
        ring = crop[:, CROP - r - 4 : CROP - r + 2, r : CROP - r]
        assert (
            np.abs(
                ring - base[:, oy + CROP - r - 4 : oy + CROP - r + 2, ox + r : ox + CROP - r]
            ).max()
            > 1e-4
        )


def test_odd_offset_crop_is_not_exact(scene):
    # The half-size resize samples pixel pairs from the crop's origin: an odd offset shifts
    # the pairing, so the tiler must align tiles to TILE_ALIGN = 2 pixels.
    x, base = scene
    r = RECEPTIVE_RADIUS
    oy, ox = 17, 18
    crop = dw_predict()(x[:, oy : oy + CROP, ox : ox + CROP])
    inner = crop[:, r : CROP - r, r : CROP - r]
    whole = base[:, oy + r : oy + CROP - r, ox + r : ox + CROP - r]
    assert np.abs(inner - whole).max() > 1e-3
