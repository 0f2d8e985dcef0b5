"""The on-disk format of per-observation predictions, read by consensus and alerts.

A predictions file is a Zarr (v3) store written through xarray, one per tile of the output grid:

==============  ===================================  ==========================================
variable        dtype, dims                          meaning
==============  ===================================  ==========================================
``probs``       uint8 ``(time, y, x, class)``        class probability * 255; ``class`` = codes
                                                     1..10 (index ``i`` is code ``i + 1``)
``valid``       bool ``(time, y, x)``                observed and clear (Fmask and model cloud)
``observed``    bool ``(time, y, x)``                inside the swath and not fill
``time``        datetime64 ``(time,)``               acquisition time (UTC)
``sensor``      str ``(time,)``, optional            ``"L30"``, ``"S30"``, ...
``ndvi``        float32 ``(time,)``, optional        regional mean NDVI of clear pixels
``mndwi``       float32 ``(time,)``, optional        regional mean MNDWI of clear pixels
``y``, ``x``    float64                              pixel-centre coordinates of the GeoBox
==============  ===================================  ==========================================

Attributes: ``hlsmap_format = "predictions"``, ``hlsmap_format_version = 1``, ``crs`` (WKT),
``transform`` (the 6 affine coefficients ``a, b, c, d, e, f``), ``scheme = "v1"``.
``ndvi``/``mndwi`` are optional: when present, ``hlsmap consensus --season auto`` detects wet/dry
seasons from them. Observations may be appended in any order (consensus does not care); alerts
sort them by time. Chunks are one observation by up to 512 x 512 pixels.

Writers go to a temporary store next to the target and rename it when closed, so an interrupted
run never leaves a half-written file under the final name.

The module also decodes predictions for consensus and alerts: :func:`surface_fixed_point`
renormalises the 9 surface-class probabilities (cloud dropped) to integers, the form whose sums
are exact in any order.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hlsmap.classes import CLOUD, NUM_CLASSES
from hlsmap.errors import ConfigError, CorruptRasterError, ModelError, OutputError

FORMAT = "predictions"
VERSION = 1
_TIME_ENCODING = {"units": "seconds since 1970-01-01", "dtype": "int64", "calendar": "standard"}


N_SURFACE = NUM_CLASSES - 1
"""The 9 surface classes: the first 9 probabilities (the cloud class is the last)."""
SCALE = 65535
"""Fixed-point scale of one renormalised probability (sums of 65535 of them fit in uint32)."""
assert CLOUD == NUM_CLASSES  # the cloud class is the last logit, so [:9] are the surface classes


def as_numpy(a: Any) -> np.ndarray:
    """numpy view of a numpy / dask / xarray array (dask is computed)."""
    if isinstance(a, xr.DataArray):
        a = a.data
    if hasattr(a, "compute") and not isinstance(a, np.ndarray):
        a = a.compute()
    return np.asarray(a)


def as_uint8_probs(probs: Any) -> np.ndarray:
    """Probabilities as uint8 ``*255``; float input in 0..1 is scaled and rounded.

    Raises:
        ModelError: a float probability is NaN: casting NaN to uint8 is undefined (0 on one
            platform, 255 on another), so it is refused rather than stored as a class vote.
    """
    p = as_numpy(probs)
    if p.dtype == np.uint8:
        return p
    if np.issubdtype(p.dtype, np.floating):
        nan = np.isnan(p)
        if nan.any():
            raise ModelError(
                f"{int(nan.sum())} of {p.size} probabilities are NaN (a NaN in the model's "
                "input or weights); mask no-data pixels before predicting, or check the model"
            )
        return np.clip(np.rint(p * 255.0), 0, 255).astype(np.uint8)
    raise ConfigError(
        f"probabilities must be uint8 (probability * 255) or float 0..1, not {p.dtype}"
    )


def _sum_last(a: np.ndarray, dtype: Any) -> np.ndarray:
    """Sum over a short last axis by adding slices: numpy reduces a 9-long inner axis ~7x
    slower. The inputs are integers (exact in float32 up to 2**24), so any order is exact."""
    s = a[..., 0].astype(dtype)
    for i in range(1, a.shape[-1]):
        s += a[..., i]
    return s


def _argmax_last(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(argmax, max)`` over a short last axis, first index on ties (like ``np.argmax``)."""
    best = a[..., 0].copy()
    label = np.zeros(best.shape, np.intp)
    for i in range(1, a.shape[-1]):
        better = a[..., i] > best
        label[better] = i
        np.maximum(best, a[..., i], out=best)
    return label, best


