"""The Flax NNX U-Net that classifies single HLS observations, its presets, metadata and I/O.

One model serves every sensor: inputs are the harmonized bands (HLS int16 reflectance), turned
into network inputs by :meth:`ModelMetadata.normalize` with per-sensor statistics stored next to
the weights. Logits have 10 channels; channel ``i`` is the class with raster code ``i + 1``.

A saved model is one directory holding ``weights.npz`` (plain arrays, read with
``allow_pickle=False`` so loading never executes code) and ``model.json`` (format version,
architecture, bands, classes, normalization, provenance).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from hlsmap.classes import CLASSES, NUM_CLASSES
from hlsmap.errors import ModelError

BANDS: tuple[str, ...] = ("blue", "green", "red", "nir08", "swir16", "swir22")
"""The harmonized band order used as the model's default channel order."""

FILL = -9999
"""HLS reflectance fill value."""

FORMAT = "hlsmap-model"
FORMAT_VERSION = 1
"""Bumped when the saved layout changes; older versions keep loading, newer ones fail clearly."""

WEIGHTS_FILE = "weights.npz"
_SAVED = (nnx.Param, nnx.BatchStat)  # a tuple filter: either kind of variable is saved
METADATA_FILE = "model.json"

# Spectral indices the metadata can derive from reflectance, as (a, b) -> (a - b) / (a + b).
INDICES: dict[str, tuple[str, str]] = {
    "ndvi": ("nir08", "red"),
    "ndwi": ("green", "nir08"),
    "ndbi": ("swir16", "nir08"),
    "mndwi": ("green", "swir16"),
}

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


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the U-Net.

    Attributes:
        in_channels: number of input channels (bands + derived indices).
        num_classes: number of output logits (10: the class scheme, clouds included).
        widths: feature width of each level; ``len(widths) - 1`` 2x down-samplings.
        norm: ``"group"`` (GroupNorm, batch-size independent, default), ``"batch"`` or ``"none"``.
        dropout: dropout rate at the bottleneck (active only when the call is given ``rngs``).
        dtype: compute dtype, ``"float32"`` (CPU default) or ``"bfloat16"`` (GPU/TPU);
            parameters are always float32 and logits are returned as float32.
    """

    in_channels: int = len(BANDS)
    num_classes: int = NUM_CLASSES
    widths: tuple[int, ...] = (16, 32, 64)
    norm: str = "group"
    dropout: float = 0.0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or any(int(w) < 1 for w in self.widths):
            raise ModelError(
                f"UNetConfig.widths={self.widths!r} is invalid: give at least two positive widths,"
                " for example (16, 32, 64)."
            )
        if self.norm not in ("group", "batch", "none"):
            raise ModelError(f"UNetConfig.norm={self.norm!r}: use 'group', 'batch' or 'none'.")
        if self.dtype not in ("float32", "bfloat16"):
            raise ModelError(f"UNetConfig.dtype={self.dtype!r}: use 'float32' or 'bfloat16'.")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelError(f"UNetConfig.dropout={self.dropout!r}: use a rate in [0, 1).")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))

    @property
    def depth(self) -> int:
        """Number of 2x down-samplings."""
        return len(self.widths) - 1

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (``2 ** depth``)."""
        return int(2**self.depth)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ModelError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ModelError(
                f"unknown architecture fields {sorted(unknown)}: the model was saved by a newer"
                " hlsmap; upgrade hlsmap to load it."
            )
        kw = dict(d)
        if "widths" in kw:
            kw["widths"] = tuple(kw["widths"])
        return cls(**kw)


PRESETS: dict[str, UNetConfig] = {
    # For tests: compiles in seconds.
    "tiny": UNetConfig(widths=(8, 16)),
    # CPU default: ~118k parameters. BatchNorm, not GroupNorm: GroupNorm's reshapes made the
    # training step ~1.5x slower on CPU (87k vs 132k px/s measured on the shared 2-core box).
    "small": UNetConfig(widths=(16, 32, 64), norm="batch"),
    # GPU: ~7.8M parameters, bf16 compute.
    "standard": UNetConfig(widths=(32, 64, 128, 256, 512), dropout=0.1, dtype="bfloat16"),
}
"""Named architectures: ``tiny`` (tests), ``small`` (CPU), ``standard`` (GPU)."""


def _groups(features: int) -> int:
    # 8 groups where the width allows it (the GroupNorm paper's robust default range).
    for g in (8, 4, 2):
        if features % g == 0:
            return g
    return 1


