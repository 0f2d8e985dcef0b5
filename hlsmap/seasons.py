"""Wet/dry seasons: given as month ranges, or detected from a cube's own NDVI/MNDWI.

Detection reduces an index (NDVI for greenness - the default -, MNDWI for wetness, or both
z-scored and averaged) to a 12-month regional climatology (:func:`pixel_climatology`: per-pixel
monthly medians, averaged over the region; months without data are filled by circular
interpolation) and splits it:

- ``length=6`` (default): the wet season is the contiguous 6-month window (wrapping the year
  end) with the highest mean of the climatology's *annual cycle* (:func:`annual_cycle`: its
  mean and first annual harmonic), the dry season the complementary 6 months. Other lengths
  give the highest- and lowest-mean ``length``-month windows that do not overlap.
- ``length=None``: split the lightly smoothed cycle at the midpoint between its lowest and
  highest month; wet = the longest run of months above it, dry = the longest run below (seasons
  of unequal length; a sharply peaked greenness cycle gives a short wet season).

Why the annual harmonic rather than the raw monthly means: a window mean of 12 noisy monthly
values is decided by the months at its two ends, so a skewed cycle or one odd month moves it.
Vegetation greens up fast when the rains come and browns down slowly after them (deciduous
trees keep their leaves for weeks), clouds that Fmask misses depress NDVI (and raise MNDWI)
most in the cloudiest months, and a month with few clear observations sees another mix of
pixels. On the synthetic tropical world (rains Nov-Apr) the regional NDVI peaks in
January-February, but its trees stay in leaf through May while November is half green: May
out-greens November by 0.01-0.02 and the raw means pick Dec-May, in both years, by under 1%. The
phase of the first annual harmonic - the standard timing measure of harmonic analysis of NDVI
series (HANTS; Jakubauskas et al. 2001) - weighs all twelve months: it peaks in early February
there, and the six months centred on it are Nov-Apr. A tail or one odd month shifts it by days,
not by a month, and on real single-season climates, whose greenness follows the rains within a
few weeks, it finds the same season. No lag is assumed: correcting greenness for a fixed
vegetation response time (rain ~ g + tau * dg/dt) would be right for one biome and wrong for the
next - on this world even tau = half a month overshoots to Oct-Mar. Climates with two rainy
seasons a year (bimodal East Africa) are not two halves; give their seasons with ``--season``
(``length=None`` shows the runs above the midpoint).

Nothing assumes a hemisphere: a southern-hemisphere cycle simply gives other months. The
months found are reported (:meth:`SeasonWindows.describe`, ``seasons.json``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import xarray as xr

from hlsmap.errors import ConfigError
from hlsmap.periods import Period, month_range, parse_season

Index = Literal["ndvi", "mndwi", "both"]
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class SeasonWindows:
    """Named seasons as month ranges, and how they were found.

    Attributes:
        windows: ``{name: (first month, last month)}``, e.g. ``{"wet": (11, 4)}``.
        method: ``"given"`` or ``"detected"``.
        index: the index used for detection (``None`` when given).
        monthly: the 12-month climatology used for detection (January first), else ``None``.
    """

    windows: dict[str, tuple[int, int]]
    method: str = "given"
    index: str | None = None
    monthly: tuple[float, ...] | None = field(default=None)

    def months(self, name: str) -> tuple[int, ...]:
        """The calendar months of season ``name``."""
        if name not in self.windows:
            raise ConfigError(f"no season {name!r}; known: {sorted(self.windows)}")
        return month_range(*self.windows[name])

    def periods(self, year: int, wrap: Literal["within", "span"] = "within") -> list[Period]:
        """The seasons of ``year`` as :class:`Period` objects."""
        return [Period.season(n, w, year, wrap=wrap) for n, w in self.windows.items()]

    def describe(self) -> str:
        """One line per season, e.g. ``wet: Nov-Apr (11-04), detected from ndvi``."""
        lines = []
        for name, (a, b) in self.windows.items():
            text = f"{name}: {_MONTH_NAMES[a - 1]}-{_MONTH_NAMES[b - 1]} ({a:02d}-{b:02d})"
            if self.method == "detected":
                text += f", detected from {self.index}"
            lines.append(text)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for reports and STAC properties)."""
        return {
            "method": self.method,
            "index": self.index,
            "windows": {
                n: {"months": list(month_range(*w)), "first": w[0], "last": w[1]}
                for n, w in self.windows.items()
            },
            "monthly": None if self.monthly is None else [round(v, 4) for v in self.monthly],
        }


def given_seasons(specs: Iterable[str] | Mapping[str, tuple[int, int]]) -> SeasonWindows:
    """Seasons from ``--season`` texts (``["wet=11-04", "dry=05-10"]``) or a mapping."""
    if isinstance(specs, Mapping):
        windows = {str(k): (int(v[0]), int(v[1])) for k, v in specs.items()}
        for w in windows.values():
            month_range(*w)  # validates
    else:
        windows = dict(parse_season(s) for s in specs)
    if not windows:
        raise ConfigError("give at least one season, e.g. --season wet=11-04")
    return SeasonWindows(windows)


