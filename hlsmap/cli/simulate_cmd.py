"""``hlsmap simulate``: write a synthetic, ground-truthed HLS world."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console
from hlsmap.cli.options import output_dir


@app.command("simulate")
def simulate_cmd(
    out_arg: Annotated[
        Path | None,
        typer.Argument(
            metavar="OUT", help="Deprecated: the folder; write --out OUT.", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write the world into. \\[required]")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 0,
    size: Annotated[int, typer.Option(help="Region width/height in 30 m pixels (<= 3660).")] = 512,
    year: Annotated[int, typer.Option(help="First simulated year.")] = 2024,
    years: Annotated[int, typer.Option(help="Number of simulated years.")] = 1,
    months: Annotated[
        int | None, typer.Option(help="Simulate only the first N months (small test worlds).")
    ] = None,
    climate: Annotated[
        str, typer.Option(help="temperate, tropical (wet/dry) or snow.")
    ] = "temperate",
    tiles: Annotated[int, typer.Option(help="MGRS-like tiles per side (they overlap).")] = 2,
    cloud_scale: Annotated[float, typer.Option(help="Multiply the climate's cloudiness.")] = 1.0,
    fmask_miss_rate: Annotated[
        float, typer.Option(help="Share of cloud pixels Fmask misses.")
    ] = 0.06,
    events: Annotated[bool, typer.Option(help="Simulate dated change events.")] = True,
    coastal: Annotated[bool, typer.Option(help="Also write the coastal band (B01).")] = True,
    red_edge: Annotated[
        bool,
        typer.Option(
            help="S30 granules also get red edge B05-B07 and broad NIR B08 (Dynamic World)."
        ),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Processes rendering observations (default 2).")
    ] = None,
) -> None:
    """Write a synthetic HLS archive (COGs, STAC items, ground truth) to OUT."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from hlsmap.simulate import WorldConfig, simulate_world

    out = output_dir(out_arg, out, "simulate")

    config = WorldConfig(
        seed=seed,
        size=size,
        year=year,
        years=years,
        months=months,
        climate=climate,
        tiles_per_side=tiles,
        cloud_scale=cloud_scale,
        fmask_cloud_miss_rate=fmask_miss_rate,
        events=events,
        coastal=coastal,
        red_edge=red_edge,
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("observations", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        world = simulate_world(config, out, workers=workers, progress=step)
    counts = world.manifest["counts"]
    obs = counts["observations"]
    console.print(
        f"wrote {out}: {obs['L30']} L30 + {obs['S30']} S30 observations, "
        f"{counts['granules']} granules, {len(world.events)} change events"
    )
