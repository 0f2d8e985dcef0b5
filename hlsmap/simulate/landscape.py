"""Ground truth that does not move: terrain, water, forest, crop parcels, towns, roads, snow.

The region is laid out like a piedmont: a mountain massif rises from one corner (glaciers on top,
bare rock and alpine meadows below, forest on its slopes), a river runs along the foot of the
range, and the plain holds lakes (one of them seasonal), marshes, crop parcels, a town with its
roads, villages, woodlots, scrub and grassland. Sizes are in metres, so a 3660 px world has more
features rather than bigger ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hlsmap.simulate.climate import CLIMATES, Climate
from hlsmap.simulate.config import WorldConfig
from hlsmap.simulate.noise import quantile_mask, rng_for, smooth_noise

WATER, TREES, GRASS, FLOODED, CROPS, SCRUB, BUILT, BARE, SNOW = 1, 2, 3, 4, 5, 6, 7, 8, 9

# Zone shares of the plain per climate: (crops, woodlots, scrub) shares of the free plain.
_PLAIN_SHARES = {
    "temperate": (0.55, 0.14, 0.08),
    "tropical": (0.35, 0.1, 0.25),
    "snow": (0.2, 0.4, 0.1),
}
# Mountain slopes: (forest, scrub) shares.
_SLOPE_SHARES = {"temperate": (0.72, 0.1), "tropical": (0.55, 0.25), "snow": (0.7, 0.12)}


@dataclass
class Landscape:
    """The static world, on the region grid (all arrays (size, size)).

    Attributes:
        classes: uint8 base land cover (codes 1..9), the wet-season state before any event.
        elevation: float32 metres.
        slope_x, slope_y: float32 terrain gradients (dz/dx east, dz/dy north; m/m).
        parcel: int32 crop parcel id (0 = not a parcel).
        parcel_phase: int per parcel (index = id): its place in the crop rotation.
        parcel_jitter: int per parcel: days added to the crop calendar.
        parcel_vigour: float per parcel: peak greenness (0..1).
        deciduous: bool, deciduous forest stands.
        lake_depth: float32 relative depth of seasonal water (0 = never seasonal water); a
            pixel is dry when the water level falls below it.
        lake_dry_class: uint8 class a seasonal-water pixel shows when dry (grass or bare).
        river_dist: float32 distance to the river centreline in pixels.
        turbidity: float32 0..1 (rivers turbid, lakes clear).
        tex_fine, tex_mid: float32 unit-variance textures (pixel-scale and ~10 px).
        soil: float32 soil brightness anomaly (unit variance, smooth).
        road: bool road pixels (part of built).
    """

    classes: np.ndarray
    elevation: np.ndarray
    slope_x: np.ndarray
    slope_y: np.ndarray
    parcel: np.ndarray
    parcel_phase: np.ndarray
    parcel_jitter: np.ndarray
    parcel_vigour: np.ndarray
    deciduous: np.ndarray
    lake_depth: np.ndarray
    lake_dry_class: np.ndarray
    river_dist: np.ndarray
    turbidity: np.ndarray
    tex_fine: np.ndarray
    tex_mid: np.ndarray
    soil: np.ndarray
    road: np.ndarray


def _px(metres: float, size: int, cap: float) -> float:
    """A length in pixels: ``metres`` at 30 m, at most ``cap`` of the region (tiny worlds)."""
    return min(metres / 30.0, cap * size)


def _blob(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    radius: float,
    reach: float = 1.5,
) -> np.ndarray:
    """Normalised distance (<1 inside) to a noise-perturbed round shape.

    Only a window of ``reach`` radii around the centre is computed (9.0 elsewhere), so many
    small shapes on a 3660 px world stay cheap.
    """
    h, w = shape
    k = rng.integers(2, 5, size=3)
    ph = rng.uniform(0, 2 * np.pi, size=3)
    aspect = rng.uniform(0.65, 1.0)
    ang = rng.uniform(0, np.pi)
    out = np.full(shape, 9.0, dtype=np.float32)
    half = int(np.ceil(reach * radius)) + 1
    r0, r1 = max(0, int(centre[0]) - half), min(h, int(centre[0]) + half + 1)
    c0, c1 = max(0, int(centre[1]) - half), min(w, int(centre[1]) + half + 1)
    if r0 >= r1 or c0 >= c1:
        return out
    yy, xx = np.ogrid[r0:r1, c0:c1]
    dy, dx = yy - centre[0], xx - centre[1]
    theta = np.arctan2(dy, dx)
    wobble = 1.0 + sum(0.12 * np.sin(k[i] * theta + ph[i]) for i in range(3))
    u = dx * np.cos(ang) + dy * np.sin(ang)
    v = (-dx * np.sin(ang) + dy * np.cos(ang)) / aspect
    out[r0:r1, c0:c1] = np.sqrt(u * u + v * v) / (radius * wobble)
    return out


def _draw_line(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]) -> None:
    """Set the pixels of a straight segment (rows, cols) in ``mask``."""
    n = int(np.hypot(p1[0] - p0[0], p1[1] - p0[1]) * 2) + 2
    rr = np.clip(np.rint(np.linspace(p0[0], p1[0], n)).astype(int), 0, mask.shape[0] - 1)
    cc = np.clip(np.rint(np.linspace(p0[1], p1[1], n)).astype(int), 0, mask.shape[1] - 1)
    mask[rr, cc] = True


def _pick(rng: np.random.Generator, where: np.ndarray, avoid_edge: int = 0) -> tuple[int, int]:
    """A random pixel (row, col) inside ``where``, away from the region's edges if possible."""
    h, w = where.shape
    # Rejection sampling first: a full scan of a 3660 px mask costs ~50 ms per call.
    lo_r, hi_r = (avoid_edge, h - avoid_edge) if h > 2 * avoid_edge else (0, h)
    lo_c, hi_c = (avoid_edge, w - avoid_edge) if w > 2 * avoid_edge else (0, w)
    rows = rng.integers(lo_r, hi_r, size=4096)
    cols = rng.integers(lo_c, hi_c, size=4096)
    hit = np.flatnonzero(where[rows, cols])
    if hit.size:
        return int(rows[hit[0]]), int(cols[hit[0]])
    rr, cc = np.nonzero(where)
    if rr.size == 0:
        return h // 2, w // 2
    i = int(rng.integers(rr.size))
    return int(rr[i]), int(cc[i])