class ConvBlock(nnx.Module):
    """Two 3x3 conv -> norm -> ReLU layers."""

    def __init__(self, cin: int, cout: int, cfg: UNetConfig, *, rngs: nnx.Rngs) -> None:
        dtype = jnp.dtype(cfg.dtype)
        self.norm_kind = cfg.norm
        self.conv1 = nnx.Conv(
            cin, cout, (3, 3), use_bias=cfg.norm == "none", dtype=dtype, rngs=rngs
        )
        self.conv2 = nnx.Conv(
            cout, cout, (3, 3), use_bias=cfg.norm == "none", dtype=dtype, rngs=rngs
        )
        self.norm1: nnx.Module | None
        self.norm2: nnx.Module | None
        if cfg.norm == "group":
            self.norm1 = nnx.GroupNorm(cout, num_groups=_groups(cout), dtype=dtype, rngs=rngs)
            self.norm2 = nnx.GroupNorm(cout, num_groups=_groups(cout), dtype=dtype, rngs=rngs)
        elif cfg.norm == "batch":
            self.norm1 = nnx.BatchNorm(cout, momentum=0.9, dtype=dtype, rngs=rngs)
            self.norm2 = nnx.BatchNorm(cout, momentum=0.9, dtype=dtype, rngs=rngs)
        else:
            self.norm1 = self.norm2 = None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv1(x)
        if self.norm1 is not None:
            x = self.norm1(x)
        x = jax.nn.relu(x)
        x = self.conv2(x)
        if self.norm2 is not None:
            x = self.norm2(x)
        return jax.nn.relu(x)


class UNet(nnx.Module):
    """U-Net (Ronneberger et al. 2015) with same-padding, max-pool down, transposed-conv up.

    Call ``net(x)`` with ``x`` of shape ``(B, H, W, C)`` float32 (normalized inputs, H and W
    multiples of :attr:`multiple`); it returns float32 logits ``(B, H, W, num_classes)``.
    """

    def __init__(self, config: UNetConfig, *, rngs: nnx.Rngs) -> None:
        self.config = config
        self.multiple = config.multiple
        dtype = jnp.dtype(config.dtype)
        w = config.widths
        self.down = nnx.List(
            [ConvBlock(config.in_channels if i == 0 else w[i - 1], w[i], config, rngs=rngs)
             for i in range(len(w))]
        )  # fmt: skip
        self.up = nnx.List(
            [nnx.ConvTranspose(w[i + 1], w[i], (2, 2), strides=(2, 2), dtype=dtype, rngs=rngs)
             for i in range(len(w) - 1)]
        )  # fmt: skip
        self.dec = nnx.List(
            [ConvBlock(2 * w[i], w[i], config, rngs=rngs) for i in range(len(w) - 1)]
        )
        self.dropout = nnx.Dropout(config.dropout) if config.dropout > 0 else None
        self.head = nnx.Conv(w[0], config.num_classes, (1, 1), dtype=dtype, rngs=rngs)

    def __call__(self, x: ArrayLike, *, rngs: nnx.Rngs | None = None) -> jax.Array:
        """Logits for normalized inputs.

        Args:
            x: ``(B, H, W, in_channels)`` float array; H and W multiples of :attr:`multiple`.
            rngs: random streams for dropout; without them dropout is off (inference).
        """
        x = jnp.asarray(x)
        if x.ndim != 4 or x.shape[-1] != self.config.in_channels:
            raise ModelError(
                f"model input has shape {tuple(x.shape)}; expected (batch, H, W,"
                f" {self.config.in_channels}) normalized with ModelMetadata.normalize."
            )
        m = self.multiple
        if x.shape[1] % m or x.shape[2] % m:
            raise ModelError(
                f"input height/width {x.shape[1]}x{x.shape[2]} must be multiples of {m}: pad the"
                " tile (inference tiling does this) or crop chips to a multiple."
            )
        x = x.astype(jnp.dtype(self.config.dtype))
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = jnp.asarray(nnx.max_pool(x, (2, 2), strides=(2, 2)))
            x = block(x)
            skips.append(x)
        if self.dropout is not None and rngs is not None:
            x = self.dropout(x, rngs=rngs)
        for i in reversed(range(len(self.dec))):
            x = self.up[i](x)
            x = self.dec[i](jnp.concatenate([x, skips[i]], axis=-1))
        return self.head(x).astype(jnp.float32)


