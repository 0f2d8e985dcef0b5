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
# # Extending hlsmap: a sensor adapter for a new product
#
# hlsmap reads HLS L30/S30, Sentinel-2 L2A and Landsat Collection 2 out of the box. Any other
# optical product joins the same cube through a **sensor adapter**: a small class that says
# which STAC collection holds the product, which asset holds each band, how stored values map
# to surface reflectance, and how its quality layer maps to HLS Fmask bits. The cube, the
# model, consensus and alerts then treat it like any HLS sensor.
#
# Here we invent **SimSat**, a product unlike HLS in every way that matters:
#
# | | HLS (S30) | SimSat |
# |---|---|---|
# | stored type | int16 | **uint16** |
# | reflectance | DN x 0.0001 | **(DN - 1000) x 0.0001** (an offset, like Sentinel-2 since 2022) |
# | no data | -9999 | **0** |
# | quality layer | Fmask bits | **cloud probability, percent** (255 = no data) |
# | STAC collection | `hls2-s30` | **`simsat-l2`** |
#
# We *make* SimSat granules from the synthetic world's S30 granules (so we know what the
# harmonized values must be), write STAC items for them, register an adapter, and load a cube
# of SimSat + the world's Landsat L30 together.
#
# | variable | default | meaning |
# |---|---|---|
# | `HLSMAP_NB_SIZE` | 256 | world side in 30 m pixels |
# | `HLSMAP_NB_MONTHS` | 3 | months simulated |
# | `HLSMAP_NB_SEED` | 0 | world seed |
# | `HLSMAP_NB_OUT` | `nb-out/custom-sensor` | output folder |

# %%
import json
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pystac
import rasterio

SIZE = int(os.environ.get("HLSMAP_NB_SIZE", "256"))
MONTHS = int(os.environ.get("HLSMAP_NB_MONTHS", "3"))
SEED = int(os.environ.get("HLSMAP_NB_SEED", "0"))
OUT = Path(os.environ.get("HLSMAP_NB_OUT", "nb-out/custom-sensor"))
OUT.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()

# %%
from hlsmap.simulate import World, WorldConfig, simulate_world

wcfg = WorldConfig(seed=SEED, size=SIZE, year=2024, months=MONTHS,
                   tiles_per_side=1 if SIZE < 128 else 2, coastal=False)
world_dir = OUT / "world"
if (world_dir / "manifest.json").exists() and World.open(world_dir).config == wcfg:
    world = World.open(world_dir)
else:
    world = simulate_world(wcfg, world_dir)
print(world)

# %% [markdown]
# ## 1. Write SimSat granules
#
# For every S30 granule: each band becomes `DN = reflectance + 1000` as uint16 (0 where S30
# has no data), and Fmask becomes a cloud probability: 95 % for cloud, 50 % next to a cloud or
# in its shadow, 3 % for clear pixels, 255 outside the swath.

# %%
from hlsmap.sensors import BANDS, get_sensor

s30 = get_sensor("S30")
ASSETS = {"blue": "SR_B1", "green": "SR_B2", "red": "SR_B3", "nir08": "SR_B4",
          "swir16": "SR_B5", "swir22": "SR_B6"}
QA_ASSET = "CLOUD_PROB"
granules = OUT / "simsat"


def write_tif(path: Path, data: np.ndarray, profile: dict, nodata: float) -> None:
    prof = dict(profile, dtype=data.dtype.name, nodata=nodata, count=1, driver="GTiff",
                compress="deflate", tiled=True, blockxsize=256, blockysize=256)
    if data.shape[0] < 256 or data.shape[1] < 256:
        prof.update(tiled=False)
        prof.pop("blockxsize"), prof.pop("blockysize")
    tmp = path.with_name(f".{path.name}.tmp")
    with rasterio.open(tmp, "w", **prof) as dst:
        dst.write(data, 1)
    tmp.replace(path)


def cloud_probability(fmask: np.ndarray) -> np.ndarray:
    prob = np.full(fmask.shape, 3, np.uint8)
    prob[(fmask & 0b1100) != 0] = 50  # bit 2 adjacent, bit 3 shadow
    prob[(fmask & 0b0010) != 0] = 95  # bit 1 cloud
    prob[fmask == 255] = 255
    return prob


