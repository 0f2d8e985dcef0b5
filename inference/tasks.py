"""One tile of a region run: load its cube -> predict every observation -> consensus -> write.

:func:`run_tile` is the unit of work the region runner hands to Dask. It is a plain function of
a picklable :class:`TileTask`, so any Dask worker (thread, process or remote machine with the
same files) can run it. Its output is one ``.npz`` file per tile, written atomically, that also
holds the tile's resume key (:mod:`hlsmap.inference.resume`): a tile whose file exists with the
same key is done, which is how a killed run resumes; a changed key computes the tile again.

Memory is bounded by the tile: observations are loaded and predicted in batches of
``time_batch``, and the consensus keeps fixed-size running sums.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import CorruptRasterError, RemoteError, TileFailedError
from hlsmap.inference.batch_reads import _read_batch as _read_batch  # (tests import it here)
from hlsmap.inference.granules import GranuleGuard, dropped_summary
from hlsmap.redact import redact

log = logging.getLogger("hlsmap.inference")

READ_ERRORS: tuple[type[BaseException], ...] = (CorruptRasterError, RemoteError, OSError)
"""Failures worth retrying: reads of remote or local rasters (network hiccups, throttling)."""

LAYERS = ("class", "confidence", "n_valid", "cloud_share")


@dataclass(frozen=True)
class TileOptions:
    """How a tile is processed (shared by every tile of a run).

    Attributes:
        window: sliding-window side for the model (pixels); ``None`` (default) runs each tile
            plus its halo as one window: the halo already gives the model its context, so
            windows inside a tile would only repeat work in their overlaps.
        overlap: blend zone between windows (pixels).
        batch_size: windows per model call (default: 2 per device).
        time_batch: observations loaded and predicted at once.
        rule: consensus rule (``mean_prob``, ``mode``, ``weighted_mode``).
        min_valid: valid observations a pixel needs to be mapped.
        balance: ``"month"`` (every calendar month weighs the same) or ``"none"``; see
            :class:`hlsmap.consensus.ConsensusAccumulator`.
        retries: extra attempts after a read failure.
        retry_wait: seconds before the first retry (doubles each time).
        compute_dtype: ``None`` (the model's own), ``"bfloat16"`` (everything in bf16: GPUs)
            or ``"bf16_dots"`` (CPU: wide convolutions as bf16 matrix products, see
            :mod:`hlsmap.inference.fastconv`).
        runtime: ``"jax"`` (the jitted sharded function) or ``"openvino"`` (the U-Net exported
            to OpenVINO, the fastest CPU kernel; ``compute_dtype="bfloat16"`` runs it in bf16).
        fmask_first: read each batch's Fmask first and the bands only of observations with a
            clear pixel on the tile (all-cloud observations cost one layer, not seven).
        prefetch: time batches read ahead in a background thread while the model predicts
            the current one (0: read and predict in turn). Reads spend most of their time in
            GDAL, which releases the GIL, so they overlap the model's compute; memory grows
            by one batch per prefetched batch.
        reader: how :func:`hlsmap.cube.load_cube` reads (``"auto"``: granules on the tile's
            grid are pasted directly, the rest through odc-stac; ``"odc"``: all odc-stac).
        output: per-observation output handed to consensus (``"probs"``).
        loader: replaces :func:`hlsmap.cube.load_cube` (same signature; called once per time
            batch with ``chunks=None``); for tests and custom data sources. Must be picklable
            for process-based clusters.
        save_predictions: also keep every observation's prediction of the tile in a
            :mod:`hlsmap.predictions` store beside the tile file (``tile_*.predictions.zarr``),
            for ``hlsmap consensus`` / ``hlsmap alerts`` later (uint8: 10 bytes per pixel and
            observation).
        strict: a granule that cannot be read fails its tile (after the retries) instead of
            being skipped (see :mod:`hlsmap.inference.granules`).
        probabilities: also keep each period's per-class mean probabilities (uint8 x 255,
            the 9 surface classes) in the tile file (layer ``probs``): the ``probabilities``
            product and the teacher consensus of ``hlsmap distill``.
        aggregate: how a finer model grid's prediction becomes an output pixel (``factor``
            > 1): ``"mode"`` (the share of model pixels choosing each class) or ``"mean"``
            (the mean probability of the valid model pixels: a teacher's soft consensus).
    """

    window: int | None = None
    overlap: int = 32
    batch_size: int | None = None
    time_batch: int = 8
    rule: str = "mean_prob"
    min_valid: int = 1
    balance: str = "month"
    retries: int = 2
    retry_wait: float = 1.0
    compute_dtype: str | None = None
    runtime: str = "jax"
    fmask_first: bool = True
    prefetch: int = 1
    reader: str = "auto"
    loader: Callable[..., Any] | None = None
    save_predictions: bool = False
    strict: bool = False
    probabilities: bool = False
    aggregate: str = "mode"


@dataclass(frozen=True)
class TileTask:
    """Everything one tile task needs.

    Attributes:
        index: ``(row, col)`` of the tile in the region's tile grid.
        geobox: the tile's output grid (no halo).
        halo: context pixels loaded around the tile and cropped after prediction.
        items: STAC item dicts that overlap the tile and its halo.
        out_path: the tile's result file (``.npz``).
        model_dir: a saved model directory readable by the worker.
        periods: the consensus periods.
        options: processing options.
        tile_side: the side of a full tile of the run (edge tiles are smaller); with
            ``options.window=None`` every tile runs in one window of ``tile_side + 2 * halo``.
        key: the tile's resume key (:func:`hlsmap.inference.resume.tile_key`), stored in the
            tile file; empty: the file is reused whatever made it (as before resume keys).
        factor: model pixels per output pixel along each axis (1: the model runs on the
            output grid; 3: a 10 m model making 30 m maps, its predictions aggregated by mode,
            see :mod:`hlsmap.inference.contract`). ``halo`` stays in output pixels.
    """

    index: tuple[int, int]
    geobox: Any
    halo: int
    items: tuple[dict[str, Any], ...]
    out_path: str
    model_dir: str
    periods: tuple[Any, ...]
    options: TileOptions = field(default_factory=TileOptions)
    tile_side: int = 0
    key: dict[str, str] = field(default_factory=dict)
    factor: int = 1


@dataclass
class TileReport:
    """What one tile task did (also stored inside the tile file, so resumed runs report it).

    ``dropped_granules``: the granules that could not be read and were skipped, each
    ``{"item", "collection", "reason"}`` (the reason names the file and the cause, URLs
    redacted); their observations are missing from the tile's maps.
    """

    index: tuple[int, int]
    shape: tuple[int, int]
    n_observations: int = 0
    seconds: float = 0.0
    read_s: float = 0.0
    read_busy_s: float = 0.0
    predict_s: float = 0.0
    consensus_s: float = 0.0
    write_s: float = 0.0
    attempts: int = 1
    skipped: bool = False
    dropped_granules: list[dict[str, str]] = field(default_factory=list)

    @property
    def pixel_observations(self) -> int:
        """Pixels of the tile times observations predicted."""
        return self.shape[0] * self.shape[1] * self.n_observations

    def to_json(self) -> str:
        """The report as JSON (without ``skipped``, which describes one run)."""
        d = asdict(self)
        d.pop("skipped")
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str, skipped: bool = False) -> TileReport:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        d["index"], d["shape"] = tuple(d["index"]), tuple(d["shape"])
        return cls(**d, skipped=skipped)


# One compiled predictor per worker process and configuration: compiling is the expensive part,
# and every tile of a run has the same window shape, so a worker compiles once.
_PREDICTORS: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def get_predictor(
    model_dir: str, options: TileOptions, window: int | None = None
) -> tuple[Any, Any]:
    """``(Predictor, ModelMetadata)`` for a model directory, cached per process.

    ``window`` overrides ``options.window`` (the runner passes the haloed tile side when
    ``options.window`` is ``None``; 256 when both are ``None``).
    """
    window = window or options.window or 256
    key = (
        str(Path(model_dir).resolve()),
        window,
        options.overlap,
        options.batch_size,
        options.compute_dtype,
        options.runtime,
    )
    with _LOCK:
        if key not in _PREDICTORS:
            from hlsmap.inference.predict import Predictor
            from hlsmap.model import load_model

            net, meta = load_model(model_dir)
            dtype = None
            if options.compute_dtype == "bf16_dots":
                from hlsmap.inference.fastconv import use_bf16_dots

                net = use_bf16_dots(net)
            elif options.compute_dtype is not None:
                import jax.numpy as jnp

                dtype = jnp.dtype(options.compute_dtype)
            predictor = Predictor(
                net,
                normalize=meta.normalize,
                window=window,
                overlap=options.overlap,
                batch_size=options.batch_size,
                compute_dtype=dtype,
                bands=meta.bands,
                runtime=options.runtime,
            )
            _PREDICTORS[key] = (predictor, meta)
        return _PREDICTORS[key]


def read_tile_file(path: str | os.PathLike[str]) -> tuple[dict[str, dict[str, np.ndarray]], str]:
    """``({period: {layer: array}}, report_json)`` from a tile file."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as z:
        report = str(z["report"])
        for key in z.files:
            if "/" in key:
                period, layer = key.split("/", 1)
                layers.setdefault(period, {})[layer] = np.asarray(z[key])
    return layers, report


def _write_tile_file(
    path: Path,
    layers: dict[str, dict[str, np.ndarray]],
    report: str,
    key: dict[str, str] | None = None,
) -> None:
    from hlsmap.inference.resume import KEY_ENTRY
    from hlsmap.outputs.atomic import atomic_path

    arrays = {f"{p}/{k}": v for p, d in layers.items() for k, v in d.items()}
    if key:
        arrays[KEY_ENTRY] = np.array(json.dumps(key, sort_keys=True))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, report=np.array(report), **arrays)  # type: ignore[arg-type]


