"""Consensus map products: predictions files -> period maps -> COGs, quicklooks, stats, STAC.

:func:`run_consensus` is what ``hlsmap consensus`` calls. Output layout::

    OUT/collection.json                      STAC collection (self-contained, relative hrefs)
    OUT/seasons.json                         the seasons used (given or detected), if any
    OUT/hlsmap-<period>/hlsmap-<period>.json STAC item
    OUT/hlsmap-<period>/class.tif            class map (codes 1..9, 0 no data; colour table)
    OUT/hlsmap-<period>/class.tif.aux.xml    its class names, colours, attribute table (GDAL PAM)
    OUT/hlsmap-<period>/confidence.tif       uint8 percent (0 no data)
    OUT/hlsmap-<period>/n_valid.tif          uint16 valid observations (0: none, no data)
    OUT/hlsmap-<period>/cloud_share.tif      uint8 percent of observations lost to cloud (255 none)
    OUT/hlsmap-<period>/fallback.tif         uint8 1 where the fallback period filled (if used)
    OUT/hlsmap-<period>/quicklook.png, area.json, area.csv
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hlsmap.classes import remap_v2
from hlsmap.consensus import ConsensusAccumulator
from hlsmap.errors import ConfigError
from hlsmap.outputs import cog, coverage, pam, quicklook, stac, stats
from hlsmap.outputs.atomic import write_text
from hlsmap.outputs.blocks import ArraySource, Decimator, block_windows
from hlsmap.outputs.provenance import DEFAULT_LICENSE, Provenance
from hlsmap.periods import Period, check_unique, months_of, parse_period, quarters_of
from hlsmap.seasons import SeasonWindows, detect_from_series, given_seasons


@dataclass
class ConsensusConfig:
    """What ``hlsmap consensus`` makes.

    Attributes:
        predictions: predictions stores (:mod:`hlsmap.predictions`) on one grid.
        out_dir: output folder.
        year: the year to map (default: the year with the most observations).
        annual: map the calendar year.
        seasons: ``["wet=11-04", "dry=05-10"]``, or ``["auto"]`` to detect wet/dry from the
            stores' regional NDVI/MNDWI series.
        season_wrap: ``"within"`` (seasons inside the calendar year) or ``"span"``.
        periods: further periods as text (see :func:`hlsmap.periods.parse_period`).
        months, quarters: also map every month / quarter of the year.
        rule, min_valid, balance: see :class:`hlsmap.consensus.ConsensusAccumulator`.
        fallback: ``"year"`` (fill sparse pixels of the other periods from the annual map),
            the name of another period, or ``None``.
        scheme: ``"v1"`` or ``"v2"`` (Impact Observatory's 9 classes) for the class COGs.
        blocksize: COG tile size.
        progress: show a progress bar.
        license: the products' licence (SPDX id) in their STAC.
    """

    predictions: Sequence[Path]
    out_dir: Path
    year: int | None = None
    annual: bool = True
    seasons: Sequence[str] = ()
    season_wrap: str = "within"
    periods: Sequence[str] = ()
    months: bool = False
    quarters: bool = False
    rule: str = "mean_prob"
    min_valid: int = 1
    balance: str = "month"
    fallback: str | None = None
    scheme: str = "v1"
    blocksize: int = 512
    progress: bool = True
    license: str = DEFAULT_LICENSE


@dataclass
class ConsensusRun:
    """What :func:`run_consensus` made."""

    collection: Path
    items: list[Any]
    periods: list[Period]
    seasons: SeasonWindows | None
    n_observations: int
    results: dict[str, xr.Dataset] = field(repr=False)


def open_stores(paths: Sequence[Path]) -> tuple[list[xr.Dataset], Any]:
    """Open predictions stores and check they share one grid."""
    from hlsmap.predictions import open_predictions, predictions_geobox

    if not paths:
        raise ConfigError("give at least one predictions store (.zarr)")
    stores = [open_predictions(p) for p in paths]
    geobox = predictions_geobox(stores[0])
    for p, ds in zip(paths[1:], stores[1:], strict=True):
        if predictions_geobox(ds) != geobox:
            raise ConfigError(
                f"{p} is on another grid than {paths[0]}; run consensus once per tile"
            )
    return stores, geobox


def observations(stores: Sequence[xr.Dataset], sort: bool, progress: bool) -> Iterator[Any]:
    """Every observation of the stores (time order when ``sort``), with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from hlsmap.predictions import iter_observations

    total = sum(ds.sizes["time"] for ds in stores)
    if sort:
        # merge the stores by time without loading more than one observation at a time
        keyed = [(t, i, j) for i, ds in enumerate(stores) for j, t in enumerate(ds["time"].values)]
        order = sorted(keyed, key=lambda k: (k[0], k[1], k[2]))
        sources: Iterator[Any] = (
            next(iter_observations(stores[i].isel(time=[j]), sort=False)) for _, i, j in order
        )
    else:
        sources = (o for ds in stores for o in iter_observations(ds, sort=False))
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=True,
    ) as bar:
        task = bar.add_task("observations", total=total)
        for obs in sources:
            yield obs
            bar.advance(task)


