"""``hlsmap chips``, ``hlsmap train`` and ``hlsmap evaluate``: build a training set, train the
U-Net on it, and measure a model on held-out observations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console
from hlsmap.cli.options import BBox, GeoJSON


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
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Cut chips for this model (a folder or dynamicworld): its bands and grid"
            " resolution; sensors it cannot read are skipped. Default: 6 HLS bands, 30 m.",
        ),
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
        source, out, labels=labels, model=model, datetime=datetime,
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
    src = store.attrs.get("source") or {}
    if model is not None:
        console.print(f"bands {', '.join(store.bands)} at {src.get('resolution', 30):g} m")
    for sensor, info in sorted((src.get("sensors") or {}).items()):
        line = f"{sensor}: {info['used']} granule(s) used, {info['skipped']} skipped"
        console.print(line + (f" ({info['reason']})" if info.get("reason") else ""))


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
    model: Annotated[
        str | None,
        typer.Argument(
            help="A model folder, a `hlsmap train` run or a known model (dynamicworld); or"
            " give it with --model and pass CHIPS alone.",
            metavar="MODEL",
            show_default=False,
        ),
    ] = None,
    chips: Annotated[
        str | None,
        typer.Argument(
            help="A chip set from `hlsmap chips`; with --teacher: a STAC source (pc, nasa, an"
            " API URL, a catalog / ItemCollection file).",
            metavar="CHIPS",
            show_default=False,
        ),
    ] = None,
    model_opt: Annotated[
        str | None, typer.Option("--model", help="The model, instead of the MODEL argument.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for metrics.json and confusion PNGs.")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="train or test.")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    teacher: Annotated[
        str | None,
        typer.Option(
            "--teacher",
            help="Measure agreement with this teacher model (a folder or dynamicworld) over a"
            " held-out region and period of the STAC source, instead of accuracy on chips.",
        ),
    ] = None,
    bbox: BBox = None,
    geojson: GeoJSON = None,
    tile: Annotated[
        list[str] | None,
        typer.Option("--tile", help="With --teacher: an MGRS tile (repeat for several)."),
    ] = None,
    datetime: Annotated[
        str | None,
        typer.Option("--datetime", help="With --teacher: the period, 2024 or START/END."),
    ] = None,
    sensors: Annotated[
        str, typer.Option("--sensors", help="With --teacher: sensors searched.")
    ] = "L30,S30",
    teacher_sensors: Annotated[
        str | None,
        typer.Option(
            "--teacher-sensors",
            help="With --teacher: sensors the teacher reads (default: all it can).",
        ),
    ] = None,
    max_cloud: Annotated[
        float | None, typer.Option("--max-cloud", help="With --teacher: max item cloud %.")
    ] = None,
    work: Annotated[
        Path | None,
        typer.Option("--work", help="With --teacher: keep the two runs here (a rerun resumes)."),
    ] = None,
) -> None:
    """Accuracy on a chip set's held-out observations (OA, per-class precision/recall/F1/IoU,
    kappa, confusion matrix), or with --teacher a student's agreement with a teacher model."""
    from hlsmap.errors import ConfigError

    if model_opt is not None:
        if chips is not None:
            raise ConfigError("give the model once: MODEL CHIPS or --model MODEL CHIPS")
        model, chips = model_opt, model
    if model is None or chips is None:
        what = "MODEL SOURCE --teacher TEACHER" if teacher else "MODEL CHIPS"
        raise ConfigError(f"hlsmap evaluate needs {what} (or --model MODEL and the second)")
    if teacher is not None:
        _evaluate_teacher(model, teacher, chips, bbox=bbox, geojson=geojson, tiles=tile or [],
                          datetime=datetime, sensors=sensors, teacher_sensors=teacher_sensors,
                          max_cloud=max_cloud, work=work, out=out, as_json=as_json)  # fmt: skip
        return
    if bbox or geojson or tile or datetime or teacher_sensors or work:
        raise ConfigError(
            "--bbox, --geojson, --tile, --datetime, --teacher-sensors and --work go with"
            " --teacher; to evaluate on chips give MODEL CHIPS only"
        )
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
    for line in report.get("notes", []):
        console.print(line)
    console.print(f"written: {target / 'metrics.json'}, {target / 'confusion.png'}")


def _evaluate_teacher(
    student: str, teacher: str, source: str, *, bbox: tuple[float, float, float, float] | None,
    geojson: Path | None, tiles: list[str], datetime: str | None, sensors: str,
    teacher_sensors: str | None, max_cloud: float | None, work: Path | None, out: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """``hlsmap evaluate MODEL SOURCE --teacher TEACHER``: print (and write) the agreement."""
    from hlsmap.cli.options import region_from_options, sensor_list
    from hlsmap.errors import ConfigError
    from hlsmap.training.teacher_eval import teacher_agreement

    if datetime is None:
        raise ConfigError("--teacher needs --datetime: the held-out period, e.g. 2024")
    region = region_from_options(bbox, geojson, None) if (bbox or geojson) else None
    if region is None and not tiles:
        raise ConfigError("--teacher needs the held-out area: --bbox W S E N, --geojson FILE"
                          " or --tile T15TVH (repeatable)")  # fmt: skip
    report = teacher_agreement(
        student, teacher, source, region=region, tiles=tiles, datetime=datetime,
        sensors=sensor_list(sensors), max_cloud=max_cloud, work=work, progress=not as_json,
        teacher_sensors=sensor_list(teacher_sensors) if teacher_sensors else None,
    )  # fmt: skip
    doc = report.as_dict()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".agreement.json.tmp"
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(out / "agreement.json")
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    console.print(report.table())
    console.print(report.class_table("all"))
    console.print(report.class_table("L30"))
    if out is not None:
        console.print(f"written: {out / 'agreement.json'}")
