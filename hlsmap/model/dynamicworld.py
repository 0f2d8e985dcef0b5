"""Dynamic World's network (Brown et al. 2022) in Flax NNX: constants, input normalisation, model.

An exact, TensorFlow-free port of the published forward SavedModel (``google/dynamicworld``,
``model/forward``): it reproduces TensorFlow's logits to ~1e-5 (``tests/model``). Weights come
from :func:`hlsmap.model.dw_convert.convert_savedmodel`.

Network (read from the SavedModel's Keras config; "CBM" = conv with bias -> BatchNorm
(inference, epsilon 1e-3) -> Mish):

    x (B, H, W, 9) -> stem 3x3 CBM 9->64 -> antialiased resize to (H // 2, W // 2)
      -> skip: 1x1 CBM 64->48, depthwise 3x3 CBM
      -> block1 64->96 -> block2 96->144 -> concat(block2, skip) -> block3 192->144
      (a block: 3 x [1x1 CBM, depthwise 3x3 CBM] + 1x1 CBM shortcut, summed)
      -> bilinear resize to (H, W) -> L2 normalise over channels -> 1x1 conv 144->9 = logits

Constants and :func:`normalize_dn` are NumPy; the NNX classes need JAX (importing this module
imports it, as ``hlsmap.model`` does already).
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from hlsmap.errors import ModelError
from hlsmap.model.resize import resize_bilinear, resize_half_antialias
from hlsmap.model.unet import assign_state, flat_state, flat_state_shapes

DW_BANDS: tuple[str, ...] = (
    "blue", "green", "red", "rededge071", "rededge075", "rededge078", "nir", "swir16", "swir22",
)  # fmt: skip
"""hlsmap band names of the network's inputs, in channel order (Sentinel-2 B2 ... B12)."""

DW_ASSETS: tuple[str, ...] = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B11", "B12")
"""Sentinel-2 / HLS S30 asset names of the inputs, in channel order."""

DW_CLASSES: tuple[str, ...] = (
    "water", "trees", "grass", "flooded_vegetation", "crops", "shrub_and_scrub", "built",
    "bare", "snow_and_ice",
)  # fmt: skip
"""The nine output classes, in logit order."""

DW_NORM: tuple[tuple[float, float], ...] = (
    (1.7417268007636313, 2.023298706048351),
    (1.7261204997060209, 2.038905204308012),
    (1.6798346251414997, 2.179592821212937),
    (1.7734969472909623, 2.2890068333026603),
    (2.289154079164943, 2.6171674549378166),
    (2.382939712192371, 2.773418590375327),
    (2.3828939530384052, 2.7578332604178284),
    (2.1952484264967844, 2.789092484314204),
    (1.554812948247501, 2.4140534947492487),
)
"""Per band ``(a, b)`` of the log-sigmoid normalisation (see :func:`normalize_dn`)."""

DW_RESOLUTION = 10.0
"""Grid resolution (m) the network was trained at."""

NUM_BANDS = len(DW_BANDS)
NUM_CLASSES = len(DW_CLASSES)
BN_EPSILON = 1e-3  # Keras BatchNormalization's default, as in the SavedModel's config

# Input pixels beyond which an input cannot affect an output: full-res output i reads half-res
# pixels floor(i/2 - 1/4) .. +1 (bilinear), widened by 9 at half resolution (nine depthwise
# 3x3 convs on the main path: three per block; the skip branch has one), each half-res pixel j
# reads the stem at 2j-1 .. 2j+2 (antialiased triangle, support 2 source pixels each side),
# and the stem's 3x3 conv adds 1: i - 22 .. i + 21 (even i) or i - 21 .. i + 22 (odd i).
RECEPTIVE_RADIUS: int = 22
"""Radius (input pixels) beyond which an input pixel cannot change an output pixel."""

TILE_ALIGN = 2
"""Tiles must start at offsets and have sizes that are multiples of this to be exact (the
half-size resize's sampling grid follows the tile's origin, and odd sizes change its scale)."""


