"""The acquisition schedule: which platform sees the region when, from which orbit.

Cadence as in the real HLS archive: Landsat 8 and 9 each repeat every 16 days, 8 days apart
(an observation every 8 days); the adjacent Landsat path sees the region's edge 7 days after
the main path (partial-swath granules). Sentinel-2A and 2B each repeat every 10 days, 5 days
apart; Sentinel-2C takes over from 2A in January 2025. Overpasses are near 10:15 (Landsat) and
10:30 (Sentinel-2) local solar time. A few acquisitions never reach the archive.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from hlsmap.simulate.climate import CLIMATES
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.events import period
from hlsmap.simulate.noise import rng_for

S2C_START = dt.date(2025, 1, 22)
L9_START = dt.date(2021, 11, 1)


@dataclass(frozen=True)
class Observation:
    """One overpass over the region (written as one granule per tile it touches).

    Attributes:
        index: position in the schedule (time order).
        sensor: ``"L30"`` or ``"S30"``.
        platform: ``"Landsat 8"``, ``"Landsat 9"``, ``"Sentinel-2A"``, ...
        datetime: acquisition time (UTC, timezone-aware).
        orbit: ``"main"`` (covers the region) or ``"side"`` (the swath edge crosses it).
        swath: ``(a, b, c)``: pixel (row, col) is inside the swath where ``a*row + b*col + c
            >= 0``; ``None`` for a full swath.
        sun_zenith, sun_azimuth: solar angles in degrees (azimuth clockwise from north).
        view_zenith: viewing angle in degrees.
    """

    index: int
    sensor: str
    platform: str
    datetime: dt.datetime
    orbit: str
    swath: tuple[float, float, float] | None
    sun_zenith: float
    sun_azimuth: float
    view_zenith: float

    @property
    def key(self) -> str:
        """A unique, sortable name: ``20240115T101523_L30``."""
        return f"{self.datetime:%Y%m%dT%H%M%S}_{self.sensor}"

    def swath_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Bool mask of the pixels inside the swath, on a grid of ``shape``."""
        if self.swath is None:
            return np.ones(shape, dtype=bool)
        a, b, c = self.swath
        rows = np.arange(shape[0], dtype=np.float64)[:, None] + 0.5
        cols = np.arange(shape[1], dtype=np.float64)[None, :] + 0.5
        return np.asarray(a * rows + b * cols + c >= 0)


def sun_position(lat: float, lon: float, when: dt.datetime) -> tuple[float, float]:
    """Solar zenith and azimuth (degrees) from the usual declination / hour-angle formulas."""
    doy = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60.0 + when.second / 3600.0
    gamma = 2 * math.pi / 365.0 * (doy - 1 + (hours - 12) / 24.0)
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
    )
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    solar_minutes = hours * 60.0 + eqtime + 4.0 * lon
    ha = math.radians(solar_minutes / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_z = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zen = math.degrees(math.acos(max(-1.0, min(1.0, cos_z))))
    az = math.degrees(
        math.atan2(-math.sin(ha), math.tan(decl) * math.cos(phi) - math.sin(phi) * math.cos(ha))
    )
    return zen, az % 360.0


def _utc(date: dt.date, local_hours: float, lon: float) -> dt.datetime:
    utc_hours = local_hours - lon / 15.0
    base = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
    return base + dt.timedelta(seconds=round(utc_hours * 3600.0))


def make_schedule(config: WorldConfig) -> list[Observation]:
    """All observations of the simulated period, in time order."""
    climate = CLIMATES[config.climate]
    rng = rng_for(config.seed, "schedule")
    first, last = period(config)
    n = config.size
    # (sensor, platform resolver, repeat days, day offset, local hour, orbit)
    l8 = int(rng.integers(0, 16))
    s2a = int(rng.integers(0, 10))
    plans: list[tuple[str, str, int, int, float, str]] = [
        ("L30", "Landsat 8", 16, l8, 10.25, "main"),
        ("L30", "Landsat 9", 16, (l8 + 8) % 16, 10.25, "main"),
        ("S30", "Sentinel-2A", 10, s2a, 10.5, "main"),
        ("S30", "Sentinel-2B", 10, (s2a + 5) % 10, 10.5, "main"),
    ]
    if config.side_orbits:
        plans += [
            ("L30", "Landsat 8", 16, (l8 + 7) % 16, 10.2, "side"),
            ("L30", "Landsat 9", 16, (l8 + 15) % 16, 10.2, "side"),
        ]
    # The side path's swath edge: a line tilted like a descending track (~12 deg off north),
    # fixed for the world, leaving 30-70 % of the region inside.
    tilt = math.radians(float(rng.uniform(8, 14)))
    share = float(rng.uniform(0.3, 0.7))
    west_side = bool(rng.integers(0, 2))
    b = 1.0 if not west_side else -1.0
    a = -b * math.tan(tilt)
    c_mid = -(a * n / 2 + b * (n * (1 - share) if not west_side else n * share))
    side_swath = (a, b, c_mid)
    epoch = dt.date(2000, 1, 1)
    obs: list[tuple[dt.datetime, str, str, str]] = []
    day = first
    while day <= last:
        k = (day - epoch).days
        for sensor, platform, repeat, offset, hour, orbit in plans:
            if k % repeat != offset:
                continue
            if platform == "Landsat 9" and day < L9_START:
                continue
            if platform == "Sentinel-2A" and day >= S2C_START:
                platform = "Sentinel-2C"
            when = _utc(day, hour + float(rng.normal(0, 0.01)), climate.lon)
            dropped = rng.random() < config.drop_rate
            if not dropped:
                obs.append((when, sensor, platform, orbit))
        day += dt.timedelta(days=1)
    obs.sort()
    out = []
    for i, (when, sensor, platform, orbit) in enumerate(obs):
        zen, az = sun_position(climate.lat, climate.lon, when)
        view = float(rng.uniform(0.5, 7.0)) if orbit == "main" else float(rng.uniform(6, 7.5))
        out.append(
            Observation(
                i,
                sensor,
                platform,
                when,
                orbit,
                side_swath if orbit == "side" else None,
                zen,
                az,
                view,
            )
        )
    return out