def _resolve_config(preset: str | UNetConfig) -> tuple[str | None, UNetConfig]:
    if isinstance(preset, UNetConfig):
        return None, preset
    if preset not in PRESETS:
        raise ModelError(f"unknown model preset {preset!r}: choose one of {sorted(PRESETS)}.")
    return preset, PRESETS[preset]


def build_model(
    preset: str | UNetConfig = "small",
    bands: tuple[str, ...] | list[str] = BANDS,
    seed: int = 0,
    *,
    indices: tuple[str, ...] | list[str] = (),
    dtype: str | None = None,
) -> UNet:
    """A freshly initialized U-Net.

    Args:
        preset: a preset name (``tiny``, ``small``, ``standard``) or a :class:`UNetConfig`.
        bands: input bands, in channel order.
        seed: initialization seed.
        indices: derived spectral indices appended as channels (keys of :data:`INDICES`).
        dtype: override the compute dtype (``"float32"`` / ``"bfloat16"``).

    Returns:
        The network in evaluation mode (call ``net.train()`` before training it).
    """
    _, cfg = _resolve_config(preset)
    _check_indices(tuple(indices), tuple(bands))
    cfg = replace(cfg, in_channels=len(bands) + len(indices))
    if dtype is not None:
        cfg = replace(cfg, dtype=dtype)
    net = nnx.eval_shape(lambda: UNet(cfg, rngs=nnx.Rngs(0)))
    rng = np.random.default_rng(seed)
    arrays = {k: _init_value(k, shape, rng) for k, shape in _flat_state_shapes(net).items()}
    _assign(net, arrays)
    # Inference-ready: BatchNorm uses its running statistics and dropout is off until a
    # trainer calls ``net.train()``.
    net.eval()
    return net


def _init_value(key: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """He-normal (truncated at 2 sigma) kernels, zero biases/means, unit scales/variances.

    Drawn with numpy: XLA on CPU takes seconds to compile each random-normal program, which
    made building even the tiny model take 10+ seconds.
    """
    name = key.rsplit("/", 1)[-1]
    if name == "kernel":
        fan_in = int(np.prod(shape[:-1]))
        z = rng.standard_normal(shape)
        while np.any(out := np.abs(z) > 2.0):
            z[out] = rng.standard_normal(int(out.sum()))
        # 0.8796 is the std of a standard normal truncated at +-2
        return (z * np.sqrt(2.0 / fan_in) / 0.87962566).astype(np.float32)
    if name in ("scale", "var"):
        return np.ones(shape, np.float32)
    return np.zeros(shape, np.float32)


def _check_indices(indices: tuple[str, ...], bands: tuple[str, ...]) -> None:
    for name in indices:
        if name not in INDICES:
            raise ModelError(f"unknown index {name!r}: choose from {sorted(INDICES)}.")
        missing = [b for b in INDICES[name] if b not in bands]
        if missing:
            raise ModelError(f"index {name!r} needs bands {missing} which are not model inputs.")


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
        _check_indices(self.indices, self.bands)

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
        xf = x.astype(np.float32)
        bad = np.any(np.isnan(xf) | (xf == FILL), axis=-1, keepdims=True)
        mean, std = self.stats(sensor)
        out = (xf - mean) / std
        if self.indices:
            pos = {b: i for i, b in enumerate(self.bands)}
            extra = []
            for name in self.indices:
                a, b = (xf[..., pos[n]] for n in INDICES[name])
                with np.errstate(divide="ignore", invalid="ignore"):
                    extra.append(np.where(np.abs(a + b) > 1e-6, (a - b) / (a + b), 0.0))
            out = np.concatenate([out, np.stack(extra, axis=-1).astype(np.float32)], axis=-1)
        out = np.where(bad, 0.0, out)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

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


def _flat_state(net: UNet) -> dict[str, np.ndarray]:
    pure = nnx.to_pure_dict(nnx.state(net, _SAVED))
    out: dict[str, np.ndarray] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        else:
            out[prefix] = np.asarray(jax.device_get(node), dtype=np.float32)

    walk("", pure)
    return out


def save_model(path: str | os.PathLike[str], net: UNet, meta: ModelMetadata) -> Path:
    """Write ``net`` and ``meta`` to the directory ``path`` atomically.

    The directory is assembled next to ``path`` and renamed into place, so an interrupted save
    never leaves a half-written model; an existing model directory at ``path`` is replaced.

    Returns:
        The model directory.
    """
    meta.validate()
    if meta.config != net.config:
        raise ModelError("metadata architecture differs from the network's: build metadata with"
                         " ModelMetadata.for_model(net, ...).")  # fmt: skip
    dest = Path(path)
    if dest.exists() and not dest.is_dir():
        raise ModelError(f"{dest} exists and is not a directory: choose another model path.")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / METADATA_FILE).exists():
        raise ModelError(f"{dest} is a non-empty directory that is not a model: refusing to"
                         " overwrite it; choose an empty or new path.")  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with open(tmp / WEIGHTS_FILE, "wb") as f:
            np.savez(f, allow_pickle=False, **_flat_state(net))
        (tmp / METADATA_FILE).write_text(json.dumps(meta.to_dict(), indent=2) + "\n")
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _model_dir(path: str | os.PathLike[str]) -> Path:
    d = Path(path)
    if not (d / METADATA_FILE).exists() and (d / "model" / METADATA_FILE).is_file():
        return d / "model"  # a training run folder
    return d


