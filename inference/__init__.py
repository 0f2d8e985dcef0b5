"""Per-observation inference: sliding windows, the jitted sharded kernel, the region runner.

Names resolve lazily, so ``import hlsmap.inference`` stays light (no JAX, no Dask)::

    from hlsmap.inference import Predictor, run_region, RunConfig, TileOptions
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "WindowPlan": "hlsmap.inference.tiling",
    "plan_windows": "hlsmap.inference.tiling",
    "blend_weights": "hlsmap.inference.tiling",
    "Predictor": "hlsmap.inference.predict",
    "ObservationPrediction": "hlsmap.inference.predict",
    "make_data_mesh": "hlsmap.inference.predict",
    "TileOptions": "hlsmap.inference.tasks",
    "TileReport": "hlsmap.inference.tasks",
    "run_tile": "hlsmap.inference.tasks",
    "RunConfig": "hlsmap.inference.runner",
    "RunResult": "hlsmap.inference.runner",
    "run_region": "hlsmap.inference.runner",
    "predict_region": "hlsmap.inference.runner",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hlsmap.inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
