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
# # Seasonal analysis: wet and dry season land cover
#
# In the tropics one annual map hides half the story: lakes swell and shrink, grass greens up
# and dries out, floodplains go under water for weeks. hlsmap maps *seasons* as well as years.
# This notebook works on a synthetic **tropical** HLS world (Landsat L30 + Sentinel-2 S30
# granules written exactly like NASA's HLS v2.0, with known ground truth) and shows:
#
# 1. the wet/dry seasons **detected** from the imagery's own NDVI, against the world's true ones;
# 2. wet- and dry-season maps side by side;
# 3. the area of each class per season, in hectares;
# 4. the **seasonal lake**: water in the wet season, land in the dry one;
# 5. NDVI curves over the year, per land-cover class.
#
# Everything runs offline. Parameters come from environment variables (defaults suit a user;
# the test suite sets tiny values):
#
# | variable | default | meaning |
# |---|---|---|
# | `HLSMAP_NB_SIZE` | 256 | world side in 30 m pixels |
# | `HLSMAP_NB_SEED` | 0 | world seed |
# | `HLSMAP_NB_YEAR` | 2023 | the year simulated and mapped |
# | `HLSMAP_NB_OUT` | `nb-out/seasonal` | output folder (world, maps, figures) |
# | `HLSMAP_NB_MODEL` | `auto` | `auto` (the shipped demo model if installed, else truth), `truth`, `untrained` (a random tiny U-Net: exercises the pipeline, maps are meaningless) or a model folder |

# %%
import os
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

SIZE = int(os.environ.get("HLSMAP_NB_SIZE", "256"))
SEED = int(os.environ.get("HLSMAP_NB_SEED", "0"))
YEAR = int(os.environ.get("HLSMAP_NB_YEAR", "2023"))
OUT = Path(os.environ.get("HLSMAP_NB_OUT", "nb-out/seasonal"))
MODEL = os.environ.get("HLSMAP_NB_MODEL", "auto")
OUT.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()
print(f"{SIZE} px tropical world, seed {SEED}, year {YEAR}, outputs in {OUT}, model={MODEL}")

# %% [markdown]
# ## The world
#
# `simulate_world` writes the archive: Cloud-Optimized GeoTIFFs per band and Fmask, STAC items
# shaped like Planetary Computer's `hls2-l30` / `hls2-s30`, and the truth (annual, per season,
# per observation, change events). A rerun reuses a world written with the same parameters.

# %%
from hlsmap.simulate import World, WorldConfig, simulate_world

# small worlds fit on one MGRS-like tile; larger ones span 2 x 2 overlapping tiles like real HLS
wcfg = WorldConfig(seed=SEED, size=SIZE, year=YEAR, years=1, climate="tropical",
                   tiles_per_side=1 if SIZE < 128 else 2, coastal=False)
world_dir = OUT / "world"
if (world_dir / "manifest.json").exists() and World.open(world_dir).config == wcfg:
    world = World.open(world_dir)
else:
    world = simulate_world(wcfg, world_dir)
geobox = world.geobox
print(world)
print("true seasons (inclusive month ranges):", world.seasons)

# %% [markdown]
# ## Search and load the cube
#
# `hlsmap.search.search` reads the world's static STAC catalog like any STAC source;
# `hlsmap.cube.load_cube` aligns L30 and S30 on one grid (harmonized int16 reflectance and
# HLS Fmask), and `clear_mask` says which pixels of each observation are clear.

# %%
from hlsmap.cube import clear_mask, load_cube
from hlsmap.search import search

items = search(world.root, datetime=str(YEAR), sensors=("L30", "S30"))
cube = load_cube(items, geobox=geobox)
clear = clear_mask(cube).values
print(f"{cube.sizes['time']} observations "
      f"({int((cube.sensor == 'L30').sum())} L30, {int((cube.sensor == 'S30').sum())} S30), "
      f"{clear.mean():.0%} of pixel-observations clear")

# %% [markdown]
# ## Detected vs true seasons
#
# `hlsmap.seasons.detect_seasons` builds a 12-month regional NDVI climatology (per-pixel
# monthly medians of clear pixels, then the regional mean over pixels seen every month), reduces
# it to its *annual cycle* - the mean plus the first annual harmonic (`annual_cycle`) - and
# takes the 6-month window (wrapping the year end) with the highest mean of that cycle as the
# wet season, the complementary 6 months as the dry one. The harmonic weighs all twelve months:
# the raw monthly means would let the window's two end months decide, and vegetation that
# greens up fast with the rains but browns down slowly after them (or one cloudy month) would
# shift the window by a month (on the demo world the raw means pick Dec-May for rains in
# Nov-Apr). `index="mndwi"` (wetness) or `"both"` (the two z-scored and averaged) are the
# alternatives. The world knows its true seasons.