def is_done(task: TileTask) -> bool:
    """The tile's file exists and was made from this task's inputs (its resume key)."""
    from hlsmap.inference.resume import reuse_verdict

    out = Path(task.out_path)
    if not task.key:
        return out.exists()
    return reuse_verdict(out, task.key) is None


def run_tile(task: TileTask) -> TileReport:
    """Process one tile (skipping it when it is done: :func:`is_done`); retry read failures.

    Raises:
        TileFailedError: the reads kept failing after ``options.retries`` retries.
    """
    out = Path(task.out_path)
    if is_done(task):
        _, report = read_tile_file(out)
        return TileReport.from_json(report, skipped=True)
    opts = task.options
    last: BaseException | None = None
    for attempt in range(1, opts.retries + 2):
        try:
            return _run_tile_once(task, attempt)
        except READ_ERRORS as exc:
            last = exc
            log.warning("tile %s: read failed (attempt %d): %s", task.index, attempt, redact(exc))
            if attempt <= opts.retries:
                time.sleep(opts.retry_wait * 2 ** (attempt - 1))
    raise TileFailedError(
        f"tile {task.index} failed after {opts.retries + 1} attempts: {redact(last)}. Its inputs "
        "could not be read; check the files/URLs and rerun: finished tiles are kept and skipped"
    ) from None  # the cause's rasterio objects do not always pickle back from a worker


