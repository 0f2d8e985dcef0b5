"""The region's grid and the MGRS-like tiles that cut it into HLS granules.

Real HLS granules lie on Sentinel-2 MGRS tiles: 109.8 km squares that overlap their neighbours
by ~9.8 km, so one overpass writes the same pixels into two (or four) granules. The world keeps
that geometry at a smaller scale: ``tiles_per_side**2`` square tiles that overlap by
``tile_overlap`` pixels and carry real-looking MGRS names (the name of the 100 km square that
the tile stands for, so neighbouring tiles carry neighbouring MGRS names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from affine import Affine
from pyproj import Transformer

from hlsmap.simulate.climate import CLIMATES
from hlsmap.simulate.config import WorldConfig

RESOLUTION = 30.0
_BANDS_LAT = "CDEFGHJKLMNPQRSTUVWX"
_COL_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"


def mgrs_square(zone: int, lat: float, easting: float, northing: float) -> str:
    """The MGRS tile name (``"32TMR"``) of a UTM position, as Sentinel-2 names its tiles."""
    band = _BANDS_LAT[min(int((lat + 80.0) // 8.0), len(_BANDS_LAT) - 1)]
    col = _COL_SETS[(zone - 1) % 3][(int(easting // 100_000) - 1) % 8]
    row_index = int(northing // 100_000) + (5 if zone % 2 == 0 else 0)
    row = _ROW_LETTERS[row_index % 20]
    return f"{zone:02d}{band}{col}{row}"


@dataclass(frozen=True)
class Tile:
    """One MGRS-like tile: a window of the region grid.

    Attributes:
        name: the MGRS name without the ``T`` (``"32TMR"``).
        row, col: the tile's index in the tile grid.
        r0, c0: the window's upper-left pixel in the region grid.
        size: the window's width and height in pixels.
        transform: the granule's affine transform (UTM metres).
    """

    name: str
    row: int
    col: int
    r0: int
    c0: int
    size: int
    transform: Affine

    @property
    def window(self) -> tuple[slice, slice]:
        """Row and column slices of the tile in region arrays."""
        return slice(self.r0, self.r0 + self.size), slice(self.c0, self.c0 + self.size)


class Grid:
    """The region: a square UTM grid at 30 m around the climate's location, and its tiles."""

    def __init__(self, config: WorldConfig) -> None:
        climate = CLIMATES[config.climate]
        self.size = config.size
        self.epsg = climate.epsg
        self.zone = climate.utm_zone
        self.lat = climate.lat
        self.lon = climate.lon
        to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{self.epsg}", always_xy=True)
        cx, cy = to_utm.transform(climate.lon, climate.lat)
        half = config.size * RESOLUTION / 2.0
        # Snap the corner to the 30 m lattice that HLS tiles share (whole 30 m steps).
        self.x0 = math.floor((cx - half) / RESOLUTION) * RESOLUTION
        self.y0 = math.floor((cy + half) / RESOLUTION) * RESOLUTION
        self.transform = Affine(RESOLUTION, 0.0, self.x0, 0.0, -RESOLUTION, self.y0)
        self.tiles = self._make_tiles(config.tiles_per_side, config.overlap, cx, cy)

    def _make_tiles(self, n: int, overlap: int, cx: float, cy: float) -> tuple[Tile, ...]:
        size = self.size
        tile_px = -(-(size + (n - 1) * overlap) // n)
        step = tile_px - overlap
        tiles = []
        for i in range(n):
            for j in range(n):
                r0 = min(i * step, size - tile_px)
                c0 = min(j * step, size - tile_px)
                # Name: the 100 km square this tile stands for (neighbours get neighbours).
                name = mgrs_square(
                    self.zone,
                    self.lat,
                    cx + (j - (n - 1) / 2) * 100_000,
                    cy - (i - (n - 1) / 2) * 100_000,
                )
                transform = self.transform @ Affine.translation(c0, r0)
                tiles.append(Tile(name, i, j, r0, c0, tile_px, transform))
        names = [t.name for t in tiles]
        if len(set(names)) != len(names):  # pragma: no cover - only with > 8 tiles per side
            tiles = [
                Tile(
                    f"{t.name[:3]}{t.row:01d}{t.col:01d}",
                    t.row,
                    t.col,
                    t.r0,
                    t.c0,
                    t.size,
                    t.transform,
                )
                for t in tiles
            ]
        return tuple(tiles)

    @property
    def crs(self) -> str:
        """The CRS as ``"EPSG:326xx"``."""
        return f"EPSG:{self.epsg}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in UTM metres."""
        extent = self.size * RESOLUTION
        return (self.x0, self.y0 - extent, self.x0 + extent, self.y0)

    @cached_property
    def bbox(self) -> tuple[float, float, float, float]:
        """(W, S, E, N) of the region in EPSG:4326."""
        return footprint_bbox(self.epsg, *self.bounds)

    def geobox(self):  # type: ignore[no-untyped-def]  # odc.geo is imported lazily
        """The region's :class:`odc.geo.geobox.GeoBox`."""
        from odc.geo.geobox import GeoBox

        return GeoBox((self.size, self.size), self.transform, self.crs)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Column and row coordinates of pixel centres (for geometry on the region grid)."""
        idx = np.arange(self.size, dtype=np.float32) + 0.5
        return idx[None, :], idx[:, None]


def footprint_bbox(
    epsg: int, left: float, bottom: float, right: float, top: float
) -> tuple[float, float, float, float]:
    """The EPSG:4326 bbox of a UTM rectangle (edges densified, so curvature is covered)."""
    to_ll = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    w, s, e, n = to_ll.transform_bounds(left, bottom, right, top, densify_pts=21)
    return (float(w), float(s), float(e), float(n))
