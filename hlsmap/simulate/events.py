"""Dated land-cover change: forest clearing, construction, new cropland and floods.

An event is a pixel mask and a list of dated stages; each stage sets the class of the mask from
its date on (code 0 restores what was there before: a flood recedes). Masks never overlap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from hlsmap.simulate.climate import CLIMATES, months_in
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.landscape import (
    BARE,
    BUILT,
    CROPS,
    FLOODED,
    GRASS,
    SCRUB,
    TREES,
    WATER,
    Landscape,
    _blob,
    _pick,
    _px,
)
from hlsmap.simulate.noise import rng_for, smooth_noise

KINDS = ("forest_clearing", "construction", "new_cropland", "flood")


@dataclass
class ChangeEvent:
    """One dated change.

    Attributes:
        id: the event id (1..; its value in ``truth/events.tif``).
        kind: ``"forest_clearing"``, ``"construction"``, ``"new_cropland"`` or ``"flood"``.
        date: the day the change starts.
        end: the day a temporary change (a flood) ends; ``None`` for lasting change.
        from_class: the main class before the change.
        to_class: the class after the change (the flood's: water).
        stages: ``(date, code)`` steps; code 0 restores the previous cover.
        mask: bool (y, x) on the region grid.
    """

    id: int
    kind: str
    date: dt.date
    end: dt.date | None
    from_class: int
    to_class: int
    stages: list[tuple[dt.date, int]] = field(default_factory=list)
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool), repr=False)

    @property
    def pixels(self) -> int:
        """Number of pixels the event changes."""
        return int(self.mask.sum())

    def to_json(self) -> dict[str, object]:
        """The event without its mask (the manifest's and ``events.json``'s entry)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "date": self.date.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "from_class": self.from_class,
            "to_class": self.to_class,
            "stages": [[d.isoformat(), c] for d, c in self.stages],
            "pixels": self.pixels,
        }