def normalize_dn(dn: np.ndarray) -> np.ndarray:
    """Sentinel-2 L1C DN (reflectance x 10,000) -> network input.

    Per band: ``v = ln(DN * 0.005 + 1)``, ``v = (v - a) / b``, ``x = sigmoid(5 v - 1)`` with
    ``(a, b)`` from :data:`DW_NORM`, computed in float64 (as the reference was) and returned
    as float32.

    Args:
        dn: ``(..., 9)`` digital numbers in :data:`DW_BANDS` order (any numeric dtype). Fill
            values must be masked by the caller; negative DN count as 0.

    Returns:
        ``(..., 9)`` float32 in (0, 1).
    """
    dn = np.asarray(dn)
    if dn.shape[-1:] != (NUM_BANDS,):
        raise ModelError(
            f"Dynamic World input has shape {dn.shape}: the last axis must be the"
            f" {NUM_BANDS} bands {DW_ASSETS}."
        )
    from hlsmap.model.normalize import log_sigmoid  # the formula, defined once

    return log_sigmoid(dn, [p[0] for p in DW_NORM], [p[1] for p in DW_NORM])


def mish(x: jax.Array) -> jax.Array:
    """``x * tanh(softplus(x))`` (Misra 2019)."""
    return x * jnp.tanh(jax.nn.softplus(x))


def depthwise_conv(conv: nnx.Conv, x: jax.Array) -> jax.Array:
    """``conv`` (a depthwise ``nnx.Conv``, SAME padding, odd kernel) as shifted multiply-adds.

    XLA:CPU lowers ``feature_group_count == channels`` convolutions to a slow generic loop:
    on a 512 px tile the nine shifted, channel-wise multiply-adds of a 3x3 kernel (which XLA
    fuses into one loop) run the whole network 2-5x faster, with the same sums.
    """
    kernel = conv.kernel[...]  # (kh, kw, 1, C)
    kh, kw = int(kernel.shape[0]), int(kernel.shape[1])
    dt = conv.dtype or x.dtype
    x = x.astype(dt)
    kernel = kernel.astype(dt)
    h, w = x.shape[1], x.shape[2]
    xp = jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    y: jax.Array | None = None
    for i in range(kh):
        for j in range(kw):
            term = xp[:, i : i + h, j : j + w, :] * kernel[i, j, 0]
            y = term if y is None else y + term
    assert y is not None and conv.bias is not None
    return y + conv.bias[...].astype(dt)