def _run_tile_once(task: TileTask, attempt: int) -> TileReport:
    from hlsmap.consensus import ConsensusAccumulator
    from hlsmap.inference.contract import aggregate_mean, aggregate_mode
    from hlsmap.inference.series import observation_indices
    from hlsmap.items import items_from_dicts

    start = time.perf_counter()
    opts = task.options
    shape = (int(task.geobox.shape[0]), int(task.geobox.shape[1]))
    h, k = task.halo, task.factor
    # every full tile of a run has the same haloed side: one compiled window shape
    side = opts.window or ((task.tile_side or max(shape)) + 2 * h) * k
    predictor, meta = get_predictor(task.model_dir, opts, side)
    report = TileReport(index=task.index, shape=shape, attempts=attempt)
    acc = ConsensusAccumulator(
        shape, list(task.periods), rule=opts.rule, min_valid=opts.min_valid, balance=opts.balance
    )
    crop = (slice(h * k, (h + shape[0]) * k), slice(h * k, (h + shape[1]) * k))
    writer = None
    if opts.save_predictions:
        from hlsmap.predictions import PredictionWriter

        # written (atomically) before the tile file, which marks the tile as done
        writer = PredictionWriter(predictions_path(task.out_path), task.geobox)
    guard = GranuleGuard(opts.retries, opts.retry_wait, report.dropped_granules, str(task.index))
    if task.items:
        # tasks share a worker process, one thread each: pystac's first parse is not
        # thread-safe (see hlsmap.items)
        items = items_from_dicts(task.items)
        geobox = task.geobox.pad(h)
        if k > 1:  # the model's finer grid over the same footprint
            geobox = geobox.zoom_out(1 / k)
        batches = observation_batches(items, opts.time_batch)
        reads = _prefetched(
            batches, lambda b: _read_batch(opts, b, geobox, meta.bands, guard), opts
        )
        while True:
            t0 = time.perf_counter()
            got = next(reads, None)
            if got is None:
                break
            (bands, fmask, sensors, times), busy = got
            t1 = time.perf_counter()
            report.read_busy_s += busy
            if not sensors:  # every granule of the batch was skipped
                continue
            preds = predictor.predict_observations(bands, fmask, sensors, times, crop=crop)
            # the regional NDVI/MNDWI series `consensus --season auto` detects seasons from
            series = observation_indices(bands, fmask, meta.bands, crop) if writer else None
            t2 = time.perf_counter()
            for i, p in enumerate(preds):
                probs, valid, observed = p.probs, p.valid, p.observed
                if k > 1:
                    agg = aggregate_mean if opts.aggregate == "mean" else aggregate_mode
                    probs, valid, observed = agg(probs, valid, observed, k)
                acc.update(probs, valid, observed, p.time)
                if writer is not None:
                    idx = series[i] if series else {}
                    writer.append(probs, valid, observed, p.time, sensor=p.sensor,
                                  ndvi=idx.get("ndvi"), mndwi=idx.get("mndwi"))  # fmt: skip
            t3 = time.perf_counter()
            report.read_s += t1 - t0
            report.predict_s += t2 - t1
            report.consensus_s += t3 - t2
            report.n_observations += len(preds)
    if report.dropped_granules and report.n_observations < opts.min_valid:
        raise TileFailedError(
            f"tile {task.index}: {dropped_summary(report.dropped_granules)} could not be read "
            f"and were skipped, leaving {report.n_observations} observation(s), fewer than "
            f"min_valid={opts.min_valid}; fix or drop those granules and rerun"
        )
    if writer is not None and writer.count:
        writer.close()
    t0 = time.perf_counter()
    layers = {}
    for period in acc.periods:
        res = acc.result_arrays(period.name)
        layers[period.name] = {k: res[k] for k in LAYERS}
        if opts.probabilities:
            layers[period.name]["probs"] = acc.mean_probabilities(period.name)
    report.consensus_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    report.write_s = 0.0
    report.seconds = time.perf_counter() - start
    _write_tile_file(Path(task.out_path), layers, report.to_json(), task.key)
    report.write_s = time.perf_counter() - t0
    report.seconds = time.perf_counter() - start
    return report


