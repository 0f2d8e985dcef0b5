# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Change: two annual maps, the transition matrix, and tree-loss alerts
#
# Land cover changes: forest is cleared, towns grow, scrub becomes cropland, rivers flood.
# hlsmap measures change two ways:
#
# - **annual change**: two annual consensus maps compared pixel by pixel -> a from-to
#   transition raster and a transition matrix in hectares (`hlsmap.change`);
# - **alerts**: observations streamed one by one against a baseline map; a pixel is confirmed
#   when k of its last n clear observations disagree with the baseline *on the same new class*
#   (`hlsmap.alerts.AlertState`), and only where the baseline map was sure of its class.
#   Alerts come within weeks of a clearing, not at year end.
#
# We work on a two-year synthetic HLS world whose change events (kind, date, pixels) are known.
#
# | variable | default | meaning |
# |---|---|---|
# | `HLSMAP_NB_SIZE` | 256 | world side in 30 m pixels |
# | `HLSMAP_NB_SEED` | 0 | world seed |
# | `HLSMAP_NB_YEAR` | 2023 | the first of the two years |
# | `HLSMAP_NB_OUT` | `nb-out/change` | output folder |
# | `HLSMAP_NB_MODEL` | `auto` | `auto` (the shipped demo model if installed, else truth), `truth`, `untrained` (random tiny U-Net: runs the pipeline, meaningless maps) or a model folder |
# | `HLSMAP_NB_ERROR` | 0.10 | error rate of the *simulated* classifier used for alerts without a model |

# %%
import datetime as dt
import json
import os
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

SIZE = int(os.environ.get("HLSMAP_NB_SIZE", "256"))
SEED = int(os.environ.get("HLSMAP_NB_SEED", "0"))
YEAR0 = int(os.environ.get("HLSMAP_NB_YEAR", "2023"))
YEAR1 = YEAR0 + 1
OUT = Path(os.environ.get("HLSMAP_NB_OUT", "nb-out/change"))
MODEL = os.environ.get("HLSMAP_NB_MODEL", "auto")
ERROR = float(os.environ.get("HLSMAP_NB_ERROR", "0.10"))
OUT.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()
print(f"{SIZE} px world, seed {SEED}, years {YEAR0}-{YEAR1}, outputs in {OUT}, model={MODEL}")

# %% [markdown]
# ## A two-year world and its change events

# %%
from hlsmap.simulate import World, WorldConfig, simulate_world

wcfg = WorldConfig(seed=SEED, size=SIZE, year=YEAR0, years=2, climate="tropical",
                   tiles_per_side=1 if SIZE < 128 else 2, coastal=False)
world_dir = OUT / "world"
if (world_dir / "manifest.json").exists() and World.open(world_dir).config == wcfg:
    world = World.open(world_dir)
else:
    world = simulate_world(wcfg, world_dir)
geobox = world.geobox
print(world)
events = pd.DataFrame(
    [{"id": e.id, "kind": e.kind, "date": e.date, "end": e.end, "pixels": e.pixels,
      "hectares": e.pixels * 0.09} for e in world.events]
)
print(events.to_string(index=False))

# %% [markdown]
# ## Annual maps of both years
#
# With a trained model, `run_map(MapConfig(..., change=True))` maps the year and the one
# before (per-observation U-Net predictions -> annual consensus) and writes the change
# products. **Without one this notebook shows the world's annual truth instead and says so**
# (the cell prints where the maps come from): hlsmap's demo weights
# (`hlsmap.demo.DEMO_MODEL`) are used when they are installed.

# %%
from hlsmap.demo import DEMO_MODEL
from hlsmap.model import METADATA_FILE


def choose_model(choice: str, out: Path):
    """(model folder or None, a sentence saying where the maps come from)."""
    if choice == "truth":
        return None, "the world's TRUTH (no model asked for)"
    if choice == "auto":
        if (DEMO_MODEL / METADATA_FILE).exists():
            return DEMO_MODEL, f"the shipped demo model ({DEMO_MODEL})"
        return None, "the world's TRUTH (no shipped demo model is installed)"
    if choice == "untrained":
        from hlsmap.model import ModelMetadata, build_model, save_model

        net = build_model("tiny", seed=0)
        meta = ModelMetadata.for_model(net, preset="tiny", provenance={"trained": False})
        path = save_model(out / "untrained-model", net, meta)
        return path, "an UNTRAINED tiny U-Net (random weights: the maps are not land cover)"
    return Path(choice), f"the model at {choice}"


