"""``hlsmap map``: the main job — a region and a year in, maps, change and statistics out."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console
from hlsmap.cli.options import BBox, GeoJSON, Tile, check_hls_years, with_hls_hint
from hlsmap.errors import EmptySearchError
from hlsmap.runconfig import MapConfig

# Every option defaults to None so that a --config file can layer under the command line; the
# help shows the effective default, MapConfig's own, so it cannot drift from what a run uses.
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(MapConfig)}
REQUIRED = "\\[required: here or in --config]"  # (rich markup would eat a bare "[")


def _default(name: str) -> str:
    v = _DEFAULTS[name]
    if isinstance(v, tuple):
        return ",".join(v) if v else "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return "the model's" if name in ("resolution", "halo") else "none"
    return str(v)


@app.command("map")
def map_cmd(
    bbox: BBox = None,
    geojson: GeoJSON = None,
    tile: Tile = None,
    year: Annotated[
        int | None, typer.Option(help=f"Calendar year to map (HLS: 2013 on). {REQUIRED}")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="A saved model directory, or a known model: dynamicworld (`hlsmap models`). "
            + REQUIRED
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help=f"Output folder. {REQUIRED}")] = None,
    source: Annotated[
        str | None,
        typer.Option(
            show_default=_default("source"),
            help="pc, nasa, a STAC API URL, or a static catalog / ItemCollection.",
        ),
    ] = None,
    sensors: Annotated[
        str | None, typer.Option(show_default=_default("sensors"), help="Sensors, e.g. L30,S30.")
    ] = None,
    season: Annotated[
        list[str] | None,
        typer.Option(help="A season as NAME=MM-MM (repeat), e.g. wet=11-04. Default: detected."),
    ] = None,
    season_wrap: Annotated[
        str | None,
        typer.Option(
            "--season-wrap",
            show_default=_default("season_wrap"),
            help="within: seasons keep to the calendar year (default); span: wet=11-04 of 2024"
            " is Nov 2023-Apr 2024.",
        ),
    ] = None,
    change: Annotated[
        bool | None,
        typer.Option(
            "--change/--no-change",
            show_default=_default("change"),
            help="Also map change vs last year.",
        ),
    ] = None,
    max_cloud: Annotated[
        float | None,
        typer.Option(show_default=_default("max_cloud"), help="Skip granules above this %."),
    ] = None,
    rule: Annotated[
        str | None,
        typer.Option(show_default=_default("rule"), help="mean_prob, mode or weighted_mode."),
    ] = None,
    min_valid: Annotated[
        int | None,
        typer.Option(show_default=_default("min_valid"), help="Valid observations per pixel."),
    ] = None,
    balance: Annotated[
        str | None,
        typer.Option(
            show_default=_default("balance"),
            help="month (each month weighs the same: default) or none.",
        ),
    ] = None,
    scheme: Annotated[
        str | None,
        typer.Option(show_default=_default("scheme"), help="v1 (10 classes) or v2 (IO's 9)."),
    ] = None,
    tile_size: Annotated[
        int | None, typer.Option(show_default=_default("tile_size"), help="Tile side in pixels.")
    ] = None,
    resolution: Annotated[
        float | None,
        typer.Option(
            show_default=_default("resolution"),
            help="Output pixel size in metres (default: the model's: 30 U-Net, 10 Dynamic"
            " World); a multiple of the model's aggregates each observation by mode.",
        ),
    ] = None,
    halo: Annotated[
        int | None,
        typer.Option(
            show_default=_default("halo"),
            help="Context pixels around each tile (default: the model's field).",
            min=0,
        ),
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="Output CRS, e.g. EPSG:32615 (default: the UTM zone).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes of the local cluster (default 1).", min=1),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="An existing Dask scheduler, tcp://host:8786.")
    ] = None,
    save_predictions: Annotated[
        bool | None,
        typer.Option(
            "--save-predictions/--no-save-predictions",
            show_default=_default("save_predictions"),
            help="Keep per-observation predictions per tile for hlsmap alerts / consensus.",
        ),
    ] = None,
    probabilities: Annotated[
        bool | None,
        typer.Option(
            "--probabilities/--no-probabilities",
            help="Also write each period's per-class mean probabilities (probabilities.tif).",
        ),
    ] = None,
    runtime: Annotated[
        str | None,
        typer.Option(
            show_default=_default("runtime"),
            help="jax, or openvino (the fastest CPU kernel: hlsmap\\[openvino]).",
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            show_default=_default("precision"),
            help="f32; bf16 (all compute in bfloat16: GPUs; CPUs with bf16 units on openvino);"
            " bf16-dots (jax on CPUs: wide convolutions as bfloat16 matrix products).",
        ),
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--no-strict",
            show_default=_default("strict"),
            help="Fail a tile on a granule that cannot be read (default: skip it, report it).",
        ),
    ] = None,
    license: Annotated[
        str | None,
        typer.Option(
            "--license", show_default=_default("license"), help="Licence of the products (SPDX id)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A TOML/YAML file holding any option.")
    ] = None,
    plan: Annotated[
        bool, typer.Option("--plan", help="Print tiles, items and work; read no pixels.")
    ] = False,
) -> None:
    """Annual and wet/dry season land-cover maps of a region (+ change), with every product."""
    from hlsmap.mapping import check_model, plan_map, run_map, write_plan
    from hlsmap.runconfig import resolve_config

    cfg = resolve_config(
        config,
        bbox=bbox,
        geojson=geojson,
        tile=tile,
        year=year,
        model=model,
        out=out,
        source=source,
        sensors=sensors,
        seasons=season,
        season_wrap=season_wrap,
        change=change,
        max_cloud=max_cloud,
        rule=rule,
        min_valid=min_valid,
        balance=balance,
        scheme=scheme,
        tile_size=tile_size,
        resolution=resolution,
        halo=halo,
        crs=crs,
        n_workers=workers,
        scheduler=scheduler,
        save_predictions=save_predictions,
        probabilities=probabilities,
        runtime=runtime,
        precision=precision,
        strict=strict,
        license=license,
    )
    years = [cfg.year - 1, cfg.year] if cfg.change else [cfg.year]
    for line in check_hls_years(cfg.sensors, years):  # before any search: no HLS before 2013
        console.print(f"[yellow]warning:[/] {line}", highlight=False)
    if plan:
        check_model(cfg)  # the weights too, before the search (run_map checks them itself)
        try:
            p = plan_map(cfg)
        except EmptySearchError as exc:
            raise with_hls_hint(exc, cfg.sensors, years[0]) from None
        write_plan(p, Path(cfg.out))
        typer.echo(p.describe())
        return
    try:
        result = run_map(cfg)
    except EmptySearchError as exc:
        raise with_hls_hint(exc, cfg.sensors, years[0]) from None
    for name, item in result.items.items():
        console.print(f"{name}: {Path(cfg.out) / item.id}")
    if result.seasons is not None:
        console.print(result.seasons.describe())
    for year, line in sorted(result.resume.items()):
        console.print(f"{year}: {line}", highlight=False)
    console.print(
        f"mapped {result.pixel_observations:,} pixel-observations in {result.seconds:.0f} s; "
        f"STAC: {result.collection}"
    )
    if result.failed_tiles:
        from hlsmap.errors import TileFailedError

        year, tiles = next(iter(sorted(result.missing.items())))
        index, reason = next(iter(sorted(tiles.items())))
        raise TileFailedError(
            f"{result.failed_tiles} tile(s) failed and are no data in the maps (first: {year} "
            f"tile {index}: {reason}); the STAC items (hlsmap:missing_tiles) and "
            f"{Path(cfg.out) / 'work' / str(year) / 'run-report.json'} list them; rerun the same "
            "command to retry them (finished tiles are kept)"
        )