def _seasons(
    cfg: ConsensusConfig, stores: Sequence[xr.Dataset], year: int | None = None
) -> SeasonWindows | None:
    """Given seasons, or wet/dry detected from the stores' series within ``year``.

    Detection reads the observations of the year being mapped only (the stores' own period):
    a store of a ``--season-wrap span`` run also holds the end of the previous year, and
    stores gathered over several years would blend their climates.
    """
    if not cfg.seasons:
        return None
    if list(cfg.seasons) != ["auto"]:
        if "auto" in cfg.seasons:
            raise ConfigError("--season auto cannot be combined with given seasons")
        return given_seasons(cfg.seasons)
    times = np.concatenate([ds["time"].values for ds in stores])
    own = np.ones(times.shape, bool)
    if year is not None:
        own = times.astype("datetime64[Y]").astype(int) + 1970 == year
    series = {}
    for index in ("ndvi", "mndwi"):
        if all(index in ds for ds in stores):
            v = np.concatenate([np.asarray(ds[index].values, np.float64) for ds in stores])[own]
            if np.isfinite(v).sum() > 0:
                series[index] = v
    if not series:
        raise ConfigError(
            "the predictions stores hold no regional ndvi/mndwi series"
            + ("" if year is None else f" in {year}")
            + ", so seasons cannot be detected; give them with --season wet=MM-MM"
            " --season dry=MM-MM (or rerun map/predict with --save-predictions)"
        )
    times = times[own]
    # greenness first (the most direct season signal); wetness where no NDVI was stored
    index = "ndvi" if "ndvi" in series else "mndwi"
    return detect_from_series(times, series[index], index=index)


def build_periods(
    cfg: ConsensusConfig, year: int, seasons: SeasonWindows | None
) -> tuple[list[Period], Period | str | None]:
    """The periods to map and the fallback, from the config."""
    periods: list[Period] = [Period.year(year)] if cfg.annual else []
    if seasons is not None:
        if cfg.season_wrap not in ("within", "span"):
            raise ConfigError(f"season wrap {cfg.season_wrap!r} is neither within nor span")
        periods += seasons.periods(year, wrap=cfg.season_wrap)  # type: ignore[arg-type]
    if cfg.months:
        periods += months_of(year)
    if cfg.quarters:
        periods += quarters_of(year)
    periods += [parse_period(p, year=year) for p in cfg.periods]
    periods = check_unique(periods)
    if not periods:
        raise ConfigError("nothing to map: keep the annual map or add seasons/periods")
    fallback: Period | str | None = cfg.fallback
    if cfg.fallback == "year":
        fallback = Period.year(year)
    return periods, fallback


LAYER_META: dict[str, dict[str, Any]] = {
    "confidence": {"nodata": 0, "units": "%"},  # a mapped pixel's confidence is >= 1/9
    "n_valid": {"nodata": 0, "units": "count"},  # no valid observation: no data, as the map
    "cloud_share": {"nodata": 255, "units": "%"},
}
"""Nodata and unit of each quality layer (recorded in the COG and in STAC ``raster:bands``)."""


