"""``hlsmap predict``: map a region from every observation of a period, tile by tile on Dask."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console
from hlsmap.cli.options import (
    BBox,
    GeoJSON,
    SeasonWrap,
    Sensors,
    Source,
    Tile,
    check_hls_years,
    output_dir,
    region_from_options,
    sensor_list,
    with_hls_hint,
)
from hlsmap.errors import ConfigError, EmptySearchError, TileFailedError


def _is_season(text: str) -> bool:
    """``wet=11-04`` (a season: NAME=MM-MM), not ``q=2024-01-01/2024-03-31`` (a date range)."""
    return "=" in text and "/" not in text


@app.command("predict")
def predict_cmd(
    out_arg: Annotated[
        Path | None,
        typer.Argument(
            metavar="OUT",
            help="Deprecated: the output folder; write --out OUT.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (tiles, COGs per period, run.log). \\[required]"),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="A saved model directory, or a known model: dynamicworld (`hlsmap models`)."
            " \\[required]",
        ),
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="Map this calendar year.")] = None,
    period: Annotated[
        list[str] | None,
        typer.Option(
            "--period",
            help="A period to map (repeatable): 2024, 2024-Q2, 2024-03, START/END or "
            "name=START/END.",
        ),
    ] = None,
    season: Annotated[
        list[str] | None,
        typer.Option(
            "--season", help="A season of --year as NAME=MM-MM (repeatable), e.g. wet=11-04."
        ),
    ] = None,
    season_wrap: SeasonWrap = "within",
    source: Source = "pc",
    bbox: BBox = None,
    geojson: GeoJSON = None,
    tile: Tile = None,
    sensors: Sensors = "L30,S30",
    max_cloud: Annotated[
        float | None, typer.Option("--max-cloud", help="Skip granules above this cloud %.")
    ] = None,
    resolution: Annotated[
        float | None,
        typer.Option(
            help="Output pixel size in metres (default: the model's); a multiple of the"
            " model's aggregates each observation by mode.",
            min=0.001,
        ),
    ] = None,
    crs: Annotated[str | None, typer.Option(help="Output CRS (default: UTM zone).")] = None,
    tile_size: Annotated[int, typer.Option(help="Tile side of the output grid (px).")] = 512,
    halo: Annotated[
        int | None,
        typer.Option(help="Context pixels around each tile (default: the model's field).", min=0),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(help="Model window side (px); default: each tile + halo in one window."),
    ] = None,
    overlap: Annotated[int, typer.Option(help="Blend zone between windows (px).")] = 32,
    batch_size: Annotated[
        int | None, typer.Option(help="Windows per model call (default 2 per device).")
    ] = None,
    time_batch: Annotated[int, typer.Option(help="Observations predicted at once.")] = 8,
    rule: Annotated[str, typer.Option(help="mean_prob, mode or weighted_mode.")] = "mean_prob",
    min_valid: Annotated[int, typer.Option(help="Clear observations a pixel needs.")] = 1,
    balance: Annotated[
        str, typer.Option(help="month (each month weighs the same: default) or none.")
    ] = "month",
    retries: Annotated[int, typer.Option(help="Retries of a tile whose reads fail.")] = 2,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail a tile on a granule that cannot be read (default: skip it, report it).",
        ),
    ] = False,
    precision: Annotated[
        str,
        typer.Option(
            help="f32; bf16 (all compute in bfloat16: GPUs); bf16-dots (CPUs: wide "
            "convolutions as bfloat16 matrix products, which XLA:CPU keeps in bf16)."
        ),
    ] = "f32",
    runtime: Annotated[
        str,
        typer.Option(
            help="jax (the jitted function on every device) or openvino (the U-Net exported to "
            "OpenVINO: the fastest CPU kernel; pip install 'hlsmap\\[openvino]')."
        ),
    ] = "jax",
    scheme: Annotated[str, typer.Option(help="Class scheme of the class COGs: v1 or v2.")] = "v1",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running Dask scheduler (tcp://host:8786)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes of the local cluster (default 1).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="Tiles run at once per worker (default min(4, cores)).")
    ] = None,
    save_predictions: Annotated[
        bool,
        typer.Option(
            "--save-predictions",
            help="Also keep each tile's per-observation predictions (tiles/*.predictions.zarr) "
            "for hlsmap consensus / hlsmap alerts.",
        ),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Predict every observation of a region and write consensus maps per period (COGs)."""
    from hlsmap.inference.predict import PRECISIONS, RUNTIMES
    from hlsmap.inference.runner import RunConfig, predict_region
    from hlsmap.inference.tasks import TileOptions
    from hlsmap.periods import Period, parse_period, parse_season

    out = output_dir(out_arg, out, "predict")
    if model is None:
        raise ConfigError("missing --model: a saved model directory or dynamicworld")
    if season_wrap not in ("within", "span"):
        raise ConfigError(f"--season-wrap {season_wrap!r}: use within or span")
    seasons = list(season or [])
    for p in period or []:
        if _is_season(p):
            console.print(
                f"[yellow]deprecated:[/] --period {p}: write --season {p} (as hlsmap map)",
                highlight=False,
            )
            seasons.append(p)
    periods = [parse_period(p, year) for p in period or [] if not _is_season(p)]
    if seasons and year is None:
        raise ConfigError("--season needs --year: the seasons of which year?")
    for spec in seasons:
        assert year is not None
        name, months = parse_season(spec)
        periods.append(Period.season(name, months, year, wrap=season_wrap))  # type: ignore[arg-type]
    if year is not None and not any(p.name == str(year) for p in periods):
        periods.insert(0, Period.year(year))
    if not periods:
        raise ConfigError("say what to map: --year 2024 and/or --period 2024-01-01/2024-06-30")
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision!r}: use f32, bf16 or bf16-dots")
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime {runtime!r}: use jax or openvino")
    if runtime == "openvino" and precision == "bf16-dots":
        raise ConfigError("--precision bf16-dots is for --runtime jax; openvino takes f32 or bf16")
    region = region_from_options(bbox, geojson, tile)
    first_year = int(str(min(p.start for p in periods))[:4])
    last_year = int(str(max(p.end for p in periods))[:4])
    sensor_names = sensor_list(sensors)
    for line in check_hls_years(sensor_names, range(first_year, last_year + 1)):
        console.print(f"[yellow]warning:[/] {line}", highlight=False)
    options = TileOptions(
        window=window,
        overlap=overlap,
        batch_size=batch_size,
        time_batch=time_batch,
        rule=rule,
        min_valid=min_valid,
        balance=balance,
        retries=retries,
        strict=strict,
        compute_dtype=PRECISIONS[precision],
        runtime=runtime,
        save_predictions=save_predictions,
    )
    config = RunConfig(
        tile_size=tile_size,
        halo=halo,
        options=options,
        scheme=scheme,
        n_workers=workers,
        threads_per_worker=threads,
        scheduler=scheduler,
    )
    try:
        res = predict_region(
            source,
            region,
            model,
            out,
            periods,
            sensors=sensor_names,
            max_cloud=max_cloud,
            resolution=resolution,
            crs=crs,
            config=config,
            progress=progress,
        )
    except EmptySearchError as exc:
        raise with_hls_hint(exc, sensor_names, first_year) from None
    rate = res.pixel_observations / max(res.seconds, 1e-9)
    console.print(
        f"{res.tiles} tiles ({res.skipped} already done), {res.n_observations} tile-observations, "
        f"{res.pixel_observations:,} pixel-observations in {res.seconds:.1f} s ({rate:,.0f}/s)"
    )
    console.print(res.resume_summary(), highlight=False)
    for name, paths in res.mosaics.items():
        console.print(f"{name}: {paths['class']}")
    if res.failed:
        listed = "; ".join(f"tile {k}: {v}" for k, v in sorted(res.failed.items())[:3])
        raise TileFailedError(
            f"{len(res.failed)} of {res.tiles} tiles failed and are no data ({listed}); "
            f"{Path(out) / 'run-report.json'} lists them. Run the same command again to retry "
            "them: finished tiles are kept"
        )