def period(config: WorldConfig) -> tuple[dt.date, dt.date]:
    """First and last day simulated."""
    start = dt.date(config.year, 1, 1)
    if config.months is not None:
        nxt = dt.date(config.year + (config.months // 12), config.months % 12 + 1, 1)
        return start, nxt - dt.timedelta(days=1)
    return start, dt.date(config.year + config.years - 1, 12, 31)


def _date_in(rng: np.random.Generator, lo: dt.date, hi: dt.date) -> dt.date:
    span = max(0, (hi - lo).days)
    return lo + dt.timedelta(days=int(rng.integers(0, span + 1)))


def make_events(config: WorldConfig, land: Landscape) -> list[ChangeEvent]:
    """Draw the world's change events (one of each kind per simulated year).

    New cropland gets a new parcel id in ``land`` (its crop calendar starts with the next
    sowing), so the landscape's parcel arrays grow here.
    """
    if not config.events:
        return []
    climate = CLIMATES[config.climate]
    n = config.size
    shape = land.classes.shape
    start, stop = period(config)
    events: list[ChangeEvent] = []
    used = np.zeros(shape, dtype=bool)
    years = sorted({start.year + k for k in range((stop.year - start.year) + 1)})
    margin = int(0.08 * n)
    for year in years:
        rng = rng_for(config.seed, "events", year)
        lo = max(start, dt.date(year, 1, 1)) + dt.timedelta(days=10)
        hi = min(stop, dt.date(year, 12, 31)) - dt.timedelta(days=10)
        span = (hi - lo).days
        if span < 20:
            continue
        # Lasting changes happen in the first two thirds so the year's truth shows them.
        mid_hi = lo + dt.timedelta(days=int(span * 0.65))

        def patch(
            where: np.ndarray,
            metres: float,
            cap: float,
            rng: np.random.Generator = rng,
            used: np.ndarray = used,
        ) -> np.ndarray:
            centre = _pick(rng, where & ~used, margin)
            blob = _blob(rng, shape, centre, _px(metres, n, cap)) < 1.0
            return blob & where & ~used

        cls = land.classes
        # forest clearing: trees -> bare
        mask = patch(cls == TREES, 420, 0.06)
        if mask.any():
            d = _date_in(rng, lo, mid_hi)
            events.append(
                ChangeEvent(0, "forest_clearing", d, None, TREES, BARE, [(d, BARE)], mask)
            )
            used |= mask
        # construction near built areas: grass/crops -> bare site -> built
        near_built = np.zeros(shape, dtype=bool)
        rows, cols = np.nonzero(cls == BUILT)
        if rows.size:
            r0, r1 = rows.min(), rows.max()
            c0, c1 = cols.min(), cols.max()
            near_built[max(0, r0 - 20) : r1 + 20, max(0, c0 - 20) : c1 + 20] = True
        mask = patch(((cls == GRASS) | (cls == CROPS)) & near_built, 260, 0.05)
        if mask.any():
            d = _date_in(rng, lo, mid_hi)
            events.append(
                ChangeEvent(
                    0,
                    "construction",
                    d,
                    None,
                    int(np.bincount(cls[mask], minlength=10).argmax()),
                    BUILT,
                    [(d, BARE), (d + dt.timedelta(days=75), BUILT)],
                    mask,
                )
            )
            used |= mask
        # new cropland: scrub/grass -> crops; the field is sown at the next sowing date
        mask = patch((cls == SCRUB) | (cls == GRASS), 380, 0.06)
        if mask.any():
            d = _date_in(rng, lo, mid_hi)
            new_id = len(land.parcel_phase)
            crop_idx = int(rng.integers(len(climate.crops)))
            phase = (crop_idx - year) % len(climate.crops)
            sow = climate.crops[crop_idx].sow
            # The field is ploughed ~3 weeks before its sowing date.
            plough = dt.date(year, 1, 1) + dt.timedelta(days=int(sow) - 21)
            if not lo <= plough <= hi:
                plough = d
            land.parcel_phase = np.append(land.parcel_phase, phase)
            land.parcel_jitter = np.append(land.parcel_jitter, 0)
            land.parcel_vigour = np.append(land.parcel_vigour, np.float32(0.9))
            land.parcel[mask] = new_id
            events.append(
                ChangeEvent(
                    0,
                    "new_cropland",
                    plough,
                    None,
                    int(np.bincount(cls[mask], minlength=10).argmax()),
                    CROPS,
                    [(plough, CROPS)],
                    mask,
                )
            )
            used |= mask
        # flood: the river's floodplain under water for 1-3 weeks of the wet season
        wet = months_in(climate.seasons["wet"])
        wet_days = [
            lo + dt.timedelta(days=k)
            for k in range(span)
            if (lo + dt.timedelta(days=k)).month in wet and lo + dt.timedelta(days=k + 30) <= hi
        ]
        low = smooth_noise(rng, shape, _px(600, n, 0.1))
        plain = land.elevation < np.quantile(land.elevation, 0.5)
        reach = (land.river_dist < _px(700, n, 0.08)) & plain & (low < 0.3)
        reach &= np.isin(cls, (GRASS, CROPS, FLOODED, SCRUB, TREES)) & ~used
        if wet_days and reach.any():
            centre = _pick(rng, reach & (land.river_dist < 3), margin)
            mask = reach & (_blob(rng, shape, centre, _px(2500, n, 0.2)) < 1.0)
            if mask.sum() > 10:
                d = wet_days[int(rng.integers(len(wet_days)))]
                end = d + dt.timedelta(days=int(rng.integers(8, 22)))
                events.append(
                    ChangeEvent(
                        0,
                        "flood",
                        d,
                        end,
                        int(np.bincount(cls[mask], minlength=10).argmax()),
                        WATER,
                        [(d, WATER), (end, 0)],
                        mask,
                    )
                )
                used |= mask
    for i, ev in enumerate(events, start=1):
        ev.id = i
    return events


def apply_events(classes: np.ndarray, events: list[ChangeEvent], date: dt.date) -> np.ndarray:
    """The classes on ``date`` after every event stage dated on or before it (in place)."""
    for ev in events:
        code = None
        for when, stage_code in ev.stages:
            if when <= date:
                code = stage_code
        if code:  # None: not started; 0: over (the base classes stand)
            classes[ev.mask] = code
    return classes