model_dir, source_text = choose_model(MODEL, OUT)
print("annual maps come from:", source_text)

# %%
from hlsmap.outputs import cog

truth = {y: np.asarray(world.truth_annual(y).values) for y in (YEAR0, YEAR1)}
if model_dir is None:
    annual = dict(truth)
    baseline_confidence = None  # the truth is sure everywhere
else:
    from distributed import Client

    from hlsmap.mapping import run_map
    from hlsmap.runconfig import MapConfig

    cfg = MapConfig(year=YEAR1, model=str(model_dir), out=str(OUT / "maps"), grid=geobox,
                    source=str(world.root), change=True, detect_seasons=False)
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as c:
        result = run_map(cfg, client=c, progress=False)
    print(f"run_map: {result.pixel_observations:,} pixel-observations in {result.seconds:.0f} s; "
          f"products: {sorted(result.items)}")
    annual = {
        y: cog.read_cog(OUT / "maps" / f"hlsmap-annual-{y}" / "class.tif")[0]
        for y in (YEAR0, YEAR1)
    }
    # the consensus confidence (mean top-1 probability, percent) of the first year's map
    baseline_confidence = cog.read_cog(
        OUT / "maps" / f"hlsmap-annual-{YEAR0}" / "confidence.tif"
    )[0]
    for y in (YEAR0, YEAR1):
        ok = (annual[y] > 0) & (truth[y] > 0)
        print(f"annual map {y} vs truth: {(annual[y][ok] == truth[y][ok]).mean():.1%} agreement")

# %%
from matplotlib.patches import Patch

from hlsmap.classes import SURFACE_CLASSES, palette_array

lut = palette_array()
event_outline = np.zeros(geobox.shape, bool)
for e in world.events:
    if e.kind != "flood":  # lasting changes of both years (late ones show in the next year)
        event_outline |= e.mask
fig, axes = plt.subplots(1, 3, figsize=(13, 4.9))
for ax, y in zip(axes, (YEAR0, YEAR1)):
    ax.imshow(lut[annual[y]], interpolation="nearest")
    ax.set_title(f"annual {y}", fontsize=10)
    ax.axis("off")
changed_map = (annual[YEAR0] != annual[YEAR1]) & (annual[YEAR0] > 0) & (annual[YEAR1] > 0)
axes[2].imshow(lut[np.where(changed_map, annual[YEAR1], 0)], interpolation="nearest")
axes[2].contour(event_outline, levels=[0.5], colors="k", linewidths=0.6)
axes[2].set_title("new class where changed\n(black: true lasting change events)", fontsize=10)
axes[2].axis("off")
fig.legend(handles=[Patch(color=c.color, label=c.title) for c in SURFACE_CLASSES],
           loc="lower center", ncol=5, fontsize=8, frameon=False)
fig.suptitle(f"Annual maps from {source_text}", fontsize=9)
fig.tight_layout(rect=(0, 0.1, 1, 0.95))
fig.savefig(OUT / "annual_maps.png", dpi=100)

# %% [markdown]
# ## The transition matrix (hectares)
#
# `hlsmap.change.compute_change` gives the from-to transitions after a minimum mapping unit
# (changed patches smaller than 4 pixels count as unchanged: single-pixel noise is not
# change), the named change layers and the matrix: row = class in the first year, column =
# class in the second, in hectares. `hlsmap.outputs.stats.write_transition_matrix` writes it as
# JSON and CSV.

# %%
from hlsmap.change import compute_change
from hlsmap.outputs import stats

change = compute_change(annual[YEAR0], annual[YEAR1], geobox, mmu=4)
names = [c.title for c in SURFACE_CLASSES]
matrix = pd.DataFrame(change.matrix, index=names, columns=names)
matrix.index.name = f"{YEAR0} \\ {YEAR1}"
print(f"transition matrix (ha), maps from {source_text}")
print(matrix.round(1).to_string())
stats.write_transition_matrix(OUT / "transition_matrix", change.matrix)
off_diagonal = change.matrix.sum() - np.trace(change.matrix)
print(f"\nchanged: {off_diagonal:.1f} ha of {change.matrix.sum():.1f} ha mapped in both years")
named_ha = {k: float(v.sum() * stats.pixel_area_ha(geobox)) for k, v in change.layers.items()}
print("named change layers (ha):", {k: round(v, 1) for k, v in named_ha.items()})