simsat_items = []
for item in world.items():
    if item.collection_id != "hls2-s30":
        continue
    gid = item.id.replace("HLS.S30", "SIMSAT.L2")
    folder = granules / gid
    folder.mkdir(parents=True, exist_ok=True)
    assets = {}
    for band in BANDS:
        with rasterio.open(item.assets[s30.bands[band].asset].href) as src:
            raw, profile = src.read(1), src.profile
        dn = np.where(raw == -9999, 0, np.clip(raw.astype(np.int32) + 1000, 1, 65535))
        path = folder / f"{gid}.{ASSETS[band]}.tif"
        write_tif(path, dn.astype(np.uint16), profile, 0)
        assets[ASSETS[band]] = pystac.Asset(
            str(path.resolve()), media_type=pystac.MediaType.GEOTIFF, roles=["data"], title=band
        )
    with rasterio.open(item.assets[s30.qa.asset].href) as src:
        fmask, profile = src.read(1), src.profile
    path = folder / f"{gid}.{QA_ASSET}.tif"
    write_tif(path, cloud_probability(fmask), profile, 255)
    assets[QA_ASSET] = pystac.Asset(str(path.resolve()), media_type=pystac.MediaType.GEOTIFF,
                                    roles=["cloud"], title="cloud probability (%)")
    props = {k: v for k, v in item.properties.items()
             if k.startswith("proj:") or k in ("datetime", "eo:cloud_cover")}
    new = pystac.Item(gid, item.geometry, item.bbox, item.datetime,
                      {**props, "platform": "SimSat-1", "instruments": ["simcam"]},
                      collection="simsat-l2")
    for key, asset in assets.items():
        new.add_asset(key, asset)
    simsat_items.append(new)

# one ItemCollection with the world's L30 items and the new SimSat items: a static source
l30_items = [i for i in world.items() if i.collection_id == "hls2-l30"]
catalog = OUT / "items.json"
catalog.write_text(json.dumps(pystac.ItemCollection(l30_items + simsat_items).to_dict()))
print(f"{len(simsat_items)} SimSat granules + {len(l30_items)} L30 granules -> {catalog}")

# %% [markdown]
# ## 2. The adapter
#
# Subclass `hlsmap.sensors.Sensor` and fill in class attributes; override a method only where
# the product needs more than scale/offset (here: the cloud-probability QA layer). Then
# `register_sensor`. (`overwrite=True` lets this cell run twice in one kernel; a package
# would instead declare it under the `hlsmap.sensors` entry-point group.)

# %%
from hlsmap.sensors import BandSpec, QASpec, Sensor, list_sensors, register_sensor


class SimSat(Sensor):
    """SimSat L2: uint16 DN, reflectance = (DN - 1000) / 10000, 0 = no data;
    cloud probability (%) as QA, 255 = no data."""

    name = "SIMSAT"
    title = "SimSat Level-2 surface reflectance (a made-up product)"
    collections = {"pc": "simsat-l2"}
    # reflectance = DN * scale + offset = DN * 0.0001 - 0.1
    bands = {b: BandSpec(asset=ASSETS[b], dtype="uint16", nodata=0, scale=1e-4, offset=-0.1)
             for b in BANDS}
    qa = QASpec(asset=QA_ASSET, dtype="uint8", nodata=255)
    resolution = 30.0
    default_platform = "SimSat-1"

    def to_fmask(self, qa_raw):
        """Cloud probability -> HLS Fmask: >= 40 % sets the cloud bit (1); 255 stays fill."""
        qa_raw = np.asarray(qa_raw)
        return np.where(qa_raw == 255, 255, np.where(qa_raw >= 40, 0b10, 0)).astype(np.uint8)


register_sensor(SimSat, overwrite=True)
simsat = get_sensor("simsat")
print("registered sensors:", list_sensors())
print("odc-stac config:", json.dumps(simsat.odc_stac_config()["simsat-l2"]["aliases"]))
print("DN 0, 1000, 2234 ->", simsat.harmonize("red", np.array([0, 1000, 2234], np.uint16), {}))
print("cloud prob 3, 50, 95, 255 ->", simsat.to_fmask(np.array([3, 50, 95, 255], np.uint8)))

