"""Where chips come from: a label raster + STAC items (through the same cube loader as
inference), an in-memory cube, or the synthetic world's per-observation truth.

Chips are cut for a model's input contract (:class:`ChipContract`): its bands, read through
each sensor adapter's asset keys (HLS S30's red edge and broad NIR for Dynamic World), on a
grid at its resolution (10 m for Dynamic World: reflectance bilinear, Fmask nearest, labels
resampled by nearest/mode). Observations of sensors that lack one of its bands (HLS L30 for
Dynamic World) are skipped, counted per sensor in the log and in the chip set's
``source["sensors"]``. Without a model, chips hold the six harmonized bands at 30 m.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError
from hlsmap.training.chips import ChipStore, Observation, observations_from_cube, write_chips

log = logging.getLogger("hlsmap.training")


@dataclass(frozen=True)
class ChipContract:
    """The inputs a chip set is cut for: a model's bands and grid resolution.

    Attributes:
        bands: the bands, in the model's channel order (hlsmap band names; each sensor
            adapter maps them to its own asset keys, see :meth:`assets`).
        resolution: the grid's pixel size in metres.
        model: the model it was taken from (a path or a known name), if any.
    """

    bands: tuple[str, ...]
    resolution: float = 30.0
    model: str | None = None

    @classmethod
    def of(cls, model: ChipContract | str | os.PathLike[str]) -> ChipContract:
        """The contract of a model folder or known model name (reads only its metadata)."""
        if isinstance(model, ChipContract):
            return model
        from hlsmap.model import read_metadata

        meta = read_metadata(model)
        return cls(tuple(meta.bands), float(meta.resolution), str(model))

    @classmethod
    def default(cls, bands: Sequence[str] | None = None, resolution: float = 30.0) -> ChipContract:
        """The harmonized HLS set (or ``bands``) at ``resolution``: chips without a model."""
        return cls(tuple(bands) if bands is not None else _default_bands(), float(resolution))

    def assets(self, sensors: Sequence[str]) -> dict[str, dict[str, str]]:
        """``{sensor: {band: asset key}}`` for each of ``sensors`` that has every band."""
        from hlsmap.sensors import get_sensor

        out = {}
        for name in sensors:
            sensor = get_sensor(name)
            if all(b in sensor.bands for b in self.bands):
                out[sensor.name] = {b: sensor.bands[b].asset for b in self.bands}
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready: model, bands, resolution (recorded in the chip set's source)."""
        return {"model": self.model, "bands": list(self.bands), "resolution": self.resolution}


def _contract(model: Any, kw: dict[str, Any], resolution: float | None = None) -> ChipContract:
    """The contract of ``model``, or the default one; pops ``bands`` from ``kw``."""
    bands = kw.pop("bands", None)
    if model is None:
        return ChipContract.default(bands, 30.0 if resolution is None else resolution)
    contract = ChipContract.of(model)
    if bands is not None and tuple(bands) != contract.bands:
        raise ConfigError(
            f"bands {tuple(bands)} differ from the model's {contract.bands}: give one of them"
        )
    if resolution is not None and float(resolution) != contract.resolution:
        raise ConfigError(
            f"resolution {resolution:g} m differs from the model's {contract.resolution:g} m:"
            " chips for a model are cut on its own grid; leave the resolution out"
        )
    return contract


def usable_items(
    items: Sequence[Any], contract: ChipContract
) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """``(items the contract's bands can be read from, {sensor: {used, skipped[, reason]}})``.

    Skipped granules are logged per sensor (:func:`hlsmap.inference.contract.split_items`).

    Raises:
        ConfigError: there were items, but none of a sensor that has every band.
    """
    from hlsmap.inference.contract import sensor_usage, split_items, usable_sensors
    from hlsmap.sensors import sensor_for_collection

    used, skipped = split_items(items, contract)
    for sensor, info in skipped.items():
        log.warning("%d %s granule(s) skipped: %s", info["granules"], sensor, info["reason"])
    if items and not used:
        names = sorted({sensor_for_collection(i.collection_id or "").name for i in items})
        usable_sensors(contract, names, model=f"model {contract.model or ''}".strip())
    return used, sensor_usage(used, skipped)


