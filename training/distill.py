"""``hlsmap distill``: a teacher model's consensus maps -> soft-target chips -> a 30 m HLS U-Net.

Three resumable stages under the run folder ``OUT`` (each is skipped when its output exists):

1. ``teacher/<region>/``: the teacher run over each region and period through the region runner
   (:func:`hlsmap.inference.runner.run_region`: tiles on Dask, resumable), keeping per-class mean
   probabilities from clear-sky observations on the 30 m grid (a 10 m teacher's probabilities
   averaged to 30 m before consensus); written as ``probabilities.tif`` (the same product as
   ``hlsmap map --probabilities``) and ``consensus.npz`` (probs, class, confidence, n_valid).
2. ``chips/``: every L30 and S30 observation of each region's period, six harmonized bands +
   Fmask, labelled with the teacher's consensus as soft targets
   (:mod:`hlsmap.training.distill_targets`); held-out regions form the test split.
3. ``train/``: the U-Net trained with soft-target cross-entropy on the sharded loop
   (:func:`hlsmap.training.train.train`, resumable from its checkpoints), then ``model/``: the
   student, whose provenance names the teacher, regions, periods, thresholds and the held-out
   agreement figures (``agreement.json``): the student's consensus over every observation and
   over L30 alone against the teacher's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError
from hlsmap.training.configs.base import TrainConfig
from hlsmap.training.distill_regions import DistillRegion, check_regions
from hlsmap.training.distill_targets import Thresholds

LAYERS = ("class", "confidence", "n_valid", "probs")


@dataclass(frozen=True)
class DistillConfig:
    """One distillation.

    Attributes:
        teacher: the teacher's model directory (Dynamic World, the demo model, any model).
        source: the STAC source (``pc``, ``nasa``, an API URL, a static catalog).
        out: the run folder.
        regions: where and when (:class:`hlsmap.training.distill_regions.DistillRegion`).
        teacher_sensors: sensors the teacher runs on (``None``: every one of ``sensors`` it can
            read; Dynamic World reads S30 only whatever is given).
        sensors: sensors the student's chips and agreement runs use.
        thresholds: which teacher pixels are learned from, with which weight.
        train: the student's training configuration (soft targets are picked automatically).
        chip_size / stride / min_labeled: chip cutting (see ``ChipWriter``).
        max_obs: at most this many observations per region for chips (spread over the period).
        resolution: the student's grid (metres; 30 = HLS).
        tile_size: region runner tile side (pixels).
        n_workers: local Dask cluster workers (``None``: the runner's default).
    """

    teacher: str
    source: str
    out: str
    regions: tuple[DistillRegion, ...]
    teacher_sensors: tuple[str, ...] | None = None
    sensors: tuple[str, ...] = ("L30", "S30")
    thresholds: Thresholds = field(default_factory=Thresholds)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(preset="small"))
    chip_size: int = 64
    stride: int | None = None
    min_labeled: float = 0.3
    max_obs: int | None = None
    resolution: float = 30.0
    tile_size: int = 512
    n_workers: int | None = None

    def __post_init__(self) -> None:
        check_regions(list(self.regions))
        if not self.sensors:
            raise ConfigError("sensors is empty; name at least one, e.g. L30,S30")
        if self.train.crop is not None and self.train.crop > self.chip_size:
            raise ConfigError(
                f"train crop {self.train.crop} exceeds chip_size {self.chip_size}: lower the"
                " crop (--set crop=...) or raise the chip size"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``OUT/distill-config.json`` and the model's provenance)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["regions"] = [r.to_dict() for r in self.regions]
        d["thresholds"] = self.thresholds.to_dict()
        d["train"] = self.train.to_dict()
        d["sensors"] = list(self.sensors)
        d["teacher_sensors"] = list(self.teacher_sensors) if self.teacher_sensors else None
        return d


@dataclass
class DistillResult:
    """What :func:`distill` produced.

    Attributes:
        out: the run folder.
        model_dir: the student model (``out / "model"``).
        chips: the soft-target chip set.
        agreement: held-out agreement figures (see ``agreement.json``).
        skipped: stages found done and skipped (``"teacher:<region>"``, ``"chips"``, ...).
    """

    out: Path
    model_dir: Path
    chips: Path
    agreement: dict[str, Any]
    skipped: list[str] = field(default_factory=list)


def _teacher_id(teacher: str | Path) -> str:
    """How provenance names the teacher: a known model's name as is (its cached copy differs
    from machine to machine), any other model by its absolute folder."""
    from hlsmap.model.zoo import KNOWN_MODELS

    if str(teacher) in KNOWN_MODELS and not Path(teacher).exists():
        return str(teacher)
    return str(Path(teacher).resolve())


def distill(cfg: DistillConfig, *, client: Any = None, progress: bool = True) -> DistillResult:
    """Run (or resume) a distillation; see the module notes for the stages and outputs.

    ``client``: a Dask client or scheduler address for every region run; default: one local
    cluster for the whole distillation (a process cluster takes seconds to start).
    """
    from hlsmap.inference.cluster import open_client

    own: list[Any] = []
    try:
        client, own = open_client(client, None, cfg.n_workers, None)
        return _distill(cfg, client, progress)
    finally:
        for c in reversed(own):
            c.close()


def _distill(cfg: DistillConfig, client: Any, progress: bool) -> DistillResult:
    from hlsmap.outputs.atomic import write_text

    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give a folder for the distillation")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "distill-config.json", json.dumps(cfg.to_dict(), indent=2, default=str) + "\n")
    skipped: list[str] = []
    teacher = {}
    for region in cfg.regions:
        teacher[region.name], done = teacher_consensus(cfg, region, client=client,
                                                       progress=progress)  # fmt: skip
        if done:
            skipped.append(f"teacher:{region.name}")
    chips = out / "chips"
    if _chips_done(chips):
        skipped.append("chips")
    else:
        build_soft_chips(cfg, teacher, chips, progress=progress)
    model_dir = out / "model"
    if (model_dir / "model.json").is_file():
        skipped.append("train")
        agreement = json.loads((out / "agreement.json").read_text())
        return DistillResult(out, model_dir, chips, agreement, skipped)
    from hlsmap.training.train import train

    run = out / "train"
    trained = run / "model" / "model.json"
    if trained.is_file():
        skipped.append("train")
    else:
        resume = (run / "checkpoints").is_dir()
        train(cfg.train, chips, run, resume=resume, progress=progress)
    agreement = held_out_agreement(cfg, run / "model", client=client, progress=progress)
    write_text(out / "agreement.json", json.dumps(agreement, indent=2) + "\n")
    _publish(cfg, run / "model", model_dir, agreement)
    return DistillResult(out, model_dir, chips, agreement, skipped)


def _chips_done(path: Path) -> bool:
    from hlsmap.errors import ChipSetError
    from hlsmap.training.chips import ChipStore

    if not path.is_dir():
        return False
    try:
        return ChipStore.open(path).soft
    except ChipSetError:
        return False


def _search(cfg: DistillConfig, region: DistillRegion, sensors: tuple[str, ...]) -> list[Any]:
    from hlsmap.search import search

    return search(cfg.source, region=region.region, datetime=region.datetime, sensors=sensors)


def teacher_consensus(
    cfg: DistillConfig, region: DistillRegion, *, client: Any = None, progress: bool = True
) -> tuple[dict[str, np.ndarray], bool]:
    """The teacher's consensus over one region and period: ``({layer: array}, was_done)``.

    Layers: ``probs`` (``(H, W, 9)`` uint8 x 255), ``class``, ``confidence``, ``n_valid`` on the
    region's 30 m grid. Reuses ``OUT/teacher/<region>/consensus.npz`` when present; the
    region runner resumes finished tiles of an interrupted run.
    """
    from hlsmap.inference.mosaic import TileMosaic, mosaic_arrays
    from hlsmap.inference.runner import RunConfig, run_region
    from hlsmap.inference.tasks import TileOptions
    from hlsmap.outputs.atomic import atomic_path
    from hlsmap.outputs.probabilities import FILENAME, write_probabilities_cog

    folder = Path(cfg.out) / "teacher" / region.name
    path = folder / "consensus.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in LAYERS}, True
    geobox = region.region.geobox(resolution=cfg.resolution)
    items = _search(cfg, region, cfg.teacher_sensors or cfg.sensors)
    run_cfg = RunConfig(tile_size=cfg.tile_size, n_workers=cfg.n_workers,
                        options=TileOptions(probabilities=True, aggregate="mean"))  # fmt: skip
    period = region.period
    result = run_region(items, geobox, cfg.teacher, folder / "work", [period], config=run_cfg,
                        client=client, progress=progress, mosaic=False)  # fmt: skip
    if result.failed:
        raise ConfigError(
            f"teacher run of region {region.name}: {len(result.failed)} tile(s) failed (see "
            f"{folder / 'work' / 'run.log'}); fix the cause and rerun: finished tiles are kept"
        )
    layers = mosaic_arrays(result.tasks, geobox, period.name, layers=LAYERS)
    write_probabilities_cog(folder / FILENAME,
                            TileMosaic(result.tasks, geobox, period.name, layers=("probs",)),
                            geobox)  # fmt: skip
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **layers)  # type: ignore[arg-type]
    return layers, False


def build_soft_chips(
    cfg: DistillConfig,
    teacher: dict[str, dict[str, np.ndarray]],
    path: Path,
    *,
    progress: bool = True,
) -> Any:
    """The soft-target chip set of every region (held-out regions: the test split)."""
    from hlsmap.model import BANDS
    from hlsmap.training.chips import ChipWriter, Observation
    from hlsmap.training.distill_targets import soft_observations, teacher_targets

    held = {r.name for r in cfg.regions if r.held_out}
    source = {"teacher": _teacher_id(cfg.teacher), "stac": cfg.source,
              "regions": [r.to_dict() for r in cfg.regions],
              "thresholds": cfg.thresholds.to_dict()}  # fmt: skip

    def split(obs: Observation) -> str:
        return "test" if obs.region in held else "train"

    writer = ChipWriter(path, BANDS, chip_size=cfg.chip_size, stride=cfg.stride,
                        min_labeled=cfg.min_labeled, cloud_from_fmask=False, source=source,
                        overwrite=True, soft=True, split_of_obs=split)  # fmt: skip
    try:
        from rich.progress import Progress

        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task("cutting soft-target chips", total=len(cfg.regions))
            for region in cfg.regions:
                t = teacher[region.name]
                soft, weight = teacher_targets(t["probs"], t["confidence"], t["n_valid"],
                                               cfg.thresholds)  # fmt: skip
                geobox = region.region.geobox(resolution=cfg.resolution)
                items = _search(cfg, region, cfg.sensors)
                for obs in soft_observations(items, geobox, soft, weight, region.name, BANDS,
                                             cfg.max_obs):  # fmt: skip
                    writer.add(obs)
                bar.advance(task)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def held_out_agreement(
    cfg: DistillConfig, model_dir: Path, *, client: Any = None, progress: bool = True
) -> dict[str, Any]:
    """The student against the teacher on every held-out region and period, with
    :func:`hlsmap.training.teacher_eval.teacher_agreement` (per-observation agreement by sensor,
    consensus agreement from every sensor, L30 alone and S30 alone, per class, confusion).

    Returns ``{"regions": {name: report}, "all": ..., "L30": ..., "S30": ...}``: the pooled
    consensus agreement per sensor subset (pixel-weighted over the held-out regions).
    """
    from hlsmap.training.teacher_eval import teacher_agreement

    per: dict[str, Any] = {}
    pooled: dict[str, list[float]] = {}
    for region in (r for r in cfg.regions if r.held_out):
        report = teacher_agreement(
            str(model_dir), cfg.teacher, cfg.source, region=region.region,
            datetime=region.datetime, sensors=cfg.sensors, teacher_sensors=cfg.teacher_sensors,
            resolution=cfg.resolution, work=Path(cfg.out) / "agreement" / region.name,
            client=client, progress=progress,
        )  # fmt: skip
        doc = report.as_dict()
        per[region.name] = doc
        for subset, m in doc["consensus"].items():
            if m.get("agreement") is not None and m.get("pixels"):
                tot = pooled.setdefault(subset, [0.0, 0.0])
                tot[0] += m["agreement"] * m["pixels"]
                tot[1] += m["pixels"]
    out: dict[str, Any] = {"metric": "consensus class agreement with the teacher", "regions": per}
    for subset, (same, n) in pooled.items():
        out[subset] = round(same / n, 4) if n else None
    return out


def _publish(cfg: DistillConfig, trained: Path, model_dir: Path, agreement: dict[str, Any]) -> Path:
    """The student as ``OUT/model`` with the distillation's provenance."""
    from hlsmap.model import load_model, read_metadata, save_model

    net, meta = load_model(trained)
    teacher_meta = read_metadata(cfg.teacher)
    meta.provenance.update(
        {
            "distilled_from": {
                "teacher": _teacher_id(cfg.teacher),
                "architecture": teacher_meta.architecture,
                "resolution": teacher_meta.resolution,
                "sensors": list(cfg.teacher_sensors or cfg.sensors),
                "provenance": {k: teacher_meta.provenance[k] for k in ("license", "citation",
                               "source") if k in teacher_meta.provenance},
            },
            "regions": [r.to_dict() for r in cfg.regions],
            "periods": {r.name: [r.start, r.end] for r in cfg.regions},
            "thresholds": cfg.thresholds.to_dict(),
            "held_out_agreement": agreement,
        }
    )  # fmt: skip
    return save_model(model_dir, net, meta)
