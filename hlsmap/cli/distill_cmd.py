"""``hlsmap distill TEACHER SOURCE OUT``: train the 30 m HLS U-Net from a teacher model's
consensus maps (:mod:`hlsmap.training.distill`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console


@app.command("distill")
def distill_cmd(
    teacher: Annotated[
        str, typer.Argument(help="The teacher model folder (Dynamic World, the demo model, ...).")
    ],
    source: Annotated[
        str, typer.Argument(help="STAC source: pc, nasa, a STAC API URL or a catalog file.")
    ],
    out: Annotated[
        Path, typer.Argument(help="The run folder (rerun to resume); model in OUT/model.")
    ],
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="[NAME=]TILE:PERIOD or [NAME=]W,S,E,N:PERIOD, PERIOD a"
            " year or START/END (repeatable), e.g. T15TVH:2024.",
        ),
    ] = None,
    held_out: Annotated[
        list[str] | None,
        typer.Option(
            "--held-out",
            help="A held-out region (same form as --region): only"
            " measures the student against the teacher (repeatable).",
        ),
    ] = None,
    regions: Annotated[
        Path | None,
        typer.Option(
            "--regions",
            help="GeoJSON FeatureCollection of boxes with name, year or"
            " start/end, held_out properties.",
        ),
    ] = None,
    teacher_sensors: Annotated[
        str | None, typer.Option("--teacher-sensors", help="Sensors the teacher runs on.")
    ] = None,
    sensors: Annotated[str, typer.Option("--sensors", help="Student sensors.")] = "L30,S30",
    min_confidence: Annotated[
        int,
        typer.Option(
            "--min-confidence",
            help="Teacher confidence (%) below which a pixel is unsure.",
            min=0,
            max=100,
        ),
    ] = 50,
    min_valid: Annotated[
        int,
        typer.Option(
            "--min-valid", help="Clear teacher observations below which a pixel is unsure.", min=1
        ),
    ] = 2,
    unsure_weight: Annotated[
        float,
        typer.Option(
            "--unsure-weight", help="Loss weight of unsure pixels (0: ignored).", min=0.0, max=1.0
        ),
    ] = 0.0,
    config: Annotated[
        str, typer.Option("--config", help="Student training config: distill, cpu, gpu, tiny.")
    ] = "distill",
    steps: Annotated[int | None, typer.Option("--steps", help="Optimizer steps.", min=1)] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a training config field (repeatable)."),
    ] = None,
    chip_size: Annotated[int, typer.Option("--chip-size", help="Chip side (pixels).")] = 64,
    stride: Annotated[int | None, typer.Option("--stride", help="Chip stride.")] = None,
    max_obs: Annotated[
        int | None, typer.Option("--max-obs", help="At most this many observations per region.")
    ] = None,
    tile_size: Annotated[int, typer.Option("--tile-size", help="Region runner tile side.")] = 512,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Distil TEACHER into the HLS U-Net: teacher consensus -> soft chips (L30 + S30) -> train."""
    from hlsmap.errors import ConfigError
    from hlsmap.training.configs import get_config
    from hlsmap.training.distill import DistillConfig, distill
    from hlsmap.training.distill_regions import parse_region, regions_from_geojson
    from hlsmap.training.distill_targets import Thresholds

    found = [parse_region(s) for s in region or []]
    found += [parse_region(s, held_out=True) for s in held_out or []]
    if regions is not None:
        found += regions_from_geojson(regions)
    if not found:
        raise ConfigError(
            "give the regions: --region T15TVH:2024 (and --held-out ...) or --regions FILE"
        )
    train = get_config(config).replace(steps=steps)
    if settings:
        train = train.with_settings(settings)

    def names(text: str | None) -> tuple[str, ...] | None:
        return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None

    cfg = DistillConfig(
        teacher=teacher, source=source, out=str(out), regions=tuple(found),
        teacher_sensors=names(teacher_sensors), sensors=names(sensors) or ("L30", "S30"),
        thresholds=Thresholds(min_confidence, min_valid, unsure_weight), train=train,
        chip_size=chip_size, stride=stride, max_obs=max_obs, tile_size=tile_size,
    )  # fmt: skip
    result = distill(cfg, progress=progress)
    console.print(f"student model: {result.model_dir}  (use it with --model {result.model_dir})")
    if result.skipped:
        console.print(f"resumed: skipped {', '.join(result.skipped)}")
    typer.echo(json.dumps(result.agreement, indent=2))
