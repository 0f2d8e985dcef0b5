"""Region runner: cut a region's grid into tiles and run them as Dask tasks, then mosaic.

Each tile of the output grid (odc-geo ``GeoboxTiles``) is one task (:func:`run_tile`): load the
cube of the tile plus a halo -> predict every observation in time batches -> streaming consensus
-> write the tile's layers atomically. A tile whose file was made from the same inputs (its
resume key, :mod:`hlsmap.inference.resume`: model, items, periods, rule, grid, ...) is reused,
so a killed run resumes where it stopped and ends with the same outputs as an uninterrupted
one; a tile made from other inputs is computed again, and the run says how many and why. One
run at a time writes to an output folder (:mod:`hlsmap.outputs.lock`); it starts by removing
the temporary files that killed writes left there. When every tile
is done, each period's layers are mosaicked into region-wide COGs, streamed window by window
from the tile files (:mod:`hlsmap.inference.mosaic`), so no step holds the region in memory.

Tasks run on Dask: a ``LocalCluster`` sized to the machine by default, an existing scheduler
(``scheduler="tcp://host:8786"``) or a ``distributed.Client`` passed in. Workers need the model
directory and the tile folder on a shared filesystem.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError, HlsmapError, OutputError
from hlsmap.inference.cluster import open_client
from hlsmap.inference.granules import dropped_summary
from hlsmap.inference.mosaic import write_mosaics
from hlsmap.inference.report import log_event, write_run_report
from hlsmap.inference.resume import model_fingerprint, plan_resume, tile_key
from hlsmap.inference.tasks import (
    TileOptions,
    TileReport,
    TileTask,
    run_tile,
)
from hlsmap.redact import redact

log = logging.getLogger("hlsmap.inference")


@dataclass(frozen=True)
class RunConfig:
    """Options of a region run.

    Attributes:
        tile_size: side of a tile of the output grid, in pixels.
        halo: context pixels (output grid) loaded around each tile; ``None`` (default): the
            model's receptive field (:attr:`hlsmap.model.ModelMetadata.halo`: 32 for the U-Net,
            22 for Dynamic World), which keeps tile borders seamless. Rounded up to the
            model's alignment.
        options: how each tile is processed (window, batch, consensus rule, retries...).
        scheme: class scheme of the class COGs (``"v1"`` or ``"v2"``).
        n_workers: worker processes of the default ``LocalCluster`` (default 1: one process
            owns every core/accelerator for XLA, which parallelizes inside each model call).
        threads_per_worker: concurrent tiles per worker (default ``min(4, cores)``): while one
            tile predicts, another reads and decodes its COGs.
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``).
    """

    tile_size: int = 512
    halo: int | None = None
    options: TileOptions = field(default_factory=TileOptions)
    scheme: str = "v1"
    n_workers: int | None = None
    threads_per_worker: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        for name in ("n_workers", "threads_per_worker"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name} must be a whole number >= 1, got {v!r}")
        if self.halo is not None and self.halo < 0:
            raise ConfigError(f"halo must be >= 0 pixels, got {self.halo}")
        _check_options(self.options)


def _check_options(o: TileOptions) -> None:
    """Reject tile options that would fail (or hang) inside every task, here, in one line."""
    from hlsmap.consensus_slots import BALANCES

    at_least = {"time_batch": 1, "min_valid": 1, "retries": 0, "retry_wait": 0, "overlap": 0,
                "prefetch": 0, "window": 1, "batch_size": 1}  # fmt: skip
    for name, low in at_least.items():
        v = getattr(o, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < low):
            raise ConfigError(f"{name} must be a number >= {low}, got {v!r}")
    if o.rule not in ("mean_prob", "mode", "weighted_mode"):
        raise ConfigError(f"rule {o.rule!r} unknown; use mean_prob, mode or weighted_mode")
    if o.balance not in BALANCES:
        raise ConfigError(f"balance {o.balance!r} unknown; use {' or '.join(BALANCES)}")


@dataclass
class RunResult:
    """What a region run produced."""

    out_dir: Path
    tiles: int
    reports: list[TileReport]
    failed: dict[tuple[int, int], str]
    mosaics: dict[str, dict[str, Path]]
    seconds: float
    tasks: list[TileTask] = field(default_factory=list, repr=False)
    """The run's tile tasks (for :class:`hlsmap.inference.mosaic.TileMosaic`)."""
    recomputed: dict[str, int] = field(default_factory=dict)
    """Tiles whose old file was made from other inputs, by reason (``"model changed": 4``)."""
    sensors: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Granules per sensor, used and skipped because the model cannot read that sensor:
    ``{"S30": {"used": 80, "skipped": 0}, "L30": {"used": 0, "skipped": 40, "reason": ...}}``
    (:func:`hlsmap.inference.contract.sensor_usage`)."""

    def resume_summary(self) -> str:
        """One line: tiles reused vs computed, and why tiles were computed again."""
        redo = sum(self.recomputed.values())
        why = "; ".join(f"{n} {r}" for r, n in sorted(self.recomputed.items()))
        line = f"{self.skipped} of {self.tiles} tile(s) reused from an earlier run"
        return line + (f", {redo} recomputed ({why})" if redo else "")

    @property
    def ok(self) -> bool:
        """Every tile finished."""
        return not self.failed

    @property
    def skipped(self) -> int:
        """Tiles that were already done (resumed run)."""
        return sum(r.skipped for r in self.reports)

    @property
    def dropped_granules(self) -> list[dict[str, Any]]:
        """The granules that could not be read and were skipped, per tile (``"tile"`` added),
        resumed tiles included: their observations are missing from the maps."""
        return [{**d, "tile": list(r.index)} for r in self.reports for d in r.dropped_granules]

    @property
    def n_observations(self) -> int:
        """Tile-observations predicted in this run (skipped tiles not counted)."""
        return sum(r.n_observations for r in self.reports if not r.skipped)

    @property
    def pixel_observations(self) -> int:
        """Pixel-observations predicted in this run."""
        return sum(r.pixel_observations for r in self.reports if not r.skipped)

    def timings(self) -> dict[str, float]:
        """Task seconds spent reading, predicting, in consensus and writing (this run).

        ``read`` is the time tasks *waited* for reads (with ``prefetch`` most reading happens
        while the model predicts); ``read_busy`` the seconds the reads themselves took."""
        done = [r for r in self.reports if not r.skipped]
        return {k: sum(getattr(r, f"{k}_s") for r in done) for k in
                ("read", "predict", "consensus", "write", "read_busy")}  # fmt: skip


def tile_grid(geobox: Any, tile_size: int) -> Any:
    """The region's tiles (``odc.geo.geobox.GeoboxTiles``)."""
    from odc.geo.geobox import GeoboxTiles

    if tile_size < 1:
        raise ConfigError(f"tile_size must be >= 1 pixel, got {tile_size}")
    return GeoboxTiles(geobox, (tile_size, tile_size))


