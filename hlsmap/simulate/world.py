"""The synthetic world: :func:`simulate_world` writes one, :class:`World` reads it back.

On disk (``out_dir``)::

    manifest.json                     every parameter, the observations, events, tiles, figures
    catalog.json                      static STAC catalog (relative hrefs)
    collections/hls2-l30/collection.json, collections/hls2-s30/collection.json
    items.json                        ItemCollection of every granule; hrefs are relative to
                                      out_dir (use World.items() or catalog.json for absolute)
    granules/<HLS id>/<HLS id>.<B02|...|Fmask>.tif   (+ <HLS id>.json, the item)
    truth/annual_<year>.tif           dominant class of the year (codes 1..9)
    truth/season_<name>_<year>.tif    dominant class of the season
    truth/observations/<key>.tif      per-observation truth (10 = cloud, 0 = outside swath)
    truth/events.tif, truth/events.json   change events (event id per pixel; dates, classes)

``manifest.json`` is written last: a folder without it is not a (complete) world.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError, OutputError
from hlsmap.simulate.build import ProgressFn, build_scene, render_all, write_json, write_truth
from hlsmap.simulate.catalog import write_catalog
from hlsmap.simulate.climate import CLIMATES
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.events import ChangeEvent, period
from hlsmap.simulate.stacitems import COLLECTION_IDS
from hlsmap.simulate.writer import read_cog

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"


def _version() -> str:
    from hlsmap import __version__

    return __version__


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a folder for the world")
    if out.is_dir() and any(out.iterdir()):
        known = {"manifest.json", "catalog.json", "items.json", "granules", "truth", "collections"}
        foreign = [
            p.name for p in out.iterdir() if p.name not in known and not p.name.startswith(".")
        ]
        if foreign:
            raise OutputError(
                f"{out} holds files that are not a world ({', '.join(sorted(foreign)[:3])}); "
                "give an empty or new folder"
            )
        # Overwrite an earlier world: drop its manifest first so it never looks complete.
        (out / _MANIFEST).unlink(missing_ok=True)
        for name in ("granules", "truth", "collections"):
            shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def simulate_world(
    config: WorldConfig | None = None,
    out_dir: str | os.PathLike[str] = "world",
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> World:
    """Write a synthetic HLS world to ``out_dir`` and return it opened.

    Args:
        config: the world's parameters (default: ``WorldConfig()``, 512 px, one year).
        out_dir: the folder to write (created; an earlier world there is replaced; a folder
            holding anything else is refused with OutputError).
        workers: processes rendering observations in parallel (default: up to 2). The world
            is identical whatever the number.
        progress: called as ``progress(done, total)`` after each observation.

    Returns:
        The :class:`World`.
    """
    config = config or WorldConfig()
    out = Path(out_dir)
    _prepare(out)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    scene = build_scene(config)
    grid = scene.grid
    climate = CLIMATES[config.climate]
    first, last = period(config)
    observations = render_all(scene, out, workers, progress)

    items = write_catalog(out, scene, observations)
    truth_files, fractions = write_truth(out, scene)

    counts = {"L30": 0, "S30": 0}
    for obs in observations:
        counts[obs["sensor"]] += 1
    manifest = {
        "format": FORMAT_VERSION,
        "generator": f"hlsmap {_version()}",
        "config": config.to_dict(),
        "climate": {"name": climate.name, "lat": climate.lat, "lon": climate.lon},
        "seasons": {k: list(v) for k, v in climate.seasons.items()},
        "period": [first.isoformat(), last.isoformat()],
        "crs": grid.crs,
        "epsg": grid.epsg,
        "size": grid.size,
        "transform": list(grid.transform)[:6],
        "bbox": list(grid.bbox),
        "tiles": [
            {"name": t.name, "row": t.row, "col": t.col, "r0": t.r0, "c0": t.c0, "size": t.size}
            for t in grid.tiles
        ],
        "counts": {"observations": counts, "granules": len(items)},
        "class_fractions": fractions,
        "annual_truth_rule": (
            "dominant class: per pixel the surface class holding on the most days, counted "
            "every 5th day of the period; ties to the lower code"
        ),
        "truth": truth_files,
        "events": [ev.to_json() for ev in scene.events],
        "observations": [
            {k: v for k, v in obs.items() if k != "granules"}
            | {"granules": [g["id"] for g in obs["granules"]]}
            for obs in observations
        ],
    }
    write_json(out / _MANIFEST, manifest)
    return World.open(out)


class World:
    """A synthetic world on disk: its STAC items, its grid and its ground truth.

    Attributes:
        root: the world's folder.
        manifest: the parsed ``manifest.json``.
        config: the :class:`WorldConfig` it was written with.
    """

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        self.root = root
        self.manifest = manifest
        self.config = WorldConfig.from_dict(manifest["config"])
        self._obs_by_key = {o["key"]: o for o in manifest["observations"]}
        self._obs_by_granule = {g: o for o in manifest["observations"] for g in o["granules"]}
        self._events: list[ChangeEvent] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> World:
        """Open a world written by :func:`simulate_world` (ConfigError if it is not one)."""
        root = Path(path)
        mpath = root / _MANIFEST
        if not mpath.is_file():
            raise ConfigError(
                f"{root} is not a synthetic world (no {_MANIFEST}); write one with "
                "`hlsmap simulate` or hlsmap.simulate.simulate_world"
            )
        manifest = json.loads(mpath.read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise ConfigError(
                f"{root} was written in world format {manifest.get('format')}, this hlsmap "
                f"reads format {FORMAT_VERSION}; regenerate the world"
            )
        return cls(root, manifest)

    # --- grid -------------------------------------------------------------------------
    @property
    def year(self) -> int:
        """The first simulated calendar year."""
        return int(self.config.year)

    @property
    def years(self) -> list[int]:
        """Every simulated calendar year."""
        first, last = self.period
        return list(range(first.year, last.year + 1))

    @property
    def period(self) -> tuple[dt.date, dt.date]:
        """First and last simulated day."""
        a, b = self.manifest["period"]
        return dt.date.fromisoformat(a), dt.date.fromisoformat(b)

    @property
    def seasons(self) -> dict[str, tuple[int, int]]:
        """``{"wet": (m0, m1), "dry": (m0, m1)}`` inclusive month ranges (may wrap)."""
        return {k: (int(v[0]), int(v[1])) for k, v in self.manifest["seasons"].items()}

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(W, S, E, N) of the region in EPSG:4326."""
        w, s, e, n = self.manifest["bbox"]
        return (float(w), float(s), float(e), float(n))

    @property
    def crs(self) -> str:
        """The region's CRS, ``"EPSG:326xx"``."""
        return str(self.manifest["crs"])

    @property
    def geobox(self):  # type: ignore[no-untyped-def]
        """The region's :class:`odc.geo.geobox.GeoBox` (UTM, 30 m)."""
        from affine import Affine
        from odc.geo.geobox import GeoBox

        size = int(self.manifest["size"])
        return GeoBox((size, size), Affine(*self.manifest["transform"]), self.crs)

    @property
    def observations(self) -> list[dict[str, Any]]:
        """One record per observation (key, sensor, platform, datetime, granule ids, ...)."""
        return list(self.manifest["observations"])

    @property
    def class_fractions(self) -> dict[str, dict[str, float]]:
        """Per year, the share of each class in the annual truth."""
        return dict(self.manifest["class_fractions"])

    # --- STAC -------------------------------------------------------------------------
    def item_dicts(self, base_url: str | None = None) -> list[dict[str, Any]]:
        """The items as dicts with absolute hrefs (local paths, or ``base_url`` + path)."""
        data = json.loads((self.root / "items.json").read_text())
        prefix = base_url.rstrip("/") + "/" if base_url else str(self.root.resolve()) + "/"
        for item in data["features"]:
            for asset in item["assets"].values():
                asset["href"] = prefix + asset["href"]
            for link in item["links"]:
                link["href"] = prefix + link["href"]
        return list(data["features"])

    def items(self, base_url: str | None = None) -> list[Any]:
        """Planetary-Computer-shaped ``hls2-l30`` / ``hls2-s30`` items (pystac.Item).

        Args:
            base_url: when given, asset hrefs are ``base_url`` + the path inside the world
                (serve the world folder over HTTP); else absolute local paths.
        """
        import pystac

        return [
            pystac.Item.from_dict(d, preserve_dict=False, migrate=False)
            for d in self.item_dicts(base_url)
        ]

    def collections(self) -> list[Any]:
        """The ``hls2-l30`` and ``hls2-s30`` collections (pystac.Collection)."""
        import pystac

        out = []
        for cid in COLLECTION_IDS.values():
            d = json.loads((self.root / "collections" / cid / "collection.json").read_text())
            d["links"] = [
                link for link in d["links"] if link["rel"] not in ("item", "root", "parent")
            ]
            out.append(pystac.Collection.from_dict(d, preserve_dict=False))
        return out

    # --- truth ------------------------------------------------------------------------
    def _wrap(self, data: np.ndarray, name: str, **attrs: Any) -> Any:
        from odc.geo.xr import wrap_xr

        da = wrap_xr(data, self.geobox, nodata=0)
        da.name = name
        da.attrs.update(attrs)
        return da

    def truth_annual(self, year: int | None = None) -> Any:
        """Annual truth: uint8 (y, x) DataArray of codes 1..9, the year's dominant class."""
        year = self.year if year is None else int(year)
        key = f"annual_{year}"
        if key not in self.manifest["truth"]:
            raise ConfigError(f"no annual truth for {year}; the world covers {self.years}")
        return self._wrap(read_cog(self.root / self.manifest["truth"][key]), "truth", year=year)

    def truth_season(self, name: str, year: int | None = None) -> Any:
        """Season truth: uint8 (y, x), the dominant class over the season's days of ``year``."""
        year = self.year if year is None else int(year)
        key = f"season_{name}_{year}"
        if key not in self.manifest["truth"]:
            raise ConfigError(
                f"no truth for season {name!r} of {year}; seasons are "
                f"{sorted(self.seasons)} and the world covers {self.years} "
                f"({self.manifest['period'][0]}..{self.manifest['period'][1]})"
            )
        return self._wrap(
            read_cog(self.root / self.manifest["truth"][key]), "truth", season=name, year=year
        )

    def observation(self, which: str | dt.datetime | np.datetime64) -> dict[str, Any]:
        """The observation of a granule id, an observation key, or a datetime.

        A datetime matches the observation nearest to it within 5 minutes (granules of one
        overpass differ by seconds; the cube may keep any of them).
        """
        if isinstance(which, str):
            if which in self._obs_by_granule:
                return dict(self._obs_by_granule[which])
            if which in self._obs_by_key:
                return dict(self._obs_by_key[which])
            try:
                which = dt.datetime.fromisoformat(which.replace("Z", "+00:00"))
            except ValueError:
                raise ConfigError(
                    f"{which!r} is neither an item id, an observation key nor a datetime of "
                    "this world; see World.observations"
                ) from None
        if isinstance(which, np.datetime64):
            ns = int(which.astype("datetime64[ns]").astype(np.int64))
            which = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ns // 1000)
        if which.tzinfo is None:
            which = which.replace(tzinfo=dt.UTC)
        best, gap = None, dt.timedelta(minutes=5)
        for o in self.manifest["observations"]:
            d = abs(dt.datetime.fromisoformat(o["datetime"]) - which)
            if d <= gap:
                best, gap = o, d
        if best is None:
            raise ConfigError(
                f"no observation within 5 minutes of {which.isoformat()}; see "
                "World.observations for the acquisition times"
            )
        return dict(best)

    def truth_at(self, which: str | dt.datetime | np.datetime64) -> Any:
        """Per-observation truth: uint8 (y, x), codes 1..9, 10 = cloud, 0 = outside swath.

        Args:
            which: an item (granule) id, an observation key or the observation's datetime.
        """
        obs = self.observation(which)
        return self._wrap(
            read_cog(self.root / obs["truth"]),
            "truth",
            datetime=obs["datetime"],
            sensor=obs["sensor"],
        )

    @property
    def events(self) -> list[ChangeEvent]:
        """The change events (kind, date, end, from/to class, stages, pixel mask)."""
        if self._events is None:
            ids = read_cog(self.root / "truth/events.tif")
            out = []
            for e in self.manifest["events"]:
                out.append(
                    ChangeEvent(
                        id=e["id"],
                        kind=e["kind"],
                        date=dt.date.fromisoformat(e["date"]),
                        end=dt.date.fromisoformat(e["end"]) if e["end"] else None,
                        from_class=e["from_class"],
                        to_class=e["to_class"],
                        stages=[(dt.date.fromisoformat(d), c) for d, c in e["stages"]],
                        mask=ids == e["id"],
                    )
                )
            self._events = out
        return list(self._events)

    def __repr__(self) -> str:
        c = self.manifest["counts"]
        return (
            f"World({str(self.root)!r}, {self.config.climate}, {self.manifest['size']} px, "
            f"{self.manifest['period'][0]}..{self.manifest['period'][1]}, "
            f"{c['observations']['L30']} L30 + {c['observations']['S30']} S30 observations, "
            f"{c['granules']} granules)"
        )
