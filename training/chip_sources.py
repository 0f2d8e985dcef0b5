"""Where chips come from: a label raster + STAC items (through the same cube loader as
inference), an in-memory cube, or the synthetic world's per-observation truth."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError
from hlsmap.training.chips import ChipStore, Observation, observations_from_cube, write_chips


def chips_from_cube(cube: Any, labels: Any, out: str | os.PathLike[str], **kw: Any) -> ChipStore:
    """Chips from a loaded cube and labels on its grid.

    Args:
        cube: an ``xr.Dataset`` in :func:`hlsmap.cube.load_cube`'s layout.
        labels: ``(y, x)`` or ``(time, y, x)`` class codes on the cube's grid.
        out: the new chip set (Zarr directory).
        **kw: :class:`hlsmap.training.chips.ChipWriter` options (chip_size, holdout, ...).
    """
    bands = tuple(b for b in kw.pop("bands", _bands(cube)))
    return write_chips(
        observations_from_cube(cube, labels),
        out,
        bands=bands,
        total=cube.sizes["time"],
        **kw,
    )


def _bands(cube: Any) -> tuple[str, ...]:
    from hlsmap.model import BANDS

    return tuple(b for b in BANDS if b in cube.data_vars)


def _groups(items: Sequence[Any]) -> list[list[Any]]:
    """Items grouped into observations: one sensor, one solar day (the cube's fusing rule)."""
    from hlsmap.cube import solar_day
    from hlsmap.sensors import sensor_for_collection

    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for item in items:
        sensor = sensor_for_collection(item.collection_id or "").name
        groups[(str(solar_day(item)), sensor)].append(item)
    return [groups[k] for k in sorted(groups)]


def _load_obs(group: list[Any], geobox: Any, bands: tuple[str, ...]) -> Any:
    from hlsmap.cube import load_cube

    return load_cube(group, geobox=geobox, bands=bands)


def chips_from_labels(
    labels_path: str | os.PathLike[str],
    items: Sequence[Any],
    out: str | os.PathLike[str],
    *,
    resolution: float = 30.0,
    max_cloud_share: float = 0.9,
    **kw: Any,
) -> ChipStore:
    """Chips from a label raster and the STAC items that observe it.

    The labels (for a date, a season or a year, at any resolution/CRS) are resampled by
    majority to a ``resolution`` grid over their footprint; every observation (sensor + solar
    day) among ``items`` is loaded on that grid with :func:`hlsmap.cube.load_cube`, and Fmask's
    cloud pixels carry the cloud class.

    Args:
        labels_path: a GeoTIFF of class codes (0 = unlabeled).
        items: STAC items (for example from :func:`hlsmap.search.search` over the labels' bbox
            and date window).
        out: the new chip set.
        resolution: grid resolution in metres (30 = HLS).
        max_cloud_share: skip observations whose Fmask flags more than this share as cloud.
        **kw: :class:`hlsmap.training.chips.ChipWriter` options.
    """
    import rasterio
    from odc.geo.geobox import GeoBox

    from hlsmap.training.chips import resample_labels

    with rasterio.open(labels_path) as src:
        raw = src.read(1)
        geobox = GeoBox.from_bbox(src.bounds, crs=str(src.crs), resolution=resolution)
        labels = resample_labels(raw, src.transform, src.crs, geobox)
    bands = tuple(kw.pop("bands", _default_bands()))
    groups = _groups(items)

    def observations() -> Iterator[Observation]:
        for group in groups:
            cube = _load_obs(group, geobox, bands)
            for obs in observations_from_cube(cube, labels, ids=[group[0].id]):
                if _cloud_share(obs.fmask) <= max_cloud_share:
                    yield obs

    kw.setdefault("source", {"labels": str(labels_path), "items": len(items)})
    return write_chips(observations(), out, bands=bands, total=len(groups), **kw)


def _default_bands() -> tuple[str, ...]:
    from hlsmap.model import BANDS

    return BANDS


def _cloud_share(fmask: np.ndarray) -> float:
    observed = fmask != 255
    n = int(observed.sum())
    return float(((fmask & 0b10) != 0)[observed].sum() / n) if n else 1.0


def chips_from_world(
    world_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    max_obs: int | None = None,
    every: int = 1,
    **kw: Any,
) -> ChipStore:
    """Chips from the synthetic world: every observation with its per-observation truth.

    The truth (:meth:`hlsmap.simulate.World.truth_at`) already carries the cloud class where
    clouds stand, so Fmask is not used for labels here (``cloud_from_fmask=False``): Fmask's
    simulated misses and false alarms must not become label noise.

    Args:
        world_dir: a directory written by ``hlsmap simulate``.
        out: the new chip set.
        max_obs: use at most this many observations (spread over the year).
        every: use every ``every``-th observation.
        **kw: :class:`hlsmap.training.chips.ChipWriter` options.
    """
    from hlsmap.simulate import World

    if not Path(world_dir).is_dir():
        raise ConfigError(f"world {world_dir} does not exist: create it with `hlsmap simulate`.")
    world = World.open(world_dir)
    groups = _groups(world.items())[:: max(1, every)]
    if max_obs is not None and len(groups) > max_obs:
        pick = np.linspace(0, len(groups) - 1, max_obs).round().astype(int)
        groups = [groups[i] for i in sorted(set(pick.tolist()))]
    bands = tuple(kw.pop("bands", _default_bands()))
    kw.setdefault("cloud_from_fmask", False)
    kw.setdefault("source", {"world": str(Path(world_dir).resolve())})

    def observations() -> Iterator[Observation]:
        for group in groups:
            cube = _load_obs(group, world.geobox, bands)
            truth = np.zeros(world.geobox.shape, dtype=np.uint8)
            # a day's granules (tiles) of one sensor are one or more world observations
            keys = list(dict.fromkeys(world.observation(item.id)["key"] for item in group))
            for key in keys:
                t = np.asarray(world.truth_at(key))
                truth = np.where(truth == 0, t, truth)
            yield from observations_from_cube(cube, truth, ids=[keys[0]])

    return write_chips(observations(), out, bands=bands, total=len(groups), **kw)


def build_chips(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    datetime: str | None = None,
    sensors: Sequence[str] = ("L30", "S30"),
    max_cloud: float | None = None,
    max_obs: int | None = None,
    every: int = 1,
    **kw: Any,
) -> ChipStore:
    """``hlsmap chips``: a chip set from a synthetic world, or from labels + a STAC source.

    Args:
        source: a world directory (written by ``hlsmap simulate``), or with ``labels`` a STAC
            source for :func:`hlsmap.search.search` (``pc``, ``nasa``, an API URL, a file).
        out: the new chip set (Zarr directory).
        labels: a label GeoTIFF (class codes, 0 = unlabeled; any resolution/CRS).
        datetime: with ``labels``: the labels' date window (``"2024"``, ``"2024-06-01/..."``).
        sensors: with ``labels``: sensors to search.
        max_cloud: with ``labels``: skip items above this cloud cover (%).
        max_obs: use at most this many observations (spread over the period).
        every: use every ``every``-th observation.
        **kw: :class:`hlsmap.training.chips.ChipWriter` options.
    """
    if labels is None:
        if not (Path(source) / "manifest.json").is_file():
            raise ConfigError(
                f"{source} is not a synthetic world (no manifest.json): pass a world directory"
                " written by `hlsmap simulate`, or --labels LABELS.tif with a STAC source."
            )
        return chips_from_world(source, out, max_obs=max_obs, every=every, **kw)
    import rasterio
    from rasterio.warp import transform_bounds

    from hlsmap.search import search

    if not Path(labels).is_file():
        raise ConfigError(f"label raster {labels} does not exist.")
    with rasterio.open(labels) as src:
        bbox = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    items = search(str(source), bbox=bbox, datetime=datetime, sensors=tuple(sensors),
                   max_cloud=max_cloud)  # fmt: skip
    groups = _groups(items)[:: max(1, every)]
    if max_obs is not None and len(groups) > max_obs:
        pick = np.linspace(0, len(groups) - 1, max_obs).round().astype(int)
        groups = [groups[i] for i in sorted(set(pick.tolist()))]
    kw.setdefault("source", {"labels": str(labels), "stac": str(source), "datetime": datetime})
    return chips_from_labels(labels, [i for g in groups for i in g], out, **kw)
