"""Dynamic World as the teacher of `hlsmap distill`, end to end offline: the converted shared
fixture model on a tiny synthetic world with S30's red edge, behind the local STAC API. Dynamic
World on synthetic spectra is a plumbing test: the path (10 m S30 teacher -> 30 m mean
probabilities -> L30 + S30 soft chips -> student) is under test, never its accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import servers

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dynamicworld"
# about 3.5 minutes on the shared 2-core box (the 10 m teacher and the conversion): `make slow`
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FIXTURE / "forward" / "saved_model.pb").is_file(),
        reason=f"Dynamic World fixture missing at {FIXTURE}",
    ),
]


@pytest.fixture(scope="module")
def dw_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str, Path]]:

    from hlsmap.model.dw_import import import_dynamicworld
    from hlsmap.simulate import WorldConfig, simulate_world

    root = tmp_path_factory.mktemp("dwdistill")
    world = simulate_world(
        WorldConfig(seed=5, size=32, months=2, tiles_per_side=1, coastal=False, red_edge=True),
        root / "w",
        workers=1,
    )
    model = import_dynamicworld(FIXTURE / "forward", root / "dw", FIXTURE)
    with servers.served_world(world, root) as (_, api):
        yield world, api, model


def test_dynamicworld_teacher_distils_into_an_hls_student(dw_served, tmp_path: Path) -> None:
    from hlsmap.model import read_metadata
    from hlsmap.training.chips import ChipStore
    from hlsmap.training.configs.base import TrainConfig
    from hlsmap.training.distill import DistillConfig, distill
    from hlsmap.training.distill_regions import DistillRegion
    from hlsmap.training.distill_targets import Thresholds

    world, api, model = dw_served
    region = DistillRegion("all", "2024-01-01", "2024-02-29", bbox=world.bbox)  # type: ignore[attr-defined]
    train = TrainConfig(preset="tiny", steps=10, batch_size=4, crop=None, warmup_steps=2,
                        checkpoint_every=0, log_every=5)  # fmt: skip
    cfg = DistillConfig(teacher=str(model), source=api, out=str(tmp_path / "run"),
                        regions=(region,), train=train, chip_size=16, min_labeled=0.1,
                        tile_size=64, n_workers=1, thresholds=Thresholds(0, 1))  # fmt: skip
    result = distill(cfg, progress=False)
    with np.load(tmp_path / "run" / "teacher" / "all" / "consensus.npz") as z:
        probs, cls = z["probs"], z["class"]
    assert probs.shape[-1] == 9 and (cls > 0).mean() > 0.5
    store = ChipStore.open(result.chips)
    assert set(store.sensors) == {"L30", "S30"}  # the student learns from both sensors
    meta = read_metadata(result.model_dir)
    assert meta.resolution == 30.0 and meta.architecture == "unet"
    assert meta.provenance["distilled_from"]["architecture"] == "dynamicworld"
    assert meta.provenance["distilled_from"]["resolution"] == 10.0
