"""``hlsmap chips WORLD OUT``: a training set from the synthetic world in one command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hlsmap.cli import main
from hlsmap.training.chips import ChipStore


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hlsmap.simulate import WorldConfig, simulate_world

    out = tmp_path_factory.mktemp("w") / "world"
    cfg = WorldConfig(seed=11, size=64, months=1, tiles_per_side=1, coastal=False)
    simulate_world(cfg, out)
    return out


@pytest.mark.slow  # simulating even a tiny world takes ~30 s on the shared 2-core box
def test_chips_from_world_cli(world: Path, tmp_path: Path) -> None:
    from hlsmap.simulate import World

    w = World.open(world)
    out = tmp_path / "chips.zarr"
    main(["chips", str(world), str(out), "--chip-size", "32", "--holdout", "0.3"])
    store = ChipStore.open(out)
    assert len(store) > 0 and store.chip_size == 32
    assert set(store.sensors) <= {"L30", "S30"}
    assert set(store.normalization) >= {"*"}
    # labels are the world's per-observation truth, cut at the recorded origins
    obs = store.attrs["observations"]
    i = int(np.flatnonzero(store.obs == store.obs[0])[0])
    key = obs[int(store.obs[i])]["id"]
    truth = np.asarray(w.truth_at(key))
    r, c = (int(v) for v in store.group["origin"][i])
    chip = store.read(np.array([i]))
    np.testing.assert_array_equal(
        chip["labels"][0][chip["labels"][0] > 0],
        truth[r : r + 32, c : c + 32][chip["labels"][0] > 0],
    )
    assert np.all(np.isin(np.unique(chip["labels"]), np.arange(11)))
