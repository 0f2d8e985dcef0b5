"""``hlsmap search`` and ``hlsmap cube``: find observations, and load them into a Zarr cube."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console
from hlsmap.cli.options import (
    BBox,
    GeoJSON,
    Sensors,
    Source,
    Tile,
    output_dir,
    region_from_options,
    sensor_list,
)
from hlsmap.errors import ConfigError

Dates = Annotated[
    str, typer.Option("--datetime", "--dates", help="YYYY, YYYY-MM or START/END (ISO dates).")
]
MaxCloud = Annotated[
    float | None, typer.Option("--max-cloud", help="Keep items with eo:cloud_cover <= this %.")
]


@app.command("search")
def search_cmd(
    datetime: Dates,
    source: Source = "pc",
    bbox: BBox = None,
    geojson: GeoJSON = None,
    tile: Tile = None,
    sensors: Sensors = "L30,S30",
    max_cloud: MaxCloud = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Save the items as an ItemCollection file.")
    ] = None,
) -> None:
    """Find the observations over a region and period; print them per sensor."""
    from hlsmap.search import search

    region = region_from_options(bbox, geojson, tile)
    items = search(
        source, region=region, datetime=datetime, sensors=sensor_list(sensors), max_cloud=max_cloud
    )
    per = Counter(i.collection_id for i in items)
    for cid, n in sorted(per.items()):
        console.print(f"{cid}: {n} items")
    console.print(
        f"{len(items)} items from {items[0].datetime:%Y-%m-%d} to {items[-1].datetime:%Y-%m-%d}"
    )
    if out is not None:
        import pystac

        pystac.ItemCollection(items).save_object(dest_href=str(out))
        console.print(f"saved to {out}")


@app.command("cube")
def cube_cmd(
    out_arg: Annotated[
        Path | None,
        typer.Argument(
            metavar="OUT", help="Deprecated: the Zarr store; write --out OUT.", show_default=False
        ),
    ] = None,
    datetime: Dates = "",
    out: Annotated[
        Path | None, typer.Option("--out", help="Zarr store to write (a folder). \\[required]")
    ] = None,
    source: Source = "pc",
    bbox: BBox = None,
    geojson: GeoJSON = None,
    tile: Tile = None,
    sensors: Sensors = "L30,S30",
    max_cloud: MaxCloud = None,
    resolution: Annotated[float, typer.Option(help="Pixel size in metres.")] = 30.0,
    crs: Annotated[str | None, typer.Option(help="Output CRS (default: the UTM zone).")] = None,
    chunk: Annotated[int, typer.Option(help="Spatial chunk size in pixels.")] = 512,
) -> None:
    """Load the aligned, masked L30 + S30 cube of a region and period into Zarr."""
    from hlsmap.cube import cube_from_source
    from hlsmap.cubestore import write_zarr

    out = output_dir(out_arg, out, "cube")
    if not datetime:
        raise ConfigError("missing --datetime: YYYY, YYYY-MM or START/END")
    region = region_from_options(bbox, geojson, tile)
    cube = cube_from_source(
        source,
        region=region,
        datetime=datetime,
        sensors=sensor_list(sensors),
        max_cloud=max_cloud,
        resolution=resolution,
        crs=crs,
        chunks={"x": chunk, "y": chunk, "time": 1},
    )
    sizes = ", ".join(f"{k}={v}" for k, v in cube.sizes.items())
    console.print(f"cube: {sizes}; sensors {dict(Counter(cube.sensor.values.tolist()))}")
    write_zarr(cube, out)
    console.print(f"wrote {out}")