# %% [markdown]
# ## 3. Search and load one cube from two sensors
#
# `search` finds both collections in the ItemCollection; `load_cube` picks each item's adapter
# from its collection id, reads SimSat with its own dtype and nodata, harmonizes it to HLS int16
# reflectance and Fmask, and interleaves it with L30 by time. The `sensor` coordinate says which
# is which.

# %%
from hlsmap.cube import clear_mask, load_cube
from hlsmap.search import search

items = search(catalog, sensors=("L30", "SIMSAT"))
cube = load_cube(items, geobox=world.geobox)
print(cube)
sensors_in_cube = {str(s): int((cube.sensor == s).sum()) for s in np.unique(cube.sensor.values)}
print("observations per sensor:", sensors_in_cube)

# %% [markdown]
# Are SimSat's values harmonized? The SimSat granules were made from S30 granules, so after the
# adapter they must equal the S30 cube of the same dates exactly - a wrong offset would shift
# them by 1000, a wrong nodata would turn the swath edge into dark pixels. Clear pixels must
# agree too (SimSat's QA knows only "cloud or not", so compare *clear*, not the bits).

# %%
s30_cube = load_cube(search(world.root, sensors=("S30",)), geobox=world.geobox)
sim = cube.isel(time=np.flatnonzero(cube.sensor.values == "SIMSAT"))
assert list(sim.time.values) == list(s30_cube.time.values)
checks = {}
for band in BANDS:
    a, b = sim[band].values, s30_cube[band].values
    checks[band] = int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())
clear_agree = float((clear_mask(sim).values == clear_mask(s30_cube).values).mean())
fill_agree = float(((sim["fmask"].values == 255) == (s30_cube["fmask"].values == 255)).mean())
print("max |SimSat - S30| per band (reflectance x 10000):", checks)
print(f"clear-pixel agreement: {clear_agree:.2%}, fill agreement: {fill_agree:.2%}")
print("dtypes:", {v: str(cube[v].dtype) for v in cube.data_vars})

# %% [markdown]
# ## 4. A quicklook
#
# True-colour quicklooks of the clearest SimSat and L30 observations, the clear-sky share of
# every observation by sensor, and the world's land-cover truth (`quicklook.class_png`).

# %%
from hlsmap.outputs import quicklook

clear = clear_mask(cube).values
share = clear.mean(axis=(1, 2))


def rgb(ds, t):
    x = np.stack([ds[b].values[t] for b in ("red", "green", "blue")], -1).astype(np.float32)
    x = np.where(x == -9999, np.nan, x) * 1e-4
    return np.clip(np.nan_to_num(x / 0.25, nan=1.0), 0, 1) ** (1 / 1.6)


best = {s: int(np.flatnonzero(cube.sensor.values == s)[np.argmax(share[cube.sensor.values == s])])
        for s in ("SIMSAT", "L30")}
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.5]})
for ax, s in zip(axes, ("SIMSAT", "L30")):
    t = best[s]
    ax.imshow(rgb(cube, t), interpolation="nearest")
    ax.set_title(f"{s} {str(cube.time.values[t])[:10]} ({cube.platform.values[t]}), "
                 f"{share[t]:.0%} clear", fontsize=8)
    ax.axis("off")
for s, colour in (("SIMSAT", "#E49635"), ("L30", "#419BDF")):
    sel = cube.sensor.values == s
    axes[2].plot(cube.time.values[sel], share[sel], "o", ms=4, color=colour, label=s)
axes[2].set_ylabel("clear share of the region")
axes[2].set_title("observations in the mixed cube", fontsize=9)
axes[2].legend(fontsize=8)
axes[2].tick_params(axis="x", labelrotation=45, labelsize=7)
fig.tight_layout()
fig.savefig(OUT / "quicklook_sensors.png", dpi=100)
quicklook.class_png(OUT / "truth_quicklook.png", world.truth_annual().values,
                    title="the world's land cover (truth)")

# %%
summary = {
    "sensors_in_cube": sensors_in_cube,
    "max_abs_band_difference_vs_s30": checks,
    "clear_agreement_vs_s30": clear_agree,
    "fill_agreement_vs_s30": fill_agree,
    "cube_dtypes": {v: str(cube[v].dtype) for v in cube.data_vars},
    "seconds": round(time.perf_counter() - t_start, 1),
}
(OUT / "summary.json").write_text(json.dumps(summary, indent=2))
print(f"done in {summary['seconds']} s; figures and summary.json in {OUT}")
