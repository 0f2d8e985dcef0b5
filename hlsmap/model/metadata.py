"""Model metadata: input bands, classes, per-sensor normalization, provenance.

:meth:`ModelMetadata.normalize` turns harmonized HLS reflectance (int16, -9999 fill) of any
sensor into network inputs with that sensor's statistics, so one model serves L30 and S30.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hlsmap.classes import CLASSES
from hlsmap.errors import ModelError
from hlsmap.model.unet import BANDS, FILL, INDICES, UNetConfig, check_indices

if TYPE_CHECKING:
    from hlsmap.model.unet import UNet


FORMAT = "hlsmap-model"
FORMAT_VERSION = 1
"""Bumped when the saved layout changes; older versions keep loading, newer ones fail clearly."""

# Typical HLS surface reflectance statistics (int16 units), used until a model is trained on
# data of its own: they keep normalized inputs of the order of 1.
_DEFAULT_STATS: dict[str, tuple[float, float]] = {
    "coastal": (450.0, 350.0),
    "blue": (550.0, 400.0),
    "green": (850.0, 450.0),
    "red": (950.0, 600.0),
    "nir08": (2500.0, 1000.0),
    "swir16": (2000.0, 900.0),
    "swir22": (1300.0, 800.0),
}
DEFAULT_SENSOR = "*"
"""Normalization key used for sensors without statistics of their own (pooled statistics)."""


def default_normalization(bands: tuple[str, ...]) -> dict[str, dict[str, list[float]]]:
    """Typical HLS statistics for ``bands`` under the pooled key :data:`DEFAULT_SENSOR`."""
    unknown = [b for b in bands if b not in _DEFAULT_STATS]
    if unknown:
        raise ModelError(
            f"no default statistics for bands {unknown}: pass normalization computed from data."
        )
    return {
        DEFAULT_SENSOR: {
            "mean": [_DEFAULT_STATS[b][0] for b in bands],
            "std": [_DEFAULT_STATS[b][1] for b in bands],
        }
    }


@dataclass
class ModelMetadata:
    """Everything needed to use saved weights: inputs, classes, normalization, provenance.

    Attributes:
        bands: input bands in channel order.
        normalization: ``{sensor: {"mean": [...], "std": [...]}}`` in int16 reflectance units,
            one entry per sensor (``"L30"``, ``"S30"``, ...) plus :data:`DEFAULT_SENSOR` pooled.
        config: the architecture.
        preset: the preset name the architecture came from, if any.
        indices: derived indices appended after the bands.
        classes: ``[{"code", "name", "color"}, ...]`` in logit order.
        provenance: free-form JSON facts (data, steps, metrics, created, hlsmap version).
    """

    bands: tuple[str, ...]
    normalization: dict[str, dict[str, list[float]]]
    config: UNetConfig
    preset: str | None = None
    indices: tuple[str, ...] = ()
    classes: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"code": c.code, "name": c.name, "color": c.color} for c in CLASSES
        ]
    )
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_model(
        cls,
        net: UNet,
        bands: tuple[str, ...] | list[str] = BANDS,
        normalization: dict[str, dict[str, list[float]]] | None = None,
        *,
        preset: str | None = None,
        indices: tuple[str, ...] | list[str] = (),
        provenance: dict[str, Any] | None = None,
    ) -> ModelMetadata:
        """Metadata for ``net``; default HLS statistics when ``normalization`` is None."""
        bands = tuple(bands)
        if len(bands) + len(indices) != net.config.in_channels:
            raise ModelError(
                f"{len(bands)} bands + {len(indices)} indices do not match the model's"
                f" {net.config.in_channels} input channels."
            )
        meta = cls(
            bands=bands,
            normalization=normalization or default_normalization(bands),
            config=net.config,
            preset=preset,
            indices=tuple(indices),
            provenance=dict(provenance or {}),
        )
        meta.validate()
        return meta

    @property
    def num_inputs(self) -> int:
        """Channels fed to the network (bands + indices)."""
        return len(self.bands) + len(self.indices)

    def validate(self) -> None:
        """Raise :class:`ModelError` when the metadata is inconsistent."""
        if self.num_inputs != self.config.in_channels:
            raise ModelError(
                f"metadata lists {self.num_inputs} inputs but the architecture takes"
                f" {self.config.in_channels}: the model directory is inconsistent."
            )
        if not self.normalization:
            raise ModelError("metadata has no normalization statistics.")
        for sensor, st in self.normalization.items():
            mean, std = st.get("mean"), st.get("std")
            if mean is None or std is None or len(mean) != len(self.bands) != len(std):
                raise ModelError(f"normalization for {sensor!r} must give one mean/std per band.")
            if len(std) != len(self.bands) or any(float(s) <= 0 for s in std):
                raise ModelError(f"normalization for {sensor!r} needs one positive std per band.")
        check_indices(self.indices, self.bands)

    def stats(self, sensor: str | None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` float32 arrays for ``sensor`` (pooled statistics when unknown)."""
        st = self.normalization.get(sensor or DEFAULT_SENSOR)
        if st is None:
            st = self.normalization.get(DEFAULT_SENSOR)
        if st is None:  # no pooled entry: average the per-sensor ones
            vals = list(self.normalization.values())
            mean = np.mean([v["mean"] for v in vals], axis=0)
            std = np.mean([v["std"] for v in vals], axis=0)
            return mean.astype(np.float32), std.astype(np.float32)
        return np.asarray(st["mean"], np.float32), np.asarray(st["std"], np.float32)

    def normalize(self, x: np.ndarray, sensor: str | None = None) -> np.ndarray:
        """Network inputs from harmonized reflectance.

        Args:
            x: ``(..., len(bands))`` HLS reflectance, int16 (fill -9999) or float (NaN allowed).
            sensor: the cube's ``sensor`` value (``"L30"``, ``"S30"``, ...); unknown or None uses
                the pooled statistics.

        Returns:
            float32 ``(..., num_inputs)``: ``(x - mean) / std`` per band, then the derived
            indices; every channel of a pixel with fill or NaN in any band is 0.
        """
        x = np.asarray(x)
        if x.shape[-1] != len(self.bands):
            raise ModelError(
                f"input has {x.shape[-1]} bands, the model expects {len(self.bands)}"
                f" ({', '.join(self.bands)})."
            )
        from hlsmap.cube import any_band_fill

        integer = x.dtype.kind in "iu"
        xf = x.astype(np.float32)
        # integers cannot be NaN: the fill test alone, on the int16 input
        bad = any_band_fill(x, FILL) if integer else np.any(np.isnan(xf) | (xf == FILL), -1)
        mean, std = self.stats(sensor)
        extra = []
        if self.indices:
            pos = {b: i for i, b in enumerate(self.bands)}
            for name in self.indices:
                a, b = (xf[..., pos[n]] for n in INDICES[name])
                with np.errstate(divide="ignore", invalid="ignore"):
                    extra.append(np.where(np.abs(a + b) > 1e-6, (a - b) / (a + b), 0.0))
        # in place: the same float32 operations as (xf - mean) / std, a third of the memory
        xf -= mean
        xf /= std
        out = xf
        if extra:
            out = np.concatenate([out, np.stack(extra, axis=-1).astype(np.float32)], axis=-1)
        out[bad] = 0.0
        if integer and not extra:
            return out  # finite: integers minus a mean over a positive std
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the body of ``model.json``)."""
        from hlsmap import __version__

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "hlsmap_version": __version__,
            "bands": list(self.bands),
            "indices": list(self.indices),
            "classes": self.classes,
            "class_scheme": "hlsmap-v1",
            "normalization": self.normalization,
            "architecture": {"name": "unet", "preset": self.preset, **self.config.to_dict()},
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "model.json") -> ModelMetadata:
        """Parse ``model.json``; a foreign or too-new document is a :class:`ModelError`."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ModelError(
                f'{where} is not an hlsmap model description (no "format": "{FORMAT}"):'
                " point at a directory written by hlsmap's save_model / `hlsmap train`."
            )
        version = d.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise ModelError(f"{where} has an invalid format_version {version!r}.")
        if version > FORMAT_VERSION:
            raise ModelError(
                f"{where} uses model format {version}, written by hlsmap"
                f" {d.get('hlsmap_version', '?')}; this hlsmap reads format <= {FORMAT_VERSION}:"
                " upgrade hlsmap to load it."
            )
        try:
            arch = dict(d["architecture"])
            preset = arch.pop("preset", None)
            if arch.pop("name", "unet") != "unet":
                raise ModelError(f"{where}: unknown architecture; only 'unet' is supported.")
            meta = cls(
                bands=tuple(d["bands"]),
                normalization={
                    str(k): {"mean": list(map(float, v["mean"])), "std": list(map(float, v["std"]))}
                    for k, v in d["normalization"].items()
                },
                config=UNetConfig.from_dict(arch),
                preset=preset,
                indices=tuple(d.get("indices", ())),
                classes=list(d.get("classes", [])),
                provenance=dict(d.get("provenance", {})),
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(
                f"{where} is incomplete or malformed ({exc!r}); re-save the model."
            ) from None
        meta.validate()
        return meta
