"""The training configuration dataclasses (frozen: an experiment is a value, logged whole)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from hlsmap.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Host-side augmentation of training chips.

    Attributes:
        flips: random horizontal/vertical flips.
        rot90: random 90-degree rotations.
        brightness: relative brightness jitter of a whole chip, uniform in ``[-b, b]``.
        band_jitter: extra relative per-band gain jitter, uniform in ``[-j, j]``.
        sensor_mix: probability of normalizing a chip with another sensor's statistics, so
            the model does not lean on one sensor's normalization (L30 vs S30, unknown sensors).
    """

    flips: bool = True
    rot90: bool = True
    brightness: float = 0.1
    band_jitter: float = 0.03
    sensor_mix: float = 0.2


@dataclass(frozen=True)
class TrainConfig:
    """One training experiment.

    Attributes:
        preset: model preset (``tiny``, ``small``, ``standard``).
        dtype: compute dtype override (``None``: float32 on CPU, the preset's on GPU/TPU).
        indices: derived spectral indices fed as extra channels.
        steps: optimizer steps.
        batch_size: global batch (split over every device; must divide by the device count).
        crop: random-crop size of training chips (a multiple of the model's ``multiple``);
            ``None`` trains on whole chips.
        lr: peak learning rate (AdamW).
        warmup_steps: linear warm-up steps before the cosine decay.
        min_lr_ratio: final learning rate as a share of ``lr``.
        weight_decay: AdamW decoupled weight decay (applied to conv kernels only).
        clip_norm: global gradient-norm clip.
        class_weight_power: loss weight of class c is ``(median_freq / freq_c) ** power``.
        balance_power: class-balanced sampling: a chip's draw weight is the mean over its
            labelled pixels of ``(1 / freq_c) ** power`` (0 = uniform sampling).
        augment: augmentation settings.
        seed: seed of initialization, sampling, augmentation and dropout.
        checkpoint_every: steps between checkpoints (0: only at the end).
        keep_checkpoints: how many recent checkpoints to keep.
        eval_every: steps between validation passes (0: only at the end).
        eval_chips: validation chips used by periodic validation.
        log_every: steps between log lines / progress updates of the loss.
        cache_mb: chips smaller than this are read into memory once; larger sets stream.
    """

    preset: str = "small"
    dtype: str | None = None
    indices: tuple[str, ...] = ()
    steps: int = 1500
    batch_size: int = 16
    crop: int | None = 48
    lr: float = 3e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.02
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    class_weight_power: float = 0.5
    balance_power: float = 0.5
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    eval_every: int = 0
    eval_chips: int = 64
    log_every: int = 10
    cache_mb: int = 2048

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be positive integers.")
        if self.warmup_steps < 0 or self.warmup_steps >= self.steps:
            raise ConfigError(
                f"warmup_steps={self.warmup_steps} must be >= 0 and below steps={self.steps}."
            )
        if self.crop is not None and self.crop < 1:
            raise ConfigError(f"crop={self.crop} must be positive (or None for whole chips).")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be positive.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (the resolved configuration that gets logged)."""
        d = dataclasses.asdict(self)
        d["indices"] = list(self.indices)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown training options {sorted(unknown)}; known: {sorted(known)}")
        kw = dict(d)
        if isinstance(kw.get("augment"), dict):
            kw["augment"] = AugmentConfig(**kw["augment"])
        if "indices" in kw:
            kw["indices"] = tuple(kw["indices"])
        return cls(**kw)

    def with_settings(self, settings: list[str]) -> TrainConfig:
        """A copy with ``key=value`` overrides (``augment.<field>`` for augmentation).

        Values are read as JSON when they parse (numbers, ``true``, ``null``), else as text;
        ``indices`` takes a comma-separated list.
        """
        changes: dict[str, Any] = {}
        aug: dict[str, Any] = {}
        for item in settings:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ConfigError(f"--set {item!r}: use key=value, e.g. --set lr=0.001")
            key = key.strip()
            value: Any
            if key == "indices":
                value = tuple(v.strip() for v in raw.split(",") if v.strip())
            else:
                try:
                    value = json.loads(raw)
                except json.JSONDecodeError:
                    value = raw
            if key.startswith("augment."):
                aug[key.removeprefix("augment.")] = value
            else:
                changes[key] = value
        if aug:
            known = {f.name for f in dataclasses.fields(AugmentConfig)}
            if set(aug) - known:
                raise ConfigError(f"unknown augment options {sorted(set(aug) - known)}")
            changes["augment"] = dataclasses.replace(self.augment, **aug)
        return self.replace(**changes)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (``None`` values are ignored: unset CLI options).

        Shortening ``steps`` below the warm-up (without giving ``warmup_steps``) scales the
        warm-up to a tenth of the run.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown training options {sorted(unknown)}")
        steps = changes.get("steps")
        if steps is not None and "warmup_steps" not in changes and self.warmup_steps >= steps:
            # a short run of a long config: keep the warm-up a tenth of the run
            changes["warmup_steps"] = int(steps) // 10
        return dataclasses.replace(self, **changes)
