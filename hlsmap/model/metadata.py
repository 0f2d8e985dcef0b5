"""Model metadata: the input contract (bands, grid, normalization, classes) and provenance.

A model is a network plus the contract that says how to feed it: the architecture (a name in
:mod:`hlsmap.model.registry` and its config), the bands it reads in channel order (hlsmap band
names, and per sensor product the asset keys they come from), the grid resolution it was
trained at, its input normalization (:mod:`hlsmap.model.normalize`), and its classes in logit
order with their codes in hlsmap's class table. The cube, tiling halo, kernels and consensus
take all of this from here, never from constants.

:meth:`ModelMetadata.normalize` turns harmonized HLS reflectance (int16, -9999 fill) of any
sensor into network inputs, so one model serves L30 and S30.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hlsmap.classes import CLASSES, NUM_CLASSES
from hlsmap.errors import ModelError
from hlsmap.model.normalize import DEFAULT_SENSOR, ZScore, fill_mask, get_normalizer
from hlsmap.model.registry import get_architecture
from hlsmap.model.unet import BANDS, INDICES, check_indices

FORMAT = "hlsmap-model"
FORMAT_VERSION = 2
"""Bumped when the saved layout changes; older versions keep loading, newer ones fail clearly.
Version 2 added the input contract (``input``: resolution, normalization kind, sensor bands)."""

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

__all__ = [
    "DEFAULT_SENSOR",
    "FORMAT",
    "FORMAT_VERSION",
    "ModelMetadata",
    "default_normalization",
]


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


def _default_classes() -> list[dict[str, Any]]:
    return [{"code": c.code, "name": c.name, "color": c.color} for c in CLASSES]


@dataclass
class ModelMetadata:
    """Everything needed to use saved weights: the input contract and provenance.

    Attributes:
        bands: input bands in channel order (hlsmap band names).
        normalization: the parameters of ``normalization_kind``; for ``zscore``
            ``{sensor: {"mean": [...], "std": [...]}}`` in int16 reflectance units, one entry
            per sensor (``"L30"``, ``"S30"``, ...) plus :data:`DEFAULT_SENSOR` pooled.
        config: the architecture's config (a :class:`~hlsmap.model.unet.UNetConfig` for the
            U-Net).
        preset: the preset name the architecture came from, if any.
        indices: derived indices appended after the bands.
        classes: ``[{"code", "name", "color", ...}, ...]`` in logit order; ``code`` is the class
            in hlsmap's table (a model may predict a subset, e.g. no cloud class).
        provenance: free-form JSON facts (data, steps, metrics, created, hlsmap version; for
            converted models the source, hashes, licence, NOTICE and citation).
        architecture: the registry name of the architecture (``"unet"``, ``"dynamicworld"``).
        resolution: grid resolution (metres) the model was trained at; runs default to it.
        normalization_kind: a key of :data:`hlsmap.model.normalize.NORMALIZERS`.
        sensor_bands: per sensor product the asset keys of ``bands`` (documentation of the
            contract, e.g. ``{"S30": ["B02", ...]}``); empty = whatever the adapters map.
    """

    bands: tuple[str, ...]
    normalization: dict[str, dict[str, list[float]]]
    config: Any
    preset: str | None = None
    indices: tuple[str, ...] = ()
    classes: list[dict[str, Any]] = field(default_factory=_default_classes)
    provenance: dict[str, Any] = field(default_factory=dict)
    architecture: str = "unet"
    resolution: float = 30.0
    normalization_kind: str = "zscore"
    sensor_bands: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def for_model(
        cls,
        net: Any,
        bands: tuple[str, ...] | list[str] = BANDS,
        normalization: dict[str, dict[str, list[float]]] | None = None,
        *,
        preset: str | None = None,
        indices: tuple[str, ...] | list[str] = (),
        provenance: dict[str, Any] | None = None,
    ) -> ModelMetadata:
        """Metadata for a U-Net ``net``; default HLS statistics when ``normalization`` is None."""
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

    @property
    def class_codes(self) -> tuple[int, ...]:
        """hlsmap class code of each logit, in logit order."""
        return tuple(int(c["code"]) for c in self.classes)

    @property
    def halo(self) -> int:
        """The least tiling halo: the architecture's receptive radius, rounded up to its
        alignment so tiles stay aligned."""
        arch = get_architecture(self.architecture)
        radius = int(arch.receptive_radius(self.config))
        step = max(1, int(arch.alignment(self.config)))
        return -(-radius // step) * step

    @property
    def alignment(self) -> int:
        """Tile and window offsets must be multiples of this (the architecture's alignment)."""
        return max(1, int(get_architecture(self.architecture).alignment(self.config)))

    def validate(self) -> None:
        """Raise :class:`ModelError` when the metadata is inconsistent or not finite."""
        in_channels = getattr(self.config, "in_channels", None)
        if in_channels is not None and self.num_inputs != in_channels:
            raise ModelError(
                f"metadata lists {self.num_inputs} inputs but the architecture takes"
                f" {in_channels}: the model directory is inconsistent."
            )
        get_normalizer(self.normalization_kind).validate(self)
        check_indices(self.indices, self.bands)
        if not self.classes:
            raise ModelError("metadata lists no classes.")
        codes = [c.get("code") for c in self.classes]
        if any(not isinstance(c, int) or not 1 <= c <= NUM_CLASSES for c in codes) or len(
            set(codes)
        ) != len(codes):
            raise ModelError(
                f"metadata class codes {codes} must be distinct codes of hlsmap's class table"
                f" (1..{NUM_CLASSES})."
            )
        if not (isinstance(self.resolution, int | float) and self.resolution > 0):
            raise ModelError(f"metadata resolution {self.resolution!r} must be positive metres.")

    def stats(self, sensor: str | None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` float32 arrays for ``sensor`` (z-score models only)."""
        return ZScore.stats(self, sensor)

    def normalize(self, x: np.ndarray, sensor: str | None = None) -> np.ndarray:
        """Network inputs from harmonized reflectance.

        Args:
            x: ``(..., len(bands))`` HLS reflectance, int16 (fill -9999) or float (NaN allowed).
            sensor: the cube's ``sensor`` value (``"L30"``, ``"S30"``, ...); models with
                per-sensor statistics use pooled ones for an unknown or None sensor.

        Returns:
            float32 ``(..., num_inputs)``: the bands normalized by ``normalization_kind``, then
            the derived indices; every channel of a pixel with fill or NaN in any band is 0.
        """
        x = np.asarray(x)
        if x.shape[-1] != len(self.bands):
            raise ModelError(
                f"input has {x.shape[-1]} bands, the model expects {len(self.bands)}"
                f" ({', '.join(self.bands)})."
            )
        integer = x.dtype.kind in "iu"
        bad = fill_mask(x)
        out = get_normalizer(self.normalization_kind)(self, x, sensor)
        if self.indices:
            xf = x.astype(np.float32)
            pos = {b: i for i, b in enumerate(self.bands)}
            extra = []
            for name in self.indices:
                a, b = (xf[..., pos[n]] for n in INDICES[name])
                with np.errstate(divide="ignore", invalid="ignore"):
                    extra.append(np.where(np.abs(a + b) > 1e-6, (a - b) / (a + b), 0.0))
            out = np.concatenate([out, np.stack(extra, axis=-1).astype(np.float32)], axis=-1)
        out[bad] = 0.0
        if integer and not self.indices:
            return out  # finite: integers through finite, validated parameters
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the body of ``model.json``)."""
        from hlsmap import __version__

        arch = get_architecture(self.architecture)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "hlsmap_version": __version__,
            "bands": list(self.bands),
            "indices": list(self.indices),
            "classes": self.classes,
            "class_scheme": "hlsmap-v1",
            "input": {
                "resolution": self.resolution,
                "normalization_kind": self.normalization_kind,
                "sensor_bands": self.sensor_bands,
            },
            "normalization": self.normalization,
            "architecture": {
                "name": self.architecture,
                "preset": self.preset,
                **arch.config_to_dict(self.config),
            },
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
            arch_doc = dict(d["architecture"])
            preset = arch_doc.pop("preset", None)
            name = str(arch_doc.pop("name", "unet"))
            try:
                arch = get_architecture(name)
            except ModelError as exc:
                raise ModelError(f"{where}: {exc}") from None
            contract = dict(d.get("input", {}))
            meta = cls(
                bands=tuple(d["bands"]),
                normalization={
                    str(k): {str(n): list(map(float, v)) for n, v in st.items()}
                    for k, st in d["normalization"].items()
                },
                config=arch.config_from_dict(arch_doc),
                preset=preset,
                indices=tuple(d.get("indices", ())),
                classes=list(d.get("classes", [])) or _default_classes(),
                provenance=dict(d.get("provenance", {})),
                architecture=name,
                resolution=float(contract.get("resolution", 30.0)),
                normalization_kind=str(contract.get("normalization_kind", "zscore")),
                sensor_bands={
                    str(k): list(map(str, v)) for k, v in contract.get("sensor_bands", {}).items()
                },
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(
                f"{where} is incomplete or malformed ({exc!r}); re-save the model."
            ) from None
        try:
            meta.validate()
        except ModelError as exc:
            raise ModelError(f"{where}: {exc}") from None
        return meta
