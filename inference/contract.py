"""What a model's input contract means for a run: which sensors and granules it can read, on
which grid it runs, and how its predictions come back to the output grid.

A model names the bands it reads (:class:`hlsmap.model.ModelMetadata`). A sensor that lacks
one of them cannot feed it: Dynamic World needs the red edge and broad NIR, which HLS L30
(Landsat OLI) does not have, so L30 granules are skipped for it, counted and reported. A run
asks for at least one sensor the model can read, or fails saying why.

A model also names the grid resolution it was trained at. The output grid may be coarser by
an integer factor ``k`` (Dynamic World at 10 m, maps on HLS's 30 m grid): the model then runs
on the ``k``-times finer grid and each observation's prediction is aggregated to the output
grid by mode (:func:`aggregate_mode`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError


def sensor_gaps(bands: Sequence[str], sensors: Sequence[str]) -> dict[str, list[str]]:
    """``{sensor: [model bands it lacks]}`` for every sensor of ``sensors`` that lacks one."""
    from hlsmap.sensors import get_sensor

    gaps = {}
    for name in sensors:
        sensor = get_sensor(name)
        missing = [b for b in bands if b not in sensor.bands]
        if missing:
            gaps[sensor.name] = missing
    return gaps


def usable_sensors(meta: Any, sensors: Sequence[str], model: str = "the model") -> list[str]:
    """The sensors of ``sensors`` that provide every band of ``meta``.

    Raises:
        ConfigError: none does; the message names the missing bands and the sensors to use.
    """
    from hlsmap.sensors import get_sensor, list_sensors

    gaps = sensor_gaps(meta.bands, sensors)
    usable = [get_sensor(s).name for s in sensors if get_sensor(s).name not in gaps]
    if not usable:
        fits = [s for s in list_sensors() if not sensor_gaps(meta.bands, [s])]
        lacks = "; ".join(f"{s} lacks {', '.join(b)}" for s, b in gaps.items())
        raise ConfigError(
            f"{model} reads bands {', '.join(meta.bands)}, and no sensor of this run provides"
            f" them all ({lacks}): use --sensors {','.join(fits) or '...'}"
            " or a model trained on these sensors' bands"
        )
    return usable


def split_items(items: Sequence[Any], meta: Any) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """``(items the model can read, {sensor: {"granules": n, "reason": ...}} skipped)``."""
    from hlsmap.sensors import sensor_for_collection

    used, skipped = [], Counter[str]()
    names = {
        i.collection_id or "": sensor_for_collection(i.collection_id or "").name for i in items
    }
    gaps = sensor_gaps(meta.bands, sorted(set(names.values())))
    for item in items:
        sensor = names[item.collection_id or ""]
        if sensor in gaps:
            skipped[sensor] += 1
        else:
            used.append(item)
    return used, {
        s: {"granules": n, "reason": f"{s} lacks the model's band(s) {', '.join(gaps[s])}"}
        for s, n in sorted(skipped.items())
    }


def sensor_usage(
    used: Sequence[Any], skipped: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per sensor ``{"used": n, "skipped": m[, "reason": ...]}`` granules (for reports/STAC)."""
    from hlsmap.sensors import sensor_for_collection

    counts = Counter(sensor_for_collection(i.collection_id or "").name for i in used)
    out: dict[str, dict[str, Any]] = {s: {"used": n, "skipped": 0} for s, n in counts.items()}
    for sensor, info in skipped.items():
        out[sensor] = {"used": 0, "skipped": info["granules"], "reason": info["reason"]}
    return dict(sorted(out.items()))


def grid_factor(output_resolution: float, model_resolution: float) -> int:
    """How many model pixels span one output pixel (1: the model runs on the output grid).

    An output grid finer than the model's runs the model on it; a coarser one must be an
    integer multiple of the model's resolution, so each output pixel is ``k x k`` model pixels.

    Raises:
        ConfigError: a coarser output resolution that is not a multiple of the model's.
    """
    ratio = float(output_resolution) / float(model_resolution)
    if ratio <= 1.0 + 1e-9:
        return 1
    k = round(ratio)
    if not math.isclose(ratio, k, rel_tol=1e-6):
        raise ConfigError(
            f"resolution {output_resolution:g} m is not a multiple of the model's"
            f" {model_resolution:g} m: use {model_resolution:g} m or a multiple of it"
            f" (e.g. {model_resolution * math.ceil(ratio):g})"
        )
    return int(k)


def run_halo(meta: Any, factor: int) -> int:
    """The least halo (output pixels) that covers ``meta``'s receptive field on the model grid,
    keeping model-grid offsets on the architecture's alignment."""
    halo = -(-int(meta.halo) // factor)
    step = int(meta.alignment)
    return -(-halo // step) * step


def aggregate_mode(
    probs: np.ndarray, valid: np.ndarray, observed: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One observation's prediction from the ``k``-times finer model grid to the output grid.

    Each output pixel's probabilities become the share of its valid model pixels that chose
    each class (their argmax): its argmax is the mode of the model pixels' classes, and
    consensus over observations keeps working on probabilities. An output pixel is valid where
    any of its model pixels is, observed where any is.

    Args:
        probs: ``(H*k, W*k, C)`` uint8 probabilities x 255.
        valid, observed: ``(H*k, W*k)`` bool.
        k: the factor.

    Returns:
        ``(probs (H, W, C) uint8, valid (H, W), observed (H, W))``.
    """
    hk, wk, c = probs.shape
    if hk % k or wk % k:
        raise ValueError(f"a {hk}x{wk} prediction does not split into {k}x{k} blocks")
    h, w = hk // k, wk // k
    cls = np.argmax(probs, axis=-1)
    votes = np.zeros((h * w, c), np.int32)
    rows = (np.arange(hk)[:, None] // k) * w + (np.arange(wk)[None, :] // k)
    ok = valid.reshape(-1)
    np.add.at(votes, (rows.reshape(-1)[ok], cls.reshape(-1)[ok]), 1)
    n = votes.sum(axis=1, keepdims=True)
    share = np.where(n > 0, (votes * 255 + n // 2) // np.maximum(n, 1), 0).astype(np.uint8)

    def any_of(mask: np.ndarray) -> np.ndarray:
        return np.asarray(mask.reshape(h, k, w, k).any(axis=(1, 3)))

    return share.reshape(h, w, c), any_of(valid), any_of(observed)


def aggregate_mean(
    probs: np.ndarray, valid: np.ndarray, observed: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`aggregate_mode`, but each output pixel's probabilities are the mean of its
    valid model pixels' probabilities: a soft target keeps the teacher's uncertainty, which
    the votes of :func:`aggregate_mode` round away."""
    hk, wk, c = probs.shape
    if hk % k or wk % k:
        raise ValueError(f"a {hk}x{wk} prediction does not split into {k}x{k} blocks")
    h, w = hk // k, wk // k
    ok = valid.reshape(h, k, w, k, 1)
    p = np.asarray(probs, np.float32).reshape(h, k, w, k, c) * ok
    n = ok.sum(axis=(1, 3))
    mean = np.where(n > 0, p.sum(axis=(1, 3)) / np.maximum(n, 1), 0.0)

    def any_of(mask: np.ndarray) -> np.ndarray:
        return np.asarray(mask.reshape(h, k, w, k).any(axis=(1, 3)))

    return np.floor(mean + 0.5).astype(np.uint8), any_of(valid), any_of(observed)
