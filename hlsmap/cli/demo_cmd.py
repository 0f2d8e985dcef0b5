"""``hlsmap demo``: the main job end to end on the embedded synthetic world, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("demo-out"),
    seed: Annotated[int, typer.Option(help="The world's seed.")] = 0,
    size: Annotated[int, typer.Option(help="The world's side in 30 m pixels.")] = 512,
    climate: Annotated[str, typer.Option(help="tropical, temperate or snow.")] = "tropical",
    years: Annotated[int, typer.Option(help="Simulated years (change needs 2).")] = 2,
    train: Annotated[
        bool, typer.Option("--train", help="Train a model now instead of the shipped weights.")
    ] = False,
    train_steps: Annotated[int | None, typer.Option(help="Steps when training.")] = None,
    model: Annotated[Path | None, typer.Option(help="Map with this model instead.")] = None,
) -> None:
    """World -> model -> annual, season and change maps -> accuracy report, in minutes."""
    from hlsmap.demo import DemoConfig, run_demo

    run_demo(
        DemoConfig(
            out=out,
            seed=seed,
            size=size,
            climate=climate,
            years=years,
            train=train,
            train_steps=train_steps,
            model=model,
        )  # fmt: skip
    )
