"""Tiny worlds shared by the simulate tests (written once per session: COG writes cost)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlsmap.simulate import World, WorldConfig, simulate_world

TINY = WorldConfig(seed=3, size=96, months=4, tiles_per_side=2, coastal=False)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A 96 px, 4-month temperate world on 2x2 overlapping tiles."""
    out: Path = tmp_path_factory.mktemp("world") / "w"
    return simulate_world(TINY, out, workers=1)
