"""hlsmap: land-cover maps from Harmonized Landsat Sentinel-2 (HLS) time series.

``import hlsmap`` stays light: it imports neither JAX nor odc-stac. Public names are resolved
lazily on first use (PEP 562), so ``hlsmap.load_cube`` imports the cube module only when called.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("hlsmap")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "CLASSES": "hlsmap.classes",
    "SURFACE_CLASSES": "hlsmap.classes",
    "remap_v2": "hlsmap.classes",
    "get_sensor": "hlsmap.sensors",
    "list_sensors": "hlsmap.sensors",
    "register_sensor": "hlsmap.sensors",
    "search": "hlsmap.search",
    "Region": "hlsmap.region",
    "load_cube": "hlsmap.cube",
    "clear_mask": "hlsmap.cube",
    "harmonize_cube": "hlsmap.harmonize",
    "simulate_world": "hlsmap.simulate",
    "World": "hlsmap.simulate",
    "WorldConfig": "hlsmap.simulate",
    "build_model": "hlsmap.model",
    "load_model": "hlsmap.model",
    "save_model": "hlsmap.model",
    "ConsensusAccumulator": "hlsmap.consensus",
    "Period": "hlsmap.periods",
    "detect_seasons": "hlsmap.seasons",
    "compute_change": "hlsmap.change",
    "AlertState": "hlsmap.alerts",
    "MapConfig": "hlsmap.runconfig",
    "run_map": "hlsmap.mapping",
    "plan_map": "hlsmap.mapping",
    "run_demo": "hlsmap.demo",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hlsmap' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