def _items_for(items: Sequence[Any], geobox: Any) -> tuple[dict[str, Any], ...]:
    """Item dicts whose footprint meets ``geobox`` (all items without a geometry)."""
    from odc.geo.geom import Geometry

    extent = geobox.extent.to_crs("EPSG:4326")
    keep = []
    for item in items:
        if item.geometry is None or Geometry(item.geometry, "EPSG:4326").intersects(extent):
            keep.append(item.to_dict(transform_hrefs=False))
    return tuple(keep)


def plan_tasks(
    items: Sequence[Any],
    geobox: Any,
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    periods: Sequence[Any],
    config: RunConfig,
) -> list[TileTask]:
    """One :class:`TileTask` per tile of ``geobox``; tile files go to ``out_dir/tiles``."""
    from hlsmap.model import read_metadata

    grid = tile_grid(geobox, config.tile_size)
    tiles_dir = Path(out_dir) / "tiles"
    model_id = model_fingerprint(model_dir)
    factor, halo = model_tiling(read_metadata(model_dir), geobox, config)
    tasks = []
    for iy in range(grid.shape[0]):
        for ix in range(grid.shape[1]):
            tile_gb = grid[iy, ix]
            tile_items = _items_for(items, tile_gb.pad(halo))
            key = tile_key(model_id=model_id, items=tile_items, periods=periods,
                           options=config.options, geobox=tile_gb, halo=halo,
                           tile_side=config.tile_size)  # fmt: skip
            tasks.append(
                TileTask(
                    index=(iy, ix),
                    geobox=tile_gb,
                    halo=halo,
                    items=tile_items,
                    out_path=str(tiles_dir / f"tile_{iy:04d}_{ix:04d}.npz"),
                    model_dir=str(model_dir),
                    periods=tuple(periods),
                    options=config.options,
                    tile_side=config.tile_size,
                    key=key,
                    factor=factor,
                )
            )
    return tasks


