"""MGRS / Sentinel-2 tile ids -> the tile's UTM grid (the grid HLS uses).

HLS v2.0 granules lie on the Sentinel-2 tiling: 109.8 km squares (3660 x 30 m pixels) whose
upper-left corner sits on the 60 m grid at the north-west of the MGRS 100 km square, extended
north by 100 km. That makes, for example, ``T13RCN`` start at (300000, 3300000) in EPSG:32613 and
``T06WVS`` at (399960, 7200000) in EPSG:32606 — exactly what the real granules carry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hlsmap.errors import InvalidRegionError

_COLS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROWS = "ABCDEFGHJKLMNPQRSTUV"
_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_TILE = re.compile(r"^T?(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z])([A-HJ-NP-V])$")
TILE_SIZE_M = 109_800.0


@dataclass(frozen=True)
class TileGrid:
    """The UTM grid of one Sentinel-2/HLS tile.

    Attributes:
        tile: the canonical id without the leading ``T`` (``"13RCN"``).
        epsg: the UTM CRS (326xx north, 327xx south).
        ulx: easting of the upper-left corner (m).
        uly: northing of the upper-left corner (m).
        size: width and height in metres (109 800).
    """

    tile: str
    epsg: int
    ulx: float
    uly: float
    size: float = TILE_SIZE_M

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in the tile's UTM CRS."""
        return (self.ulx, self.uly - self.size, self.ulx + self.size, self.uly)


def parse_tile(tile: str) -> tuple[int, str, str, str]:
    """Split ``"T13RCN"`` / ``"13RCN"`` into zone, latitude band, column and row letters."""
    m = _TILE.match(tile.strip().upper())
    if not m or not 1 <= int(m.group(1)) <= 60:
        raise InvalidRegionError(
            f"{tile!r} is not an MGRS tile id; expected the form T13RCN (zone 1-60, latitude "
            "band C-X, two 100 km square letters), as in HLS granule names"
        )
    return int(m.group(1)), m.group(2), m.group(3), m.group(4)


def tile_grid(tile: str) -> TileGrid:
    """The UTM grid of an MGRS tile id.

    Args:
        tile: an id such as ``"T13RCN"`` or ``"13RCN"``.

    Raises:
        InvalidRegionError: the id is malformed or names a square that does not exist.
    """
    from pyproj import Transformer

    zone, band, col, row = parse_tile(tile)
    cols = _COLS[(zone - 1) % 3]
    if col not in cols:
        raise InvalidRegionError(f"column letter {col!r} does not occur in UTM zone {zone}")
    easting = (cols.index(col) + 1) * 100_000.0
    # Row letters repeat every 2000 km; even zones are shifted by 5 letters.
    row_n = ((_ROWS.index(row) - (5 if zone % 2 == 0 else 0)) % 20) * 100_000.0
    south = band < "N"
    epsg = (32700 if south else 32600) + zone
    lat_min = -80.0 + 8.0 * _BANDS.index(band)
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    lon0 = -183.0 + 6.0 * zone
    _, band_n = to_utm.transform(lon0, lat_min)
    # The 100 km square's northing is the row offset plus the multiple of 2000 km that puts it at
    # or just below the southern edge of the latitude band (squares straddle band edges).
    k = math.floor((band_n - row_n) / 2_000_000.0)
    northing = row_n + 2_000_000.0 * k
    if northing + 100_000.0 <= band_n:
        northing += 2_000_000.0
    ulx = math.floor(easting / 60.0) * 60.0
    uly = math.ceil((northing + 100_000.0) / 60.0) * 60.0
    return TileGrid(tile=f"{zone:02d}{band}{col}{row}", epsg=epsg, ulx=ulx, uly=uly)
