"""Climates: where a world lies, its seasons, cloudiness, snow and crop calendars.

Numbers are typical rather than measured for one place: monthly cloud cover follows the
climatologies of the named regions (e.g. MODIS cloud frequency), snow lines and crop calendars
follow the usual agronomic calendars of each region.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_SNOW = 1.0e9
"""A snow line no terrain reaches."""


@dataclass(frozen=True)
class CropType:
    """One crop of a rotation: its calendar in days of the year (may exceed 365 or be < 0)."""

    name: str
    sow: int
    peak: int
    harvest: int


@dataclass(frozen=True)
class Climate:
    """A climate preset.

    Attributes:
        name: the preset name.
        lat, lon: the centre of the region (degrees); picks the UTM zone.
        seasons: ``{"wet": (m0, m1), "dry": (m0, m1)}`` inclusive month ranges, may wrap.
        cloud_by_month: mean cloud cover (0..1) per calendar month.
        snowline_by_month: elevation (m) above which seasonal snow lies, per month.
        glacier_elev: elevation (m) above which snow and ice stay all year.
        elev_low, elev_peak: elevation of the plain and of the highest summit (m).
        grass_peak_doy, grass_width: grassland green-up centre and half-width (days).
        grass_base: grass greenness outside its season (0 = straw, 1 = lush).
        leaf_on, leaf_off: deciduous leaf-on and leaf-off days of year.
        deciduous_share: share of forest stands that are deciduous.
        crops: the crop rotation (a parcel cycles through it year by year).
        frozen_months: months when lakes and rivers are frozen and snow-covered.
        lat_band: the MGRS latitude band letter.
    """

    name: str
    lat: float
    lon: float
    seasons: dict[str, tuple[int, int]]
    cloud_by_month: tuple[float, ...]
    snowline_by_month: tuple[float, ...]
    glacier_elev: float
    elev_low: float
    elev_peak: float
    grass_peak_doy: int
    grass_width: int
    grass_base: float
    leaf_on: int
    leaf_off: int
    deciduous_share: float
    crops: tuple[CropType, ...]
    frozen_months: tuple[int, ...]

    @property
    def utm_zone(self) -> int:
        """The UTM zone number of the region centre."""
        return int((self.lon + 180.0) // 6.0) + 1

    @property
    def epsg(self) -> int:
        """The EPSG code of the UTM zone (326xx north, 327xx south)."""
        return (32600 if self.lat >= 0 else 32700) + self.utm_zone


CLIMATES: dict[str, Climate] = {
    # Lombardy foothills: a plain of maize and winter cereals, lakes, the Alps to the north.
    "temperate": Climate(
        name="temperate",
        lat=45.75,
        lon=8.85,
        seasons={"wet": (10, 3), "dry": (4, 9)},
        cloud_by_month=(0.55, 0.5, 0.45, 0.5, 0.45, 0.35, 0.25, 0.3, 0.4, 0.5, 0.6, 0.55),
        snowline_by_month=(
            900,
            900,
            1300,
            1800,
            2300,
            NO_SNOW,
            NO_SNOW,
            NO_SNOW,
            2600,
            2200,
            1500,
            1000,
        ),
        glacier_elev=2750.0,
        elev_low=200.0,
        elev_peak=3100.0,
        grass_peak_doy=140,
        grass_width=80,
        grass_base=0.35,
        leaf_on=110,
        leaf_off=300,
        deciduous_share=0.6,
        crops=(
            CropType("maize", sow=120, peak=205, harvest=265),
            CropType("winter_wheat", sow=-70, peak=130, harvest=185),
            CropType("soybean", sow=135, peak=215, harvest=275),
        ),
        frozen_months=(),
    ),
    # East African savanna below a volcano: one long wet season (Nov-Apr), a dry season.
    "tropical": Climate(
        name="tropical",
        lat=-3.2,
        lon=37.25,
        seasons={"wet": (11, 4), "dry": (5, 10)},
        cloud_by_month=(0.55, 0.55, 0.65, 0.75, 0.5, 0.25, 0.2, 0.2, 0.15, 0.25, 0.5, 0.6),
        snowline_by_month=(5000, 5000, 4900, 4800, 4900, 5100, 5100, 5100, 5100, 5100, 5000, 4900),
        glacier_elev=5150.0,
        elev_low=900.0,
        elev_peak=5700.0,
        grass_peak_doy=45,
        grass_width=95,
        grass_base=0.12,
        leaf_on=320,
        leaf_off=150,
        deciduous_share=0.35,
        crops=(
            CropType("maize", sow=320, peak=400, harvest=460),
            CropType("beans", sow=335, peak=395, harvest=440),
        ),
        frozen_months=(),
    ),
    # Interior Alaska: long snow season, short green summer, mountains with glaciers.
    "snow": Climate(
        name="snow",
        lat=61.6,
        lon=-149.1,
        seasons={"wet": (11, 4), "dry": (5, 10)},
        cloud_by_month=(0.6, 0.55, 0.5, 0.5, 0.5, 0.55, 0.6, 0.65, 0.65, 0.65, 0.65, 0.6),
        snowline_by_month=(0, 0, 0, 150, 700, 1300, 1700, 1700, 1300, 500, 0, 0),
        glacier_elev=1750.0,
        elev_low=60.0,
        elev_peak=2300.0,
        grass_peak_doy=200,
        grass_width=55,
        grass_base=0.2,
        leaf_on=150,
        leaf_off=265,
        deciduous_share=0.3,
        crops=(
            CropType("barley", sow=140, peak=200, harvest=240),
            CropType("potato", sow=150, peak=210, harvest=255),
        ),
        frozen_months=(11, 12, 1, 2, 3, 4),
    ),
}
"""The climate presets, by name."""


def months_in(season: tuple[int, int]) -> tuple[int, ...]:
    """The calendar months (1..12) of an inclusive, possibly wrapping month range."""
    m0, m1 = season
    if m0 <= m1:
        return tuple(range(m0, m1 + 1))
    return tuple(range(m0, 13)) + tuple(range(1, m1 + 1))