def make_landscape(config: WorldConfig) -> Landscape:
    """Build the static landscape of a world (deterministic for ``config.seed``)."""
    climate: Climate = CLIMATES[config.climate]
    n = config.size
    shape = (n, n)
    rng = rng_for(config.seed, "landscape")
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)

    # --- terrain: a massif in one corner, hills elsewhere --------------------------------
    corner = (float(rng.integers(0, 2)) * n, float(rng.integers(0, 2)) * n)
    dist_c = np.hypot(yy - corner[0], xx - corner[1]) / n  # 0 at the corner, ~1.4 opposite
    theta = np.arctan2(yy - corner[0], xx - corner[1])
    hills = smooth_noise(rng, shape, _px(4000, n, 0.3), order=3)
    ridges = 1.0 - np.abs(smooth_noise(rng, shape, _px(2500, n, 0.2), order=3))
    height = np.clip(1.0 - dist_c / 0.8, 0, None) ** 1.3 * (0.75 + 0.35 * ridges) + 0.08 * hills
    # Elevation by quantile so every world gets the same zone shares whatever its noise.
    q = np.empty(n * n, dtype=np.float32)
    q[np.argsort(height.ravel())] = np.arange(n * n, dtype=np.float32) / (n * n)
    q = q.reshape(shape)
    treeline = climate.glacier_elev - 700.0
    plain_top = climate.elev_low + 0.12 * (treeline - climate.elev_low)
    elevation = np.interp(
        q,
        [0.0, 0.6, 0.91, 0.97, 1.0],
        [climate.elev_low, plain_top, treeline, climate.glacier_elev, climate.elev_peak],
    ).astype(np.float32)
    elevation += (hills * 15.0).astype(np.float32)
    plain = q < 0.6
    slopes = (q >= 0.6) & (q < 0.91)
    alpine = (q >= 0.91) & (q < 0.97)
    glacier = q >= 0.97

    # --- river along the foot of the range ---------------------------------------------
    k1, k2 = rng.uniform(3, 6), rng.uniform(8, 14)
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    r_river = 0.78 + 0.045 * np.sin(k1 * theta + p1) + 0.015 * np.sin(k2 * theta + p2)
    river_dist = (np.abs(dist_c - r_river) * n).astype(np.float32)
    river_half = min(1.6, 0.012 * n)
    river = river_dist <= river_half

    classes = np.full(shape, GRASS, dtype=np.uint8)
    free_plain = plain & ~river

    # --- lakes: one permanent (with a seasonal margin), one seasonal --------------------
    lake_depth = np.zeros(shape, dtype=np.float32)
    lake_dry_class = np.full(shape, GRASS, dtype=np.uint8)
    lakes = np.zeros(shape, dtype=bool)
    far_plain = free_plain & (river_dist > 0.08 * n)
    margin = int(0.1 * n)
    n_lakes = max(1, round((n / 512) ** 2))
    for i in range(n_lakes):
        for seasonal in (False, False, True):
            radius = _px(1100 if not seasonal else 850, n, 0.1 if not seasonal else 0.08)
            centre = _pick(rng, far_plain & ~lakes, margin)
            d = _blob(rng, shape, centre, radius, reach=3.0)
            inside = d < 1.0
            far_plain &= d > 2.0  # keep the next lake at a distance
            lakes |= inside
            if seasonal:
                lake_depth[inside] = np.maximum(lake_depth[inside], 1.0 - d[inside])
            else:
                ring = inside & (d > 0.82)  # the seasonal margin of a permanent lake
                lake_depth[ring] = np.maximum(lake_depth[ring], (1.0 - d[ring]) / 0.18 * 0.35)
            dry_bare = inside & (d < 0.55)
            lake_dry_class[dry_bare] = BARE
        del i
    water = river | lakes
    # Flooded vegetation: marsh rings around lakes and reaches of the river bank.
    lake_ring = ndimage.binary_dilation(lakes, iterations=max(1, int(_px(240, n, 0.03)))) & ~water
    marsh_noise = smooth_noise(rng, shape, _px(600, n, 0.1))
    river_bank = (river_dist > river_half) & (river_dist < river_half + _px(300, n, 0.03))
    flooded = ((lake_ring & (marsh_noise > -0.4)) | (river_bank & (marsh_noise > 0.3))) & plain
    for _ in range(max(1, round((n / 512) ** 2))):
        marsh_c = _pick(rng, river_bank & plain, margin)
        flooded |= (_blob(rng, shape, marsh_c, _px(600, n, 0.06)) < 1.0) & plain & ~water

    # --- town, villages and roads ------------------------------------------------------
    near_river = free_plain & (river_dist > 0.03 * n) & (river_dist < 0.1 * n) & ~lakes
    # One town per ~60 km2 (the first by the river), villages around them.
    town = np.zeros(shape, dtype=bool)
    centres = []
    for k in range(max(1, round((n / 512) ** 2 / 3))):
        tc = _pick(rng, near_river if k == 0 else free_plain & ~town & ~lakes, margin)
        centres.append(tc)
        town |= _blob(rng, shape, tc, _px(1900, n, 0.11)) < 1.0
    parks = quantile_mask(smooth_noise(rng, shape, _px(300, n, 0.05)), 0.12, town)
    built = town & ~parks & ~water
    for _ in range(max(2, round(8 * (n / 512) ** 2))):
        vc = _pick(rng, free_plain & ~town & ~lakes, margin // 2)
        built |= (_blob(rng, shape, vc, _px(360, n, 0.035)) < 1.0) & ~water
    road = np.zeros(shape, dtype=bool)
    for tc in centres:
        for _ in range(3):
            edge = int(rng.integers(4))
            t = float(rng.uniform(0.1, 0.9)) * (n - 1)
            end = [(0.0, t), (n - 1.0, t), (t, 0.0), (t, n - 1.0)][edge]
            mid = (
                (tc[0] + end[0]) / 2 + rng.normal(0, 0.06 * n),
                (tc[1] + end[1]) / 2 + rng.normal(0, 0.06 * n),
            )
            _draw_line(road, (float(tc[0]), float(tc[1])), mid)
            _draw_line(road, mid, end)
    road &= ~glacier & ~alpine
    # Street grid inside the town (one street every ~200 m).
    step = max(4, int(_px(210, n, 0.05)))
    road |= town & (((yy.astype(int) % step) == 0) | ((xx.astype(int) % step) == 0))

    # --- crop parcels: strips of fields on a rotated grid ------------------------------
    shares = _PLAIN_SHARES[climate.name]
    avail = free_plain & ~water & ~built & ~flooded & ~town
    ag_noise = smooth_noise(rng, shape, _px(3000, n, 0.3))
    agri = quantile_mask(ag_noise, shares[0], avail)
    ang = float(rng.uniform(-0.35, 0.35))
    u = yy * np.cos(ang) + xx * np.sin(ang)
    v = -yy * np.sin(ang) + xx * np.cos(ang)
    span = 2 * n + 2
    row_h = rng.uniform(_px(300, n, 0.06), _px(650, n, 0.1), size=int(span // 8) + 2)
    row_edges = np.cumsum(row_h) - n
    col_w = rng.uniform(_px(240, n, 0.05), _px(900, n, 0.12), size=int(span // 6) + 2)
    col_edges = np.cumsum(col_w) - n
    prow = np.searchsorted(row_edges, u)
    shift = rng.uniform(0, _px(900, n, 0.12), size=row_edges.size + 1)
    pcol = np.searchsorted(col_edges, v + shift[prow])
    parcel = np.where(agri, prow * (col_edges.size + 1) + pcol + 1, 0)
    ids, parcel = np.unique(parcel, return_inverse=True)
    parcel = parcel.reshape(shape).astype(np.int32)
    if ids[0] != 0:  # no pixel outside parcels: ids start at 1 anyway
        parcel += 1
    n_parcels = int(parcel.max()) + 1
    parcel_phase = rng.integers(0, len(climate.crops), size=n_parcels)
    parcel_jitter = rng.integers(-14, 15, size=n_parcels)
    parcel_vigour = rng.uniform(0.75, 1.0, size=n_parcels).astype(np.float32)

    # --- forest, scrub, bare, snow ----------------------------------------------------
    veg_noise = smooth_noise(rng, shape, _px(1500, n, 0.2))
    dry_noise = smooth_noise(rng, shape, _px(1200, n, 0.2))
    rest_plain = avail & ~agri
    woods = quantile_mask(veg_noise, shares[1] / max(1e-6, 1 - shares[0]), rest_plain)
    scrub_plain = quantile_mask(
        dry_noise, shares[2] / max(1e-6, 1 - shares[0]), rest_plain & ~woods
    )
    slope_sh = _SLOPE_SHARES[climate.name]
    forest_slopes = quantile_mask(veg_noise + 0.6 * hills, slope_sh[0], slopes)
    scrub_slopes = quantile_mask(
        dry_noise, slope_sh[1] / (1 - slope_sh[0]), slopes & ~forest_slopes
    )
    rock = quantile_mask(ridges + 0.5 * dry_noise, 0.6, alpine)
    scrub_alpine = quantile_mask(dry_noise, 0.45, alpine & ~rock)
    bars = (river_dist > river_half) & (river_dist < river_half + 2.5) & (dry_noise > 0.9)
    quarry = np.zeros(shape, dtype=bool)
    for _ in range(max(2, round(4 * (n / 512) ** 2))):
        qc = _pick(rng, rest_plain & ~woods, margin // 2)
        quarry |= _blob(rng, shape, qc, _px(330, n, 0.045)) < 1.0

    classes[woods | forest_slopes] = TREES
    classes[scrub_plain | scrub_slopes | scrub_alpine] = SCRUB
    classes[agri] = CROPS
    classes[rock] = BARE
    classes[(bars | quarry) & plain & ~built] = BARE
    classes[glacier] = SNOW
    classes[flooded] = FLOODED
    classes[built | (road & ~water)] = BUILT
    classes[water] = WATER
    parcel[classes != CROPS] = 0

    deciduous = quantile_mask(
        smooth_noise(rng, shape, _px(900, n, 0.15)), climate.deciduous_share, classes == TREES
    )
    # Where seasonal water falls dry the ground shows: keep only seasonal pixels' depth.
    lake_depth[~lakes] = 0.0
    turbidity = np.where(river, 0.8, 0.15 + 0.2 * (marsh_noise > 0)).astype(np.float32)
    gy, gx = (np.asarray(g, dtype=np.float32) for g in np.gradient(elevation, 30.0))

    tex_rng = rng_for(config.seed, "texture")
    tex_fine = tex_rng.standard_normal(shape).astype(np.float32)
    tex_mid = smooth_noise(tex_rng, shape, 10.0, beta=2.0)
    soil = smooth_noise(tex_rng, shape, _px(1500, n, 0.2))
    return Landscape(
        classes=classes,
        elevation=elevation,
        slope_x=gx,
        slope_y=-gy,
        parcel=parcel,
        parcel_phase=parcel_phase,
        parcel_jitter=parcel_jitter,
        parcel_vigour=parcel_vigour,
        deciduous=deciduous,
        lake_depth=lake_depth,
        lake_dry_class=lake_dry_class,
        river_dist=river_dist,
        turbidity=turbidity,
        tex_fine=tex_fine,
        tex_mid=tex_mid,
        soil=soil,
        road=road & (classes == BUILT),
    )
