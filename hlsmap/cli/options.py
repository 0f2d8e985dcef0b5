"""Options shared by several commands: the region (bbox, GeoJSON or MGRS tile) and dates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hlsmap.errors import ConfigError
from hlsmap.region import Region

BBox = Annotated[
    tuple[float, float, float, float] | None,
    typer.Option("--bbox", help="Region as west south east north, in degrees (EPSG:4326)."),
]
GeoJSON = Annotated[
    Path | None, typer.Option("--geojson", help="Region as a GeoJSON file (EPSG:4326).")
]
Tile = Annotated[
    str | None, typer.Option("--tile", help="Region as an MGRS/HLS tile id, e.g. T15TVH.")
]
Sensors = Annotated[
    str, typer.Option("--sensors", help="Comma-separated sensor names (see `hlsmap sensors`).")
]
Source = Annotated[
    str,
    typer.Option(
        "--source",
        help="pc (Planetary Computer), nasa (CMR-STAC), a STAC API URL, or a static "
        "catalog / ItemCollection file or folder.",
    ),
]


def region_from_options(
    bbox: tuple[float, float, float, float] | None, geojson: Path | None, tile: str | None
) -> Region:
    """Exactly one of ``--bbox``, ``--geojson`` and ``--tile`` -> a :class:`Region`."""
    given = [name for name, v in (("--bbox", bbox), ("--geojson", geojson), ("--tile", tile)) if v]
    if len(given) != 1:
        raise ConfigError(
            "give the region exactly once: --bbox W S E N, --geojson FILE or --tile T15TVH"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if bbox:
        return Region.from_bbox(bbox)
    if geojson:
        return Region.from_geojson(geojson)
    assert tile is not None
    return Region.from_tile(tile)


def sensor_list(sensors: str) -> list[str]:
    """``"L30,S30"`` -> ``["L30", "S30"]``."""
    names = [s.strip() for s in sensors.split(",") if s.strip()]
    if not names:
        raise ConfigError("--sensors is empty; name at least one sensor, e.g. L30,S30")
    return names