def model_grid(geobox: Any, resolution: float) -> Any:
    """``geobox``'s footprint at ``resolution`` (an integer zoom keeps pixel edges aligned)."""
    from odc.geo.geobox import GeoBox

    res = abs(float(geobox.resolution.x))
    if abs(res - resolution) < 1e-9:
        return geobox
    k = res / resolution
    if k > 1 and abs(k - round(k)) < 1e-9:
        return geobox.zoom_out(1 / round(k))
    return GeoBox.from_bbox(geobox.boundingbox, crs=geobox.crs, resolution=resolution)


def labels_to_grid(labels: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Class codes on GeoBox ``src`` -> GeoBox ``dst`` by nearest neighbour (0 = unlabeled):
    onto a finer grid each label cell becomes its ``k x k`` pixels, exactly."""
    if src == dst:
        return np.asarray(labels, np.uint8)
    from rasterio.warp import Resampling, reproject

    out = np.zeros(dst.shape, dtype=np.uint8)
    reproject(np.asarray(labels, np.uint8), out, src_transform=src.affine, src_crs=str(src.crs),
              src_nodata=0, dst_transform=dst.affine, dst_crs=str(dst.crs), dst_nodata=0,
              resampling=Resampling.nearest)  # fmt: skip
    return out


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
    model: ChipContract | str | os.PathLike[str] | None = None,
    resolution: float | None = None,
    max_cloud_share: float = 0.9,
    **kw: Any,
) -> ChipStore:
    """Chips from a label raster and the STAC items that observe it.

    The labels (for a date, a season or a year, at any resolution/CRS) are resampled by
    majority to the grid over their footprint at the model's (or ``resolution``'s)
    resolution; every observation (sensor + solar day) among ``items`` of a sensor that
    can feed the model is loaded on that grid with :func:`hlsmap.cube.load_cube`, and Fmask's
    cloud pixels carry the cloud class.

    Args:
        labels_path: a GeoTIFF of class codes (0 = unlabeled).
        items: STAC items (for example from :func:`hlsmap.search.search` over the labels' bbox
            and date window).
        out: the new chip set.
        model: a model folder, known model name or :class:`ChipContract`: its bands and
            resolution; observations of sensors it cannot read are skipped and counted.
        resolution: without a model: the grid resolution in metres (default 30 = HLS).
        max_cloud_share: skip observations whose Fmask flags more than this share as cloud.
        **kw: :class:`hlsmap.training.chips.ChipWriter` options.
    """
    import rasterio
    from odc.geo.geobox import GeoBox

    from hlsmap.training.chips import resample_labels

    contract = _contract(model, kw, resolution)
    with rasterio.open(labels_path) as src:
        raw = src.read(1)
        geobox = GeoBox.from_bbox(src.bounds, crs=str(src.crs), resolution=contract.resolution)
        labels = resample_labels(raw, src.transform, src.crs, geobox)
    bands = contract.bands
    used, usage = usable_items(items, contract)
    groups = _groups(used)

    def observations() -> Iterator[Observation]:
        for group in groups:
            cube = _load_obs(group, geobox, bands)
            for obs in observations_from_cube(cube, labels, ids=[group[0].id], bands=bands):
                if _cloud_share(obs.fmask) <= max_cloud_share:
                    yield obs

    source = dict(kw.pop("source", None) or {"labels": str(labels_path), "items": len(items)})
    source = {**contract.describe(), "sensors": usage, **source}  # a caller's counts win
    return write_chips(observations(), out, bands=bands, total=len(groups), source=source, **kw)


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
    model: ChipContract | str | os.PathLike[str] | None = None,
    max_obs: int | None = None,
    every: int = 1,
    **kw: Any,
) -> ChipStore:
    """Chips from the synthetic world: every observation with its per-observation truth.

    With a ``model``, observations of sensors it cannot read are skipped (counted) and chips
    are cut on the world's footprint at the model's resolution, the 30 m truth resampled by
    nearest neighbour (each 30 m cell is 3 x 3 pixels at 10 m).

    The truth (:meth:`hlsmap.simulate.World.truth_at`) already carries the cloud class where
    clouds stand, so Fmask is not used for labels here (``cloud_from_fmask=False``): Fmask's
    simulated misses and false alarms must not become label noise.

    Args:
        world_dir: a directory written by ``hlsmap simulate``.
        out: the new chip set.
        model: a model folder, known model name or :class:`ChipContract`.
        max_obs: use at most this many observations (spread over the year).
        every: use every ``every``-th observation.
        **kw: :class:`hlsmap.training.chips.ChipWriter` options.
    """
    from hlsmap.simulate import World

    if not Path(world_dir).is_dir():
        raise ConfigError(f"world {world_dir} does not exist: create it with `hlsmap simulate`.")
    world = World.open(world_dir)
    contract = _contract(model, kw, None if model is not None else 30.0)
    used, usage = usable_items(world.items(), contract)
    groups = _groups(used)[:: max(1, every)]
    if max_obs is not None and len(groups) > max_obs:
        pick = np.linspace(0, len(groups) - 1, max_obs).round().astype(int)
        groups = [groups[i] for i in sorted(set(pick.tolist()))]
    bands = contract.bands
    geobox = model_grid(world.geobox, contract.resolution)
    kw.setdefault("cloud_from_fmask", False)
    source = dict(kw.pop("source", None) or {"world": str(Path(world_dir).resolve())})
    source.update(contract.describe(), sensors=usage)

    def observations() -> Iterator[Observation]:
        for group in groups:
            cube = _load_obs(group, geobox, bands)
            truth = np.zeros(world.geobox.shape, dtype=np.uint8)
            # a day's granules (tiles) of one sensor are one or more world observations
            keys = list(dict.fromkeys(world.observation(item.id)["key"] for item in group))
            for key in keys:
                t = np.asarray(world.truth_at(key))
                truth = np.where(truth == 0, t, truth)
            truth = labels_to_grid(truth, world.geobox, geobox)
            yield from observations_from_cube(cube, truth, ids=[keys[0]], bands=bands)

    return write_chips(observations(), out, bands=bands, total=len(groups), source=source, **kw)


def build_chips(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    model: ChipContract | str | os.PathLike[str] | None = None,
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
        model: cut chips for this model's input contract (bands, resolution); observations of
            sensors it cannot read are skipped and counted (``source["sensors"]``).
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
        return chips_from_world(source, out, model=model, max_obs=max_obs, every=every, **kw)
    import rasterio
    from rasterio.warp import transform_bounds

    from hlsmap.search import search

    if not Path(labels).is_file():
        raise ConfigError(f"label raster {labels} does not exist.")
    contract = ChipContract.of(model) if model is not None else None
    if contract is not None:
        from hlsmap.inference.contract import usable_sensors

        # fail before the search when no sensor asked for can feed the model
        usable_sensors(contract, sensors, model=f"model {model}")
    with rasterio.open(labels) as src:
        bbox = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    items = search(str(source), bbox=bbox, datetime=datetime, sensors=tuple(sensors),
                   max_cloud=max_cloud)  # fmt: skip
    usage = None
    if contract is not None:  # pick observations among those the model can read
        items, usage = usable_items(items, contract)
    groups = _groups(items)[:: max(1, every)]
    if max_obs is not None and len(groups) > max_obs:
        pick = np.linspace(0, len(groups) - 1, max_obs).round().astype(int)
        groups = [groups[i] for i in sorted(set(pick.tolist()))]
    kw.setdefault("source", {"labels": str(labels), "stac": str(source), "datetime": datetime})
    if usage is not None:
        kw["source"] = {**kw["source"], "sensors": usage}
    return chips_from_labels(labels, [i for g in groups for i in g], out, model=model, **kw)
