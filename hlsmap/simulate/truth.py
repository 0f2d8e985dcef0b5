"""Ground truth through time: the land cover of any day, of a season and of a year.

The per-day truth is the base landscape after the change events dated on or before the day,
with seasonal water (lakes fill in the wet season and fall dry in the dry season), seasonal
snow (above the day's snow line) and frozen lakes (snow climate). Under tree canopies and in
built-up areas the truth keeps the canopy or the town; the snow only shows in their spectra.

Season and year truth: **the dominant class**, i.e. per pixel the surface class that holds on
the most days of the period, counted on every 5th day from the period's first day (ties go to
the lower class code). Periods are clipped to the simulated days and, for a season, to the
calendar year asked for (a wrapping season such as Nov-Apr takes both ends of that year).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from hlsmap.simulate.climate import Climate, months_in
from hlsmap.simulate.events import ChangeEvent, apply_events
from hlsmap.simulate.landscape import (
    BARE,
    BUILT,
    CROPS,
    FLOODED,
    GRASS,
    SCRUB,
    SNOW,
    WATER,
    Landscape,
)
from hlsmap.simulate.phenology import is_frozen, snowline, water_level

_SNOW_COVERABLE = (GRASS, CROPS, SCRUB, BARE, FLOODED)
SAMPLE_EVERY_DAYS = 5


def surface_state(
    land: Landscape, events: list[ChangeEvent], climate: Climate, date: dt.date
) -> tuple[np.ndarray, np.ndarray]:
    """The surface classes on ``date`` and where snow lies (also under trees and in towns).

    Returns:
        (classes uint8 (y, x) codes 1..9, snow bool (y, x)).
    """
    classes = land.classes.copy()
    # Seasonal water first: a dry lake bed is ground that events and snow may then cover.
    level = water_level(climate, date)
    seasonal = land.lake_depth > 0
    dry = seasonal & (land.lake_depth < 1.0 - level)
    classes[dry] = land.lake_dry_class[dry]
    apply_events(classes, events, date)
    # Snow line, roughened by terrain texture (+-150 m) so its edge is not a contour line.
    line = snowline(climate, date)
    snow = land.elevation + 150.0 * land.tex_mid > line
    frozen = is_frozen(climate, date)
    coverable = np.isin(classes, _SNOW_COVERABLE) | ((classes == WATER) & frozen)
    classes[snow & coverable] = SNOW
    # Open water stays open; snow stays hidden in towns (cleared, heated) and shows only
    # between the trees of a forest, so neither changes the class.
    snow &= (classes != WATER) & (classes != BUILT)
    snow |= classes == SNOW
    return classes, snow


def sample_dates(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every 5th day from ``first`` through ``last``."""
    days = (last - first).days
    return [first + dt.timedelta(days=k) for k in range(0, days + 1, SAMPLE_EVERY_DAYS)]


def dominant(
    land: Landscape, events: list[ChangeEvent], climate: Climate, dates: list[dt.date]
) -> np.ndarray:
    """The dominant class over ``dates`` (uint8 (y, x), ties to the lower code)."""
    counts = np.zeros((10, *land.classes.shape), dtype=np.uint16)
    for date in dates:
        classes, _ = surface_state(land, events, climate, date)
        for code in range(1, 10):
            counts[code] += classes == code
    return counts.argmax(axis=0).astype(np.uint8)


def season_days(
    climate: Climate, name: str, year: int, first: dt.date, last: dt.date
) -> list[dt.date]:
    """Sample days of season ``name`` in calendar ``year``, within the simulated days."""
    months = set(months_in(climate.seasons[name]))
    lo = max(first, dt.date(year, 1, 1))
    hi = min(last, dt.date(year, 12, 31))
    return [d for d in sample_dates(lo, hi) if d.month in months]