# %% [markdown]
# ## Change decided from the evidence, by type
#
# A class flip is not yet a change: a pixel whose annual class was decided on a 51/49 vote, or
# on a handful of clear observations, flips from year to year without anything happening on
# the ground. `hlsmap.change_rule.change_confidence` weighs both years' consensus confidence
# and valid observations into a per-pixel change confidence (percent); the change map is the
# part at or above `CHANGE_THRESHOLD` (chosen on synthetic worlds: `bench/bench_change.py`).
# The change types are named layers: tree loss, new construction, water gain and loss count as
# land-cover change; grass <-> crops and crops <-> bare are flagged *rotation* and not counted.
# `hlsmap map --change` and `hlsmap change` write the same as COGs (`change_confidence.tif`,
# one layer per type) with `change_stats.json` in hectares. (Maps from the truth are sure
# everywhere, so there every flip passes; the figures are plumbing checks on a synthetic
# world, not accuracy on real places.)

# %%
from hlsmap.change_rule import (
    CHANGE_THRESHOLD,
    CHANGE_TYPES,
    change_confidence,
    change_types,
    decide_change,
)
from hlsmap.change_scores import change_scores

if model_dir is None:
    quality = {y: {"confidence": None, "n_valid": None} for y in (YEAR0, YEAR1)}
else:
    quality = {
        y: {k: cog.read_cog(OUT / "maps" / f"hlsmap-annual-{y}" / f"{k}.tif")[0]
            for k in ("confidence", "n_valid")}
        for y in (YEAR0, YEAR1)
    }
change_conf = change_confidence(
    annual[YEAR0], annual[YEAR1], quality[YEAR0]["confidence"], quality[YEAR1]["confidence"],
    quality[YEAR0]["n_valid"], quality[YEAR1]["n_valid"],
)
decided = compute_change(annual[YEAR0], annual[YEAR1], geobox, mmu=4,
                         decided=decide_change(change_conf, CHANGE_THRESHOLD))
types = change_types(annual[YEAR0], annual[YEAR1], decided.changed)
pixel_ha = stats.pixel_area_ha(geobox)
type_ha = {k: float(v.sum() * pixel_ha) for k, v in types.items()}
scores = change_scores(truth[YEAR0], truth[YEAR1], annual[YEAR0], annual[YEAR1], decided.changed)
rows = [{"type": "land-cover change (rotation excluded)", "hectares": None, **scores["land_cover"]}]
rows += [{"type": k, "hectares": type_ha[k], **scores["types"][k]} for k in CHANGE_TYPES]
print(f"flips: {int(change.changed.sum())} px at MMU 4; decided change (>= {CHANGE_THRESHOLD}%): "
      f"{int(decided.changed.sum())} px; maps from {source_text}")
print(pd.DataFrame(rows).round(2).to_string(index=False))

# %%
type_colours = {"tree_loss": "#397D49", "new_built": "#C4281B", "water_gain": "#419BDF",
                "water_loss": "#A59B8F", "rotation": "#E49635"}
codes = np.zeros(geobox.shape, np.uint8)
for i, k in enumerate(CHANGE_TYPES, start=1):
    codes[types[k] & (codes == 0)] = i
fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
shown = np.ma.masked_where((change_conf == 0) | (change_conf == 255), change_conf)
im = axes[0].imshow(shown, cmap="magma_r", vmin=0, vmax=100, interpolation="nearest")
axes[0].contour(event_outline, levels=[0.5], colors="k", linewidths=0.6)
axes[0].set_title(f"change confidence (%) where the class flipped\n"
                  f"mapped as change at >= {CHANGE_THRESHOLD}%; black: true events", fontsize=9)
