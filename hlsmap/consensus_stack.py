"""Consensus over a whole stack of observations: numpy (streamed) or dask (per spatial block).

:func:`consensus` is the array-in, maps-out form of :class:`hlsmap.consensus.ConsensusAccumulator`
for callers that hold the stack (tests, notebooks, a lazy cube): numpy stacks stream through one
accumulator; dask stacks become one partial state per (time chunk, spatial block), summed over
time by dask's tree reduction and finalised per block, so no task holds more than one time chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from hlsmap.classes import NUM_CLASSES
from hlsmap.consensus import _DTYPES, LAYERS, ConsensusAccumulator, layers_to_dataset
from hlsmap.errors import ConfigError
from hlsmap.periods import Period


def consensus(
    probs: Any,
    valid: Any,
    observed: Any,
    periods: Sequence[Period],
    times: Any = None,
    rule: str = "mean_prob",
    min_valid: int = 1,
    fallback: Period | str | None = None,
    geobox: Any = None,
    balance: str = "month",
) -> dict[str, xr.Dataset]:
    """Consensus over a stack of observations: numpy (streamed) or dask (per spatial block).

    Args:
        probs: uint8 ``(time, y, x, 10)``; numpy, dask or an xarray DataArray (whose ``time``
            coordinate is used when ``times`` is not given).
        valid: bool ``(time, y, x)``.
        observed: bool ``(time, y, x)``.
        periods: the periods to map.
        times: one datetime per observation.
        rule, min_valid, fallback, geobox, balance: as for :class:`ConsensusAccumulator`.

    Returns:
        ``{period name: Dataset}``; lazy (dask-backed) when ``probs`` is a dask array.
    """
    if times is None:
        if not isinstance(probs, xr.DataArray) or "time" not in probs.coords:
            raise ConfigError("give times=, one datetime per observation")
        times = probs["time"].values
    times = np.asarray(times).astype("datetime64[ns]")
    data = [a.data if isinstance(a, xr.DataArray) else a for a in (probs, valid, observed)]
    kwargs: dict[str, Any] = {
        "rule": rule,
        "min_valid": min_valid,
        "fallback": fallback,
        "balance": balance,
    }
    if len(times) != data[0].shape[0]:
        raise ConfigError(f"{len(times)} times for {data[0].shape[0]} observations")
    shape = tuple(data[0].shape[1:3])
    probe = ConsensusAccumulator(shape, periods, geobox=geobox, **kwargs)  # type: ignore[arg-type]
    names = [p.name for p in probe.periods]
    if not any(hasattr(a, "dask") for a in data):
        for i in range(len(times)):
            probe.update(data[0][i], data[1][i], data[2][i], times[i])
        return probe.results()
    return _consensus_dask(data, times, periods, names, probe, geobox, kwargs)


def _consensus_dask(
    data: list[Any],
    times: np.ndarray,
    periods: Sequence[Period],
    names: list[str],
    probe: ConsensusAccumulator,
    geobox: Any,
    kwargs: dict[str, Any],
) -> dict[str, xr.Dataset]:
    """Per slot of the state and (time chunk, spatial block) of its observations: a partial
    state of that slot's 11 layers; summed over time chunks (dask's tree reduction, so no task
    holds more than one time chunk); the slots stacked and finalised per spatial block."""
    import dask.array as da

    p, v, o = (da.asarray(a) for a in data)
    p = p.rechunk({3: -1})
    tch, ych, xch = p.chunks[:3]
    v = v.rechunk((tch, ych, xch)).astype(np.uint8)
    o = o.rechunk((tch, ych, xch)).astype(np.uint8)
    # (time, channel, y, x): the block grid then matches the partial states' (time, state, y, x)
    stacked = da.concatenate([p, v[..., None], o[..., None]], axis=3).rechunk({3: -1})
    stacked = stacked.transpose(0, 3, 1, 2)

    per = probe.n_state // max(len(probe.layout), 1)
    slot_of = np.array([-1 if (s := probe.layout.slot_of(t)) is None else s for t in times])

    def partial(b: np.ndarray, slot: int, when: np.ndarray, block_info: Any = None) -> np.ndarray:
        t0 = block_info[0]["array-location"][0][0]
        acc = ConsensusAccumulator(b.shape[2:], periods, **kwargs)
        for i in range(b.shape[0]):
            probs = b[i, :NUM_CLASSES].transpose(1, 2, 0)
            acc.update(probs, b[i, -2] > 0, b[i, -1] > 0, when[t0 + i])
        return acc.state(slot)[None]

    slots = []
    for slot in range(len(probe.layout)):
        idx = np.flatnonzero(slot_of == slot)
        if idx.size == 0:
            slots.append(da.zeros((per, *p.shape[1:3]), dtype=np.uint32, chunks=((per,), ych, xch)))
            continue
        sub = stacked[idx]
        parts = da.map_blocks(
            partial,
            sub,
            slot,
            times[idx],
            chunks=((1,) * len(sub.chunks[0]), (per,), ych, xch),
            dtype=np.uint32,
        )
        slots.append(parts.sum(axis=0, dtype=np.uint32))
    state = da.concatenate(slots, axis=0).rechunk({0: -1})
    n_out = len(names) * len(LAYERS)

    def finish(st: np.ndarray) -> np.ndarray:
        acc = ConsensusAccumulator.from_state(st, periods, **kwargs)
        out = np.empty((n_out, *st.shape[1:]), np.uint16)
        for j, name in enumerate(names):
            res = acc.result_arrays(name)
            for k, layer in enumerate(LAYERS):
                out[j * len(LAYERS) + k] = res[layer]
        return out

    out = state.map_blocks(finish, chunks=((n_out,), ych, xch), dtype=np.uint16)
    results = {}
    for j, name in enumerate(names):
        layers = {
            layer: out[j * len(LAYERS) + k].astype(_DTYPES[layer]) for k, layer in enumerate(LAYERS)
        }
        results[name] = layers_to_dataset(layers, geobox, name)
    return results