def model_tiling(meta: Any, geobox: Any, config: RunConfig) -> tuple[int, int]:
    """``(factor, halo)``: model pixels per output pixel, and the halo in output pixels.

    The halo is the model's receptive field unless the config gives one; either way it is
    rounded up so that every tile and halo edge falls on the model's alignment (Dynamic World
    halves its grid once: windows cut at odd offsets would see another half-size grid).

    Raises:
        ConfigError: the output resolution is coarser than the model's but not a multiple of
            it, or the tile size breaks the model's alignment.
    """
    import math

    from hlsmap.inference.contract import grid_factor, run_halo

    factor = grid_factor(abs(float(geobox.resolution.x)), meta.resolution)
    align = int(meta.alignment)
    # output pixels whose model-grid side is a multiple of the alignment
    step = align // math.gcd(align, factor)
    if config.tile_size % step:
        raise ConfigError(
            f"tile size {config.tile_size} px breaks the model's {align}-pixel alignment;"
            f" use a multiple of {step} (e.g. {config.tile_size + step - config.tile_size % step})"
        )
    halo = run_halo(meta, factor) if config.halo is None else int(config.halo)
    return factor, -(-halo // step) * step


def _open_client(client: Any, config: RunConfig) -> tuple[Any, list[Any]]:
    """The client to use and what to close (:func:`hlsmap.inference.cluster.open_client`)."""
    return open_client(client, config.scheduler, config.n_workers, config.threads_per_worker)


def _save_model_if_needed(model: Any, out_dir: Path) -> str:
    """A model directory for the workers: the given path, or ``(net, meta)`` saved once."""
    if isinstance(model, str | os.PathLike):
        from hlsmap.model import load_model
        from hlsmap.model.zoo import resolve_known

        # fail here, before any cluster starts, with a clear ModelError (corrupt weights too)
        load_model(model)
        return str(resolve_known(model).resolve())  # a known model's name: its cached copy
    try:
        net, meta = model
    except (TypeError, ValueError):
        raise ConfigError("model must be a saved model directory or a (net, meta) pair") from None
    from hlsmap.model import save_model

    path = out_dir / "model"
    save_model(path, net, meta)
    return str(path.resolve())


def run_region(
    items: Sequence[Any],
    geobox: Any,
    model: Any,
    out_dir: str | os.PathLike[str],
    periods: Sequence[Any],
    *,
    config: RunConfig | None = None,
    client: Any = None,
    progress: bool = True,
    mosaic: bool = True,
) -> RunResult:
    """Map a region: every observation of ``items`` predicted, consensus per period, COGs.

    Args:
        items: STAC items (from :func:`hlsmap.search.search`).
        geobox: the output grid of the region (``Region.geobox()``).
        model: a saved model directory, or a ``(net, meta)`` pair (saved under ``out_dir``).
        out_dir: output folder: ``tiles/`` (per-tile results), ``<period>/<layer>.tif``
            (region COGs), ``run.log`` (JSON lines, one per tile and run).
        periods: the consensus periods (:class:`hlsmap.periods.Period`).
        config: tiling, processing and cluster options.
        client: a ``distributed.Client`` or a scheduler address; default: ``config.scheduler``
            or a new ``LocalCluster``.
        progress: show a progress bar (tiles, observations, pixel-observations/s).
        mosaic: write the region COGs; ``False`` leaves the tiles only, for a caller that
            streams its own products from them (``TileMosaic(result.tasks, geobox, period)``).

    Returns:
        A :class:`RunResult`; tiles that kept failing are listed in ``failed`` (their area is
        no data in the mosaics) and a rerun retries only them.
    """
    from hlsmap.outputs.lock import out_lock

    config = config or RunConfig()
    if not periods:
        raise ConfigError("give at least one period to map (for example the year 2024)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a folder for the run's outputs")
    with out_lock(out):
        _remove_leftovers(out)
        model_dir = _save_model_if_needed(model, out)
        items, sensors = _readable_items(items, model_dir)
        start = time.perf_counter()
        tasks = plan_tasks(items, geobox, model_dir, out, periods, config)
        (out / "tiles").mkdir(exist_ok=True)
        reports, failed, recomputed = _execute(tasks, out, client, config, progress)
        mosaics = {}
        if mosaic:
            mosaics = write_mosaics(tasks, geobox, out, [p.name for p in periods], config.scheme)
        result = RunResult(out, len(tasks), reports, failed, mosaics,
                           time.perf_counter() - start, tasks, recomputed, sensors)  # fmt: skip
        log_event(out, {"event": "run", "tiles": len(tasks), "skipped": result.skipped,
                         "recomputed": recomputed, "failed": len(failed),
                         "missing_tiles": [list(k) for k in sorted(failed)],
                         "seconds": round(result.seconds, 3),
                         "pixel_observations": result.pixel_observations,
                         "dropped_granules": len(result.dropped_granules),
                         "sensors": sensors})  # fmt: skip
        write_run_report(result)
    return result


def _readable_items(
    items: Sequence[Any], model_dir: str
) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """The items the model can read, and per sensor the granules used and skipped (logged).

    Raises:
        ConfigError: granules were found, but none of a sensor the model reads.
    """
    from hlsmap.inference.contract import sensor_usage, split_items
    from hlsmap.model import read_metadata

    meta = read_metadata(model_dir)
    used, unusable = split_items(items, meta)
    for sensor, info in unusable.items():
        log.warning("%d %s granule(s) skipped: %s", info["granules"], sensor, info["reason"])
    if items and not used:
        why = "; ".join(info["reason"] for info in unusable.values())
        raise ConfigError(
            f"none of the {len(items)} granule(s) found can feed the model ({why}); search a"
            " sensor that has its bands (see `hlsmap sensors`) or use another model"
        )
    return used, sensor_usage(used, unusable)


def _remove_leftovers(out: Path) -> None:
    """Delete what killed writes left in ``out`` (the caller holds the folder's lock)."""
    from hlsmap.outputs.atomic import remove_stale_temps

    removed = remove_stale_temps(out)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run in %s",
                 len(removed), out)  # fmt: skip