axes[0].axis("off")
fig.colorbar(im, ax=axes[0], fraction=0.046)
cmap = matplotlib.colors.ListedColormap(["#f2f2f2", *type_colours.values()])
axes[1].imshow(codes, cmap=cmap, vmin=0, vmax=len(CHANGE_TYPES), interpolation="nearest")
axes[1].contour(event_outline, levels=[0.5], colors="k", linewidths=0.6)
axes[1].set_title("change types (rotation is flagged, not counted)", fontsize=9)
axes[1].axis("off")
fig.legend(handles=[Patch(color=c, label=f"{k} ({type_ha[k]:.1f} ha)")
                    for k, c in type_colours.items()],
           loc="lower center", ncol=5, fontsize=8, frameon=False)
fig.suptitle(f"Change decided from the evidence, maps from {source_text}", fontsize=9)
fig.tight_layout(rect=(0, 0.08, 1, 0.95))
fig.savefig(OUT / "change_types.png", dpi=100)

# %% [markdown]
# ## Tree-loss alerts through the second year
#
# The baseline is the first year's annual map, with its consensus confidence (the mean top-1
# probability of its class, the `confidence.tif` next to `class.tif`): only pixels whose
# baseline confidence is at least `min_baseline_conf` (0.7) can alert. Where the baseline was a
# coin toss - class edges, a grassland the model half-believes is forest - new observations
# disagreeing with it mostly correct the baseline rather than show a change; this is what
# `hlsmap alerts` does (`--min-baseline-conf`). When the maps are the world's truth there is no
# confidence layer and every baseline pixel counts as known. Then every observation of the
# second year, in time order, goes through `AlertState.update(probs, valid, time)`.
#
# **Where the per-observation class probabilities come from is printed below.** With a model
# they are the U-Net's predictions on each L30/S30 observation (`Predictor.predict_dataset`
# on the cube). Without one they are a **simulated classifier**: the world's per-observation
# truth (`World.truth_at`) with `HLSMAP_NB_ERROR` of the pixels given a random wrong class at
# low confidence, and the rest a confident right one; cloud pixels are not valid. That tests
# the alert rule (does k-of-n confirmation reject random errors and catch real clearings, and
# how fast?), not a model.

# %%
from hlsmap.alerts import AlertState, day_number

baseline = annual[YEAR0]
state = AlertState(baseline, k=3, n=4, min_prob=0.7, since=f"{YEAR1}-01-01", geobox=geobox,
                   baseline_confidence=baseline_confidence, min_baseline_conf=0.7)
if baseline_confidence is not None:
    known = (baseline_confidence >= 70) & (baseline > 0)
    print(f"baseline pixels sure enough to alert (confidence >= 70%): {known.mean():.1%}")
rng = np.random.default_rng(SEED)


