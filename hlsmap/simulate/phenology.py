"""Phenology: how green each class is on a given day, crop calendars, snow lines, lake levels.

All curves are smooth functions of the day of year, so observations a few days apart differ a
little and seasons differ a lot, as in real time series.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from hlsmap.simulate.climate import Climate, months_in


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _circ(doy: float, centre: float) -> float:
    """Signed distance in days between two days of year, across the new year."""
    return (doy - centre + 182.5) % 365.0 - 182.5


def grass_greenness(climate: Climate, doy: float) -> float:
    """Green share of grassland canopy (0 = straw, 1 = lush) on day ``doy``."""
    d = _circ(doy, climate.grass_peak_doy)
    bump = float(np.exp(-0.5 * (d / climate.grass_width) ** 2))
    return climate.grass_base + (1.0 - climate.grass_base) * 0.9 * bump


def leaf_on(climate: Climate, doy: float) -> float:
    """Leaf share of deciduous trees (1 = full canopy) on day ``doy``."""
    on, off = climate.leaf_on, climate.leaf_off
    if on < off:
        value = _sigmoid((doy - on) / 7.0) * _sigmoid((off - doy) / 7.0)
    else:  # leaves in the wet season across the new year (tropical dry-deciduous)
        value = 1.0 - _sigmoid((doy - off) / 7.0) * _sigmoid((on - doy) / 7.0)
    # Tropical stands never drop every leaf; temperate ones keep branches (handled in spectra).
    floor = 0.3 if on > off else 0.0
    return float(floor + (1.0 - floor) * value)


def crop_cover(
    climate: Climate,
    year: int,
    doy: float,
    phase: np.ndarray,
    jitter: np.ndarray,
    vigour: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Green and dry (senescent / residue) canopy shares of every crop parcel on one day.

    A parcel grows crop ``crops[(phase + year) % len(crops)]`` in ``year``; the cycles of the
    previous and next year are evaluated too, since calendars cross the new year (winter wheat
    sown in October, tropical maize harvested in March).

    Returns:
        (green, dry): float32 arrays, one value per parcel; bare soil is ``1 - green - dry``.
    """
    crops = climate.crops
    green = np.zeros(phase.shape, dtype=np.float64)
    dry = np.zeros(phase.shape, dtype=np.float64)
    for cycle_year in (year - 1, year, year + 1):
        idx = (phase + cycle_year) % len(crops)
        sow = np.array([c.sow for c in crops])[idx] + jitter
        peak = np.array([c.peak for c in crops])[idx] + jitter
        harvest = np.array([c.harvest for c in crops])[idx] + jitter
        t = doy + 365.0 * (year - cycle_year)
        grow = _sigmoid((t - (sow + 0.55 * (peak - sow))) / (0.12 * (peak - sow) + 1.0))
        senesce_mid = peak + 0.6 * (harvest - peak)
        senesce = _sigmoid((t - senesce_mid) / (0.1 * (harvest - peak) + 1.0))
        alive = (t >= sow) & (t < harvest)
        g = np.where(alive, grow * (1.0 - senesce) * vigour, 0.0)
        d = np.where(alive, grow * senesce * vigour * 0.9, 0.0)
        # Residue after harvest decays over ~2 months.
        after = t - harvest
        residue = np.where((after >= 0) & (after < 120), 0.35 * np.exp(-after / 45.0), 0.0)
        green = np.maximum(green, g)
        dry = np.maximum(dry, np.where(alive, d, residue))
    dry = np.minimum(dry, 1.0 - green)
    return green.astype(np.float32), dry.astype(np.float32)


def snowline(climate: Climate, date: dt.date) -> float:
    """Elevation (m) above which seasonal snow lies on ``date`` (monthly values, interpolated)."""
    doy = date.timetuple().tm_yday
    mids = np.array([15.0 + 30.4 * m for m in range(12)])
    values = np.array(climate.snowline_by_month, dtype=np.float64)
    capped = np.minimum(values, climate.glacier_elev + 2000.0)  # keep interpolation sane
    xs = np.concatenate([mids - 365.0, mids, mids + 365.0])
    ys = np.concatenate([capped, capped, capped])
    line = float(np.interp(doy, xs, ys))
    if line <= 0.0:  # snow down to sea level: everywhere, whatever the terrain roughness
        return -1.0e9
    return line if line < climate.glacier_elev + 1500.0 else 1.0e9


def water_level(climate: Climate, date: dt.date) -> float:
    """Seasonal water level, 0.05 (driest) .. 1 (full): highest in the second half of the wet
    season, so a seasonal lake is water through most of the wet season and dry land through most
    of the dry one."""
    wet = months_in(climate.seasons["wet"])
    # The level lags the rains a little: full in the middle of the wet season's second half.
    month = wet[len(wet) // 2]
    full_doy = ((month - 1) * 30.4 + 15.0) % 365.0
    d = _circ(date.timetuple().tm_yday, full_doy)
    return float(0.05 + 0.95 * (0.5 + 0.5 * np.cos(2 * np.pi * d / 365.0)) ** 1.5)


def is_frozen(climate: Climate, date: dt.date) -> bool:
    """Whether lakes and rivers are frozen and snow-covered on ``date``."""
    return date.month in climate.frozen_months
