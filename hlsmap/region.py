"""Regions: a bbox, a GeoJSON file or an MGRS tile id -> a geometry and the output GeoBox.

A :class:`Region` keeps its geometry in EPSG:4326 (what STAC searches take) and knows how to lay
the 30 m HLS grid over itself: in its MGRS tile's UTM zone for a tile, in the UTM zone of its
centre otherwise (a region across UTM zones is reprojected into that one CRS). Pixel edges snap
to multiples of the resolution, which is how the HLS tiles themselves are aligned.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hlsmap.errors import InvalidRegionError

if TYPE_CHECKING:
    from odc.geo.geobox import GeoBox
    from shapely.geometry.base import BaseGeometry

HLS_RESOLUTION = 30.0


def utm_epsg(lon: float, lat: float) -> int:
    """The WGS 84 / UTM EPSG code of the zone holding ``(lon, lat)``."""
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class Region:
    """An area to map.

    Attributes:
        geometry: a shapely geometry in EPSG:4326.
        name: a short label for logs and file names.
        tile: the MGRS tile id when the region is one tile.
    """

    geometry: BaseGeometry
    name: str = "region"
    tile: str | None = None
    grid: GeoBox | None = None

    @classmethod
    def from_bbox(cls, bbox: tuple[float, float, float, float] | list[float]) -> Region:
        """A region from ``(west, south, east, north)`` in degrees."""
        from shapely.geometry import box

        if len(bbox) != 4:
            raise InvalidRegionError(f"a bbox has 4 numbers (west south east north), got {bbox}")
        w, s, e, n = (float(v) for v in bbox)
        if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
            raise InvalidRegionError(
                f"bbox {bbox} is not in degrees (west south east north, longitude -180..180, "
                "latitude -90..90); pass it in EPSG:4326"
            )
        # STAC/GeoJSON write a box over the antimeridian as west > east (170 .. -170); a box
        # such as 10 .. 9 is a swap, not a 359-degree-wide region
        if e < 0 < w and s < n:
            raise InvalidRegionError(
                f"bbox {bbox} crosses the antimeridian (west {w:g} > east {e:g}), which one "
                f"output grid cannot hold; map it as two regions: --bbox {w:g} {s:g} 180 {n:g} "
                f"and --bbox -180 {s:g} {e:g} {n:g}"
            )
        if w >= e or s >= n:
            raise InvalidRegionError(
                f"bbox {bbox} is empty or inverted: it must be west south east north with "
                "west < east and south < north"
            )
        return cls(box(w, s, e, n), name=f"bbox_{w:.3f}_{s:.3f}_{e:.3f}_{n:.3f}")

    @classmethod
    def from_geojson(cls, path: str | Path) -> Region:
        """A region from a GeoJSON file (Geometry, Feature or FeatureCollection, in EPSG:4326)."""
        from shapely.geometry import shape
        from shapely.ops import unary_union

        p = Path(path)
        try:
            doc: Any = json.loads(p.read_text())
        except FileNotFoundError:
            raise InvalidRegionError(f"GeoJSON file {p} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidRegionError(f"{p} is not valid GeoJSON: {exc}") from None
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind == "FeatureCollection":
            geoms = [f.get("geometry") for f in doc.get("features", [])]
        elif kind == "Feature":
            geoms = [doc.get("geometry")]
        else:
            geoms = [doc]
        try:
            shapes = [shape(g) for g in geoms if g]
        except Exception as exc:  # shapely raises several types for malformed geometries
            raise InvalidRegionError(f"{p} holds an invalid geometry: {exc}") from None
        if not shapes:
            raise InvalidRegionError(f"{p} holds no geometry; give a Polygon or a Feature")
        geom = unary_union(shapes)
        w, s, e, n = geom.bounds
        if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90) or geom.area == 0:
            raise InvalidRegionError(
                f"{p} is not a polygon in EPSG:4326 degrees (bounds {geom.bounds}); GeoJSON "
                "coordinates must be longitude, latitude"
            )
        return cls(geom, name=p.stem)

    @classmethod
    def from_tile(cls, tile: str) -> Region:
        """The footprint of an MGRS (Sentinel-2/HLS) tile such as ``"T15TVH"``."""
        from pyproj import Transformer
        from shapely.geometry import Polygon

        from hlsmap.mgrs import tile_grid

        grid = tile_grid(tile)
        x0, y0, x1, y1 = grid.bounds
        to_ll = Transformer.from_crs(grid.epsg, 4326, always_xy=True)
        ring = [to_ll.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        return cls(Polygon(ring), name=f"T{grid.tile}", tile=grid.tile)

    @classmethod
    def from_geobox(cls, geobox: GeoBox, name: str = "grid") -> Region:
        """A region that is exactly this grid (its :meth:`geobox` returns it unchanged)."""
        from shapely.geometry import shape

        geom = shape(geobox.extent.to_crs("EPSG:4326").json)
        return cls(geom, name=name, grid=geobox)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees."""
        w, s, e, n = self.geometry.bounds
        return (w, s, e, n)

    def geobox(self, resolution: float = HLS_RESOLUTION, crs: str | int | None = None) -> GeoBox:
        """The output grid over this region.

        Args:
            resolution: pixel size in metres (30 by default, HLS's native resolution).
            crs: an explicit CRS; by default the tile's UTM zone, or the zone of the centre.
        """
        from odc.geo.geobox import GeoBox
        from odc.geo.geom import Geometry

        if resolution <= 0:
            raise InvalidRegionError(f"resolution must be positive, got {resolution}")
        if self.grid is not None and crs is None and resolution == abs(self.grid.resolution.x):
            return self.grid
        if crs is None and self.tile is not None:
            from hlsmap.mgrs import tile_grid

            grid = tile_grid(self.tile)
            return GeoBox.from_bbox(grid.bounds, f"EPSG:{grid.epsg}", resolution=resolution)
        if crs is None:
            c = self.geometry.centroid
            crs = f"EPSG:{utm_epsg(c.x, c.y)}"
        elif isinstance(crs, int):
            crs = f"EPSG:{crs}"
        geom = Geometry(self.geometry, "EPSG:4326").to_crs(crs)
        return GeoBox.from_bbox(geom.boundingbox, crs, resolution=resolution)
