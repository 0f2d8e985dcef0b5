"""Writing a world: render every observation, cut it into granules, write truth and STAC.

Observations are independent, so they fan out over a process pool (each worker rebuilds or
inherits the landscape, which is deterministic for the seed); memory stays one observation per
worker whatever the number of observations. Results come back in observation order, so the
catalogue is identical whatever the number of workers.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from shapely.geometry import Polygon, mapping
from shapely.geometry.polygon import orient

from hlsmap.simulate.climate import CLIMATES
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.events import ChangeEvent, make_events, period
from hlsmap.simulate.landscape import Landscape, make_landscape
from hlsmap.simulate.render import render
from hlsmap.simulate.schedule import Observation, make_schedule
from hlsmap.simulate.spectra import ALL_BAND_NAMES
from hlsmap.simulate.stacitems import granule_id
from hlsmap.simulate.tiles import RESOLUTION, Grid, Tile
from hlsmap.simulate.truth import dominant, sample_dates, season_days
from hlsmap.simulate.writer import granule_bands, write_cog, write_granule

ProgressFn = Callable[[int, int], None]


@dataclass
class Scene:
    """Everything static about a world (built once per process)."""

    config: WorldConfig
    grid: Grid
    land: Landscape
    events: list[ChangeEvent]
    schedule: list[Observation]


def build_scene(config: WorldConfig) -> Scene:
    """Landscape, events, schedule and grid of a world (deterministic for the config)."""
    land = make_landscape(config)
    events = make_events(config, land)
    return Scene(config, Grid(config), land, events, make_schedule(config))


_WORKER: dict[str, Any] = {}


def _init_worker(config: WorldConfig, out: str) -> None:
    # Forked workers inherit the parent's scene; others rebuild it (same seed, same scene).
    if _WORKER.get("config") != config:
        _WORKER["scene"] = build_scene(config)
        _WORKER["config"] = config
    _WORKER["out"] = Path(out)


def _clip(
    poly: list[tuple[float, float]], swath: tuple[float, float, float] | None
) -> list[tuple[float, float]]:
    """Clip a (col, row) polygon to the swath half-plane a*row + b*col + c >= 0."""
    if swath is None:
        return poly
    a, b, c = swath

    def f(p: tuple[float, float]) -> float:
        return a * p[1] + b * p[0] + c

    out: list[tuple[float, float]] = []
    for i, cur in enumerate(poly):
        prev = poly[i - 1]
        fc, fp = f(cur), f(prev)
        if fc >= 0:
            if fp < 0:
                t = fp / (fp - fc)
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            out.append(cur)
        elif fp >= 0:
            t = fp / (fp - fc)
            out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
    return out


def _granule_time(obs: Observation, tile: Tile) -> dt.datetime:
    # Tiles further along the track are sensed a few seconds later, as in real granules.
    return obs.datetime + dt.timedelta(seconds=2.4 * tile.row + 0.3 * tile.col)


def render_observation(index: int) -> dict[str, Any]:
    """Render observation ``index``, write its granules and its truth; return their metadata."""
    scene: Scene = _WORKER["scene"]
    out: Path = _WORKER["out"]
    config, grid = scene.config, scene.grid
    obs = scene.schedule[index]
    result = render(config, scene.land, scene.events, obs)
    names = granule_bands(obs.sensor, coastal=config.coastal, red_edge=config.red_edge)
    band_index = {name: ALL_BAND_NAMES.index(name) for name in names}
    inside = result.fmask != 255
    granules = []
    for tile in grid.tiles:
        win = tile.window
        tile_inside = inside[win]
        coverage = float(tile_inside.mean())
        if coverage == 0.0:
            continue
        fm = result.fmask[win]
        observed = int(tile_inside.sum())
        cloudy = int(((fm & 0b1010) > 0)[tile_inside].sum())
        cloud_cover = 100.0 * cloudy / observed
        gid = granule_id(obs.sensor, tile.name, obs.datetime)
        sensed = _granule_time(obs, tile)
        tags = {
            "ACCODE": "LaSRC" if obs.sensor == "S30" else "Lasrc",
            "cloud_coverage": str(round(cloud_cover)),
            "HLS_PROCESSING_TIME": (obs.datetime + dt.timedelta(days=2)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "HORIZONTAL_CS_CODE": grid.crs,
            "MEAN_SUN_AZIMUTH_ANGLE": f"{obs.sun_azimuth:.6f}",
            "MEAN_SUN_ZENITH_ANGLE": f"{obs.sun_zenith:.6f}",
            "MEAN_VIEW_ZENITH_ANGLE": f"{obs.view_zenith:.6f}",
            "MGRS_TILE_ID": tile.name,
            "NCOLS": str(tile.size),
            "NROWS": str(tile.size),
            "SENSING_TIME": sensed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "SPACECRAFT_NAME": obs.platform,
            "spatial_coverage": str(round(100 * coverage)),
            "SPATIAL_RESOLUTION": "30",
            "ULX": f"{tile.transform.c:.0f}",
            "ULY": f"{tile.transform.f:.0f}",
            "SIMULATED_BY": "hlsmap.simulate (synthetic HLS v2.0 granule, not real data)",
        }
        files = write_granule(
            out / "granules" / gid,
            gid,
            obs.sensor,
            {name: result.bands[band_index[name]][win] for name in names},
            fm,
            tile.transform,
            grid.crs,
            tags,
            config.compress,
        )
        c0, r0, s = tile.c0, tile.r0, tile.size
        poly = _clip([(c0, r0), (c0 + s, r0), (c0 + s, r0 + s), (c0, r0 + s)], obs.swath)
        granules.append(
            {
                "id": gid,
                "tile": tile.name,
                "datetime": sensed.isoformat(),
                "files": files,
                "cloud_cover": cloud_cover,
                "coverage": coverage,
                "footprint_px": [list(p) for p in poly],
            }
        )
    truth_path = f"truth/observations/{obs.key}.tif"
    write_cog(
        out / truth_path,
        result.truth,
        grid.transform,
        grid.crs,
        0,
        config.compress,
        tags={"DATETIME_UTC": obs.datetime.isoformat(), "SENSOR": obs.sensor},
        palette=True,
    )
    return {
        "index": obs.index,
        "key": obs.key,
        "sensor": obs.sensor,
        "platform": obs.platform,
        "datetime": obs.datetime.isoformat(),
        "orbit": obs.orbit,
        "sun_zenith": obs.sun_zenith,
        "sun_azimuth": obs.sun_azimuth,
        "view_zenith": obs.view_zenith,
        "cloud_cover": 100.0 * result.cloud_cover,
        "coverage": float(inside.mean()),
        "truth": truth_path,
        "granules": granules,
    }


def render_all(
    scene: Scene, out: Path, workers: int, progress: ProgressFn | None = None
) -> list[dict[str, Any]]:
    """Render every observation (in a process pool when ``workers > 1``), in time order."""
    total = len(scene.schedule)
    results: list[dict[str, Any]] = []
    _WORKER.update({"scene": scene, "config": scene.config, "out": out})
    if workers <= 1 or total <= 1:
        for i in range(total):
            results.append(render_observation(i))
            if progress:
                progress(i + 1, total)
        return results
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(scene.config, str(out))
    ) as pool:
        for i, res in enumerate(pool.map(render_observation, range(total), chunksize=2)):
            results.append(res)
            if progress:
                progress(i + 1, total)
    return results


def footprint(grid: Grid, poly_px: list[list[float]]) -> tuple[dict[str, Any], list[float]]:
    """GeoJSON geometry (EPSG:4326) and bbox of a footprint given in region pixels."""
    to_ll = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    xs = [grid.x0 + c * RESOLUTION for c, _ in poly_px]
    ys = [grid.y0 - r * RESOLUTION for _, r in poly_px]
    lon, lat = to_ll.transform(xs, ys)
    poly = orient(Polygon([(round(x, 7), round(y, 7)) for x, y in zip(lon, lat, strict=True)]))
    geom = json.loads(json.dumps(mapping(poly)))  # tuples -> lists
    return geom, [float(v) for v in poly.bounds]


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (sorted keys would reorder STAC; keep insertion order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def class_fractions(codes: np.ndarray) -> dict[str, float]:
    """Share of each class code (1..9) in a class raster."""
    from hlsmap.classes import BY_CODE

    counts = np.bincount(codes.ravel(), minlength=11)
    total = max(1, int(counts[1:10].sum()))
    return {BY_CODE[c].name: round(float(counts[c]) / total, 4) for c in range(1, 10)}


def write_truth(out: Path, scene: Scene) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """Write the annual, season and event truth COGs; return their paths and class shares."""
    config, grid = scene.config, scene.grid
    climate = CLIMATES[config.climate]
    first, last = period(config)
    land, events = scene.land, scene.events
    truth_files: dict[str, str] = {}
    fractions: dict[str, dict[str, float]] = {}
    for year in range(first.year, last.year + 1):
        lo, hi = max(first, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
        annual = dominant(land, events, climate, sample_dates(lo, hi))
        path = f"truth/annual_{year}.tif"
        write_cog(out / path, annual, grid.transform, grid.crs, 0, config.compress, palette=True)
        truth_files[f"annual_{year}"] = path
        fractions[str(year)] = class_fractions(annual)
        for name in climate.seasons:
            days = season_days(climate, name, year, first, last)
            if not days:
                continue
            season = dominant(land, events, climate, days)
            path = f"truth/season_{name}_{year}.tif"
            write_cog(
                out / path, season, grid.transform, grid.crs, 0, config.compress, palette=True
            )
            truth_files[f"season_{name}_{year}"] = path
    event_ids = np.zeros(land.classes.shape, dtype=np.uint8)
    for ev in events:
        event_ids[ev.mask] = ev.id
    write_cog(out / "truth/events.tif", event_ids, grid.transform, grid.crs, 0, config.compress)
    write_json(out / "truth/events.json", [ev.to_json() for ev in events])

    return truth_files, fractions