def read_metadata(path: str | os.PathLike[str]) -> ModelMetadata:
    """Read only ``model.json`` of a model directory (no JAX work).

    ``path`` may also be a ``hlsmap train`` run folder holding the model in ``model/``.
    """
    d = _model_dir(path)
    if not d.is_dir():
        raise ModelError(f"model directory {d} does not exist: train one with `hlsmap train` or"
                         " pass the path of a saved model.")  # fmt: skip
    mfile = d / METADATA_FILE
    if not mfile.is_file():
        raise ModelError(f"{d} is not an hlsmap model: it has no {METADATA_FILE}.")
    try:
        doc = json.loads(mfile.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{mfile} is not valid JSON ({exc}): the model is corrupt.") from None
    return ModelMetadata.from_dict(doc, where=str(mfile))


def load_model(path: str | os.PathLike[str]) -> tuple[UNet, ModelMetadata]:
    """Load a model directory written by :func:`save_model`.

    Weights are read with ``allow_pickle=False``: loading never executes code.

    Returns:
        ``(net, meta)`` with ``net`` in evaluation mode.

    Raises:
        ModelError: the directory is missing, foreign, corrupt or from a newer format.
    """
    meta = read_metadata(path)
    wfile = _model_dir(path) / WEIGHTS_FILE
    if not wfile.is_file():
        raise ModelError(f"{wfile.parent} has no {WEIGHTS_FILE}: the model is incomplete.")
    try:
        with np.load(wfile, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"{wfile} cannot be read ({exc}): the weights are corrupt.") from None
    net = nnx.eval_shape(lambda: UNet(meta.config, rngs=nnx.Rngs(0)))
    expected = _flat_state_shapes(net)
    if set(arrays) != set(expected):
        missing = sorted(set(expected) - set(arrays))[:3]
        extra = sorted(set(arrays) - set(expected))[:3]
        raise ModelError(f"{wfile} does not match the architecture in {METADATA_FILE} (missing"
                         f" {missing}, unexpected {extra}): the model is corrupt.")  # fmt: skip
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise ModelError(f"{wfile}: {k} has shape {arrays[k].shape}, expected {shape}.")
    _assign(net, arrays)
    net.eval()
    return net, meta


def _assign(net: UNet, arrays: dict[str, np.ndarray]) -> None:
    """Set the saved variables of ``net`` (possibly abstract) from flat arrays."""
    state = nnx.state(net, _SAVED)
    pure = nnx.to_pure_dict(state)
    _fill(pure, "", arrays)
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(net, state)


def _flat_state_shapes(net: UNet) -> dict[str, tuple[int, ...]]:
    pure = nnx.to_pure_dict(nnx.state(net, _SAVED))
    out: dict[str, tuple[int, ...]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        else:
            out[prefix] = tuple(node.shape)

    walk("", pure)
    return out


def _fill(node: dict[Any, Any], prefix: str, arrays: dict[str, np.ndarray]) -> None:
    for k in list(node):
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(node[k], dict):
            _fill(node[k], key, arrays)
        else:
            node[k] = jnp.asarray(arrays[key])


def count_params(net: UNet) -> int:
    """Number of trainable parameters."""
    return int(sum(np.prod(a.shape) for a in jax.tree.leaves(nnx.state(net, nnx.Param))))
