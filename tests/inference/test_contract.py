"""The model's input contract applied to a run: sensors it can read, grid factor, mode."""

from __future__ import annotations

import numpy as np
import pytest

from hlsmap.errors import ConfigError
from hlsmap.inference.contract import aggregate_mode, grid_factor, run_halo, usable_sensors


class _Meta:
    bands = ("blue", "green", "red", "rededge071", "rededge075", "rededge078", "nir", "swir16")
    halo = 22
    alignment = 2


def test_usable_sensors_skip_l30_for_red_edge_models_and_fail_when_none_is_left() -> None:
    assert usable_sensors(_Meta(), ["L30", "S30"]) == ["S30"]
    with pytest.raises(ConfigError, match="L30 lacks rededge071.*--sensors S30"):
        usable_sensors(_Meta(), ["L30"])


@pytest.mark.parametrize(
    ("out", "model", "k"), [(10, 10, 1), (30, 10, 3), (20, 10, 2), (10, 30, 1), (30, 30, 1)]
)
def test_grid_factor(out: float, model: float, k: int) -> None:
    assert grid_factor(out, model) == k


def test_grid_factor_refuses_a_coarser_grid_that_is_not_a_multiple() -> None:
    with pytest.raises(ConfigError, match="25 m is not a multiple of the model's 10 m"):
        grid_factor(25, 10)


def test_run_halo_covers_the_field_on_the_model_grid_and_keeps_alignment() -> None:
    assert run_halo(_Meta(), 1) == 22
    assert run_halo(_Meta(), 3) == 8  # 8 * 3 = 24 >= 22 model pixels, even
    assert run_halo(_Meta(), 2) == 12  # ceil(22 / 2) = 11, rounded up to the alignment


def test_aggregate_mode_is_the_class_share_of_valid_model_pixels() -> None:
    k, c = 3, 10
    probs = np.zeros((3, 6, c), np.uint8)
    cls = np.array([[0, 0, 1, 4, 4, 4], [0, 1, 1, 4, 4, 4], [0, 0, 1, 4, 4, 4]])
    probs[np.arange(3)[:, None], np.arange(6)[None, :], cls] = 200
    valid = np.ones((3, 6), bool)
    valid[:, 3:] = False  # right block: observed but cloudy
    observed = np.ones((3, 6), bool)
    observed[0, 0] = False
    valid[0, 0] = False
    p, v, o = aggregate_mode(probs, valid, observed, k)
    assert p.shape == (1, 2, c) and v.tolist() == [[True, False]] and o.tolist() == [[True, True]]
    # left block: 8 valid pixels, 4 of class 0 and 4 of class 1 -> 128 / 128 (rounded)
    assert p[0, 0, 0] == 128 and p[0, 0, 1] == 128 and p[0, 0].sum() in (255, 256)
    assert p[0, 1].sum() == 0  # no valid model pixel: no vote
    # the mode wins: 5 of 9 class 2
    probs2 = np.zeros((3, 3, c), np.uint8)
    probs2[..., 2] = 100
    probs2[0, :2, 2], probs2[0, :2, 7] = 0, 100
    probs2[1, :2, 2], probs2[1, :2, 7] = 0, 100
    p2, _, _ = aggregate_mode(probs2, np.ones((3, 3), bool), np.ones((3, 3), bool), 3)
    assert int(np.argmax(p2[0, 0])) == 2 and p2[0, 0, 2] == round(5 / 9 * 255)
    with pytest.raises(ValueError, match="does not split"):
        aggregate_mode(probs[:, :5], valid[:, :5], observed[:, :5], 3)
