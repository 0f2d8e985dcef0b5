"""`hlsmap demo`: the whole job, offline, on the embedded synthetic world, with its truth.

Steps: build the synthetic HLS world -> get the demo model (the weights shipped with the
package, trained on another world of the same kind, or trained now with ``--train``) -> map the
world's year (annual + detected wet/dry seasons) and the change since the year before ->
evaluate every product against the world's truth -> write ``report.md`` with the quicklooks and
the accuracy tables.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import SURFACE_CLASSES

DEMO_MODEL = Path(__file__).parent / "data" / "demo-model"


@dataclass(frozen=True)
class DemoConfig:
    """Options of the demo.

    Command: ``make demo`` (= ``hlsmap demo --out demo-out``); expected result in under 10
    minutes on 2 cores: ``demo-out/report.md`` with annual accuracy >= 95% against the world's
    truth, season maps, a change map and where every product lies.

    Attributes:
        out: output folder (world, model, maps, report).
        seed: the world's seed.
        size: the world's side in pixels.
        climate: the world's climate (``tropical`` has the clearest wet/dry seasons).
        years: simulated years (2: the second is mapped, change is measured against the first).
        train: train a model on a second world (seed + 1) instead of using the shipped weights.
        train_steps: optimizer steps when training.
        model: use this model directory instead.
        observation_sample: observations used to measure per-observation accuracy.
    """

    out: Path = Path("demo-out")
    seed: int = 0
    size: int = 512
    climate: str = "tropical"
    years: int = 2
    train: bool = False
    train_steps: int | None = None
    model: Path | None = None
    observation_sample: int = 12


def _say(msg: str) -> None:
    from hlsmap.cli.app import console

    console.print(f"[bold cyan]demo[/] {msg}")


def _world(cfg: DemoConfig, seed: int, folder: Path, years: int | None = None) -> Any:
    """Simulate the world, or reopen it when a previous run wrote the same one."""
    from hlsmap.simulate import World, WorldConfig, simulate_world

    wcfg = WorldConfig(
        seed=seed, size=cfg.size, year=2023, years=years or cfg.years, climate=cfg.climate
    )
    if (folder / "manifest.json").exists():
        world = World.open(folder)
        if world.config == wcfg:
            _say(f"reusing the world in {folder}")
            return world
    _say(f"simulating a {cfg.size} x {cfg.size} px {cfg.climate} world, seed {seed} -> {folder}")
    return simulate_world(wcfg, folder)


def train_demo_model(cfg: DemoConfig, out: Path) -> Path:
    """Train the demo model on a world of its own (seed + 1, one year); return its folder.

    ``make demo-model`` runs this and copies the result into the package as the shipped demo
    weights, so the demo never evaluates a model on the world it was trained on.
    """
    import dataclasses

    from hlsmap.training.chip_sources import build_chips
    from hlsmap.training.configs import get_config
    from hlsmap.training.train import train

    train_world = _world(cfg, cfg.seed + 1, out / "train-world", years=1)
    chips = out / "chips.zarr"
    if not chips.exists():
        _say("cutting training chips from the training world")
        build_chips(train_world.root, chips)
    tcfg = get_config("cpu")
    if cfg.train_steps:
        tcfg = dataclasses.replace(tcfg, steps=cfg.train_steps)
    _say(f"training the {tcfg.preset} U-Net for {tcfg.steps} steps")
    result = train(tcfg, chips, out / "train", resume=True)
    return Path(result.model_dir)


def _model(cfg: DemoConfig) -> Path:
    """The model the demo maps with (shipped, given, or trained now on another world)."""
    from hlsmap.model import METADATA_FILE

    if cfg.model is not None:
        return cfg.model
    if not cfg.train and (DEMO_MODEL / METADATA_FILE).exists():
        _say(f"using the shipped demo model {DEMO_MODEL} (trained on a synthetic world, seed 1)")
        return DEMO_MODEL
    return train_demo_model(cfg, Path(cfg.out))


def _confusion_metrics(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    from hlsmap.training.metrics import confusion_matrix, metrics_from_confusion

    cm = confusion_matrix(truth, pred, mask=(pred > 0) & (truth > 0))
    return metrics_from_confusion(cm)


def _per_observation_accuracy(world: Any, model_dir: Path, year: int, n: int) -> dict[str, Any]:
    """Accuracy of single-observation predictions on clear pixels of ``n`` observations."""
    from hlsmap.cube import load_cube
    from hlsmap.inference.predict import Predictor
    from hlsmap.model import load_model
    from hlsmap.search import search

    items = search(world.root, datetime=str(year))
    net, meta = load_model(model_dir)
    predictor = Predictor(net, normalize=meta.normalize, bands=meta.bands)
    cube = load_cube(items, geobox=world.geobox, chunks={"x": 512, "y": 512, "time": 1})
    step = max(1, cube.sizes["time"] // n)
    sample = cube.isel(time=slice(0, None, step))
    truth_all, pred_all = [], []
    for obs in predictor.predict_dataset(sample, meta.bands, output="class"):
        truth = np.asarray(world.truth_at(obs.time).values)
        keep = obs.valid & (truth > 0)
        truth_all.append(truth[keep])
        assert obs.cls is not None
        pred_all.append(obs.cls[keep])
    t = np.concatenate(truth_all)
    p = np.concatenate(pred_all)
    return {"observations": int(sample.sizes["time"]), **_confusion_metrics(t, p)}


def _table(metrics: dict[str, Any]) -> list[str]:
    lines = ["| class | share | precision | recall | F1 |", "|---|---|---|---|---|"]
    per = metrics.get("per_class", {})
    for c in SURFACE_CLASSES:
        m = per.get(str(c.code))
        if not m or not m.get("support"):
            continue

        def f(v: float | None) -> str:
            return "–" if v is None else f"{v:.3f}"

        lines.append(
            f"| {c.title} | {m['share']:.1%} | {f(m['precision'])} | {f(m['recall'])} | "
            f"{f(m['f1'])} |"
        )
    return lines


def _side_by_side(path: Path, panels: list[tuple[str, np.ndarray]]) -> Path:
    """A PNG of class maps side by side with one legend (the README's picture)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from hlsmap.classes import palette_array

    lut = palette_array()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.8))
    for ax, (title, codes) in zip(np.atleast_1d(axes), panels, strict=True):
        rgba = lut[np.asarray(codes, dtype=np.uint8)]
        ax.imshow(rgba, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    handles = [
        Patch(color=(c.rgb[0] / 255, c.rgb[1] / 255, c.rgb[2] / 255), label=c.title)
        for c in SURFACE_CLASSES
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path


def run_demo(cfg: DemoConfig) -> Path:
    """Run the demo end to end; return the path of the report."""
    from hlsmap.mapping import run_map
    from hlsmap.outputs import cog
    from hlsmap.outputs.atomic import write_text
    from hlsmap.runconfig import MapConfig

    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    world = _world(cfg, cfg.seed, out / "world")
    year = world.years[-1]
    model_dir = _model(cfg)
    t_model = time.perf_counter()
    _say(f"mapping {year} (annual + detected wet/dry seasons) and the change since {year - 1}")
    mcfg = MapConfig(
        year=year,
        model=str(model_dir),
        out=str(out / "maps"),
        grid=world.geobox,
        source=str(world.root),
        change=len(world.years) > 1,
    )
    result = run_map(mcfg)
    t_map = time.perf_counter()
    _say("evaluating every product against the world's truth")
    maps = out / "maps"
    annual, _, _ = cog.read_cog(maps / f"hlsmap-annual-{year}" / "class.tif")
    truth = np.asarray(world.truth_annual(year).values)
    scores: dict[str, Any] = {"annual": _confusion_metrics(truth, annual)}
    season_maps = {}
    for name in result.seasons.windows if result.seasons is not None else {}:
        smap, _, _ = cog.read_cog(maps / f"hlsmap-{name}-{year}" / "class.tif")
        season_maps[name] = smap
        # the truth of the world's own season that overlaps the detected one most
        wname = name if name in world.seasons else next(iter(world.seasons))
        scores[name] = _confusion_metrics(np.asarray(world.truth_season(wname, year).values), smap)
    scores["per_observation"] = _per_observation_accuracy(
        world, model_dir, year, cfg.observation_sample
    )
    change_scores = None
    if len(world.years) > 1:
        from hlsmap.change_scores import score_change_products

        change_scores = score_change_products(maps, world, year)
    seconds = {
        "world+model": round(t_model - t0, 1),
        "map": round(t_map - t_model, 1),
        "total": round(time.perf_counter() - t0, 1),
    }
    panels = [(f"truth {year}", truth), (f"hlsmap annual {year}", annual)]
    panels += [(f"hlsmap {n} season", m) for n, m in season_maps.items()]
    picture = _side_by_side(out / "demo.png", panels)
    summary = {
        "scores": scores,
        "change": change_scores,
        "seconds": seconds,
        "seasons_world": world.seasons,
        "seasons_detected": None if result.seasons is None else result.seasons.windows,
        "pixel_observations": result.pixel_observations,
        "model": str(model_dir),
    }
    write_text(out / "scores.json", json.dumps(summary, indent=2, default=str) + "\n")
    report = _report(cfg, world, year, summary, picture, result)
    seconds["total"] = round(time.perf_counter() - t0, 1)
    _say(f"done in {seconds['total']:.0f} s: open {report}")
    return report


def _change_section(c: dict[str, Any], year: int) -> list[str]:
    """The report's change section: precision and recall overall and per change type."""
    from hlsmap.change_rule import CHANGE_THRESHOLD, TYPE_TEXT

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f}"

    lc = c["land_cover"]
    lines = [
        f"## Change {year - 1} -> {year}",
        "",
        f"Land-cover change (rotation excluded): {lc['true_px']} px in the truth, "
        f"{lc['mapped_px']} in the maps, precision {f(lc['precision'])}, recall "
        f"{f(lc['recall'])}. Change is decided from both years' consensus confidence and "
        f"valid observations (change confidence >= {CHANGE_THRESHOLD}%, minimum mapping "
        "unit 1 ha; `hlsmap.change_rule`). Products: `maps/change/` (`change_confidence.tif`, "
        "one layer per type, `change_stats.json` in hectares). Synthetic world: a plumbing "
        "check, not accuracy on real places.",
        "",
        "| change type | truth px | mapped px | precision | recall |",
        "|---|---|---|---|---|",
    ]
    for name, v in c["types"].items():
        lines.append(
            f"| {name} ({TYPE_TEXT[name]}) | {v['true_px']} | {v['mapped_px']} | "
            f"{f(v['precision'])} | {f(v['recall'])} |"
        )
    return [*lines, ""]


def _pct(m: dict[str, Any] | None) -> str:
    return "–" if not m else f"{m['overall_accuracy']:.1%}"


def _report(
    cfg: DemoConfig, world: Any, year: int, s: dict[str, Any], picture: Path, result: Any
) -> Path:
    from hlsmap.outputs.atomic import write_text

    sc = s["scores"]
    lines = [
        "# hlsmap demo report",
        "",
        f"A {cfg.size} x {cfg.size} px ({cfg.size * 0.03:.1f} km) synthetic {cfg.climate} HLS "
        f"world (seed {cfg.seed}), mapped for {year} with the model `{s['model']}`.",
        "",
        f"![truth and maps]({picture.name})",
        "",
        "## Accuracy against the world's truth",
        "",
        "| product | overall accuracy | kappa |",
        "|---|---|---|",
        f"| single observations (clear pixels, {sc['per_observation']['observations']} obs) | "
        f"{_pct(sc['per_observation'])} | {sc['per_observation']['kappa']:.3f} |",
        f"| annual consensus {year} | {_pct(sc['annual'])} | {sc['annual']['kappa']:.3f} |",
    ]
    for name in s["seasons_detected"] or {}:
        lines.append(f"| {name} season {year} | {_pct(sc[name])} | {sc[name]['kappa']:.3f} |")
    lines += ["", f"### Annual map {year}, per class", "", *_table(sc["annual"]), ""]
    lines += [
        "## Seasons",
        "",
        f"The world's seasons: {s['seasons_world']}; detected from the data: "
        f"{s['seasons_detected']}.",
        "",
    ]
    if s["change"]:
        lines += _change_section(s["change"], year)
    quicklooks = sorted(Path(cfg.out).glob("maps/**/quicklook.png"))
    if quicklooks:
        lines += ["## Quicklooks", ""]
        for q in quicklooks:
            rel = q.relative_to(cfg.out)
            lines += [f"![{rel.parent.name}]({rel})", ""]
    lines += [
        "## Where things are",
        "",
        "- `world/`: the synthetic HLS archive (COGs, STAC, truth)",
        "- `maps/hlsmap-<period>/`: class, confidence, n_valid and cloud_share COGs, "
        "quicklook.png, area statistics, STAC item; `maps/collection.json`",
        "- `scores.json`: every figure of this report",
        "",
        f"Timings (s): {s['seconds']}; {s['pixel_observations']:,} pixel-observations classified.",
        "",
    ]
    path = Path(cfg.out) / "report.md"
    write_text(path, "\n".join(lines))
    return path