def _execute(
    tasks: list[TileTask], out: Path, client: Any, config: RunConfig, progress: bool
) -> tuple[list[TileReport], dict[tuple[int, int], str], dict[str, int]]:
    from distributed import as_completed

    from hlsmap.inference.progress import RunProgress

    reports: list[TileReport] = []
    failed: dict[tuple[int, int], str] = {}
    todo, recomputed = plan_resume(tasks)
    if recomputed:
        why = "; ".join(f"{n} tile(s): {r}" for r, n in sorted(recomputed.items()))
        log.warning("%s: recomputing tiles made from other inputs (%s)", out, why)
        log_event(out, {"event": "resume", "recomputed": recomputed})
    for t in tasks:
        if t not in todo:
            reports.append(run_tile(t))  # reads the stored report, no work
    bar = RunProgress(len(tasks), enabled=progress)
    bar.advance_skipped(len(reports))
    if not todo:
        bar.close()
        return reports, failed, recomputed
    c, to_close = _open_client(client, config)
    try:
        futures = c.map(run_tile, todo, pure=False, key=[_key(t) for t in todo])
        by_key = {f.key: t for f, t in zip(futures, todo, strict=True)}
        for fut in as_completed(futures):
            task = by_key[fut.key]
            try:
                rep = fut.result()
            except Exception as exc:
                # TileFailedError (reads kept failing) or a worker-side bug: the other tiles
                # still complete, the run reports this one missing and a rerun retries it
                # (redact: a read error quotes the href, a signed one included)
                failed[task.index] = (
                    redact(exc) if isinstance(exc, HlsmapError) else redact(repr(exc))
                )
                log_event(out, {"event": "tile", "index": task.index, "status": "failed",
                                 "error": failed[task.index]})  # fmt: skip
                log.error("tile %s failed: %s", task.index, failed[task.index])
                bar.advance_failed()
                continue
            reports.append(rep)
            log_event(out, {"event": "tile", "status": "done", **json.loads(rep.to_json())})
            if rep.dropped_granules:
                log.warning("tile %s: %s were skipped (see run.log)", task.index,
                            dropped_summary(rep.dropped_granules))  # fmt: skip
            bar.advance(rep)
    except KeyboardInterrupt:
        done = len(reports)
        log_event(out, {"event": "interrupted", "tiles": len(tasks), "done": done})
        log.warning("interrupted: %d of %d tile(s) of %s are done and kept; stopping the "
                    "cluster", done, len(tasks), out)  # fmt: skip
        raise
    finally:
        bar.close()
        for obj in to_close:
            obj.close()
    return reports, failed, recomputed


