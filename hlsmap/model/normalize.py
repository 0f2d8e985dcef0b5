"""Input normalizations: harmonized reflectance (int16, fill -9999) -> network inputs.

A model's ``model.json`` names its normalization (``input.normalization_kind``) and stores its
parameters (``normalization``); each kind is one entry of :data:`NORMALIZERS`:

- ``zscore``: hlsmap's U-Net, ``(x - mean) / std`` per band with per-sensor statistics
  (``{sensor: {"mean": [...], "std": [...]}}``, ``"*"`` pooled), so one model serves L30 and S30.
- ``log-sigmoid``: Dynamic World, per band ``v = ln(DN * 0.005 + 1)``, ``v = (v - a) / b``,
  ``x = sigmoid(5 v - 1)`` (``{"*": {"a": [...], "b": [...]}}``). HLS int16 surface
  reflectance is reflectance x 10,000, which is the network's DN scale as it is.

Every kind maps a pixel with fill (or NaN) in any band to 0 in every channel, and every kind
checks that its parameters are finite: a NaN statistic would silently blank or scramble a map.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hlsmap.errors import ModelError

if TYPE_CHECKING:
    from hlsmap.model.metadata import ModelMetadata

FILL = -9999
"""HLS reflectance fill value (the sensor contract's, repeated by no other module)."""
DEFAULT_SENSOR = "*"
"""Normalization key used for sensors without statistics of their own (pooled statistics)."""


class Normalizer(Protocol):
    """One kind of input normalization."""

    def validate(self, meta: ModelMetadata) -> None:
        """Raise :class:`ModelError` when ``meta.normalization`` does not fit this kind."""
        ...

    def __call__(self, meta: ModelMetadata, x: np.ndarray, sensor: str | None) -> np.ndarray:
        """float32 ``(..., len(meta.bands))`` network inputs (before derived indices)."""
        ...


def _finite(values: Any, what: str) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be a list of numbers.") from None
    if not all(math.isfinite(v) for v in out):
        raise ModelError(
            f"{what} holds NaN or infinite values: the model is corrupt; re-save or re-train it."
        )
    return out


def fill_mask(x: np.ndarray) -> np.ndarray:
    """``(...)`` bool: pixels with fill (or NaN for float input) in any band."""
    if x.dtype.kind in "iu":
        from hlsmap.cube import any_band_fill

        return any_band_fill(x, FILL)
    xf = np.asarray(x, np.float32)
    return np.any(np.isnan(xf) | (xf == FILL), -1)


class ZScore:
    """``(x - mean) / std`` with per-sensor statistics in int16 reflectance units."""

    def validate(self, meta: ModelMetadata) -> None:
        if not meta.normalization:
            raise ModelError("metadata has no normalization statistics.")
        n = len(meta.bands)
        for sensor, st in meta.normalization.items():
            mean, std = st.get("mean"), st.get("std")
            if mean is None or std is None or len(mean) != n or len(std) != n:
                raise ModelError(f"normalization for {sensor!r} must give one mean/std per band.")
            _finite(mean, f"normalization mean for {sensor!r}")
            if any(s <= 0 for s in _finite(std, f"normalization std for {sensor!r}")):
                raise ModelError(f"normalization for {sensor!r} needs one positive std per band.")

    @staticmethod
    def stats(meta: ModelMetadata, sensor: str | None) -> tuple[np.ndarray, np.ndarray]:
        st = meta.normalization.get(sensor or DEFAULT_SENSOR)
        if st is None:
            st = meta.normalization.get(DEFAULT_SENSOR)
        if st is None:  # no pooled entry: average the per-sensor ones
            vals = list(meta.normalization.values())
            mean = np.mean([v["mean"] for v in vals], axis=0)
            std = np.mean([v["std"] for v in vals], axis=0)
            return mean.astype(np.float32), std.astype(np.float32)
        return np.asarray(st["mean"], np.float32), np.asarray(st["std"], np.float32)

    def __call__(self, meta: ModelMetadata, x: np.ndarray, sensor: str | None) -> np.ndarray:
        mean, std = self.stats(meta, sensor)
        xf = x.astype(np.float32)
        # in place: the same float32 operations as (xf - mean) / std, a third of the memory
        xf -= mean
        xf /= std
        return xf


class LogSigmoid:
    """Dynamic World's ``sigmoid(5 (ln(DN * 0.005 + 1) - a) / b - 1)`` per band."""

    SCALE = 0.005

    def validate(self, meta: ModelMetadata) -> None:
        st = meta.normalization.get(DEFAULT_SENSOR)
        if not isinstance(st, dict) or len(meta.normalization) != 1:
            raise ModelError('log-sigmoid normalization needs exactly one "*" entry {"a", "b"}.')
        a, b = st.get("a"), st.get("b")
        if a is None or b is None or len(a) != len(meta.bands) or len(b) != len(meta.bands):
            raise ModelError("log-sigmoid normalization must give one a and one b per band.")
        _finite(a, "log-sigmoid normalization a")
        if any(v <= 0 for v in _finite(b, "log-sigmoid normalization b")):
            raise ModelError("log-sigmoid normalization needs one positive b per band.")

    def __call__(self, meta: ModelMetadata, x: np.ndarray, sensor: str | None) -> np.ndarray:
        st = meta.normalization[DEFAULT_SENSOR]
        return log_sigmoid(x, st["a"], st["b"])


def log_sigmoid(dn: np.ndarray, a: Any, b: Any) -> np.ndarray:
    """Dynamic World's per-band input transform of DN (reflectance x 10,000), as float32.

    Computed in float64 (as the reference inputs were) and returned as float32; negative DN
    (fill, or noise below 0) would make the logarithm undefined, so DN is clipped at 0 first.
    """
    v = np.log1p(np.maximum(np.asarray(dn, np.float64), 0.0) * LogSigmoid.SCALE)
    v = (v - np.asarray(a, np.float64)) / np.asarray(b, np.float64)
    return (1.0 / (1.0 + np.exp(-(5.0 * v - 1.0)))).astype(np.float32)


NORMALIZERS: dict[str, Normalizer] = {"zscore": ZScore(), "log-sigmoid": LogSigmoid()}
"""Normalization kinds by the name ``model.json`` gives."""


def get_normalizer(kind: str) -> Normalizer:
    """The normalizer of ``kind``; unknown kinds are a :class:`ModelError`."""
    if kind not in NORMALIZERS:
        raise ModelError(
            f"unknown input normalization {kind!r}: known are {', '.join(sorted(NORMALIZERS))};"
            " the model was saved by a newer hlsmap or a plugin that is not installed."
        )
    return NORMALIZERS[kind]
