"""Window plans and blending weights."""

from __future__ import annotations

import numpy as np
import pytest

from hlsmap.errors import ConfigError
from hlsmap.inference.tiling import (
    blend_weights,
    pad_image,
    plan_windows,
    single_cover_mask,
    weight_sum,
)


@pytest.mark.parametrize("shape", [(100, 92), (48, 48), (30, 170), (257, 129), (7, 3)])
def test_windows_cover_every_pixel(shape: tuple[int, int]) -> None:
    plan = plan_windows(*shape, window=48, overlap=12, multiple=8)
    wh, ww = plan.window
    assert wh % 8 == 0 and ww % 8 == 0
    assert plan.padded[0] >= shape[0] and plan.padded[1] >= shape[1]
    cover = np.zeros(plan.padded, int)
    for y, x in plan.origins:
        assert 0 <= y <= plan.padded[0] - wh and 0 <= x <= plan.padded[1] - ww
        cover[y : y + wh, x : x + ww] += 1
    assert cover.min() >= 1
    assert (weight_sum(plan) > 0).all()


def test_weights_are_a_partition_of_unity_on_a_regular_grid() -> None:
    # 3 windows of 64 with stride 48 tile 160 pixels exactly: the weights sum to one wherever
    # two windows overlap and inside every window core.
    plan = plan_windows(160, 64, window=64, overlap=16)
    assert plan.starts_y == (0, 48, 96)
    total = weight_sum(plan)
    interior = total[16:-16, 16:-16]
    np.testing.assert_allclose(interior, 1.0, atol=1e-6)
    w = blend_weights(plan)
    assert w.min() > 0 and w.max() == 1.0
    # smooth: neighbouring weights never jump by more than one ramp step
    assert np.abs(np.diff(w, axis=0)).max() < 0.11


def test_single_cover_mask_excludes_blend_zones() -> None:
    plan = plan_windows(160, 64, window=64, overlap=16)
    mask = single_cover_mask(plan)
    assert not mask[48:64].any() and not mask[96:112].any()
    assert mask[:48].all() and mask[64:96].all()


def test_pad_image_pads_small_images_only() -> None:
    plan = plan_windows(20, 30, window=64, overlap=16, multiple=16)
    assert plan.window == (32, 32) and plan.padded == (32, 32)
    img = np.ones((2, 20, 30, 3), np.float32)
    out = pad_image(img, plan)
    assert out.shape == (2, 32, 32, 3) and out[:, 20:].sum() == 0 and out[:, :, 30:].sum() == 0


def test_bad_plans_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="overlap"):
        plan_windows(500, 500, window=64, overlap=32)
    with pytest.raises(ConfigError):
        plan_windows(0, 10)
