"""``hlsmap chips``, ``hlsmap train`` and ``hlsmap evaluate``: build a training set, train the
U-Net on it, and measure a model on held-out observations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console


@app.command("chips")
def chips(
    source: Annotated[
        str,
        typer.Argument(
            help="A synthetic world folder (from `hlsmap simulate`), or with --labels a STAC"
            " source: pc, nasa, a STAC API URL or a catalog / ItemCollection file."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="The chip set to create (a Zarr folder).")],
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Label GeoTIFF (class codes, 0 = unlabeled, any grid)."),
    ] = None,
    datetime: Annotated[
        str | None, typer.Option("--datetime", help="With --labels: the labels' date window.")
    ] = None,
    sensors: Annotated[str, typer.Option("--sensors", help="With --labels: sensors.")] = "L30,S30",
    max_cloud: Annotated[
        float | None, typer.Option("--max-cloud", help="With --labels: max item cloud cover %.")
    ] = None,
    chip_size: Annotated[int, typer.Option("--chip-size", help="Chip size in pixels.")] = 64,
    stride: Annotated[
        int | None, typer.Option("--stride", help="Chip stride (default: the chip size).")
    ] = None,
    holdout: Annotated[
        float, typer.Option("--holdout", help="Share of observations held out for testing.")
    ] = 0.2,
    min_labeled: Annotated[
        float, typer.Option("--min-labeled", help="Minimum labelled share of a kept chip.")
    ] = 0.5,
    max_obs: Annotated[
        int | None, typer.Option("--max-obs", help="Use at most this many observations.")
    ] = None,
    every: Annotated[int, typer.Option("--every", help="Use every N-th observation.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/test split.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT.")] = False,
) -> None:
    """Build a training chip set (bands, Fmask, labels, sensor, date) in Zarr."""
    from hlsmap.training.chip_sources import build_chips

    store = build_chips(
        source, out, labels=labels, datetime=datetime,
        sensors=tuple(s.strip() for s in sensors.split(",") if s.strip()),
        max_cloud=max_cloud, max_obs=max_obs, every=every, chip_size=chip_size, stride=stride,
        holdout=holdout, min_labeled=min_labeled, seed=seed, overwrite=overwrite,
    )  # fmt: skip
    n_train, n_test = store.indices("train").size, store.indices("test").size
    n_obs = len(store.attrs["observations"])
    console.print(
        f"[green]wrote[/] {out}: {len(store)} chips of {store.chip_size} px ({n_train} train,"
        f" {n_test} test) from {n_obs} observations"
    )


@app.command("train")
def train(
    chips: Annotated[Path, typer.Argument(help="A chip set from `hlsmap chips`.")],
    out: Annotated[Path, typer.Argument(help="Run folder: model/, checkpoints/, logs, eval/.")],
    config: Annotated[
        str, typer.Option("--config", help="Experiment config: cpu, gpu or tiny.")
    ] = "cpu",
    preset: Annotated[
        str | None, typer.Option("--preset", help="Model preset: tiny, small, standard.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps.")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Global batch size.")
    ] = None,
    crop: Annotated[int | None, typer.Option("--crop", help="Random-crop size (px).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    warmup_steps: Annotated[
        int | None, typer.Option("--warmup-steps", help="Warm-up steps.")
    ] = None,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="Compute dtype: float32 or bfloat16.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option("--checkpoint-every", help="Steps between checkpoints.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the newest checkpoint in OUT.")
    ] = False,
    no_eval: Annotated[
        bool, typer.Option("--no-eval", help="Skip the held-out evaluation at the end.")
    ] = False,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override any config field: --set class_weight_power=0.25 --set"
            " indices=ndvi,ndwi --set augment.sensor_mix=0 (repeatable).",
        ),
    ] = None,
) -> None:
    """Train the U-Net on a chip set (data-parallel over every device)."""
    from hlsmap.training.configs import get_config
    from hlsmap.training.train import train as run

    cfg = get_config(config).replace(
        preset=preset, steps=steps, batch_size=batch_size, crop=crop, lr=lr,
        warmup_steps=warmup_steps, dtype=dtype, seed=seed, checkpoint_every=checkpoint_every,
    )  # fmt: skip
    if settings:
        cfg = cfg.with_settings(settings)
    res = run(cfg, chips, out, resume=resume, evaluate=not no_eval)
    console.print(
        f"[green]model[/] {res.model_dir} after {res.step} steps in {res.seconds:.0f} s"
        f" ({res.px_per_s:,.0f} px/s)"
    )
    if res.metrics:
        console.print(
            f"held-out clear pixels: OA {res.metrics['overall_accuracy']:.3f},"
            f" kappa {res.metrics['kappa']:.3f} (details: {out / 'eval' / 'metrics.json'})"
        )


@app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Argument(help="A model folder (or a `hlsmap train` run).")],
    chips: Annotated[Path, typer.Argument(help="A chip set from `hlsmap chips`.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for metrics.json and confusion PNGs.")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="train or test.")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Overall accuracy, per-class precision/recall/F1/IoU, kappa, confusion matrix."""
    from hlsmap.training.evaluate import evaluate as run

    if out is not None:
        target = out
    elif (Path(model) / "model").is_dir():  # a run folder: next to its model
        target = Path(model) / "eval"
    else:
        target = Path(model).parent / f"{Path(model).name}-eval"
    report = run(model, chips, target, split=split)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{split} split, clear pixels: OA {report['overall_accuracy']:.3f},"
                  f" kappa {report['kappa']:.3f}")  # fmt: skip
    for col in ("class", "precision", "recall", "F1", "IoU", "share"):
        table.add_column(col, justify="right" if col != "class" else "left")

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for c in report["per_class"].values():
        if c["support"]:
            table.add_row(c["name"], f(c["precision"]), f(c["recall"]), f(c["f1"]),
                          f(c["iou"]), f"{100 * c['share']:.1f}%")  # fmt: skip
    console.print(table)
    console.print(f"written: {target / 'metrics.json'}, {target / 'confusion.png'}")
