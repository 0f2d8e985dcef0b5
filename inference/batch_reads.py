"""A tile's time batch of observations read eagerly: Fmask first, then the bands of the
observations with a clear pixel; granules that cannot be read are skipped through
:class:`hlsmap.inference.granules.GranuleGuard` (the task module's read half, kept apart so that
each module has one job).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hlsmap.inference.predict import FILL_FMASK, FMASK_INVALID_BITS

if TYPE_CHECKING:
    from hlsmap.inference.granules import GranuleGuard
    from hlsmap.inference.tasks import TileOptions

__all__ = ["_read_all", "_read_batch"]


def _read_batch(
    opts: TileOptions,
    items: list[Any],
    geobox: Any,
    bands: Sequence[str],
    guard: GranuleGuard | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[Any]]:
    """Load a batch of observations eagerly: (T, H, W, C) int16, (T, H, W) fmask, sensors, times.

    With a ``guard`` (and not ``opts.strict``), granules that cannot be read are dropped from
    the batch and recorded there, and the rest is read (:class:`GranuleGuard`); a batch left
    without granules gives ``T = 0``.

    With ``opts.fmask_first`` the Fmask layers are read first and the reflectance bands only
    of observations with at least one clear pixel on the tile: an observation that is all
    cloud, shadow or fill gives no valid pixel whatever its bands say, so reading them is
    waste (HLS granules are mostly cloudy somewhere, and a tile is small). Its bands come
    back as zeros (not the -9999 fill), so it still counts as *observed* (cloud_share) and
    never as valid - what the full read gives, up to pixels whose Fmask is set but whose
    bands are fill.
    """
    from hlsmap.cube import load_cube

    loader = opts.loader or functools.partial(load_cube, reader=opts.reader)
    if guard is None or opts.strict:
        return _read_once(opts, loader, items, geobox, bands)
    got = guard.read(
        lambda keep: _read_once(opts, loader, keep, geobox, bands),
        items,
        probe=lambda item: _read_all(loader, [item], geobox, bands),
    )
    if got is None:
        h, w = int(geobox.shape[0]), int(geobox.shape[1])
        return np.zeros((0, h, w, len(bands)), np.int16), np.zeros((0, h, w), np.uint8), [], []
    return got


def _read_once(
    opts: TileOptions,
    loader: Callable[..., Any],
    items: list[Any],
    geobox: Any,
    bands: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, list[str], list[Any]]:
    """:func:`_read_batch` of every item given (any read failure raises)."""
    from hlsmap.cube import read_errors

    if not opts.fmask_first:
        return _read_all(loader, items, geobox, bands)
    with read_errors():
        qa = loader(items, geobox=geobox, bands=(), chunks=None)
    fmask = np.asarray(qa["fmask"].values, np.uint8)
    sensors = [str(s) for s in np.atleast_1d(qa["sensor"].values)]
    times = list(np.atleast_1d(qa["time"].values))
    clear = (fmask != FILL_FMASK) & ((fmask & FMASK_INVALID_BITS) == 0)
    useful = np.flatnonzero(clear.reshape(len(times), -1).any(axis=1))
    stack = np.zeros((*fmask.shape, len(bands)), np.int16)
    wanted = _items_of(items, [(sensors[t], times[t]) for t in useful])
    if wanted:
        with read_errors():
            cube = loader(wanted, geobox=geobox, bands=tuple(bands), chunks=None, fmask=False)
        got = list(zip(map(str, np.atleast_1d(cube["sensor"].values)),
                       np.atleast_1d(cube["time"].values), strict=True))  # fmt: skip
        if got != [(sensors[t], times[t]) for t in useful]:
            return _read_all(loader, items, geobox, bands)  # an unexpected grouping: read all
        for c, band in enumerate(bands):  # straight into place: no (T, H, W, C) temporary
            stack[useful, ..., c] = cube[band].values
    return stack, fmask, sensors, times


def _read_all(
    loader: Callable[..., Any], items: list[Any], geobox: Any, bands: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str], list[Any]]:
    from hlsmap.cube import read_errors

    with read_errors():
        cube = loader(items, geobox=geobox, bands=tuple(bands), chunks=None)
    stack = np.stack([np.asarray(cube[b].values, np.int16) for b in bands], axis=-1)
    fmask = np.asarray(cube["fmask"].values, np.uint8)
    sensors = [str(s) for s in np.atleast_1d(cube["sensor"].values)]
    times = list(np.atleast_1d(cube["time"].values))
    return stack, fmask, sensors, times


def _items_of(items: list[Any], observations: list[tuple[str, Any]]) -> list[Any]:
    """The items that make up the given (sensor, time) observations of a loaded cube.

    An observation fuses the granules of one sensor on one solar day; its time is one of
    theirs, so an item belongs to the observation of its sensor less than a day away (passes
    of one sensor over a place are at least a day apart).
    """
    from hlsmap.sensors import sensor_for_collection

    day = np.timedelta64(1, "D")
    keep = []
    for item in items:
        if item.datetime is None:  # a range-only item: keep it (a mismatch reads everything)
            keep.append(item)
            continue
        name = sensor_for_collection(item.collection_id or "").name
        when = np.datetime64(item.datetime.replace(tzinfo=None), "ns")
        if any(s == name and abs(when - np.datetime64(t, "ns")) < day for s, t in observations):
            keep.append(item)
    return keep