def _prefetched(
    batches: list[list[Any]], read: Callable[[list[Any]], Any], opts: TileOptions
) -> Any:
    """``(read(batch), seconds the read took)`` for each batch, in order, with up to
    ``opts.prefetch`` batches read ahead in one background thread (a read error surfaces
    when its batch is due)."""

    def timed(batch: list[Any]) -> tuple[Any, float]:
        t0 = time.perf_counter()
        return read(batch), time.perf_counter() - t0

    if opts.prefetch <= 0:
        for batch in batches:
            yield timed(batch)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(
        1, thread_name_prefix="hlsmap-read", initializer=_lower_priority
    ) as pool:
        pending: deque[Any] = deque()
        try:
            for batch in batches:
                pending.append(pool.submit(timed, batch))
                if len(pending) > opts.prefetch:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()


READ_NICE = 10
"""How much lower the read-ahead thread's priority is (Linux nice steps; 0 turns it off)."""


def _lower_priority() -> None:
    """Lower the calling thread's scheduling priority by :data:`READ_NICE` (Linux only).

    Why: the model's inference threads split each call into equal parts, one per core, and a
    call ends with its slowest part. A read thread of the same priority takes a core from one of
    them for a whole time slice, stalling the others at the end of the call; at a lower
    priority the reads fill the gaps between model calls instead (the host-side work of a
    batch, the waits). One 512 px tile on 2 cores, 3 runs each: 1.44-1.66 M pixel-observations/s
    at the same priority, 1.70-1.99 M at nice +10.
    """
    if not READ_NICE or not sys.platform.startswith("linux"):
        return  # elsewhere the native thread id is not a valid setpriority target
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(
            os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + READ_NICE)
        )


def predictions_path(tile_path: str | os.PathLike[str]) -> Path:
    """Where a tile's per-observation predictions go (``tile_R_C.predictions.zarr``)."""
    p = Path(tile_path)
    return p.with_name(f"{p.stem}.predictions.zarr")


def observation_batches(items: Sequence[Any], size: int) -> list[list[Any]]:
    """Items in batches of ``size`` observations, in time order.

    An observation is what the cube fuses into one time step: the granules of one sensor
    (collection) on one solar day. Each batch is loaded eagerly on its own, so a tile never
    builds a lazy graph over its whole year (building and optimizing that graph cost more than
    the reads themselves: 2.7x slower on the synthetic world).
    """
    from collections import defaultdict

    from hlsmap.cube import solar_day

    groups: dict[tuple[str, Any], list[Any]] = defaultdict(list)
    for item in items:
        groups[(item.collection_id or "", solar_day(item))].append(item)
    keys = sorted(groups, key=lambda k: (min(i.datetime for i in groups[k]), k))
    return [
        [item for k in keys[s : s + size] for item in groups[k]] for s in range(0, len(keys), size)
    ]
