"""Surface reflectance: each pixel is a linear mixture of endmember spectra.

Endmembers are typical surface reflectances for the 7 HLS bands (coastal, blue, green, red,
nir08, swir16, swir22), in the ranges of the USGS spectral library and the ASTER/ECOSTRESS
library resampled to OLI: green leaves (red ~0.04, NIR ~0.4, SWIR1 ~0.2), conifer canopy (darker
NIR), dry grass and residue (red ~0.15, SWIR1 ~0.36), moist and dry soils, rock, clear and
turbid water (NIR < 0.04, SWIR < 0.01), snow (visible ~0.85, SWIR1 < 0.1), roofs, concrete
and asphalt. A class is a recipe of abundances that follows phenology (green share), terrain
(rock vs soil), texture (canopy gaps, shrubs on soil, roofs and gardens) and snow.

Sentinel-2 MSI has four more bands S30 granules carry (:data:`MSI_BAND_NAMES`): the red edge
B05 (705 nm), B06 (740 nm), B07 (783 nm) and the broad NIR B08 (842 nm, 785-900). The same
endmembers give them: green leaves climb the red edge steeply (B05 ~0.13, a little above red;
B06 ~0.33; B07 ~0.41, close to the NIR plateau) and B08 sits just under the narrow B8A; dry
vegetation, soils, rock and built surfaces rise gently and almost linearly from red to NIR;
water keeps falling; snow falls slowly from its visible high. They are computed only for
observations that write them (``n_bands`` = 11).
"""

from __future__ import annotations

import numpy as np

from hlsmap.sensors.base import MSI_BANDS
from hlsmap.simulate.climate import Climate
from hlsmap.simulate.landscape import (
    BARE,
    BUILT,
    CROPS,
    FLOODED,
    GRASS,
    SCRUB,
    SNOW,
    TREES,
    WATER,
    Landscape,
)
from hlsmap.simulate.phenology import crop_cover, grass_greenness, leaf_on

BAND_NAMES = ("coastal", "blue", "green", "red", "nir08", "swir16", "swir22")
#: The MSI-only bands, after :data:`BAND_NAMES` in a rendered array (hlsmap.sensors' names).
MSI_BAND_NAMES: tuple[str, ...] = MSI_BANDS
ALL_BAND_NAMES = BAND_NAMES + MSI_BAND_NAMES
N_HLS, N_ALL = len(BAND_NAMES), len(ALL_BAND_NAMES)

#              coastal blue   green  red    nir08  swir16 swir22 | rededge071 075 078, nir
ENDMEMBERS: dict[str, tuple[float, ...]] = {
    "leaf": (0.030, 0.035, 0.080, 0.040, 0.430, 0.215, 0.095, 0.135, 0.330, 0.410, 0.421),
    "conifer": (0.020, 0.022, 0.048, 0.026, 0.270, 0.125, 0.052, 0.075, 0.200, 0.255, 0.263),
    "dry_veg": (0.060, 0.075, 0.110, 0.150, 0.270, 0.365, 0.265, 0.185, 0.220, 0.250, 0.262),
    "soil_moist": (0.045, 0.055, 0.085, 0.115, 0.165, 0.245, 0.205, 0.130, 0.142, 0.152, 0.160),
    "soil_dry": (0.095, 0.115, 0.175, 0.250, 0.315, 0.430, 0.370, 0.272, 0.288, 0.300, 0.308),
    "rock": (0.115, 0.125, 0.155, 0.185, 0.235, 0.285, 0.250, 0.200, 0.212, 0.222, 0.230),
    "water": (0.045, 0.040, 0.042, 0.020, 0.010, 0.006, 0.004, 0.016, 0.013, 0.012, 0.011),
    "water_turbid": (0.065, 0.070, 0.098, 0.085, 0.038, 0.011, 0.007, 0.075, 0.060, 0.050, 0.044),
    "snow": (0.890, 0.880, 0.860, 0.830, 0.730, 0.090, 0.070, 0.815, 0.790, 0.765, 0.745),
    "roof": (0.140, 0.150, 0.170, 0.195, 0.240, 0.290, 0.265, 0.210, 0.222, 0.232, 0.237),
    "asphalt": (0.055, 0.060, 0.070, 0.080, 0.105, 0.135, 0.125, 0.088, 0.094, 0.100, 0.103),
}
_E = {k: np.asarray(v, dtype=np.float32) for k, v in ENDMEMBERS.items()}
# shadow inside a pixel (canopy gaps, buildings) is modelled as a missing share: zero spectrum.

# Residual differences between sensors after HLS harmonisation (bandpass + BRDF residuals):
# S30 relative to L30, per band, and sensor noise (reflectance units, 1 sigma). L30 has no
# MSI band; its entries there are never used.
SENSOR_GAIN = {
    "L30": np.ones(N_ALL, dtype=np.float32),
    "S30": np.asarray(
        [1.01, 1.015, 1.005, 0.99, 1.01, 0.995, 0.985, 1.0, 1.005, 1.01, 1.005], dtype=np.float32
    ),
}
SENSOR_NOISE = {
    "L30": np.asarray(
        [0.0035, 0.003, 0.0025, 0.0025, 0.004, 0.003, 0.0025, 0, 0, 0, 0], dtype=np.float32
    ),
    "S30": np.asarray(
        [0.0045, 0.0035, 0.003, 0.003, 0.0035, 0.003, 0.003, 0.003, 0.003, 0.0035, 0.003],
        dtype=np.float32,
    ),
}


