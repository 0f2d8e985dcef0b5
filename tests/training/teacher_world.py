"""A tiny synthetic world (S30 red edge included) behind the local STAC API and range server,
for the teacher-agreement and model-chips tests. Synthetic spectra: every figure measured on it
is a plumbing check, never a claim about a real place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import servers

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dynamicworld"
DEMO_MODEL = Path(__file__).resolve().parents[2] / "hlsmap" / "data" / "demo-model"


@dataclass
class ServedWorld:
    world: Any
    root: Path
    api: str


@contextmanager
def served_world(
    root: Path, size: int = 32, months: int = 2, seed: int = 5
) -> Iterator[ServedWorld]:
    """Simulate a world under ``root/w`` and serve it (STAC API + range-capable HTTP)."""

    from hlsmap.simulate import WorldConfig, simulate_world

    world = simulate_world(
        WorldConfig(
            seed=seed, size=size, months=months, tiles_per_side=1, coastal=False, red_edge=True
        ),  # fmt: skip
        root / "w",
        workers=1,
    )
    with servers.served_world(world, root) as (_, api):
        yield ServedWorld(world, root, api)


def other_model(root: Path) -> Path:
    """A deliberately different student: an untrained tiny U-Net (its cloud logit held low,
    so that its valid pixels come from Fmask alone)."""
    from hlsmap.model import BANDS, ModelMetadata, UNetConfig, build_model, save_model

    net = build_model(UNetConfig(widths=(8, 16), norm="none"), bands=BANDS, seed=3)
    bias = np.asarray(net.head.bias[...]).copy()  # type: ignore[index]
    bias[9] = -20.0
    net.head.bias[...] = bias  # type: ignore[index]
    return save_model(root / "other-model", net, ModelMetadata.for_model(net, BANDS))
