"""Clouds, their shadows, haze, and an Fmask that errs the way the real one does.

Clouds are thresholded fractal fields: opaque cores with thin, semi-transparent edges. The cloud
class (truth) holds where a cloud's opacity reaches 0.5. Shadows are the clouds' footprint moved
away from the sun by ``height * tan(sun zenith)``. Residual aerosol (haze) adds a smooth, blue-
heavy path reflectance. Fmask is then imperfect on purpose, at configurable rates: it misses thin
edges and small clouds, misses some shadow and calls some shadow water, calls some bright ground
cloud, and dilates cloud and shadow into its adjacency bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.landscape import BARE, BUILT, FLOODED, SNOW, WATER
from hlsmap.simulate.noise import smooth_noise

# Per band, in the order of hlsmap.simulate.spectra.ALL_BAND_NAMES (the MSI-only red edge
# and broad NIR after the 7 HLS bands); an observation rendering 7 bands uses the first 7.
#                        coastal blue  green red   nir08 swir16 swir22 | re071 re075 re078 nir
CLOUD_SPECTRUM = np.asarray(
    [0.60, 0.58, 0.56, 0.55, 0.58, 0.42, 0.29, 0.56, 0.565, 0.57, 0.575], dtype=np.float32
)
# Share of light lost in a shadow, per band (more diffuse skylight at short wavelengths).
SHADOW_DEPTH = np.asarray(
    [0.5, 0.55, 0.62, 0.68, 0.74, 0.76, 0.76, 0.70, 0.715, 0.73, 0.74], dtype=np.float32
)
HAZE_SPECTRUM = np.asarray(
    [0.13, 0.11, 0.075, 0.05, 0.025, 0.008, 0.004, 0.042, 0.036, 0.031, 0.027], dtype=np.float32
)

FMASK_CIRRUS, FMASK_CLOUD, FMASK_ADJACENT, FMASK_SHADOW = 1, 2, 4, 8
FMASK_SNOW, FMASK_WATER = 16, 32
FMASK_FILL = 255


@dataclass
class Sky:
    """The atmosphere of one observation on the region grid.

    Attributes:
        alpha: float32 cloud opacity 0..1.
        cloud: bool, the cloud class (opacity >= 0.5).
        shade: float32 0..1 shadow strength (0 where a cloud is).
        shadow: bool, shadow pixels (strength >= 0.5).
        haze: float32 aerosol optical depth.
        cover: the drawn cloud cover (share of the region).
    """

    alpha: np.ndarray
    cloud: np.ndarray
    shade: np.ndarray
    shadow: np.ndarray
    haze: np.ndarray
    cover: float


def draw_sky(
    rng: np.random.Generator,
    shape: tuple[int, int],
    mean_cover: float,
    sun_zenith: float,
    sun_azimuth: float,
    haze_scale: float = 1.0,
) -> Sky:
    """Draw clouds, shadows and haze for one observation.

    Cloud cover follows a U-shaped Beta distribution around the month's mean (many clear days,
    many overcast ones, as real cloud statistics go); cloud size varies from fair-weather
    cumulus (~1 km) to frontal decks (~10 km).
    """
    mean = float(np.clip(mean_cover, 0.0, 0.98))
    if mean <= 0.0:
        cover = 0.0
    else:
        k = 0.8  # Beta(k*m, k*(1-m)): mean m, U-shaped
        cover = float(rng.beta(k * mean + 1e-3, k * (1 - mean) + 1e-3))
        cover = 0.0 if cover < 0.015 else min(cover, 0.995)
    h, w = shape
    feature = float(rng.choice([30.0, 60.0, 120.0, 250.0]))
    edge = float(rng.uniform(0.2, 0.5))  # width of the thin edge, in field units
    height_m = float(rng.uniform(800.0, 3500.0))
    if cover > 0:
        field = smooth_noise(rng, shape, min(feature, 0.5 * max(h, w)))
        field += 0.35 * smooth_noise(rng, shape, 6.0, beta=2.5)
        thr = float(np.quantile(field, 1.0 - cover))
        alpha = np.clip(0.5 + (field - thr) / edge, 0.0, 1.0).astype(np.float32)
    else:
        alpha = np.zeros(shape, dtype=np.float32)
    cloud = alpha >= 0.5
    # Shadow: the cloud moved away from the sun (rows grow southwards), whole pixels.
    length = height_m * math.tan(math.radians(min(sun_zenith, 80.0))) / 30.0
    az = math.radians(sun_azimuth)
    drow, dcol = round(length * math.cos(az)), round(-length * math.sin(az))
    shade = _shifted(alpha, drow, dcol) if cover > 0 else np.zeros(shape, np.float32)
    shade[cloud] = 0.0
    shadow = shade >= 0.5
    aod = float(rng.lognormal(math.log(0.06), 0.6)) * haze_scale
    haze = (aod * (1.0 + 0.4 * smooth_noise(rng, shape, 0.3 * max(h, w)))).clip(0, None)
    return Sky(alpha, cloud, shade, shadow, haze.astype(np.float32), cover)


def _shifted(a: np.ndarray, drow: int, dcol: int) -> np.ndarray:
    """``a`` moved by whole pixels, zero-filled."""
    out = np.zeros_like(a)
    h, w = a.shape
    if abs(drow) >= h or abs(dcol) >= w:
        return out
    src = a[max(0, -drow) : h - max(0, drow), max(0, -dcol) : w - max(0, dcol)]
    out[max(0, drow) : h - max(0, -drow), max(0, dcol) : w - max(0, -dcol)] = src
    return out


def apply_sky(refl: np.ndarray, sky: Sky) -> np.ndarray:
    """Top-of-canopy reflectance as HLS sees it: haze, shadow and cloud applied (in place).

    ``refl`` is (7, y, x), the HLS bands, or (11, y, x) with the MSI bands after them.
    """
    n = refl.shape[0]
    shaded = np.nonzero(sky.shade > 0.0)
    if shaded[0].size:
        refl[:, shaded[0], shaded[1]] *= 1.0 - SHADOW_DEPTH[:n, None] * sky.shade[shaded][None]
    refl += HAZE_SPECTRUM[:n, None, None] * sky.haze[None]
    cloudy = np.nonzero(sky.alpha > 0.0)
    if cloudy[0].size:
        a = sky.alpha[cloudy][None]
        brightness = 0.75 + 0.3 * a  # thick cores are brighter than thin edges
        sub = refl[:, cloudy[0], cloudy[1]]
        spectrum = CLOUD_SPECTRUM[:n, None]
        refl[:, cloudy[0], cloudy[1]] = sub * (1.0 - a) + a * spectrum * brightness
    return refl


def _lowest(score: np.ndarray, where: np.ndarray, share: float) -> np.ndarray:
    """The ``share`` of ``where`` pixels with the lowest score (exactly, ties broken by order)."""
    out = np.zeros(where.shape, dtype=bool)
    idx = np.flatnonzero(where)
    k = int(round(share * idx.size))
    if k <= 0:
        return out
    if k >= idx.size:
        out.ravel()[idx] = True
        return out
    part = np.argpartition(score.ravel()[idx], k - 1)
    out.ravel()[idx[part[:k]]] = True
    return out


def simulate_fmask(
    rng: np.random.Generator,
    sky: Sky,
    classes: np.ndarray,
    inside: np.ndarray,
    config: WorldConfig,
) -> np.ndarray:
    """HLS v2.0 Fmask (uint8, 255 outside the swath) with realistic, configured errors."""
    shape = classes.shape
    blobs = smooth_noise(rng, shape, 12.0)  # errors come in patches, not salt and pepper
    cloud_true = sky.cloud & inside
    # Missed cloud: the thinnest edges and whole faint blobs go first.
    miss_score = sky.alpha + 0.35 * blobs
    missed = _lowest(miss_score, cloud_true, config.fmask_cloud_miss_rate)
    cloud_flag = cloud_true & ~missed
    bright = inside & ~sky.cloud & np.isin(classes, (SNOW, BARE, BUILT))
    false_cloud = _lowest(-blobs, bright, config.fmask_false_cloud_rate)
    cloud_flag |= false_cloud
    shadow_true = sky.shadow & inside & ~cloud_flag
    shadow_score = sky.shade + 0.3 * smooth_noise(rng, shape, 10.0)
    shadow_missed = _lowest(shadow_score, shadow_true, config.fmask_shadow_miss_rate)
    rest = shadow_true & ~shadow_missed
    as_water = _lowest(
        shadow_score,
        rest,
        config.fmask_shadow_as_water_rate / max(1e-9, 1.0 - config.fmask_shadow_miss_rate),
    )
    shadow_flag = rest & ~as_water
    fm = np.zeros(shape, dtype=np.uint8)
    fm[cloud_flag] |= FMASK_CLOUD
    fm[shadow_flag] |= FMASK_SHADOW
    if config.fmask_adjacency_px > 0:
        grown = ndimage.binary_dilation(
            cloud_flag | shadow_flag, iterations=config.fmask_adjacency_px
        )
        fm[grown & ~cloud_flag & ~shadow_flag] |= FMASK_ADJACENT
    clear_ish = ~cloud_flag
    fm[clear_ish & (classes == SNOW)] |= FMASK_SNOW
    wet_veg = (classes == FLOODED) & (blobs > 0.8)
    fm[clear_ish & ((classes == WATER) | as_water | wet_veg)] |= FMASK_WATER
    thin = inside & (sky.alpha > 0.15) & (sky.alpha < 0.5)
    fm[thin & (blobs > 0.0)] |= FMASK_CIRRUS
    # Aerosol level (bits 6-7): low / average / high from the haze optical depth.
    level = np.where(sky.haze < 0.08, 1, np.where(sky.haze < 0.2, 2, 3)).astype(np.uint8)
    fm |= (level << 6).astype(np.uint8)
    fm[~inside] = FMASK_FILL
    return fm