def surface_fixed_point(
    probs: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Renormalise the 9 surface-class probabilities of each pixel to fixed point.

    Args:
        probs: uint8 ``(..., 10)``.
        mask: optional bool ``(...)``; ``q`` is 0 where it is false.

    Returns:
        ``(q, ok)``: ``q`` uint32 ``(..., 9)`` = ``floor(p_i * 65535 / sum(p))`` (so
        ``sum(q) <= 65535``), and ``ok`` bool ``(...)``, false where every surface probability
        is 0 (nothing to renormalise).
    """
    # convert and scale all 10 channels (contiguous: several times faster than a strided
    # 9-channel view), then drop the cloud channel from the result
    p = probs.astype(np.float32)
    s = _sum_last(p[..., :N_SURFACE], np.float32)
    ok = s > 0
    factor = np.divide(np.float32(SCALE), s, out=np.zeros_like(s), where=ok)
    if mask is not None:
        factor *= mask
    p *= factor[..., None]
    q = p.astype(np.uint32)  # the cast truncates: floor for these non-negative values
    return q[..., :N_SURFACE], ok


def top_label(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: surface label index (0..8), its fixed-point probability, and ``ok``.

    Bit-identical to ``argmax`` / ``max`` of :func:`surface_fixed_point`'s ``q`` (scaling by
    ``65535 / sum >= 28`` keeps every order and tie of the uint8 values), at a ninth of the cost.
    """
    p9 = probs[..., :N_SURFACE]
    label, top = _argmax_last(p9)
    s = _sum_last(p9, np.uint16).astype(np.float32)
    ok = s > 0
    factor = np.divide(np.float32(SCALE), s, out=np.zeros_like(s), where=ok)
    return label, (top.astype(np.float32) * factor).astype(np.uint32), ok


@dataclass(frozen=True)
class Observation:
    """One observation's predictions, as numpy arrays."""

    probs: np.ndarray
    valid: np.ndarray
    observed: np.ndarray
    time: np.datetime64
    sensor: str | None = None


def geobox_attrs(geobox: Any) -> dict[str, Any]:
    """The attributes that describe a GeoBox in a predictions file."""
    t = geobox.affine
    crs = f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt()
    return {"crs": crs, "transform": [t.a, t.b, t.c, t.d, t.e, t.f]}


def geobox_from_attrs(attrs: dict[str, Any], shape: tuple[int, int]) -> Any:
    """Rebuild the GeoBox stored by :func:`geobox_attrs`."""
    from affine import Affine
    from odc.geo.geobox import GeoBox

    try:
        return GeoBox(shape, Affine(*[float(v) for v in attrs["transform"]]), attrs["crs"])
    except KeyError as exc:
        raise CorruptRasterError(
            f"predictions file lacks the {exc} attribute; write it with hlsmap.predictions"
        ) from None


class PredictionWriter:
    """Append observations to a predictions store; atomic on :meth:`close`.

    Use as a context manager::

        with PredictionWriter("tile.preds.zarr", geobox) as w:
            w.append(probs, valid, observed, time, sensor="L30")
    """

    def __init__(self, path: str | os.PathLike[str], geobox: Any, chunk: int = 512) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path} is a file; give a folder name ending in .zarr")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.geobox = geobox
        self.chunk = chunk
        self.count = 0

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def append(
        self,
        probs: Any,
        valid: Any,
        observed: Any,
        time: Any,
        sensor: str | None = None,
        ndvi: float | None = None,
        mndwi: float | None = None,
    ) -> None:
        """Append one observation (``probs`` uint8 ``(H, W, 10)``, masks bool ``(H, W)``)."""
        from odc.geo.xr import xr_coords

        h, w = self.geobox.shape
        p = np.asarray(probs)
        if p.shape != (h, w, NUM_CLASSES) or p.dtype != np.uint8:
            raise ConfigError(f"probs must be uint8 {(h, w, NUM_CLASSES)}, got {p.dtype} {p.shape}")
        coords: dict[str, Any] = {
            str(k): v for k, v in xr_coords(self.geobox).items() if k in ("y", "x")
        }
        coords["time"] = np.asarray([np.datetime64(time, "ns")])
        coords["class"] = np.arange(1, NUM_CLASSES + 1, dtype=np.uint8)
        obs = np.asarray(observed, bool)
        data: dict[str, Any] = {
            "probs": (("time", "y", "x", "class"), p[None]),
            "valid": (("time", "y", "x"), (np.asarray(valid, bool) & obs)[None]),
            "observed": (("time", "y", "x"), obs[None]),
            "ndvi": (("time",), np.array([np.nan if ndvi is None else ndvi], np.float32)),
            "mndwi": (("time",), np.array([np.nan if mndwi is None else mndwi], np.float32)),
            "sensor": (("time",), np.array([sensor or ""], dtype=object)),
        }
        ds = xr.Dataset(data, coords=coords)
        c = min(self.chunk, h), min(self.chunk, w)
        # every append rewrites the group attributes, so set them every time
        ds.attrs.update(
            hlsmap_format=FORMAT,
            hlsmap_format_version=VERSION,
            scheme="v1",
            **geobox_attrs(self.geobox),
        )
        if self.count == 0:
            enc: dict[str, Any] = {
                "probs": {"chunks": (1, *c, NUM_CLASSES)},
                "valid": {"chunks": (1, *c)},
                "observed": {"chunks": (1, *c)},
                "time": _TIME_ENCODING,
            }
            ds.to_zarr(self.tmp, mode="w", encoding=enc, consolidated=False, zarr_format=3)
        else:
            ds.drop_vars(["y", "x", "class"]).to_zarr(
                self.tmp, append_dim="time", consolidated=False, zarr_format=3
            )
        self.count += 1

    def close(self) -> Path:
        """Move the finished store to its final name (replacing an older one)."""
        if self.count == 0:
            raise ConfigError(f"no observations were written to {self.path}")
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.path)
        return self.path


