"""Where a region run's "predict" time goes: an opt-in, process-wide stage stopwatch.

:class:`hlsmap.inference.predict.Predictor` wraps each step of
:meth:`~hlsmap.inference.predict.Predictor.predict_observations` in :func:`stage`. Off (the
default) a stage costs one attribute test; on (:func:`enable`, ``bench/bench_region.py
--profile``) it adds the step's wall seconds to a shared table, summed over every tile thread of
the process, so a profile reads in task-seconds like the runner's own read/predict/consensus
split. Stages:

* ``fmask``: the observed / flagged masks (fill, Fmask bits, blank visible bands);
* ``normalise``: the model's input normalisation (per sensor, int16 -> float32);
* ``float copy``: stacking the normalised observations and zeroing fill;
* ``windows``: padding the images and cutting windows into model batches;
* ``kernel``: the model call (softmax and blend weights are fused into the compiled graph on
  both runtimes, so they are part of it), waits for asynchronous results included;
* ``blend``: adding windows up and dividing by the weight sum (multi-window plans only);
* ``uint8``: argmax, valid mask and the uint8 quantisation of every observation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_ON = False
_SECONDS: dict[str, float] = {}
_CALLS: dict[str, int] = {}
_LOCK = threading.Lock()


def enable(on: bool = True) -> None:
    """Start (or stop) recording stage times; starting clears the table."""
    global _ON
    with _LOCK:
        if on:
            _SECONDS.clear()
            _CALLS.clear()
        _ON = on


def enabled() -> bool:
    """Whether stage times are being recorded."""
    return _ON


def add(name: str, seconds: float) -> None:
    """Add ``seconds`` to stage ``name`` (when recording)."""
    if not _ON:
        return
    with _LOCK:
        _SECONDS[name] = _SECONDS.get(name, 0.0) + seconds
        _CALLS[name] = _CALLS.get(name, 0) + 1


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the ``with`` body as stage ``name`` (nothing is timed when not recording)."""
    if not _ON:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - t0)


def snapshot() -> dict[str, tuple[float, int]]:
    """``{stage: (seconds, calls)}`` recorded so far, in the order stages first ran."""
    with _LOCK:
        return {k: (v, _CALLS[k]) for k, v in _SECONDS.items()}
