"""Dynamic World's network exported to OpenVINO: the fast CPU kernel for ``--model dynamicworld``.

The graph is built layer for layer from the NNX port's weights (:mod:`hlsmap.model.dynamicworld`)
with the helpers of :mod:`hlsmap.inference.openvino_kernel`, so nothing is traced and no file is
executed:

* CBM blocks: convolution with BatchNorm folded into its weights and bias, then OpenVINO's
  ``Mish``; the depthwise 3x3 convolutions as ``GroupConvolution`` (one group per channel:
  oneDNN's depthwise kernel, measured faster than nine shifted multiply-adds here).
* The antialiased half-size resize and the half-pixel bilinear upsize with the very taps the
  JAX port uses (:func:`hlsmap.model.resize.antialias_taps` / ``bilinear_taps``): per axis and
  tap a ``Gather`` times a weight, summed in the same order. That is exact for every size,
  odd ones included, and costs ``K`` (2..5) multiply-adds per value, where a dense resize
  matrix would cost the whole axis length (``Interpolate`` is not used: its antialiased
  triangle mode does not reproduce TensorFlow's ``ScaleAndTranslate`` spans on odd sizes).
* ``NormalizeL2`` (``x / sqrt(max(sum x^2, 1e-12))``, TensorFlow's ``l2_normalize``) and the
  1x1 head; :func:`hlsmap.inference.openvino_kernel.classmapped_logits` places the nine logits
  on hlsmap's ten classes.

Registered in :mod:`hlsmap.inference.openvino_kernel` for ``DynamicWorldNet``, so
``Predictor(runtime="openvino")`` and ``OpenVINOKernel`` run it like the U-Net.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlsmap.errors import ConfigError
from hlsmap.inference.openvino_kernel import Builder, conv_weights


def cbm(b: Builder, x: Any, layer: Any) -> Any:
    """A CBM layer (conv + bias -> BatchNorm -> Mish); depthwise when its conv is grouped."""
    conv = layer.conv
    if int(conv.feature_group_count) == 1:
        return b.ops.mish(b.conv(x, conv, layer.norm))
    w, bias = conv_weights(conv, layer.norm)  # (C, 1, 3, 3)
    c, _, kh, kw = w.shape
    y = b.ops.group_convolution(
        x,
        b.const(w.reshape(c, 1, 1, kh, kw)),
        [1, 1],
        [(kh - 1) // 2, (kw - 1) // 2],
        [kh // 2, kw // 2],
        [1, 1],
    )
    return b.ops.mish(b.ops.add(y, b.const(bias.reshape(1, -1, 1, 1))))


def residual_block(b: Builder, x: Any, block: Any) -> Any:
    """Three ``[1x1 CBM, depthwise 3x3 CBM]`` pairs plus the 1x1 CBM shortcut, summed."""
    y = x
    for layer in block.layers:
        y = cbm(b, y, layer)
    return b.ops.add(y, cbm(b, x, block.shortcut))


def apply_taps(b: Builder, x: Any, taps: tuple[np.ndarray, np.ndarray], axis: int) -> Any:
    """Resample NCHW ``x`` along ``axis`` with a tap list, as ``hlsmap.model.resize`` does."""
    ops = b.ops
    idx, w = taps
    shape = [1, 1, 1, 1]
    shape[axis] = idx.shape[0]
    out = None
    for k in range(idx.shape[1]):
        term = ops.multiply(
            ops.gather(x, ops.constant(idx[:, k].astype(np.int64)), ops.constant(np.int64(axis))),
            b.const(w[:, k].reshape(shape)),
        )
        out = term if out is None else ops.add(out, term)
    return out


def half_size_conv(b: Builder, x: Any, height: int, width: int) -> Any:
    """The antialiased half-size resize of an even ``height x width`` NCHW ``x`` as one
    stride-2 depthwise 4x4 convolution plus a per-pixel edge factor.

    Why: ``Gather`` runs on OpenVINO's plain layout, so each one costs two reorders of the
    64-channel stem output besides the gather itself. For an even axis TF's spans are the
    same four taps ``(1, 3, 3, 1) / 8`` at stride 2 everywhere; at the two edges one tap falls
    off the image and the remaining three are renormalised, which equals the zero-padded
    convolution times ``1 / sum(valid taps)``. Same sums as the taps path up to float32
    rounding (tests: golden logits and the taps path).
    """
    # TF's triangle weights at sample offsets -1.5, -0.5, 0.5, 1.5 (kernel widened to 2)
    k = np.array([0.25, 0.75, 0.75, 0.25]) / 2.0

    def axis(n: int) -> tuple[np.ndarray, np.ndarray]:
        # output o covers sources 2o-1 .. 2o+2; factor = 1 / (weight of those inside the image)
        valid = [sum(k[j] for j in range(4) if 0 <= 2 * o - 1 + j < n) for o in range(n // 2)]
        return k, (1.0 / np.array(valid)).astype(np.float32)

    kh, fh = axis(height)
    kw, fw = axis(width)
    c = int(x.get_output_partial_shape(0)[1].get_length())
    kernel = np.outer(kh, kw).astype(np.float32)
    y = b.ops.group_convolution(
        x, b.const(np.broadcast_to(kernel, (c, 1, 1, 4, 4))), [2, 2], [1, 1], [1, 1], [1, 1]
    )
    edge = np.outer(fh, fw).reshape(1, 1, height // 2, width // 2)
    if np.all(edge == 1.0):
        return y
    return b.ops.multiply(y, b.const(edge))


def double_size_conv(b: Builder, x: Any, height: int, width: int) -> Any:
    """TF's half-pixel bilinear resize of NCHW ``x`` to exactly twice its size, as an
    edge-replicating pad plus one stride-2 depthwise transposed 4x4 convolution.

    For a 2x upsize every output is ``0.75`` of its nearer and ``0.25`` of its farther source
    pixel, the edge pixel repeated off the image: with one pixel of edge padding that is a
    transposed convolution with taps ``(1, 3, 3, 1) / 4`` cropped by 3 on each side. No
    ``Gather``, so no reorders out of and back into OpenVINO's blocked layout.
    """
    ops = b.ops
    import openvino.opset12 as ops12

    c = int(x.get_output_partial_shape(0)[1].get_length())
    k = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
    pad = ops12.pad(
        x,
        ops.constant(np.array([0, 0, 1, 1], np.int64)),
        ops.constant(np.array([0, 0, 1, 1], np.int64)),
        "edge",
    )
    kernel = np.broadcast_to(np.outer(k, k), (c, 1, 1, 4, 4))
    return ops.group_convolution_backprop_data(
        pad, b.const(kernel), [2, 2], pads_begin=[3, 3], pads_end=[3, 3]
    )


def dynamicworld_logits(
    b: Builder, net: Any, x: Any, height: int, width: int, *, resize: str = "auto"
) -> Any:
    """Logits ``(B, 9, H, W)`` of a :class:`~hlsmap.model.dynamicworld.DynamicWorldNet`.

    An :data:`~hlsmap.inference.openvino_kernel.Exporter`; ``x`` is NCHW ``(B, 9, H, W)``.

    Raises:
        ConfigError: the network computes in bfloat16 (export the float32 network and ask for
            OpenVINO's bf16 precision instead), or the window is smaller than 2 x 2.
    """
    from hlsmap.model.resize import antialias_taps, bilinear_taps

    if net.dtype != "float32":
        raise ConfigError(
            f"runtime 'openvino' exports Dynamic World's float32 weights, not {net.dtype}: load"
            " the float32 model and pick bf16 with compute_dtype=bfloat16"
        )
    if height < 2 or width < 2:
        raise ConfigError(f"Dynamic World needs windows of at least 2x2, not {height}x{width}")
    ops = b.ops
    # even sides: the resizes as depthwise convolutions (no Gathers, no layout reorders)
    fast = resize == "auto" and height % 2 == 0 and width % 2 == 0
    x = cbm(b, x, net.stem)
    if fast:
        x = half_size_conv(b, x, height, width)
    else:
        x = apply_taps(b, x, antialias_taps(height, height // 2), 2)
        x = apply_taps(b, x, antialias_taps(width, width // 2), 3)
    skip = cbm(b, cbm(b, x, net.skip_pw), net.skip_dw)
    x = residual_block(b, residual_block(b, x, net.block1), net.block2)
    x = residual_block(b, ops.concat([x, skip], 1), net.block3)
    if fast:
        x = double_size_conv(b, x, height // 2, width // 2)
    else:
        x = apply_taps(b, x, bilinear_taps(height // 2, height), 2)
        x = apply_taps(b, x, bilinear_taps(width // 2, width), 3)
    x = ops.normalize_l2(x, ops.constant(np.array([1], np.int64)), 1e-12, "max")
    return b.conv(x, net.head)
