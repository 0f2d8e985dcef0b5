"""TF's resizes as used by Dynamic World: hand-computed weights and an independent reference."""

from __future__ import annotations

import numpy as np
import pytest

from hlsmap.model.resize import (
    antialias_taps,
    bilinear_taps,
    resize_bilinear,
    resize_half_antialias,
    taps_matrix,
)


def test_antialias_half_even_by_hand():
    # 4 -> 2: sample centres 1 and 3, triangle of radius 2; border taps clipped, renormalised.
    m = taps_matrix(antialias_taps(4, 2), 4)
    np.testing.assert_allclose(m, [[3 / 7, 3 / 7, 1 / 7, 0], [0, 1 / 7, 3 / 7, 3 / 7]], atol=1e-7)
    # Interior of an even size: (1, 3, 3, 1) / 8 on sources 2o-1 .. 2o+2.
    m = taps_matrix(antialias_taps(8, 4), 8)
    np.testing.assert_allclose(m[1], [0, 1 / 8, 3 / 8, 3 / 8, 1 / 8, 0, 0, 0], atol=1e-7)


def test_antialias_half_odd_by_hand():
    # 5 -> 2: scale 0.4, centres 1.25 and 3.75, kernel widened to radius 2.5.
    m = taps_matrix(antialias_taps(5, 2), 5)
    np.testing.assert_allclose(m, np.array([[7, 9, 5, 1, 0], [0, 1, 5, 9, 7]]) / 22, atol=1e-6)


def test_bilinear_by_hand():
    np.testing.assert_allclose(
        taps_matrix(bilinear_taps(2, 4), 2), [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]
    )
    # odd output: 2 -> 5, scale 0.4, source coordinates -0.3, 0.1, 0.5, 0.9, 1.3
    np.testing.assert_allclose(
        taps_matrix(bilinear_taps(2, 5), 2),
        [[1, 0], [0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0, 1]],
        atol=1e-6,
    )
    assert np.allclose(taps_matrix(bilinear_taps(3, 7), 3).sum(1), 1)


def test_separable_application_matches_matrices():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 5, 3)).astype(np.float32)
    mh, mw = taps_matrix(antialias_taps(7, 3), 7), taps_matrix(antialias_taps(5, 2), 5)
    want = np.einsum("oh,bhwc,pw->bopc", mh, x, mw)
    got = np.asarray(resize_half_antialias(x))
    assert got.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(got, want, atol=1e-5)
    up = np.asarray(resize_bilinear(got, (7, 5)))
    bh, bw = taps_matrix(bilinear_taps(3, 7), 3), taps_matrix(bilinear_taps(2, 5), 2)
    np.testing.assert_allclose(up, np.einsum("oh,bhwc,pw->bopc", bh, got, bw), atol=1e-5)


@pytest.mark.parametrize(("h", "w"), [(61, 47), (6, 9)])
def test_matches_jax_scale_and_translate(h, w):
    """JAX's own ScaleAndTranslate port (triangle, antialias) and bilinear resize agree."""
    import jax

    rng = np.random.default_rng(h * w)
    x = rng.normal(size=(1, h, w, 4)).astype(np.float32)
    oh, ow = h // 2, w // 2
    ref = jax.image.scale_and_translate(
        x,
        (1, oh, ow, 4),
        (1, 2),
        np.array([oh / h, ow / w], np.float32),
        np.zeros(2, np.float32),
        method="triangle",
        antialias=True,
    )
    np.testing.assert_allclose(np.asarray(resize_half_antialias(x)), np.asarray(ref), atol=2e-6)
    small = np.asarray(ref)
    up = jax.image.resize(small, (1, h, w, 4), method="bilinear")  # up-sampling: no antialias
    np.testing.assert_allclose(
        np.asarray(resize_bilinear(small, (h, w))), np.asarray(up), atol=2e-6
    )


def test_too_small_to_halve():
    with pytest.raises(ValueError, match="cannot halve"):
        resize_half_antialias(np.zeros((1, 1, 4, 1), np.float32))
