"""The configuration of a mapping run (`hlsmap map`): one frozen dataclass, a file, the CLI.

Every option of ``hlsmap map`` can live in a TOML or YAML file (``--config run.toml``); options
given on the command line override the file. The resolved configuration is written next to the
outputs (``run-config.json``) so every map says how it was made.

Example ``run.toml``::

    tile = "T15TVH"
    year = 2024
    model = "runs/small"
    out = "maps/T15TVH-2024"
    source = "pc"
    sensors = ["L30", "S30"]
    seasons = ["wet=11-04", "dry=05-10"]
    change = true
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hlsmap.consensus_slots import BALANCES
from hlsmap.errors import ConfigError
from hlsmap.inference.predict import PRECISIONS, RUNTIMES
from hlsmap.region import Region


@dataclass(frozen=True)
class MapConfig:
    """Options of one mapping run.

    Command: ``hlsmap map --tile T15TVH --year 2024 --model DIR --out DIR``; expected result:
    ``DIR/annual/class.tif`` (+ season and change products), a STAC catalog, quicklooks and
    area statistics.

    Attributes:
        year: the calendar year to map.
        model: a saved model directory.
        out: the output folder.
        bbox / geojson / tile: the region (exactly one).
        grid: an exact output GeoBox instead (Python API only; the synthetic world's grid).
        source: ``pc``, ``nasa``, a STAC API URL or a static catalog / ItemCollection.
        sensors: sensor names.
        max_cloud: skip granules above this ``eo:cloud_cover`` (percent).
        seasons: season windows such as ``wet=11-04`` (month ranges, wrapping the year end).
        season_wrap: ``within`` (a season keeps to the calendar year: wet=11-04 of 2024 is
            Jan-Apr + Nov-Dec 2024) or ``span`` (Nov 2023-Apr 2024), as ``hlsmap consensus``.
        detect_seasons: detect wet/dry windows from the data when none are given.
        change: also map the previous year and write change products against it.
        mmu_ha: minimum mapping unit of change, in hectares (smaller changed patches are
            dropped as noise).
        rule: consensus rule (``mean_prob``, ``mode``, ``weighted_mode``).
        min_valid: valid observations a pixel needs; fewer gives no data.
        balance: ``month`` (every calendar month weighs the same in a period's consensus:
            the default, see :mod:`hlsmap.consensus`) or ``none`` (every observation the same).
        scheme: ``v1`` (10 classes) or ``v2`` (Impact Observatory's 9 classes, rangeland).
        tile_size / halo: the tiling of the output grid (pixels); ``halo=None``: the model's
            receptive field (:attr:`hlsmap.model.ModelMetadata.halo`).
        resolution: output pixel size in metres; ``None``: the model's own (30 m for the
            U-Net, 10 m for Dynamic World). A multiple of the model's runs the model on its
            own grid and aggregates each observation by mode (Dynamic World on HLS's 30 m).
        crs: output CRS (``EPSG:32615``...); ``None``: the region's UTM zone.
        scheduler: address of an existing Dask scheduler.
        n_workers: worker processes of the local cluster.
        save_predictions: keep per-observation predictions per tile
            (``work/<year>/tiles/*.predictions.zarr``) for ``hlsmap alerts`` / ``consensus``.
        probabilities: also write each period's per-class mean clear-sky probabilities as
            one multi-band uint8 COG (``probabilities.tif``, band i = class code i, x 255).
        runtime: ``jax`` (the jitted function on every device) or ``openvino`` (the U-Net
            exported to OpenVINO: the fastest CPU kernel, ``pip install 'hlsmap[openvino]'``).
        precision: ``f32``, ``bf16`` (bfloat16 compute: GPUs, or CPUs with bf16 units on
            the openvino runtime) or ``bf16-dots`` (jax on CPUs, as ``hlsmap predict``).
        strict: a granule that cannot be read fails its tile instead of being skipped (and
            listed as ``hlsmap:dropped_granules`` in the products' STAC items).
        license: the products' licence (SPDX id) recorded in their STAC.
    """

    year: int
    model: str
    out: str
    bbox: tuple[float, float, float, float] | None = None
    geojson: str | None = None
    tile: str | None = None
    source: str = "pc"
    sensors: tuple[str, ...] = ("L30", "S30")
    max_cloud: float | None = None
    seasons: tuple[str, ...] = ()
    season_wrap: str = "within"
    detect_seasons: bool = True
    change: bool = False
    mmu_ha: float = 1.0
    rule: str = "mean_prob"
    min_valid: int = 1
    balance: str = "month"
    scheme: str = "v1"
    tile_size: int = 512
    halo: int | None = None
    resolution: float | None = None
    crs: str | None = None
    scheduler: str | None = None
    n_workers: int | None = None
    save_predictions: bool = False
    probabilities: bool = False
    runtime: str = "jax"
    precision: str = "f32"
    strict: bool = False
    grid: Any = None
    license: str = "CC-BY-4.0"

    def __post_init__(self) -> None:
        _check_types(self)
        given = [k for k in ("bbox", "geojson", "tile", "grid") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError(
                "give the region exactly once: bbox, geojson or tile"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if not 1982 <= int(self.year) <= 2100:
            raise ConfigError(f"year {self.year} is outside 1982..2100 (HLS starts in 2013)")
        if self.rule not in ("mean_prob", "mode", "weighted_mode"):
            raise ConfigError(f"rule {self.rule!r} unknown; use mean_prob, mode or weighted_mode")
        if self.scheme not in ("v1", "v2"):
            raise ConfigError(f"scheme {self.scheme!r} unknown; use v1 or v2")
        if self.balance not in BALANCES:
            raise ConfigError(f"balance {self.balance!r} unknown; use {' or '.join(BALANCES)}")
        if self.min_valid < 1:
            raise ConfigError("min_valid must be at least 1")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime {self.runtime!r} unknown; use jax or openvino")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} unknown; use f32, bf16 or bf16-dots")
        if self.runtime == "openvino" and self.precision == "bf16-dots":
            raise ConfigError("precision bf16-dots is for runtime jax; openvino takes f32 or bf16")
        _check_ranges(self)
        if self.season_wrap not in ("within", "span"):
            raise ConfigError(f"season wrap {self.season_wrap!r} unknown; use within or span")

    @property
    def region(self) -> Region:
        """The region as a :class:`~hlsmap.region.Region`."""
        if self.grid is not None:
            return Region.from_geobox(self.grid)
        if self.bbox:
            return Region.from_bbox(self.bbox)
        if self.geojson:
            return Region.from_geojson(self.geojson)
        assert self.tile is not None
        return Region.from_tile(self.tile)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every option."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.grid is not None:
            g = self.grid
            d["grid"] = {"crs": str(g.crs), "shape": list(g.shape), "affine": list(g.affine)[:6]}
        d["bbox"] = list(self.bbox) if self.bbox else None
        d["sensors"] = list(self.sensors)
        d["seasons"] = list(self.seasons)
        return d

    def write(self, path: str | Path) -> Path:
        """Write the resolved configuration as JSON (atomically)."""
        p = Path(path)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(p)
        return p


_FIELDS = {f.name for f in dataclasses.fields(MapConfig)}

# The kind of every option as a config file may give it: files bypass typer's parsing, so each
# value is checked here the way the command line checks its options (one line, exit 2).
_INT = ("year", "min_valid", "tile_size", "halo", "n_workers")
_NUMBER = ("max_cloud", "mmu_ha", "resolution")
_BOOL = ("detect_seasons", "change", "save_predictions", "strict", "probabilities")
_STR = ("model", "out", "geojson", "tile", "crs", "source", "rule", "balance", "scheme",
        "scheduler", "runtime", "precision", "season_wrap", "license")  # fmt: skip
_OPTIONAL = ("bbox", "geojson", "tile", "crs", "max_cloud", "scheduler", "n_workers", "grid",
             "halo", "resolution")  # fmt: skip


def _bad(name: str, value: Any, what: str) -> ConfigError:
    return ConfigError(f"option {name} = {value!r} is not {what}; fix it in the config file or "
                       f"on the command line (--{name.replace('_', '-')})")  # fmt: skip


def _check_types(cfg: MapConfig) -> None:
    import math
    from numbers import Integral, Real

    for name in _FIELDS:
        v = getattr(cfg, name)
        if v is None and name in _OPTIONAL:
            continue
        if name in _INT and (isinstance(v, bool) or not isinstance(v, Integral)):
            raise _bad(name, v, "a whole number")
        if name in _NUMBER and (isinstance(v, bool) or not isinstance(v, Real)
                                or not math.isfinite(v)):  # fmt: skip
            raise _bad(name, v, "a number")
        if name in _BOOL and not isinstance(v, bool):
            raise _bad(name, v, "true or false")
        if name in _STR and not isinstance(v, str):
            raise _bad(name, v, "a text")
    for name in ("sensors", "seasons"):
        v = getattr(cfg, name)
        if not isinstance(v, tuple) or not all(isinstance(x, str) for x in v):
            raise _bad(name, v, "a list of texts")
    if cfg.bbox is not None and (
        len(cfg.bbox) != 4
        or not all(isinstance(x, Real) and not isinstance(x, bool) for x in cfg.bbox)
    ):
        raise _bad("bbox", cfg.bbox, "4 numbers (west, south, east, north)")


def _check_ranges(cfg: MapConfig) -> None:
    from hlsmap.periods import parse_season

    if not cfg.sensors:
        raise ConfigError("sensors is empty; name at least one sensor, e.g. --sensors L30,S30")
    if cfg.max_cloud is not None and not 0 <= cfg.max_cloud <= 100:
        raise ConfigError(f"max_cloud {cfg.max_cloud} is not a percentage; give 0..100")
    for name, low in (("tile_size", 1), ("halo", 0), ("n_workers", 1)):
        v = getattr(cfg, name)
        if v is not None and v < low:
            raise ConfigError(f"{name} must be at least {low}, got {v}")
    if cfg.resolution is not None and cfg.resolution <= 0:
        raise ConfigError(f"resolution must be a positive number of metres, got {cfg.resolution}")
    if cfg.mmu_ha < 0:
        raise ConfigError(f"mmu_ha must be >= 0 hectares, got {cfg.mmu_ha}")
    for spec in cfg.seasons:
        parse_season(spec)  # raises ConfigError naming the bad season
    if not cfg.model or not cfg.out or not cfg.source:
        empty = [k for k in ("model", "out", "source") if not getattr(cfg, k)]
        raise ConfigError(f"option(s) {', '.join(empty)} are empty; give a path or URL")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) run configuration into a dict."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"configuration file {p} does not exist")
    text = p.read_text()
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # each parser raises its own error type
        raise ConfigError(f"cannot parse {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a table of options, not {type(data).__name__}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(
            f"{p} has unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}"
        )
    return data


def resolve_config(file: str | Path | None = None, **cli: Any) -> MapConfig:
    """Merge a configuration file with command-line options (``None`` = not given)."""
    data: dict[str, Any] = read_config_file(file) if file else {}
    data.update({k: v for k, v in cli.items() if v is not None and v != () and v != []})
    if "sensors" in data and isinstance(data["sensors"], str):
        data["sensors"] = [s.strip() for s in data["sensors"].split(",") if s.strip()]
    for key in ("sensors", "seasons", "bbox"):
        if isinstance(data.get(key), list | tuple):
            data[key] = tuple(data[key])
    for key in ("model", "out", "geojson"):
        if isinstance(data.get(key), Path):
            data[key] = str(data[key])
    missing = [k for k in ("year", "model", "out") if k not in data]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}: give them as options (--year, --model, --out) or in "
            "the --config file"
        )
    return MapConfig(**data)