def _mix(parts: dict[str, np.ndarray], n_bands: int = N_HLS) -> np.ndarray:
    """Sum of abundance * endmember spectrum -> (n_bands, n) reflectance."""
    out = None
    for name, ab in parts.items():
        term = _E[name][:n_bands, None] * ab[None, :].astype(np.float32)
        out = term if out is None else out + term
    assert out is not None
    return out


def surface_reflectance(
    land: Landscape,
    classes: np.ndarray,
    snow: np.ndarray,
    climate: Climate,
    year: int,
    doy: float,
    noise_scale: float = 1.0,
    n_bands: int = N_HLS,
) -> np.ndarray:
    """Noise-free-of-sensor surface reflectance (n_bands, y, x) float32 of the given surface
    state: the 7 HLS bands of :data:`BAND_NAMES`, then (``n_bands=11``) the MSI ones."""
    h, w = classes.shape
    refl = np.zeros((n_bands, h, w), dtype=np.float32)
    tf = land.tex_fine * noise_scale
    tm = land.tex_mid * noise_scale
    green = grass_greenness(climate, doy)
    leaves = leaf_on(climate, doy)
    crop_g, crop_d = crop_cover(
        climate, year, doy, land.parcel_phase, land.parcel_jitter, land.parcel_vigour
    )
    tropical = climate.name == "tropical"

    # Pixel indices per class from one counting sort (faster than 9 boolean scans).
    flat = classes.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=10))])
    flat_refl = refl.reshape(n_bands, -1)

    def put(code: int, fn) -> None:  # type: ignore[no-untyped-def]
        sel = order[bounds[code] : bounds[code + 1]]
        if sel.size:
            flat_refl[:, sel] = fn(np.unravel_index(sel, (h, w)))

    def water(idx):  # type: ignore[no-untyped-def]
        turb = np.clip(land.turbidity[idx] + 0.12 * tm[idx], 0.0, 1.0)
        weed = np.clip(0.02 + 0.02 * tf[idx], 0.0, 0.06)
        return _mix(
            {"water": (1 - turb) * (1 - weed), "water_turbid": turb * (1 - weed), "leaf": weed},
            n_bands,
        )

    def trees(idx):  # type: ignore[no-untyped-def]
        dec = land.deciduous[idx]
        gap = np.clip(0.22 + 0.07 * tf[idx] + 0.05 * tm[idx], 0.05, 0.45)
        canopy = 1.0 - gap
        ground_snow = snow[idx]
        leaf_share = np.where(dec, leaves, 1.0)
        lit_gap = gap * 0.35  # part of a gap is sunlit ground (snow, soil or litter)
        bare_branches = np.where(dec, canopy * (1 - leaf_share), 0.0)
        # Evergreens: conifers in temperate and boreal climates, broadleaf in the tropics
        # (a little darker than a crop canopy: deeper shadows between crowns).
        evergreen = np.where(dec, 0.0, canopy)
        parts = {
            "conifer": evergreen if not tropical else np.zeros_like(canopy),
            "leaf": np.where(dec, canopy * leaf_share * 0.88, 0.0)
            + (evergreen * 0.8 if tropical else 0.0),
            "dry_veg": bare_branches * 0.45 + np.where(ground_snow, 0.0, lit_gap * 0.5),
            "soil_moist": bare_branches * 0.2 + np.where(ground_snow, 0.0, lit_gap * 0.5),
            "snow": np.where(ground_snow, lit_gap + bare_branches * 0.5, 0.0),
        }
        return _mix(parts, n_bands)

    def grass(idx):  # type: ignore[no-untyped-def]
        g = np.clip(green + 0.06 * tm[idx], 0.02, 1.0)
        cover = np.clip(0.9 + 0.04 * tm[idx] + 0.02 * tf[idx], 0.6, 1.0)
        soil_dry = np.clip(0.5 + 0.3 * land.soil[idx], 0.0, 1.0)
        return _mix(
            {
                "leaf": g * cover * 0.95,
                "dry_veg": (1 - g) * cover,
                "soil_dry": (1 - cover) * soil_dry,
                "soil_moist": (1 - cover) * (1 - soil_dry),
            },
            n_bands,
        )

    def flooded(idx):  # type: ignore[no-untyped-def]
        g = np.clip(0.45 + 0.55 * green + 0.05 * tm[idx], 0.1, 1.0)
        wet = np.clip(0.45 + 0.08 * tm[idx] + 0.05 * tf[idx], 0.25, 0.7)
        veg = 1.0 - wet
        return _mix({"water": wet, "leaf": veg * g * 0.85, "dry_veg": veg * (1 - g) * 0.8}, n_bands)

    def crops(idx):  # type: ignore[no-untyped-def]
        pid = land.parcel[idx]
        g = np.clip(crop_g[pid] * (1 + 0.03 * tf[idx]), 0.0, 1.0)
        d = np.clip(crop_d[pid] * (1 + 0.05 * tf[idx]), 0.0, 1.0 - g)
        soil = np.clip(1.0 - g - d, 0.0, 1.0)
        # Tilled fields are darker (moist, rough) than natural bare ground.
        dry_share = np.clip(0.25 + 0.15 * land.soil[idx], 0.0, 0.6)
        return _mix(
            {
                "leaf": g,
                "dry_veg": d,
                "soil_moist": soil * (1 - dry_share),
                "soil_dry": soil * dry_share,
            },
            n_bands,
        )

    def scrub(idx):  # type: ignore[no-untyped-def]
        shrub = np.clip(0.42 + 0.18 * tf[idx] + 0.08 * tm[idx], 0.1, 0.8)
        g = 0.45 + 0.4 * green
        shade = shrub * 0.3
        ground = 1.0 - shrub
        return _mix(
            {
                "leaf": (shrub - shade) * g * 0.8,
                "dry_veg": (shrub - shade) * (1 - g) + ground * 0.2,
                "soil_dry": ground * 0.8,
            },
            n_bands,
        )

    def built(idx):  # type: ignore[no-untyped-def]
        road = land.road[idx]
        veg = np.clip(0.15 + 0.12 * tf[idx] + 0.05 * tm[idx], 0.0, 0.45)
        veg = np.where(road, veg * 0.4, veg)
        shade = np.clip(0.14 + 0.06 * tf[idx], 0.02, 0.3)
        hard = 1.0 - veg - shade
        roof_share = np.where(road, 0.15, np.clip(0.7 + 0.15 * tf[idx], 0.3, 1.0))
        parts = {
            "roof": hard * roof_share,
            "asphalt": hard * (1 - roof_share),
            "leaf": veg * (0.4 + 0.6 * green),
            "dry_veg": veg * 0.6 * (1 - green),
        }
        snowy = snow[idx]
        if snowy.any():
            parts["snow"] = np.where(snowy, veg * 0.8, 0.0)
            parts["leaf"] = np.where(snowy, 0.0, parts["leaf"])
            parts["dry_veg"] = np.where(snowy, veg * 0.2, parts["dry_veg"])
        return _mix(parts, n_bands)

    def bare(idx):  # type: ignore[no-untyped-def]
        high = land.elevation[idx] > np.quantile(land.elevation, 0.85)
        seasonal_bed = land.lake_depth[idx] > 0
        dry = np.clip(0.85 + 0.1 * land.soil[idx] + 0.04 * tm[idx], 0.5, 1.0)
        litter = np.clip(0.04 + 0.03 * tf[idx], 0.0, 0.1)
        return _mix(
            {
                "rock": np.where(high, 1.0 - litter, 0.0),
                "soil_dry": np.where(high, 0.0, np.where(seasonal_bed, 0.6, dry) * (1 - litter)),
                "soil_moist": np.where(
                    high, 0.0, np.where(seasonal_bed, 0.4, 1 - dry) * (1 - litter)
                ),
                "dry_veg": litter,
            },
            n_bands,
        )

    def snowy(idx):  # type: ignore[no-untyped-def]
        share = np.clip(0.9 + 0.05 * tm[idx] + 0.02 * tf[idx], 0.6, 1.0)
        age = np.clip(0.9 + 0.05 * tm[idx], 0.7, 1.0)  # old, dirty snow is darker
        return _mix({"snow": share * age, "rock": (1 - share)}, n_bands)

    for code, fn in (
        (WATER, water),
        (TREES, trees),
        (GRASS, grass),
        (FLOODED, flooded),
        (CROPS, crops),
        (SCRUB, scrub),
        (BUILT, built),
        (BARE, bare),
        (SNOW, snowy),
    ):
        put(code, fn)
    # Within-class brightness variability (illumination, moisture, density).
    refl *= (1.0 + 0.04 * noise_scale * land.tex_mid)[None]
    return refl


def terrain_illumination(
    land: Landscape, sun_zenith_deg: float, sun_azimuth_deg: float
) -> np.ndarray:
    """Relative direct illumination of sloped terrain (HLS corrects BRDF, not terrain)."""
    z = np.deg2rad(sun_zenith_deg)
    a = np.deg2rad(sun_azimuth_deg)
    sx, sy = land.slope_x, land.slope_y  # dz/dx east, dz/dy north
    norm = np.sqrt(1.0 + sx * sx + sy * sy)
    # Unit normal (-sx, -sy, 1)/norm; sun vector (sin z sin a, sin z cos a, cos z).
    cos_i = (-sx * np.sin(z) * np.sin(a) - sy * np.sin(z) * np.cos(a) + np.cos(z)) / norm
    # Damped: part of the light is diffuse, and HLS's BRDF normalisation evens out some of it.
    factor = 1.0 + 0.45 * (np.clip(cos_i, 0.0, None) / np.cos(z) - 1.0)
    return np.clip(factor, 0.55, 1.35).astype(np.float32)