def write_predictions(
    path: str | os.PathLike[str],
    probs: Any,
    valid: Any,
    observed: Any,
    times: Any,
    geobox: Any,
    sensors: Any = None,
) -> Path:
    """Write a stack of observations (``probs`` ``(T, H, W, 10)``) in one go."""
    times = np.asarray(times)
    with PredictionWriter(path, geobox) as w:
        for i in range(len(times)):
            w.append(
                np.asarray(probs[i]),
                np.asarray(valid[i]),
                np.asarray(observed[i]),
                times[i],
                sensor=None if sensors is None else str(sensors[i]),
            )
    return Path(path)


def open_predictions(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a predictions store lazily (dask), checking its format.

    Use :func:`predictions_geobox` for its GeoBox.
    """
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{p} is not a predictions store (a .zarr folder written by hlsmap)")
    try:
        ds = xr.open_zarr(p, consolidated=False)
    except Exception as exc:  # zarr raises many kinds for a broken store
        raise CorruptRasterError(f"cannot open predictions store {p}: {exc}") from exc
    if ds.attrs.get("hlsmap_format") != FORMAT:
        raise CorruptRasterError(f"{p} is not an hlsmap predictions store (no hlsmap_format)")
    if int(ds.attrs.get("hlsmap_format_version", 0)) > VERSION:
        raise CorruptRasterError(
            f"{p} has format version {ds.attrs['hlsmap_format_version']}; upgrade hlsmap"
        )
    predictions_geobox(ds)  # fails early on a store without a grid
    return ds


def predictions_geobox(ds: xr.Dataset) -> Any:
    """The odc-geo GeoBox of an opened predictions store."""
    return geobox_from_attrs(ds.attrs, (ds.sizes["y"], ds.sizes["x"]))


def iter_observations(ds: xr.Dataset, sort: bool = True) -> Iterator[Observation]:
    """Yield the observations of an opened store one at a time (time order when ``sort``)."""
    times = ds["time"].values
    order = np.argsort(times, kind="stable") if sort else np.arange(len(times))
    sensors = ds["sensor"].values if "sensor" in ds else None
    for i in order:
        yield Observation(
            probs=np.asarray(ds["probs"][i].values),
            valid=np.asarray(ds["valid"][i].values, bool),
            observed=np.asarray(ds["observed"][i].values, bool),
            time=times[i],
            sensor=None if sensors is None else (str(sensors[i]) or None),
        )
