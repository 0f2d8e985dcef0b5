"""The regions of a distillation: where and when the teacher is run and chips are cut.

A region is an MGRS tile or a lon/lat box with a period (a year or a date range), optionally
held out (used only to measure the student against the teacher). Regions are given on the
command line (``T15TVH:2024``, ``-96.5,41.0,-96.3,41.2:2024-03-01/2024-09-30``) or as a GeoJSON
FeatureCollection of boxes whose properties hold ``name``, ``year`` or ``start``/``end`` (or
``period``) and ``held_out``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hlsmap.errors import ConfigError


@dataclass(frozen=True)
class DistillRegion:
    """One region and period of a distillation.

    Attributes:
        name: a unique name (folder names under the run's ``teacher/`` and ``student/``).
        start / end: the period's first and last day (ISO dates, both included).
        bbox: ``(west, south, east, north)`` in degrees, or ``None`` with ``tile``.
        tile: an MGRS tile id (``T15TVH``), or ``None`` with ``bbox``.
        held_out: the region only measures the student (no training chips from it).
    """

    name: str
    start: str
    end: str
    bbox: tuple[float, float, float, float] | None = None
    tile: str | None = None
    held_out: bool = False

    def __post_init__(self) -> None:
        if (self.bbox is None) == (self.tile is None):
            raise ConfigError(f"region {self.name!r}: give exactly one of a bbox or an MGRS tile")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ConfigError(f"region name {self.name!r}: use letters, digits, '-', '_', '.'")
        if self.period.start >= self.period.end:
            raise ConfigError(f"region {self.name!r}: its period ends before it starts")

    @property
    def region(self) -> Any:
        """The :class:`hlsmap.region.Region`."""
        from hlsmap.region import Region

        if self.tile is not None:
            return Region.from_tile(self.tile)
        assert self.bbox is not None
        return Region.from_bbox(self.bbox)

    @property
    def period(self) -> Any:
        """The :class:`hlsmap.periods.Period` (named after the region)."""
        from hlsmap.periods import Period

        return Period.date_range(self.start, self.end, name=f"period-{self.name}")

    @property
    def datetime(self) -> str:
        """The STAC search window."""
        return f"{self.start}/{self.end}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (provenance, the run's config)."""
        return {"name": self.name, "start": self.start, "end": self.end,
                "bbox": list(self.bbox) if self.bbox else None, "tile": self.tile,
                "held_out": self.held_out}  # fmt: skip


def parse_period(text: str) -> tuple[str, str]:
    """``"2024"`` -> the year's first and last day; ``"2024-03-01/2024-09-30"`` as given."""
    text = str(text).strip()
    if re.fullmatch(r"\d{4}", text):
        return f"{text}-01-01", f"{text}-12-31"
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})", text)
    if not m:
        raise ConfigError(
            f"period {text!r}: give a year (2024) or a date range (2024-03-01/2024-09-30)"
        )
    return m.group(1), m.group(2)


def parse_region(spec: str, held_out: bool = False) -> DistillRegion:
    """``[NAME=]TILE:PERIOD`` or ``[NAME=]W,S,E,N:PERIOD`` -> a region.

    Examples: ``T15TVH:2024``, ``north=-96.5,41.0,-96.3,41.2:2024-03-01/2024-09-30``.
    """
    name, sep, rest = spec.partition("=")
    if not sep:
        name, rest = "", spec
    where, sep, when = rest.rpartition(":")
    if not sep or not where:
        raise ConfigError(f"region {spec!r}: use TILE:PERIOD or W,S,E,N:PERIOD (e.g. T15TVH:2024)")
    start, end = parse_period(when)
    if "," in where:
        try:
            box = tuple(float(v) for v in where.split(","))
        except ValueError:
            raise ConfigError(f"region {spec!r}: the box must be 4 numbers W,S,E,N") from None
        if len(box) != 4:
            raise ConfigError(f"region {spec!r}: the box must be 4 numbers W,S,E,N")
        label = name or "box-" + "_".join(f"{v:g}" for v in box).replace("-", "m")
        return DistillRegion(label, start, end, bbox=box, held_out=held_out)  # type: ignore[arg-type]
    tile = where.strip().upper()
    return DistillRegion(name or f"{tile}-{start[:4]}", start, end, tile=tile, held_out=held_out)


def regions_from_geojson(path: str | Path) -> list[DistillRegion]:
    """A FeatureCollection of boxes (any polygon: its bounds) with ``name``, a period
    (``year``, ``start``/``end`` or ``period``) and optionally ``held_out`` per feature."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"regions file {p} does not exist")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"regions file {p} is not JSON: {exc}") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not feats:
        raise ConfigError(f"{p} holds no features: give a GeoJSON FeatureCollection of boxes")
    out = []
    for i, f in enumerate(feats):
        props = f.get("properties") or {}
        coords = _coords((f.get("geometry") or {}).get("coordinates"))
        if not coords:
            raise ConfigError(f"{p} feature {i}: no polygon coordinates")
        xs, ys = [c[0] for c in coords], [c[1] for c in coords]
        if "start" in props and "end" in props:
            start, end = str(props["start"]), str(props["end"])
        else:
            when = props.get("period", props.get("year"))
            if when is None:
                raise ConfigError(f"{p} feature {i}: give a year, a period or start/end")
            start, end = parse_period(str(when))
        out.append(DistillRegion(str(props.get("name", f"region-{i}")), start, end,
                                 bbox=(min(xs), min(ys), max(xs), max(ys)),
                                 held_out=bool(props.get("held_out", False))))  # fmt: skip
    return out


def _coords(c: Any) -> list[list[float]]:
    """Every (x, y) position of a (Multi)Polygon's nested coordinate lists."""
    if isinstance(c, list) and c and isinstance(c[0], int | float):
        return [c]
    out: list[list[float]] = []
    for part in c or []:
        out += _coords(part)
    return out


def check_regions(regions: list[DistillRegion]) -> list[DistillRegion]:
    """Unique names, at least one training and one held-out region."""
    names = [r.name for r in regions]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"region names must be unique; repeated: {', '.join(dup)}")
    if not any(not r.held_out for r in regions):
        raise ConfigError("every region is held out: give at least one region to train on")
    return regions
