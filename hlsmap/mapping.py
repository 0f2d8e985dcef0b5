"""The main job: a region and a year in; annual + season maps, change and statistics out.

:func:`plan_map` answers "what would this run do" from the catalog alone (no pixel is read);
:func:`run_map` does it: search -> per-observation inference and streaming consensus per tile on
Dask (:func:`hlsmap.inference.runner.run_region`) -> COG + STAC + PNG + statistics, and change
against the previous year when asked. Reruns resume: tiles finished from the same inputs are
reused, tiles made from other inputs (another model, periods, rule...) are computed again. One
run at a time writes to an output folder (a lock file), and the model is loaded and checked
before anything is searched or started.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hlsmap.errors import OutputError
from hlsmap.runconfig import MapConfig


@dataclass(frozen=True)
class MapPlan:
    """What a run will do, computed without reading pixels.

    Attributes:
        config: the resolved configuration.
        geobox: the output grid.
        tiles: number of tiles of the output grid.
        items: items found per year and sensor (``{2024: {"L30": 40, "S30": 80}}``).
        periods: names of the consensus periods of the mapped year.
        pixel_observations: estimated pixel-observations to classify (items x overlap).
    """

    config: MapConfig
    geobox: Any
    tiles: int
    items: dict[int, dict[str, int]]
    periods: list[str]
    pixel_observations: int
    found: dict[int, list[Any]] = field(default_factory=dict, repr=False)
    outside: dict[int, list[str]] = field(default_factory=dict)
    """Per year, ids of items the source returned whose footprint misses the region (dropped)."""

    def describe(self) -> str:
        """A human-readable summary (what ``hlsmap map --plan`` prints)."""
        g = self.geobox
        lines = [
            f"region: {g.shape[1]} x {g.shape[0]} px at {abs(g.resolution.x):g} m in {g.crs}",
            f"tiles: {self.tiles} of {self.config.tile_size} px (halo {self.config.halo})",
        ]
        for year, per in sorted(self.items.items()):
            counts = ", ".join(f"{s}: {n}" for s, n in sorted(per.items()))
            lines.append(f"items {year}: {sum(per.values())} ({counts})")
        for year, ids in sorted(self.outside.items()):
            lines.append(f"items {year} outside the region (dropped): {len(ids)}")
        lines.append(f"periods: {', '.join(self.periods)}")
        lines.append(f"estimated work: {self.pixel_observations:,} pixel-observations")
        return "\n".join(lines)


def _years(cfg: MapConfig) -> list[int]:
    return [cfg.year - 1, cfg.year] if cfg.change else [cfg.year]


def _period_names(cfg: MapConfig) -> list[str]:
    names = ["annual"]
    if cfg.seasons:
        names += [s.split("=", 1)[0] for s in cfg.seasons]
    elif cfg.detect_seasons:
        names += ["wet", "dry"]
    return names


def check_model(cfg: MapConfig) -> Any:
    """Load the model (weights included) and check the run has a sensor that can feed it.

    Loading it all here, in the run's own process, means a corrupt or truncated model fails
    in seconds, before any search or cluster, not in every worker after both. Sensors that
    lack one of the model's bands (HLS L30 for Dynamic World) are searched, counted and
    skipped (:mod:`hlsmap.inference.contract`); a run left with none fails here.

    Raises:
        ModelError: the model folder is missing, not a model, or corrupt.
        ConfigError: no sensor of the run provides the model's bands.
    """
    from hlsmap.inference.contract import usable_sensors
    from hlsmap.model import load_model

    _, meta = load_model(cfg.model)
    usable_sensors(meta, cfg.sensors, model=f"model {cfg.model}")
    return meta


def with_model_defaults(cfg: MapConfig, meta: Any) -> MapConfig:
    """``cfg`` with the model's grid resolution and halo where ``cfg`` leaves them ``None``.

    Raises:
        ConfigError: a resolution coarser than the model's that is not a multiple of it.
    """
    from hlsmap.inference.contract import grid_factor, run_halo

    res = float(cfg.resolution if cfg.resolution is not None else meta.resolution)
    k = grid_factor(res, meta.resolution)
    halo = cfg.halo if cfg.halo is not None else run_halo(meta, k)
    return dataclasses.replace(cfg, resolution=res, halo=halo)


def plan_map(cfg: MapConfig) -> MapPlan:
    """Search the catalog and size the run; reads no pixels (the model's metadata only)."""
    from odc.geo.geom import Geometry

    from hlsmap.inference.runner import tile_grid
    from hlsmap.model import read_metadata
    from hlsmap.search import search
    from hlsmap.sensors import sensor_for_collection

    cfg = with_model_defaults(cfg, read_metadata(cfg.model))
    assert cfg.resolution is not None
    region = cfg.region
    geobox = region.geobox(resolution=cfg.resolution, crs=cfg.crs)
    grid = tile_grid(geobox, cfg.tile_size)
    per_year: dict[int, dict[str, int]] = {}
    found: dict[int, list[Any]] = {}
    work = 0
    extent = geobox.extent
    pixel_area = abs(geobox.resolution.x * geobox.resolution.y)
    crs = geobox.crs
    assert crs is not None
    outside: dict[int, list[str]] = {}
    for year in _years(cfg):
        dropped: list[tuple[str, str]] = []
        items = search(
            cfg.source, region=region, datetime=str(year), sensors=cfg.sensors,
            max_cloud=cfg.max_cloud, dropped=dropped,
        )  # fmt: skip
        found[year] = items
        if dropped:
            outside[year] = sorted(i for i, _ in dropped)
        per_year[year] = dict(
            Counter(sensor_for_collection(i.collection_id or "").name for i in items)
        )
        for item in items:
            if item.geometry is None:
                work += geobox.shape[0] * geobox.shape[1]
                continue
            overlap = Geometry(item.geometry, "EPSG:4326").to_crs(crs) & extent
            work += int(overlap.area / pixel_area)
    return MapPlan(
        config=cfg,
        geobox=geobox,
        tiles=int(grid.shape[0] * grid.shape[1]),
        items=per_year,
        periods=_period_names(cfg),
        pixel_observations=work,
        found=found,
        outside=outside,
    )


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder (it is created if missing)")
    out.mkdir(parents=True, exist_ok=True)


def write_plan(plan: MapPlan, out: Path) -> Path:
    """Write the plan summary as JSON beside the outputs."""
    _check_out(out)
    path = out / "plan.json"
    doc = {
        "tiles": plan.tiles,
        "items": {str(k): v for k, v in plan.items.items()},
        "periods": plan.periods,
        "pixel_observations": plan.pixel_observations,
        "grid": {"crs": str(plan.geobox.crs), "shape": list(plan.geobox.shape)},
        "items_outside_region": {str(k): v for k, v in plan.outside.items()},
    }
    tmp = path.with_name(".plan.json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path


@dataclass
class MapResult:
    """What :func:`run_map` produced.

    Attributes:
        out: the output folder.
        collection: the STAC collection of every product (``out/collection.json``).
        items: product STAC items by name (``"annual"``, ``"wet"``, ``"dry"``, ``"change"``).
        seasons: the season windows used (given or detected), or ``None``.
        pixel_observations: pixel-observations classified (this run; resumed tiles excluded).
        seconds: wall time.
        failed_tiles: tiles that kept failing (no data in the maps; a rerun retries them).
        resume: per year, tiles reused from an earlier run vs recomputed and why.
        missing: per year, the failed tiles' ``(row, col)`` and error.
    """

    out: Path
    collection: Path
    items: dict[str, Any]
    seasons: Any
    pixel_observations: int
    seconds: float
    failed_tiles: int
    resume: dict[int, str] = field(default_factory=dict)
    missing: dict[int, dict[tuple[int, int], str]] = field(default_factory=dict)


def _season_windows(cfg: MapConfig, items: list[Any], region: Any) -> Any:
    """Given windows, or windows detected from a coarse cube of the year (cheap to read)."""
    from hlsmap.seasons import detect_seasons, given_seasons

    if cfg.seasons:
        return given_seasons(list(cfg.seasons))
    if not cfg.detect_seasons:
        return None
    from hlsmap.cube import load_cube

    # Regional greenness needs no detail: 8x coarser pixels read the COG overviews.
    coarse = load_cube(items, region=region, resolution=(cfg.resolution or 30.0) * 8)
    return detect_seasons(coarse)


def _run_config(cfg: MapConfig) -> Any:
    from hlsmap.inference.predict import PRECISIONS
    from hlsmap.inference.runner import RunConfig
    from hlsmap.inference.tasks import TileOptions

    return RunConfig(
        tile_size=cfg.tile_size,
        halo=cfg.halo,
        options=TileOptions(
            rule=cfg.rule,
            min_valid=cfg.min_valid,
            balance=cfg.balance,
            save_predictions=cfg.save_predictions,
            probabilities=cfg.probabilities,
            runtime=cfg.runtime,
            compute_dtype=PRECISIONS[cfg.precision],
            strict=cfg.strict,
        ),
        scheme="v1",  # products are remapped to v2 when written
        n_workers=cfg.n_workers,
        scheduler=cfg.scheduler,
    )


def _year_periods(cfg: MapConfig, year: int, seasons: Any) -> list[Any]:
    """The periods mapped for ``year``: the calendar year, and the seasons of ``cfg.year``
    (``cfg.season_wrap``: within the year, or spanning from the previous one)."""
    from hlsmap.periods import Period

    periods = [Period.year(year, name=f"annual-{year}")]
    if year == cfg.year and seasons is not None:
        wrap = cfg.season_wrap
        periods += [
            Period.season(f"{name}-{year}", window, year, wrap=wrap)  # type: ignore[arg-type]
            for name, window in seasons.windows.items()
        ]
    return periods


def _items_before(cfg: MapConfig, periods: list[Any], year: int) -> list[Any]:
    """Items of the days before ``year`` that a spanning season covers (Nov-Dec of the year
    before for ``wet=11-04``); the year's own search does not reach them."""
    import numpy as np

    from hlsmap.errors import EmptySearchError
    from hlsmap.search import search

    start = min(p.start for p in periods)
    year_start = np.datetime64(f"{year:04d}-01-01", "D")
    if start >= year_start:
        return []
    last = year_start - np.timedelta64(1, "D")
    try:
        return search(
            cfg.source, region=cfg.region, datetime=f"{start}/{last}", sensors=cfg.sensors,
            max_cloud=cfg.max_cloud,
        )  # fmt: skip
    except EmptySearchError:
        return []  # the season starts before the archive does: it covers what there is


def _provenance(cfg: MapConfig, items: list[Any]) -> Any:
    """Licence, model, source granules and providers of the run's products."""
    from hlsmap.outputs.provenance import Provenance, granules, model_info, source_providers

    return Provenance(
        license=cfg.license,
        model=model_info(cfg.model),
        sources=granules(items),
        providers=tuple(source_providers(cfg.source)),
    )


def _products(
    out: Path,
    result: Any,
    periods: list[Any],
    geobox: Any,
    cfg: MapConfig,
    props: dict[str, Any],
    provenance: Any = None,
) -> dict[str, Any]:
    """Write each period's products (COG + PNG + statistics + STAC item) from the run's tiles.

    The tiles are read window by window (:class:`hlsmap.inference.mosaic.TileMosaic`): the
    products are the only region-wide files, written once, and no step holds the region.
    """
    from hlsmap.inference.mosaic import TileMosaic
    from hlsmap.outputs.maps import write_period_products

    items = {}
    for period in periods:
        source = TileMosaic(result.tasks, geobox, period.name)
        items[period.name] = write_period_products(
            out, period, source, geobox, scheme=cfg.scheme, properties=props,
            provenance=provenance,
        )  # fmt: skip
        if cfg.probabilities:
            _probabilities_product(out, result, geobox, period, items[period.name])
    return items


def _probabilities_product(out: Path, result: Any, geobox: Any, period: Any, item: Any) -> None:
    """The opt-in ``probabilities.tif`` of a period, listed as an asset of its STAC item."""
    from hlsmap.inference.mosaic import PROBS, TileMosaic
    from hlsmap.outputs.probabilities import FILENAME, write_probabilities_cog

    d = out / f"hlsmap-{period.name}"
    path = write_probabilities_cog(
        d / FILENAME, TileMosaic(result.tasks, geobox, period.name, layers=(PROBS,)), geobox
    )
    if hasattr(item, "add_asset"):
        from hlsmap.outputs.stac import file_asset

        item.add_asset("probabilities", file_asset(
            path, "image/tiff; application=geotiff; profile=cloud-optimized", d, ("data",),
            "per-class mean probability x 255 (band i = class code i)",
        ))  # fmt: skip


def run_map(cfg: MapConfig, *, client: Any = None, progress: bool = True) -> MapResult:
    """Map a region for a year: annual and season maps, change when asked, every product.

    Outputs under ``cfg.out``: ``hlsmap-<period>/`` (``class.tif`` with colour table,
    ``confidence.tif``, ``n_valid.tif``, ``cloud_share.tif``, ``quicklook.png``, area statistics,
    a STAC item), ``hlsmap-change-*/`` with ``change=True``, ``collection.json`` over all of them,
    ``run-config.json``, ``plan.json``, ``seasons.json`` and the runner's ``work/`` folder (its
    tile files; tiles already done there are skipped on a rerun). Each product is written once,
    streamed from the tiles window by window, so memory does not grow with the region.
    """
    from hlsmap.outputs.lock import out_lock

    out = Path(cfg.out)
    _check_out(out)
    with out_lock(out):
        return _run_map_locked(cfg, out, client, progress)


def _run_map_locked(cfg: MapConfig, out: Path, client: Any, progress: bool) -> MapResult:
    import time

    from hlsmap.inference.runner import run_region
    from hlsmap.outputs import stac
    from hlsmap.outputs.atomic import remove_stale_temps, write_text

    start = time.perf_counter()
    remove_stale_temps(out)  # what killed writes left; ours alone: we hold the lock
    meta = check_model(cfg)
    cfg = with_model_defaults(cfg, meta)
    cfg.write(out / "run-config.json")
    plan = plan_map(cfg)
    write_plan(plan, out)
    region = cfg.region
    year_items = plan.found[cfg.year]
    seasons = _season_windows(cfg, year_items, region)
    if seasons is not None:
        write_text(out / "seasons.json", json.dumps(seasons.to_dict(), indent=2) + "\n")
    run_config = _run_config(cfg)
    props: dict[str, Any] = {
        "hlsmap:rule": cfg.rule,
        "hlsmap:min_valid": cfg.min_valid,
        "hlsmap:balance": cfg.balance,
        "hlsmap:model": {
            "architecture": meta.architecture,
            "resolution": meta.resolution,
            "bands": list(meta.bands),
            "license": meta.provenance.get("license"),
            "citation": meta.provenance.get("citation"),
        },
    }
    products: dict[str, Any] = {}
    pixel_obs, failed = 0, 0
    resume: dict[int, str] = {}
    missing: dict[int, dict[tuple[int, int], str]] = {}
    annual: dict[int, Path] = {}
    for year in _years(cfg):
        periods = _year_periods(cfg, year, seasons)
        items = _items_before(cfg, periods, year) + list(plan.found[year])
        provenance = _provenance(cfg, items)
        work = out / "work" / str(year)
        result = run_region(
            items, plan.geobox, cfg.model, work, periods,
            config=run_config, client=client, progress=progress, mosaic=False,
        )  # fmt: skip
        pixel_obs += result.pixel_observations
        failed += len(result.failed)
        resume[year] = result.resume_summary()
        if result.failed:
            missing[year] = dict(result.failed)
        if result.failed and len(result.failed) == result.tiles:
            from hlsmap.errors import TileFailedError

            reason = next(iter(result.failed.values()))
            raise TileFailedError(
                f"every tile of {year} failed; the first said: {reason}. The run log is "
                f"{work / 'run.log'}; fix the cause and rerun (finished tiles are kept)"
            )
        # granules used and skipped per sensor (L30 cannot feed Dynamic World)
        year_props = {**props, "hlsmap:year": year, "hlsmap:sensors": result.sensors}
        if plan.outside.get(year):  # returned by the source, but their footprint misses
            year_props["hlsmap:items_outside_region"] = len(plan.outside[year])
        year_props.update(stac.dropped_granules_properties(result.dropped_granules))
        if result.failed:  # the STAC items say where the maps have no data, and why
            year_props["hlsmap:missing_tiles"] = _missing_tiles(result)
        made = _products(out, result, periods, plan.geobox, cfg, year_props, provenance)
        annual[year] = out / f"hlsmap-annual-{year}" / "class.tif"
        products.update(made)
    if cfg.change:
        from hlsmap.outputs.changes import ChangeConfig, run_change

        change_dir = out / "change"
        products["change"] = run_change(
            ChangeConfig(
                annual[cfg.year - 1], annual[cfg.year], change_dir, mmu_ha=cfg.mmu_ha,
                license=cfg.license,
            )
        )  # fmt: skip
    from hlsmap.outputs.provenance import Provenance, source_providers

    collection = stac.write_catalog(
        out,
        [i for k, i in products.items() if k != "change"],
        collection_id="hlsmap-maps",
        title=f"hlsmap land-cover maps {cfg.year}",
        license=cfg.license,
        providers=Provenance(providers=tuple(source_providers(cfg.source))).all_providers(),
        children=[out / "change" / "collection.json"] if cfg.change else (),
    )
    return MapResult(
        out=out,
        collection=collection,
        items=products,
        seasons=seasons,
        pixel_observations=pixel_obs,
        seconds=time.perf_counter() - start,
        failed_tiles=failed,
        resume=resume,
        missing=missing,
    )


def _missing_tiles(result: Any) -> list[dict[str, Any]]:
    """The failed tiles of a region run, for the STAC items: index, bounds (grid CRS), error."""
    by_index = {t.index: t for t in result.tasks}
    return [
        {"index": list(k), "bbox": [float(v) for v in by_index[k].geobox.boundingbox],
         "error": err}
        for k, err in sorted(result.failed.items())
    ]  # fmt: skip