def simulated_probs(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A noisy classifier on per-observation truth: (uint8 probs (H, W, 10), valid)."""
    shape = t.shape
    surface = (t >= 1) & (t <= 9)
    wrong = surface & (rng.random(shape) < ERROR)
    label = np.where(wrong, rng.integers(1, 10, shape), np.where(t == 0, 10, t))
    top = np.where(wrong, rng.uniform(0.3, 0.75, shape), rng.uniform(0.7, 0.99, shape))
    p = np.repeat(((1 - top) / 9)[..., None], 10, axis=-1)
    np.put_along_axis(p, (label - 1)[..., None], top[..., None], axis=-1)
    return np.rint(p * 255).astype(np.uint8), surface


if model_dir is None:
    probs_source = (f"a SIMULATED classifier on the world's per-observation truth "
                    f"({ERROR:.0%} random errors)")

    def observation_stream():
        for rec in sorted(world.observations, key=lambda o: o["datetime"]):
            when = np.datetime64(rec["datetime"][:19])
            if when < np.datetime64(f"{YEAR1}-01-01"):
                continue
            probs, valid = simulated_probs(np.asarray(world.truth_at(rec["key"]).values))
            yield when, probs, valid
else:
    from hlsmap.cube import load_cube
    from hlsmap.inference.predict import Predictor
    from hlsmap.model import load_model
    from hlsmap.search import search

    probs_source = f"per-observation predictions of {source_text}"
    net, meta = load_model(model_dir)
    predictor = Predictor(net, normalize=meta.normalize, bands=meta.bands)
    cube = load_cube(search(world.root, datetime=str(YEAR1)), geobox=geobox, bands=meta.bands)

    def observation_stream():
        for obs in predictor.predict_dataset(cube, meta.bands, output="probs"):
            yield np.datetime64(obs.time, "s"), obs.probs, obs.valid

print("alerts are fed with:", probs_source)
rows = []
seen_tree_loss = np.zeros(geobox.shape, bool)
for when, probs, valid in observation_stream():
    state.update(probs, valid, when)
    tl = state.kinds()["tree_loss"]
    new_tl = tl & ~seen_tree_loss
    seen_tree_loss |= tl
    rows.append({"date": pd.Timestamp(when), "new_tree_loss_ha": new_tl.sum() * 0.09,
                 "tree_loss_ha": tl.sum() * 0.09,
                 "all_active_ha": state.active().sum() * 0.09})
timeline = pd.DataFrame(rows).set_index("date")
timeline.to_csv(OUT / "alerts_timeline.csv")
print(f"{len(timeline)} observations streamed; active tree-loss alerts at the end: "
      f"{timeline['tree_loss_ha'].iloc[-1]:.1f} ha")

# %% [markdown]
# How well did the alerts find the second year's forest clearing, and how fast? The delay is
# from the event's date to the date the alert was confirmed.

# %%
res = state.result()
tree_loss = state.kinds()["tree_loss"]
clearings = [e for e in world.events if e.kind == "forest_clearing" and e.date.year == YEAR1]
clearing_mask = np.zeros(geobox.shape, bool)
for e in clearings:
    clearing_mask |= e.mask
epoch = dt.date(1970, 1, 1)
found = tree_loss & clearing_mask
alert_summary = {
    "fed_with": probs_source,
    "clearing_dates": [e.date.isoformat() for e in clearings],
    "clearing_pixels": int(clearing_mask.sum()),
    "tree_loss_alert_pixels": int(tree_loss.sum()),
    "recall": float(found.sum() / max(clearing_mask.sum(), 1)),
    "precision": float(found.sum() / max(tree_loss.sum(), 1)),
}
if found.any() and clearings:
    confirmed = res["confirmed_date"].values[found]
    first_event = day_number(min(e.date for e in clearings))
    alert_summary["median_delay_days"] = float(np.median(confirmed - first_event))
    alert_summary["first_confirmed"] = str(epoch + dt.timedelta(days=int(confirmed.min())))
print(json.dumps(alert_summary, indent=2))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [2.2, 1]})
ax1.step(timeline.index, timeline["tree_loss_ha"], where="post", color="#C4281B",
         label="active tree-loss alerts (ha)")
ax1.bar(timeline.index, timeline["new_tree_loss_ha"], width=3, color="#E49635",
        label="new tree-loss alerts per date (ha)")
ax1.step(timeline.index, timeline["all_active_ha"], where="post", color="0.6", lw=0.8,
         ls="--", label="all active alerts, any kind (floods, seasonal water, ...)")
for i, e in enumerate(clearings):
    ax1.axvline(pd.Timestamp(e.date), color="#397D49", lw=1.5,
                label="true forest clearing" if i == 0 else None)
ax1.set_ylabel("hectares")
ax1.set_title(f"Alerts through {YEAR1} against the {YEAR0} map\n(fed with {probs_source})",
              fontsize=9)
ax1.legend(fontsize=7)
status = res["status"].values
ax2.imshow(np.where(tree_loss, 2, np.where(status == 1, 1, 0)),
           cmap=matplotlib.colors.ListedColormap(["#f2f2f2", "#DFC35A", "#C4281B"]),
           vmin=0, vmax=2, interpolation="nearest")
ax2.contour(clearing_mask, levels=[0.5], colors="#397D49", linewidths=0.8)
ax2.set_title("tree-loss alerts (red), candidates (yellow)\ngreen: true clearing", fontsize=9)
ax2.axis("off")
fig.tight_layout()
fig.savefig(OUT / "alerts.png", dpi=100)

# %%
summary = {
    "maps_from": source_text,
    "changed_ha": float(off_diagonal),
    "named_change_ha": named_ha,
    "change_type_ha": type_ha,
    "change_scores": scores,
    "alerts": alert_summary,
    "observations_streamed": int(len(timeline)),
    "seconds": round(time.perf_counter() - t_start, 1),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
print(f"done in {summary['seconds']} s; figures and summary.json in {OUT}")