def monthly_climatology(times: Any, values: Any, min_months: int = 4) -> np.ndarray:
    """Mean value per calendar month (January first); empty months interpolated circularly.

    Raises:
        ConfigError: fewer than ``min_months`` months hold data.
    """
    t = np.asarray(times).astype("datetime64[M]")
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v)
    month = (t.astype(np.int64) % 12)[keep]
    sums = np.bincount(month, weights=v[keep], minlength=12)
    counts = np.bincount(month, minlength=12)
    have = counts > 0
    if have.sum() < min_months:
        raise ConfigError(
            f"only {int(have.sum())} calendar months hold clear observations; season detection"
            f" needs at least {min_months}: give the seasons with --season wet=MM-MM instead"
        )
    clim = np.full(12, np.nan)
    clim[have] = sums[have] / counts[have]
    return fill_months(clim, min_months)


def fill_months(clim: np.ndarray, min_months: int = 4) -> np.ndarray:
    """Fill NaN months of a 12-month climatology by circular linear interpolation."""
    clim = np.asarray(clim, np.float64)
    have = np.isfinite(clim)
    if have.sum() < min_months:
        raise ConfigError(
            f"only {int(have.sum())} calendar months hold clear observations; season detection"
            f" needs at least {min_months}: give the seasons with --season wet=MM-MM instead"
        )
    x = np.arange(12)
    xp = np.concatenate([x[have] - 12, x[have], x[have] + 12])
    return np.interp(x, xp, np.tile(clim[have], 3))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Circular runs of True in a 12-month mask as ``(start index, length)``."""
    if mask.all():
        return [(0, 12)]
    start = int(np.argmin(mask))  # a False month: runs cannot cross it
    runs, cur = [], None
    for k in range(1, 13):
        i = (start + k) % 12
        if mask[i]:
            cur = (i, 1) if cur is None else (cur[0], cur[1] + 1)
        elif cur is not None:
            runs.append(cur)
            cur = None
    if cur is not None:
        runs.append(cur)
    return runs


def _window(start: int, length: int) -> tuple[int, int]:
    return start + 1, (start + length - 1) % 12 + 1


def annual_cycle(clim: np.ndarray, harmonics: int = 1) -> np.ndarray:
    """A 12-month climatology reduced to its mean and first ``harmonics`` annual harmonics
    (``harmonics=6`` returns it unchanged): the smooth cycle the season windows are cut from."""
    if not 1 <= harmonics <= 6:
        raise ConfigError(f"harmonics must be 1..6, not {harmonics}")
    spec = np.fft.rfft(np.asarray(clim, dtype=np.float64))
    spec[harmonics + 1 :] = 0
    return np.fft.irfft(spec, 12)


def split_seasons(
    clim: np.ndarray, length: int | None = 6, harmonics: int = 1
) -> dict[str, tuple[int, int]]:
    """Wet and dry windows of a 12-month climatology (higher = wetter/greener).

    ``length`` months: windows of :func:`annual_cycle` ``(clim, harmonics)`` (see the module
    notes); ``length=None``: runs above/below the midpoint of the lightly smoothed climatology.
    """
    c = np.asarray(clim, dtype=np.float64)
    if np.ptp(c) <= 1e-9 * max(1.0, float(np.abs(c).max())):
        raise ConfigError("the regional series has no seasonal cycle; give --season explicitly")
    if length is not None:
        if not 1 <= length <= 6:
            raise ConfigError(f"season length {length} must be 1..6 months")
        c = annual_cycle(c, harmonics)
        means = np.array(
            [np.mean(np.take(c, range(s, s + length), mode="wrap")) for s in range(12)]
        )
        wet = int(np.argmax(means))
        wet_months = {(wet + i) % 12 for i in range(length)}
        order = [
            s
            for s in np.argsort(means, kind="stable")
            if not wet_months & {(s + i) % 12 for i in range(length)}
        ]
        return {"wet": _window(wet, length), "dry": _window(int(order[0]), length)}
    smooth = (np.roll(c, 1) + 2 * c + np.roll(c, -1)) / 4
    mid = (smooth.max() + smooth.min()) / 2
    out = {}
    for name, mask, pick in (("wet", smooth >= mid, np.max), ("dry", smooth < mid, np.min)):
        # longest run; among equals, the one reaching the more extreme month
        runs = _runs(mask)
        best = max(
            runs,
            key=lambda r: (
                r[1],
                abs(pick(np.take(smooth, range(r[0], r[0] + r[1]), mode="wrap")) - mid),
            ),
        )
        out[name] = _window(*best)
    return out


def detect_from_series(
    times: Any, values: Any, index: str = "ndvi", length: int | None = 6
) -> SeasonWindows:
    """Detect wet/dry seasons from a regional series (one value per observation)."""
    clim = monthly_climatology(times, values)
    return SeasonWindows(
        split_seasons(clim, length),
        method="detected",
        index=index,
        monthly=tuple(float(v) for v in clim),
    )


def _clear(cube: xr.Dataset) -> xr.DataArray:
    """Clear pixels per the HLS Fmask contract: not fill and bits 1-3 (cloud, adjacent, shadow)
    unset. Reflectance > 0 is checked per index."""
    fm = cube["fmask"]
    return (fm != 255) & ((fm & 0b1110) == 0)


def _normalized_difference(a: xr.DataArray, b: xr.DataArray, clear: xr.DataArray) -> xr.DataArray:
    """``(a - b) / (a + b)`` where clear and both positive, else NaN (no division warnings)."""
    ok = clear & (a > 0) & (b > 0)
    a = a.astype(np.float32).where(ok)
    b = b.astype(np.float32).where(ok)
    return (a - b) / (a + b)


def _indices(cube: xr.Dataset, index: str) -> dict[str, xr.DataArray]:
    missing = [b for b in ("red", "green", "nir08", "swir16", "fmask") if b not in cube]
    if missing:
        raise ConfigError(f"season detection needs the cube bands {missing}; load them too")
    clear = _clear(cube)
    out = {}
    if index in ("ndvi", "both"):
        out["ndvi"] = _normalized_difference(cube["nir08"], cube["red"], clear)
    if index in ("mndwi", "both"):
        out["mndwi"] = _normalized_difference(cube["green"], cube["swir16"], clear)
    if not out:
        raise ConfigError(f"unknown index {index!r}; choose ndvi, mndwi or both")
    return out


def regional_series(cube: xr.Dataset, index: Index = "both") -> tuple[np.ndarray, np.ndarray]:
    """Regional mean index per observation over clear pixels: ``(times, values)``.

    ``ndvi`` = (nir08 - red) / (nir08 + red); ``mndwi`` = (green - swir16) / (green + swir16);
    ``both`` = the mean of the two after z-scoring each. This is the series an inference run
    can store with its predictions (one number per observation); :func:`detect_seasons` uses
    the less biased :func:`pixel_climatology` instead.
    """
    with np.errstate(all="ignore"):
        computed = {
            k: np.asarray(v.mean(dim=("y", "x")).compute().values, np.float64)
            for k, v in _indices(cube, index).items()
        }
    return cube["time"].values, combine_indices(computed)


def pixel_climatology(cube: xr.Dataset, index: Index = "ndvi") -> np.ndarray:
    """12-month regional climatology of an index, free of sampling bias.

    Each pixel's median per calendar month first (robust to the clouds Fmask misses), then the
    regional mean over the pixels seen in every observed month: a partial swath or a cloudy
    month that sees only part of the region would otherwise shift the regional value with the
    land cover it happens to see.
    """
    clims = {}
    for name, nd in _indices(cube, index).items():
        month = nd["time"].dt.month
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # a pixel with no clear observation in a month has no median: NaN, said here once
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            per = nd.groupby(month).median("time", skipna=True).compute()
        full = np.full((12, *per.shape[1:]), np.nan)
        full[np.asarray(per[per.dims[0]].values, int) - 1] = per.values
        seen = np.isfinite(full)
        n_months = int(seen.any(axis=(1, 2)).sum())
        good = seen.sum(axis=0) >= n_months
        if good.mean() < 0.05:  # too few pixels seen every month: take what each month saw
            good = seen.any(axis=0)
        # nanmean warns "Mean of empty slice" for a month no good pixel saw: sum / count
        # gives the same values and NaN there, which fill_months interpolates
        vals = full[:, good]
        n = np.isfinite(vals).sum(axis=1)
        total = np.where(np.isfinite(vals), vals, 0.0).sum(axis=1)
        clims[name] = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return combine_indices(clims)


def combine_indices(series: Mapping[str, np.ndarray]) -> np.ndarray:
    """One series from one or more: z-score each (ignoring NaN) and average."""
    if len(series) == 1:
        return np.asarray(next(iter(series.values())), np.float64)
    zs = []
    for v in series.values():
        v = np.asarray(v, np.float64)
        sd = np.nanstd(v)
        zs.append((v - np.nanmean(v)) / (sd if sd > 0 else 1.0))
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack(zs), axis=0)


def detect_seasons(
    cube: xr.Dataset, index: Index = "ndvi", length: int | None = 6
) -> SeasonWindows:
    """Detect wet/dry seasons from a cube's own NDVI/MNDWI (see :func:`pixel_climatology` and
    the module notes for ``length``)."""
    clim = fill_months(pixel_climatology(cube, index))
    return SeasonWindows(
        split_seasons(clim, length),
        method="detected",
        index=index,
        monthly=tuple(float(v) for v in clim),
    )