def _key(task: TileTask) -> str:
    # unique per run and tile, so two runs sharing a cluster never share results
    return (
        f"hlsmap-tile-{task.index[0]}-{task.index[1]}-{abs(hash(task.out_path)):x}-{time.time_ns()}"
    )


def predict_region(
    source: Any,
    region: Any,
    model: Any,
    out_dir: str | os.PathLike[str],
    periods: Sequence[Any],
    *,
    sensors: Sequence[str] = ("L30", "S30"),
    max_cloud: float | None = None,
    resolution: float | None = None,
    crs: str | None = None,
    config: RunConfig | None = None,
    client: Any = None,
    progress: bool = True,
) -> RunResult:
    """Search a source for a region's observations over ``periods`` and :func:`run_region` them.

    Args:
        source: ``"pc"``, ``"nasa"``, a STAC API URL or a static catalog (see
            :func:`hlsmap.search.search`).
        region: a :class:`hlsmap.region.Region`; its grid at ``resolution`` / ``crs`` is the
            output grid.
        model, out_dir, periods, config, client, progress: as for :func:`run_region`.
        sensors: sensors to search.
        max_cloud: skip granules with more cloud cover (percent).
        resolution: output pixel size in metres (default: the model's).
        crs: output CRS (default: the region's UTM zone).
    """
    from hlsmap.search import search

    if not periods:
        raise ConfigError("give at least one period to map (for example the year 2024)")
    if isinstance(model, str | os.PathLike):
        from hlsmap.model import load_model

        _, meta = load_model(model)  # a corrupt model fails here, before any search or cluster
    else:
        meta = model[1]
    if resolution is None:
        resolution = float(meta.resolution)
    from hlsmap.inference.contract import usable_sensors

    usable_sensors(meta, sensors, model=f"model {model}" if isinstance(model, str) else "the model")
    start = min(p.start for p in periods)
    end = max(p.end for p in periods) - np.timedelta64(1, "D")  # periods end exclusive
    items = search(
        source, region=region, datetime=f"{start}/{end}", sensors=tuple(sensors),
        max_cloud=max_cloud,
    )  # fmt: skip
    geobox = region.geobox(resolution=resolution, crs=crs)
    return run_region(
        items, geobox, model, out_dir, periods, config=config, client=client, progress=progress
    )


def with_options(config: RunConfig, **options: Any) -> RunConfig:
    """A copy of ``config`` with some :class:`TileOptions` fields replaced."""
    return replace(config, options=replace(config.options, **options))