# %%
from hlsmap.periods import month_range
from hlsmap.seasons import annual_cycle, detect_seasons

detected = detect_seasons(cube, index="ndvi")
print("detected:\n" + detected.describe())
agreement = {}
for name, window in world.seasons.items():
    true_months = set(month_range(*window))
    found = set(detected.months(name)) if name in detected.windows else set()
    agreement[name] = len(true_months & found) / len(true_months)
    print(f"{name}: true months {sorted(true_months)}, detected {sorted(found)}, "
          f"overlap {agreement[name]:.0%}")

months = np.arange(1, 13)
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(months, detected.monthly, "o-", color="#397D49", label="regional NDVI climatology")
ax.plot(months, annual_cycle(np.asarray(detected.monthly)), "--", color="0.3", lw=1,
        label="annual cycle (mean + 1st harmonic): the windows are cut from it")
for name, colour in (("wet", "#419BDF"), ("dry", "#DFC35A")):
    for m in month_range(*world.seasons[name]):
        ax.axvspan(m - 0.5, m + 0.5, color=colour, alpha=0.25, lw=0)
ax.set_xticks(months, ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
ax.set_ylabel("NDVI")
ax.set_title("Detected from NDVI: " + ", ".join(
    f"{n} {a:02d}-{b:02d}" for n, (a, b) in detected.windows.items()
) + "  (shading: true wet=blue, dry=yellow)", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "seasons_detected.png", dpi=100)

# %% [markdown]
# ## Wet and dry season maps
#
# With a trained model, `hlsmap.mapping.run_map` runs the whole pipeline: per-observation
# U-Net predictions on every L30/S30 granule, then a streaming temporal consensus per season
# window (here the *detected* windows) -> class COGs, quicklooks, statistics, STAC.
#
# **Which maps you see depends on `HLSMAP_NB_MODEL`; the cell prints it.** hlsmap ships demo
# weights at `hlsmap.demo.DEMO_MODEL` once they have been trained; when they are not installed
# (`auto`) or with `truth`, this notebook does **not** pretend: it shows the world's *true*
# season maps (`World.truth_season`) in place of mapped ones, and the statistics below are
# those of the truth. With `untrained` it maps with a randomly initialised tiny U-Net: the
# pipeline runs end to end but the maps are noise.

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
print("season maps come from:", source_text)

# %%
from hlsmap.outputs import cog

season_names = [n for n in ("wet", "dry") if n in world.seasons]
truth_maps = {n: np.asarray(world.truth_season(n, YEAR).values) for n in season_names}
if model_dir is None:
    maps = dict(truth_maps)
    windows = dict(world.seasons)
else:
    from distributed import Client

    from hlsmap.mapping import run_map
    from hlsmap.runconfig import MapConfig

    windows = {n: detected.windows[n] for n in season_names}
    cfg = MapConfig(
        year=YEAR,
        model=str(model_dir),
        out=str(OUT / "maps"),
        grid=geobox,
        source=str(world.root),
        seasons=tuple(f"{n}={a:02d}-{b:02d}" for n, (a, b) in windows.items()),
    )
    # an in-process Dask cluster: no worker processes to start for a small region
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as c:
        result = run_map(cfg, client=c, progress=False)
    print(f"run_map: {result.pixel_observations:,} pixel-observations in {result.seconds:.0f} s, "
          f"failed tiles: {result.failed_tiles}")
    maps = {
        n: cog.read_cog(OUT / "maps" / f"hlsmap-{n}-{YEAR}" / "class.tif")[0]
        for n in season_names
    }
    for n in season_names:
        ok = (maps[n] > 0) & (truth_maps[n] > 0)
        print(f"{n} map vs the world's {n}-season truth: "
              f"{(maps[n][ok] == truth_maps[n][ok]).mean():.1%} agreement")

# %%
from matplotlib.patches import Patch

from hlsmap.classes import SURFACE_CLASSES, palette_array

lut = palette_array()
fig, axes = plt.subplots(1, len(season_names), figsize=(4.4 * len(season_names), 4.9))
for ax, n in zip(np.atleast_1d(axes), season_names):
    a, b = windows[n]
    ax.imshow(lut[maps[n]], interpolation="nearest")
    ax.set_title(f"{n} season (months {a:02d}-{b:02d})", fontsize=10)
    ax.axis("off")
fig.legend(
    handles=[Patch(color=c.color, label=c.title) for c in SURFACE_CLASSES],
    loc="lower center", ncol=5, fontsize=8, frameon=False,
)
fig.suptitle(f"Season maps {YEAR} from {source_text}", fontsize=9)
fig.tight_layout(rect=(0, 0.1, 1, 0.95))
fig.savefig(OUT / "season_maps.png", dpi=100)

# %% [markdown]
# ## Class areas per season (hectares)
#
# `hlsmap.outputs.stats.area_table` turns a class map and its grid into hectares per class
# (30 m pixels: 0.09 ha each).

# %%
import pandas as pd

from hlsmap.outputs import stats

area = pd.DataFrame({
    n: {r["title"]: r["hectares"] for r in stats.area_table(maps[n], geobox)}
    for n in season_names
})
area["dry - wet"] = area["dry"] - area["wet"]
print(f"class areas (ha) from {source_text}")
print(area.round(1).to_string())
area.to_csv(OUT / "season_areas.csv")

# %% [markdown]
# ## The seasonal lake
#
# Pixels that are water in the wet season and not in the dry one: the lake's seasonal fringe
# (and a flood, when one happens in the wet season). We take it from the world's truth and
# from the maps (identical when the maps *are* the truth, see above).

# %%
from hlsmap.classes import CODES

WATER = CODES["water"]
pixel_ha = stats.pixel_area_ha(geobox)
lake_truth = (truth_maps["wet"] == WATER) & (truth_maps["dry"] != WATER)
lake_map = (maps["wet"] == WATER) & (maps["dry"] != WATER)
both = (lake_truth & lake_map).sum()
# the opposite case, for honesty: water in the dry-season map but not in the wet one
dry_only_truth = (truth_maps["dry"] == WATER) & (truth_maps["wet"] != WATER)
lake = {
    "dry_not_wet_truth_ha": float(dry_only_truth.sum() * pixel_ha),
    "truth_ha": float(lake_truth.sum() * pixel_ha),
    "map_ha": float(lake_map.sum() * pixel_ha),
    "overlap_share_of_truth": float(both / max(lake_truth.sum(), 1)),
}
dry_cover = pd.Series(truth_maps["dry"][lake_truth]).map(
    {c.code: c.title for c in SURFACE_CLASSES}).value_counts()
print(f"seasonal water: {lake['truth_ha']:.1f} ha in the truth, {lake['map_ha']:.1f} ha in the "
      f"maps ({lake['overlap_share_of_truth']:.0%} of the true area found); water in the dry "
      f"season map only (truth): {lake['dry_not_wet_truth_ha']:.1f} ha")
if len(dry_cover):
    print("what the wet-not-dry water is in the dry season (truth, pixels):")
    print(dry_cover.to_string())

# %% [markdown]
# The season maps give each pixel its *dominant* class of the season, so they show seasonal
# water only where it lasts most of one season and little of the other. The per-observation
# truth shows the lake through the year: its water extent on each clear date, and every pixel
# that is water on some dates and land on others. (In this world the water level lags the
# rains and peaks about a month after the wet season ends, early in the dry-season window, so the
# wet/dry *dominant* maps can differ much less than the lake itself varies, or even show more
# water in the dry-season map than in the wet one: see the numbers printed above.)

# %%
obs_dates, water_share = [], []
ever_water = np.zeros(geobox.shape, bool)
always_water = np.ones(geobox.shape, bool)
for rec in world.observations:
    t = np.asarray(world.truth_at(rec["key"]).values)
    seen = (t > 0) & (t < 10)  # inside the swath and not under a cloud
    if seen.mean() < 0.9:  # a mostly cloudy or partial-swath date would bias the extent
        continue
    wet_px = (t == WATER) & seen
    ever_water |= wet_px
    always_water &= wet_px | ~seen
    obs_dates.append(np.datetime64(rec["datetime"][:19]))
    water_share.append(wet_px.sum() / seen.sum())
seasonal_water = ever_water & ~always_water
extent_ha = np.array(water_share) * geobox.shape[0] * geobox.shape[1] * pixel_ha
lake["seasonal_water_any_date_ha"] = float(seasonal_water.sum() * pixel_ha)
lake["water_extent_min_ha"] = float(extent_ha.min())
lake["water_extent_max_ha"] = float(extent_ha.max())
lake["water_extent_peak_date"] = str(obs_dates[int(np.argmax(extent_ha))])
print(f"water extent on clear-sky dates: {extent_ha.min():.1f} .. {extent_ha.max():.1f} ha "
      f"(largest on {lake['water_extent_peak_date'][:10]}); "
      f"pixels water on some dates only: {lake['seasonal_water_any_date_ha']:.1f} ha")

# %%
fig, axes = plt.subplots(1, 4, figsize=(15, 4.0),
                         gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
axes[3].plot(obs_dates, extent_ha, ".-", color="#419BDF", lw=1)
for m in month_range(*world.seasons["wet"]):
    lo = np.datetime64(f"{YEAR}-{m:02d}-01")
    axes[3].axvspan(lo, lo + np.timedelta64(30, "D"), color="#419BDF", alpha=0.08, lw=0)
axes[3].set_title("water extent per date (truth; shaded: wet season)", fontsize=9)
axes[3].set_ylabel("ha")
axes[3].tick_params(axis="x", labelrotation=45, labelsize=7)
axes[2].imshow(np.where(always_water, 2, seasonal_water.astype(int)),
               cmap=matplotlib.colors.ListedColormap(["#f2f2f2", "#419BDF", "#1c3f66"]),
               vmin=0, vmax=2, interpolation="nearest")
axes[2].set_title("water on some dates only (truth)", fontsize=9)
axes[2].axis("off")
panels = (
    ("truth", lake_truth, truth_maps["dry"]),
    ("maps" if model_dir is not None else "maps = truth", lake_map, maps["dry"]),
)
for ax, (title, m, dry) in zip(axes, panels):
    ax.imshow(np.where(dry == WATER, 2, m.astype(int)), cmap=matplotlib.colors.ListedColormap(
        ["#f2f2f2", "#419BDF", "#1c3f66"]), vmin=0, vmax=2, interpolation="nearest")
    ax.set_title(f"wet-not-dry water, {title}", fontsize=9)
    ax.axis("off")
fig.suptitle("light blue: seasonal water; dark blue: water all year", fontsize=9)
fig.tight_layout()
fig.savefig(OUT / "seasonal_lake.png", dpi=100)

# %% [markdown]
# ## NDVI through the year, per class
#
# NDVI = (nir08 - red) / (nir08 + red) from the cube, **clear pixels only** (Fmask and
# reflectance checks of `clear_mask`). Pixels are grouped by their annual *true* class; the
# curve is the median over the class's clear pixels on each observation date. Dates where less
# than 30 % of a class's pixels are clear are skipped: on a mostly cloudy date the few pixels
# left "clear" are largely the cloud edges Fmask missed, and their NDVI is not the land's.
# Grass and crops swing with the rains; trees stay green; water stays negative.

# %%
red = cube["red"].values.astype(np.float32)
nir = cube["nir08"].values.astype(np.float32)
ok = clear & (red > 0) & (nir > 0)
with np.errstate(divide="ignore", invalid="ignore"):
    ndvi = np.where(ok, (nir - red) / (nir + red), np.nan)
annual_truth = np.asarray(world.truth_annual(YEAR).values)
times = cube["time"].values
curves = {}
for c in SURFACE_CLASSES:
    sel = annual_truth == c.code
    if sel.sum() < 20:
        continue
    per_date = ndvi[:, sel]
    n_ok = np.isfinite(per_date).sum(axis=1)
    with warnings.catch_warnings():  # dates where no pixel of the class is clear give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        enough = n_ok >= max(5, 0.3 * sel.sum())
        med = np.nanmedian(np.where(enough[:, None], per_date, np.nan), axis=1)
    curves[c.title] = pd.Series(med, index=pd.DatetimeIndex(times)).dropna()

fig, ax = plt.subplots(figsize=(9, 4))
for c in SURFACE_CLASSES:
    if c.title in curves:
        s = curves[c.title]
        ax.plot(s.index, s.values, ".-", ms=3, lw=1, color=c.color, label=c.title)
for m in month_range(*world.seasons["wet"]):
    lo = np.datetime64(f"{YEAR}-{m:02d}-01")
    ax.axvspan(lo, lo + np.timedelta64(30, "D"), color="#419BDF", alpha=0.08, lw=0)
ax.set_ylabel("NDVI (median of clear pixels)")
ax.set_title(f"NDVI per class through {YEAR} (shaded: true wet season)", fontsize=10)
ax.legend(fontsize=7, ncol=3)
fig.tight_layout()
fig.savefig(OUT / "ndvi_curves.png", dpi=100)
ndvi_amplitude = {k: float(v.quantile(0.9) - v.quantile(0.1)) for k, v in curves.items()}
print("NDVI seasonal amplitude (90th - 10th percentile):",
      {k: round(v, 2) for k, v in ndvi_amplitude.items()})

# %%
import json

summary = {
    "maps_from": source_text,
    "detected_seasons": detected.windows,
    "true_seasons": world.seasons,
    "season_overlap": agreement,
    "areas_ha": area.drop(columns="dry - wet").to_dict(),
    "seasonal_lake": lake,
    "ndvi_median": {k: float(v.median()) for k, v in curves.items()},
    "ndvi_amplitude": ndvi_amplitude,
    "seconds": round(time.perf_counter() - t_start, 1),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
print(f"done in {summary['seconds']} s; figures and summary.json in {OUT}")
