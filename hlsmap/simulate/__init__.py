"""The synthetic HLS world: an offline, ground-truthed archive shaped like NASA's HLS v2.0.

>>> from hlsmap.simulate import WorldConfig, simulate_world, World
>>> world = simulate_world(WorldConfig(seed=0, size=512, year=2024), "world")  # doctest: +SKIP
>>> world = World.open("world")  # doctest: +SKIP
>>> items = world.items()  # PC-shaped hls2-l30 / hls2-s30 pystac Items  # doctest: +SKIP
"""

from __future__ import annotations

from hlsmap.simulate.climate import CLIMATES
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.events import ChangeEvent
from hlsmap.simulate.world import World, simulate_world

__all__ = ["CLIMATES", "ChangeEvent", "World", "WorldConfig", "simulate_world"]
