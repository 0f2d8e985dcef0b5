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
    import pystac

    from hlsmap.simulate import WorldConfig, simulate_world

    world = simulate_world(
        WorldConfig(
            seed=seed, size=size, months=months, tiles_per_side=1, coastal=False, red_edge=True
        ),  # fmt: skip
        root / "w",
        workers=1,
    )
    with servers.range_server(root) as http:
        ic = root / "items.json"
        pystac.ItemCollection(world.items(base_url=f"{http.url}/w")).save_object(dest_href=str(ic))
        cols = []
        for col in world.collections():
            p = root / f"{col.id}.json"
            col.save_object(dest_href=str(p), include_self_link=False)
            cols.append(p)
        with servers.stac_api(*cols, ic) as api:
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
