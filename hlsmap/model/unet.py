"""The U-Net (Flax NNX): architecture config, named presets, construction.

``net(x)`` takes ``(B, H, W, C)`` normalized inputs (H, W multiples of ``net.multiple``) and
returns float32 logits ``(B, H, W, 10)``; channel ``i`` is the class with raster code ``i + 1``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from hlsmap.classes import NUM_CLASSES
from hlsmap.errors import ModelError

_SAVED = (nnx.Param, nnx.BatchStat)  # a tuple filter: either kind of variable is saved

BANDS: tuple[str, ...] = ("blue", "green", "red", "nir08", "swir16", "swir22")
"""The harmonized band order used as the model's default channel order."""

FILL = -9999
"""HLS reflectance fill value."""

# Spectral indices the metadata can derive from reflectance, as (a, b) -> (a - b) / (a + b).
INDICES: dict[str, tuple[str, str]] = {
    "ndvi": ("nir08", "red"),
    "ndwi": ("green", "nir08"),
    "ndbi": ("swir16", "nir08"),
    "mndwi": ("green", "swir16"),
}


def check_indices(indices: tuple[str, ...], bands: tuple[str, ...]) -> None:
    for name in indices:
        if name not in INDICES:
            raise ModelError(f"unknown index {name!r}: choose from {sorted(INDICES)}.")
        missing = [b for b in INDICES[name] if b not in bands]
        if missing:
            raise ModelError(f"index {name!r} needs bands {missing} which are not model inputs.")


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
    check_indices(tuple(indices), tuple(bands))
    cfg = replace(cfg, in_channels=len(bands) + len(indices))
    if dtype is not None:
        cfg = replace(cfg, dtype=dtype)
    net = nnx.eval_shape(lambda: UNet(cfg, rngs=nnx.Rngs(0)))
    rng = np.random.default_rng(seed)
    arrays = {k: _init_value(k, shape, rng) for k, shape in flat_state_shapes(net).items()}
    assign_state(net, arrays)
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


def flat_state(net: nnx.Module) -> dict[str, np.ndarray]:
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


def assign_state(net: nnx.Module, arrays: dict[str, np.ndarray]) -> None:
    """Set the saved variables of ``net`` (possibly abstract) from flat arrays."""
    state = nnx.state(net, _SAVED)
    pure = nnx.to_pure_dict(state)
    _fill(pure, "", arrays)
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(net, state)


def flat_state_shapes(net: nnx.Module) -> dict[str, tuple[int, ...]]:
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
