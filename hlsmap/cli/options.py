"""Options shared by several commands: the region (bbox, GeoJSON or MGRS tile) and dates."""

from __future__ import annotations

from collections.abc import Sequence
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
SeasonWrap = Annotated[
    str,
    typer.Option(
        "--season-wrap",
        help="within: seasons keep to the calendar year; span: wet=11-04 of 2024 is"
        " Nov 2023-Apr 2024.",
    ),
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


# First month of each HLS v2.0 product (NASA LP DAAC): Landsat 8 from April 2013, Sentinel-2A
# from late November 2015. Earlier dates can only come back empty.
HLS_START = {"L30": (2013, 4), "S30": (2015, 11)}
HLS_STARTS_TEXT = "HLS starts in 2013 (L30 2013-04, S30 2015-11)"


def check_hls_years(sensors: Sequence[str], years: Sequence[int]) -> list[str]:
    """Refuse years before every requested HLS sensor started; warn about the partial ones.

    Checked before any search, so ``--year 2010`` fails in a second with the reason instead of
    after a catalog query that finds nothing. Sensors other than L30/S30 are not judged.

    Returns:
        warning lines: a year that one requested HLS sensor does not cover yet.

    Raises:
        ConfigError: every requested sensor is HLS and none has data in one of ``years``.
    """
    hls = [s for s in sensors if s in HLS_START]
    if not hls:
        return []
    warnings: list[str] = []
    for year in years:
        covered = [s for s in hls if HLS_START[s][0] <= year]
        if not covered and len(hls) == len(sensors):
            raise ConfigError(
                f"year {year} has no {'/'.join(hls)} observations: {HLS_STARTS_TEXT}; "
                "map 2013 or later (a change map also needs the year before)"
            )
        for s in hls:
            if s not in covered:
                y, m = HLS_START[s]
                warnings.append(f"{s} starts in {y}-{m:02d}: {year} has no {s} observations")
    return warnings


def output_dir(positional: Path | None, option: Path | None, command: str) -> Path:
    """The output folder from ``--out`` (every command's spelling) or the deprecated positional.

    Raises:
        ConfigError: neither or both are given.
    """
    if positional is not None and option is not None:
        raise ConfigError(f"give the output once: --out {option} (not also {positional})")
    if option is not None:
        return option
    if positional is None:
        raise ConfigError(f"missing the output folder: hlsmap {command} --out DIR ...")
    from hlsmap.cli.app import console

    console.print(
        f"[yellow]deprecated:[/] `hlsmap {command} {positional}`: write "
        f"`hlsmap {command} --out {positional}` (every command takes --out)",
        highlight=False,
    )
    return positional


def with_hls_hint(exc: Exception, sensors: Sequence[str], first_year: int) -> Exception:
    """``exc`` (a search that found nothing) with the HLS start dates when the period reaches
    back before them: "no items" alone does not say that the archive is younger."""
    latest = max((HLS_START[s][0] + 1 for s in sensors if s in HLS_START), default=0)
    if first_year < latest:  # S30 starts at the very end of 2015
        return type(exc)(f"{exc} ({HLS_STARTS_TEXT})")
    return exc
