"""Tiny worlds shared by the simulate tests (written once per session: COG writes cost)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlsmap.simulate import World, WorldConfig, simulate_world

TINY = WorldConfig(seed=3, size=96, months=4, tiles_per_side=2, coastal=False)
# S30 granules with red edge B05-B07 and broad NIR B08; one tile, so one granule per overpass
RED_EDGE = WorldConfig(seed=5, size=64, months=2, tiles_per_side=1, coastal=False, red_edge=True)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A 96 px, 4-month temperate world on 2x2 overlapping tiles."""
    out: Path = tmp_path_factory.mktemp("world") / "w"
    return simulate_world(TINY, out, workers=1)


@pytest.fixture(scope="session")
def red_edge_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A 64 px, 2-month world whose S30 granules carry B05, B06, B07 and B08."""
    out: Path = tmp_path_factory.mktemp("world") / "re"
    return simulate_world(RED_EDGE, out, workers=1)
