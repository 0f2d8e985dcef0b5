"""Change: transitions, matrices that sum to the mapped area, named layers and the MMU."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from odc.geo.geobox import GeoBox

from hlsmap.change import apply_mmu, compute_change, mmu_pixels, transition_codes
from hlsmap.errors import ConfigError

GB = GeoBox.from_bbox(
    (600000, 5000000, 600000 + 30 * 24, 5000000 + 30 * 16), "EPSG:32632", resolution=30
)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 6))
def test_matrix_sums_to_the_mapped_area(seed: int, mmu: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 10, GB.shape, dtype=np.uint8)
    b = rng.integers(0, 10, GB.shape, dtype=np.uint8)
    res = compute_change(a, b, GB, mmu=mmu)
    both = (a > 0) & (b > 0)
    assert res.matrix is not None
    assert res.matrix.sum() == pytest.approx(both.sum() * 0.09)
    # the MMU only moves area onto the diagonal; rows (the "from" areas) never change
    np.testing.assert_allclose(
        res.matrix.sum(axis=1), [np.sum(both & (a == c)) * 0.09 for c in range(1, 10)]
    )
    assert ((res.transitions == 0) == ~both).all()


def test_transition_codes_and_named_layers() -> None:
    a = np.array([[2, 2, 5, 1, 0]], np.uint8)
    b = np.array([[2, 7, 2, 5, 7]], np.uint8)
    assert transition_codes(a, b).tolist() == [[22, 27, 52, 15, 0]]
    res = compute_change(a, b)
    assert res.layers["tree_loss"].tolist() == [[False, True, False, False, False]]
    assert res.layers["new_built"].tolist() == [[False, True, False, False, False]]
    assert res.layers["cropland_loss"].tolist() == [[False, False, True, False, False]]
    assert res.layers["cropland_gain"].tolist() == [[False, False, False, True, False]]
    assert res.layers["water_loss"].tolist() == [[False, False, False, True, False]]
    assert res.changed.tolist() == [[False, True, True, True, False]]


def test_mmu_removes_single_pixels_and_keeps_patches() -> None:
    a = np.full((12, 12), 2, np.uint8)
    b = a.copy()
    b[1, 1] = 8  # a single-pixel "change": noise
    b[6:9, 6:9] = 7  # a 9-pixel patch of new built area
    b[3, 10] = 7
    b[4, 11] = 7  # two diagonal pixels: one 2-pixel patch with 8-connectivity
    res = compute_change(a, b, 0.09, mmu=3)
    assert not res.changed[1, 1] and res.transitions[1, 1] == 22
    assert res.changed[6:9, 6:9].all() and res.layers["new_built"].sum() == 9
    assert not res.changed[3, 10]
    assert res.layers["tree_loss"].sum() == 9
    assert apply_mmu(b == 7, 2, connectivity=8)[3, 10]
    assert not apply_mmu(b == 7, 2, connectivity=4)[3, 10]
    assert compute_change(a, b, 0.09, mmu=1).layers["tree_loss"].sum() == 12


def test_mmu_in_hectares_and_errors() -> None:
    assert mmu_pixels(0.5, GB) == 6  # 0.5 ha / 0.09 ha per pixel -> 5.6 -> 6
    assert mmu_pixels(0.0, GB) == 1
    with pytest.raises(ConfigError):
        compute_change(np.zeros((2, 2)), np.zeros((3, 2)))