class CBM(nnx.Module):
    """Conv (with bias) -> inference BatchNorm (epsilon 1e-3) -> Mish.

    ``depthwise=True`` makes a depthwise 3x3 conv (one filter per channel, ``cout == cin``),
    computed by :func:`depthwise_conv` (same weights as the grouped ``nnx.Conv`` it holds).
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        *,
        depthwise: bool = False,
        dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.conv = nnx.Conv(
            cin,
            cout,
            (kernel, kernel),
            padding="SAME",
            feature_group_count=cin if depthwise else 1,
            dtype=dtype,
            rngs=rngs,
        )
        self.norm = nnx.BatchNorm(
            cout, epsilon=BN_EPSILON, use_running_average=True, dtype=dtype, rngs=rngs
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.conv.feature_group_count > 1:
            return mish(self.norm(depthwise_conv(self.conv, x)))
        return mish(self.norm(self.conv(x)))


class ResidualBlock(nnx.Module):
    """Three ``[1x1 CBM, depthwise 3x3 CBM]`` pairs plus a 1x1 CBM shortcut, summed."""

    def __init__(self, cin: int, cout: int, *, dtype: Any, rngs: nnx.Rngs) -> None:
        layers = []
        for i in range(3):
            layers.append(CBM(cin if i == 0 else cout, cout, 1, dtype=dtype, rngs=rngs))
            layers.append(CBM(cout, cout, 3, depthwise=True, dtype=dtype, rngs=rngs))
        self.layers = nnx.List(layers)
        self.shortcut = CBM(cin, cout, 1, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x
        for layer in self.layers:
            y = layer(y)
        # No activation after the sum (as in the SavedModel).
        return y + self.shortcut(x)


class DynamicWorldNet(nnx.Module):
    """Dynamic World's forward network (231,209 parameters incl. BatchNorm statistics).

    Call ``net(x)`` with ``x`` ``(B, H, W, 9)`` float32 from :func:`normalize_dn` (any H, W
    >= 2, odd included); it returns float32 logits ``(B, H, W, 9)`` in :data:`DW_CLASSES`
    order (no softmax). Built in evaluation mode: BatchNorm uses its running statistics.
    """

    def __init__(self, *, rngs: nnx.Rngs, dtype: str = "float32") -> None:
        if dtype not in ("float32", "bfloat16"):
            raise ModelError(f"DynamicWorldNet dtype={dtype!r}: use 'float32' or 'bfloat16'.")
        self.dtype = dtype
        self.in_channels = NUM_BANDS  # what exporters (OpenVINO) read, like UNet's config
        dt = jnp.dtype(dtype)
        self.stem = CBM(NUM_BANDS, 64, 3, dtype=dt, rngs=rngs)
        self.skip_pw = CBM(64, 48, 1, dtype=dt, rngs=rngs)
        self.skip_dw = CBM(48, 48, 3, depthwise=True, dtype=dt, rngs=rngs)
        self.block1 = ResidualBlock(64, 96, dtype=dt, rngs=rngs)
        self.block2 = ResidualBlock(96, 144, dtype=dt, rngs=rngs)
        self.block3 = ResidualBlock(144 + 48, 144, dtype=dt, rngs=rngs)
        self.head = nnx.Conv(144, NUM_CLASSES, (1, 1), dtype=dt, rngs=rngs)

    def embedding(self, x: ArrayLike) -> jax.Array:
        """The L2-normalised 144-d per-pixel embedding ``(B, H, W, 144)`` the head reads."""
        x = jnp.asarray(x)
        if x.ndim != 4 or x.shape[-1] != NUM_BANDS or x.shape[1] < 2 or x.shape[2] < 2:
            raise ModelError(
                f"Dynamic World input has shape {tuple(x.shape)}; expected (batch, H, W,"
                f" {NUM_BANDS}) with H, W >= 2, normalised with normalize_dn."
            )
        h, w = x.shape[1], x.shape[2]
        x = self.stem(x.astype(jnp.dtype(self.dtype)))
        x = resize_half_antialias(x)
        skip = self.skip_dw(self.skip_pw(x))
        x = self.block2(self.block1(x))
        x = self.block3(jnp.concatenate([x, skip], axis=-1))
        x = resize_bilinear(x, (h, w))
        # tf.math.l2_normalize: x * rsqrt(max(sum x^2, 1e-12)); in float32 for stability.
        x = x.astype(jnp.float32)
        return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), 1e-12))

    def __call__(self, x: ArrayLike) -> jax.Array:
        e = self.embedding(x).astype(jnp.dtype(self.dtype))
        return self.head(e).astype(jnp.float32)


def build_dynamicworld(
    arrays: dict[str, np.ndarray] | None = None, *, dtype: str = "float32"
) -> DynamicWorldNet:
    """A :class:`DynamicWorldNet`, with the given weights or NNX's random initialisation.

    Args:
        arrays: flat weights as from :func:`flat_weights` / ``convert_savedmodel``.
        dtype: compute dtype, ``"float32"`` or ``"bfloat16"``.
    """
    if arrays is None:
        return DynamicWorldNet(rngs=nnx.Rngs(0), dtype=dtype)
    # Abstract construction: XLA would otherwise compile ~50 random initialisers (seconds on
    # CPU) only for the values to be overwritten.
    net = nnx.eval_shape(lambda: DynamicWorldNet(rngs=nnx.Rngs(0), dtype=dtype))
    assign_weights(net, arrays)
    return net


def weight_shapes(net: DynamicWorldNet) -> dict[str, tuple[int, ...]]:
    """``{flat name: shape}`` of the network's saved variables (params + BatchNorm stats)."""
    # unet's state helpers are generic over NNX modules; only their annotations say UNet.
    return flat_state_shapes(cast(Any, net))


def flat_weights(net: DynamicWorldNet) -> dict[str, np.ndarray]:
    """``{flat name: float32 array}``: every parameter and BatchNorm statistic.

    Names follow the module tree, e.g. ``stem/conv/kernel``, ``block1/layers/1/norm/mean``,
    ``head/bias`` (what ``weights.npz`` stores).
    """
    return flat_state(cast(Any, net))


def assign_weights(net: DynamicWorldNet, arrays: dict[str, np.ndarray]) -> None:
    """Set every parameter and BatchNorm statistic of ``net`` from flat arrays.

    Raises:
        ModelError: a name is missing or extra, or a shape differs.
    """
    shapes = weight_shapes(net)
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise ModelError(
            f"Dynamic World weights do not fit the network: missing {missing[:3]}, unexpected"
            f" {extra[:3]}; convert the SavedModel again with convert_savedmodel."
        )
    for k, shape in shapes.items():
        if tuple(np.shape(arrays[k])) != shape:
            raise ModelError(
                f"Dynamic World weight {k!r} has shape {np.shape(arrays[k])}, the network"
                f" needs {shape}; convert the SavedModel again with convert_savedmodel."
            )
    assign_state(cast(Any, net), {k: np.asarray(v, np.float32) for k, v in arrays.items()})
