"""One observation of the region: surface state -> reflectance -> sky -> sensor -> HLS values.

Everything here happens on the region grid; the writer then cuts the result into the tiles'
granules, so the pixels two overlapping granules share are identical, as in real HLS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hlsmap.classes import CLOUD, NODATA
from hlsmap.simulate.atmosphere import apply_sky, draw_sky, simulate_fmask
from hlsmap.simulate.climate import CLIMATES
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.events import ChangeEvent
from hlsmap.simulate.landscape import Landscape
from hlsmap.simulate.noise import rng_for
from hlsmap.simulate.schedule import Observation
from hlsmap.simulate.spectra import (
    N_ALL,
    N_HLS,
    SENSOR_GAIN,
    SENSOR_NOISE,
    surface_reflectance,
    terrain_illumination,
)
from hlsmap.simulate.truth import surface_state

FILL = -9999


@dataclass
class Rendered:
    """One observation on the region grid.

    Attributes:
        bands: int16 (7, y, x) reflectance * 10000 (coastal, blue, green, red, nir08, swir16,
            swir22), -9999 outside the swath; (11, y, x) with rededge071, rededge075,
            rededge078 and nir after them for an S30 observation of a ``red_edge`` world.
        fmask: uint8 (y, x) HLS v2.0 Fmask, 255 outside the swath.
        truth: uint8 (y, x) class codes, 10 where a cloud stands, 0 outside the swath.
        cloud_cover: the share of observed pixels under cloud (truth).
    """

    bands: np.ndarray
    fmask: np.ndarray
    truth: np.ndarray
    cloud_cover: float


def _psf(refl: np.ndarray, sigma: float) -> None:
    """Blur (bands, y, x) in place with the sensor's point-spread function (3-tap Gaussian).

    The PSF mixes neighbouring pixels, so class edges get mixed pixels as in real imagery.
    """
    side = float(np.exp(-0.5 / sigma**2))
    w_side = side / (1.0 + 2.0 * side)
    w_mid = 1.0 - 2.0 * w_side
    for axis in (1, 2):
        src = refl.copy()
        refl *= w_mid
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        refl[tuple(lo)] += w_side * src[tuple(hi)]
        refl[tuple(hi)] += w_side * src[tuple(lo)]
        # Edges: repeat the border pixel (mode "nearest").
        first = [slice(None)] * 3
        last = [slice(None)] * 3
        first[axis], last[axis] = slice(0, 1), slice(-1, None)
        refl[tuple(first)] += w_side * src[tuple(first)]
        refl[tuple(last)] += w_side * src[tuple(last)]


def n_bands(config: WorldConfig, sensor: str) -> int:
    """How many bands an observation renders: 11 for S30 in a ``red_edge`` world, else 7."""
    return N_ALL if config.red_edge and sensor == "S30" else N_HLS


def render(
    config: WorldConfig, land: Landscape, events: list[ChangeEvent], obs: Observation
) -> Rendered:
    """Render observation ``obs`` of the world (deterministic for the seed and obs index)."""
    climate = CLIMATES[config.climate]
    rng = rng_for(config.seed, "observation", obs.index)
    date = obs.datetime.date()
    doy = date.timetuple().tm_yday
    classes, snow = surface_state(land, events, climate, date)
    n = n_bands(config, obs.sensor)
    refl = surface_reflectance(
        land, classes, snow, climate, date.year, doy, config.noise_scale, n_bands=n
    )
    refl *= terrain_illumination(land, obs.sun_zenith, obs.sun_azimuth)[None]
    if config.psf_sigma > 0:
        _psf(refl, config.psf_sigma)
    mean_cover = climate.cloud_by_month[date.month - 1] * config.cloud_scale
    sky = draw_sky(
        rng, classes.shape, mean_cover, obs.sun_zenith, obs.sun_azimuth, config.haze_scale
    )
    apply_sky(refl, sky)
    # Sensor: residual bandpass difference, per-scene calibration/BRDF residual, noise. The
    # MSI bands draw from a stream of their own, so the 7 HLS bands and the Fmask of a world
    # are the same bytes with or without them.
    draws = [(rng, slice(0, N_HLS))]
    if n > N_HLS:
        draws.append((rng_for(config.seed, "observation-msi", obs.index), slice(N_HLS, n)))
    for stream, sel in draws:
        size = sel.stop - sel.start
        residual = (1.0 + stream.normal(0.0, 0.012, size=size)).astype(np.float32)
        refl[sel] *= (SENSOR_GAIN[obs.sensor][sel] * residual)[:, None, None]
    for stream, sel in draws:
        noise = stream.standard_normal((sel.stop - sel.start, *refl.shape[1:]), np.float32)
        noise *= (SENSOR_NOISE[obs.sensor][sel] * config.noise_scale)[:, None, None]
        refl[sel] += noise
    inside = obs.swath_mask(classes.shape)
    bands = np.clip(np.rint(refl * 10000.0), -100, 16000).astype(np.int16)
    bands[:, ~inside] = FILL
    fmask = simulate_fmask(rng, sky, classes, inside, config)
    truth = classes.copy()
    truth[sky.cloud] = CLOUD
    truth[~inside] = NODATA
    observed = int(inside.sum())
    cover = float((sky.cloud & inside).sum() / observed) if observed else 0.0
    return Rendered(bands, fmask, truth, cover)