def write_period_products(
    out_dir: Path,
    period: Period,
    result: Any,
    geobox: Any,
    scheme: str = "v1",
    blocksize: int = 512,
    properties: dict[str, Any] | None = None,
    provenance: Provenance | None = None,
) -> Any:
    """Write one period's COGs, quicklook and statistics; return its STAC item.

    ``result`` is the period's layers: an ``xarray.Dataset`` (``class``, ``confidence``,
    ``n_valid``, ``cloud_share``, maybe ``fallback``) or any
    :class:`hlsmap.outputs.blocks.LayerSource` (a region run's
    :class:`hlsmap.inference.mosaic.TileMosaic`). Every product is made in one pass over
    ``blocksize`` windows: the COGs streamed, the area counted and the quicklook decimated
    block by block, so memory is bounded by a window, not the map. The COGs' tags and the
    item say exactly which days the period covers (:mod:`hlsmap.outputs.coverage`); the
    item's source granules are ``provenance``'s of those days.
    """
    import contextlib

    source = result if hasattr(result, "read") else ArraySource(result)
    item_id = f"hlsmap-{period.name}"
    d = out_dir / item_id
    tags = coverage.coverage_tags(period)
    layers: dict[str, dict[str, Any]] = {"class": cog.class_cog_options(scheme, tags)}
    for name, meta in LAYER_META.items():
        layers[name] = {**meta, "tags": tags, "description": name.replace("_", " ")}
    if "fallback" in source.dtypes and (properties or {}).get("hlsmap:fallback"):
        layers["fallback"] = cog.categorical_options(FALLBACK, 255, "fallback", tags)
    counts = np.zeros(256, np.int64)
    thumb = Decimator(source.shape, QUICKLOOK_SIZE, np.uint8)
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(
                cog.cog_stream(d / f"{name}.tif", geobox, _dtype(source, name),
                               blocksize=blocksize, **opts)
            )
            for name, opts in layers.items()
        }  # fmt: skip
        for window in block_windows(source.shape, blocksize):
            block = source.read(window)
            codes = _class_codes(block["class"], scheme)
            block["class"] = codes
            for name, writer in writers.items():
                writer.write(window, block[name])
            counts += stats.class_counts(codes)[:256]
            thumb.add(window, codes)
    cogs = {name: w.path for name, w in writers.items()}
    png = quicklook.class_png(
        d / "quicklook.png", thumb.array, title=period.describe(), scheme=scheme
    )
    area_json, area_csv = stats.write_area_rows(
        d / "area", stats.area_rows(counts, geobox, scheme), period=period.name
    )
    extra = {
        "quicklook": stac.file_asset(png, "image/png", d, ("overview",), "quicklook"),
        "area_json": stac.file_asset(area_json, "application/json", d, ("metadata",), "area"),
        "area_csv": stac.file_asset(area_csv, "text/csv", d, ("metadata",), "area"),
    }
    props = {**coverage.coverage_properties(period), **(properties or {})}
    first, last = coverage.envelope(period)
    prov = (provenance or Provenance()).within(first, last, period.months)
    return stac.item_for_cog(
        item_id,
        cogs,
        geobox,
        first,
        last,
        item_dir=d,
        scheme=scheme,
        properties=props,
        extra_assets=extra,
        categories={"fallback": FALLBACK} if "fallback" in cogs else None,
        provenance=prov,
    )


FALLBACK = pam.flag_categories("fallback", "Filled from the fallback period", "Own period")
"""Categories of ``fallback.tif`` (1 where the fallback period filled the pixel)."""


QUICKLOOK_SIZE = 1024
"""Longest side of a quicklook (:func:`hlsmap.outputs.quicklook.class_png`'s ``max_size``)."""


def _dtype(source: Any, name: str) -> np.dtype[Any]:
    """The dtype a layer is written with (class codes: uint8)."""
    return np.dtype(np.uint8) if name == "class" else np.dtype(source.dtypes[name])


def _class_codes(codes: np.ndarray, scheme: str) -> np.ndarray:
    """A block of class codes as written: uint8, remapped to the v2 scheme when asked."""
    if scheme == "v2":
        codes = remap_v2(codes)
    if codes.dtype != np.uint8:
        if codes.size and (codes.min() < 0 or codes.max() > 255):
            raise ConfigError("class codes must fit in uint8 (0..255)")
        codes = codes.astype(np.uint8)
    return np.asarray(codes)


def run_consensus(cfg: ConsensusConfig) -> ConsensusRun:
    """Read predictions stores, stream them through the consensus, write every product."""
    stores, geobox = open_stores(list(cfg.predictions))
    times = np.concatenate([ds["time"].values for ds in stores])
    if times.size == 0:
        raise ConfigError("the predictions stores hold no observations")
    year = cfg.year
    if year is None:
        year = Counter(times.astype("datetime64[Y]").astype(int) + 1970).most_common(1)[0][0]
    seasons = _seasons(cfg, stores, int(year))
    periods, fallback = build_periods(cfg, int(year), seasons)
    acc = ConsensusAccumulator(
        tuple(geobox.shape),
        periods,
        rule=cfg.rule,
        min_valid=cfg.min_valid,
        fallback=fallback,
        geobox=geobox,
        balance=cfg.balance,
    )
    for obs in observations(stores, sort=False, progress=cfg.progress):
        acc.update(obs.probs, obs.valid, obs.observed, obs.time)
    out = Path(cfg.out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give a folder for the outputs")
    props: dict[str, Any] = {
        "hlsmap:rule": cfg.rule,
        "hlsmap:min_valid": cfg.min_valid,
        "hlsmap:balance": cfg.balance,
        "hlsmap:fallback": None if fallback is None else getattr(fallback, "name", fallback),
        "hlsmap:n_observations": int(times.size),
    }
    results, items = {}, []
    prov = Provenance(license=cfg.license)
    for period in periods:
        res = acc.result(period.name)
        results[period.name] = res
        items.append(
            write_period_products(
                out, period, res, geobox, cfg.scheme, cfg.blocksize, props, provenance=prov
            )
        )
    if seasons is not None:
        write_text(out / "seasons.json", json.dumps(seasons.to_dict(), indent=2))
    collection = stac.write_catalog(
        out, items, collection_id="hlsmap-consensus", title=f"hlsmap consensus maps {year}",
        license=cfg.license,
    )  # fmt: skip
    return ConsensusRun(collection, items, periods, seasons, int(times.size), results)
