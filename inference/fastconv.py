"""bfloat16 convolutions that XLA's CPU backend keeps in bfloat16.

XLA:CPU wraps every bf16 *convolution* in converts to float32, so ``compute_dtype=bf16`` buys
nothing on CPU. It does keep a bf16 ``dot_general`` with a float32 accumulator
(``preferred_element_type``) on the CPU's bf16 units (measured on the 2-core Zen 4 dev box:
~180 GFLOP/s against ~90 for the float32 dot). A stride-1 ``k x k`` convolution is a sum of
``k * k`` shifted matrix products, so wide layers (many input channels: compute-bound) run as
bf16 dots while narrow, high-resolution layers (memory-bound, where the dots lose) stay float32
convolutions. Accumulation, normalization and activations stay float32.

:func:`use_bf16_dots` installs this on a copy of an ``nnx`` model through ``nnx.Conv``'s own
``conv_general_dilated`` hook, so it works for any model built from ``nnx.Conv``.
"""

from __future__ import annotations

from typing import Any

MIN_CHANNELS = 128
"""Input channels from which a convolution runs as bf16 matrix products."""


def _is_nhwc_hwio(dimension_numbers: Any, ndim: int) -> bool:
    from jax import lax

    if dimension_numbers is None or ndim != 4:
        return False
    want = lax.conv_dimension_numbers((1, 1, 1, 1), (1, 1, 1, 1), ("NHWC", "HWIO", "NHWC"))
    return tuple(dimension_numbers) == tuple(want)


def make_bf16_dot_conv(min_channels: int = MIN_CHANNELS) -> Any:
    """A drop-in ``lax.conv_general_dilated`` that runs wide stride-1 convs as bf16 dots."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(
        lhs: Any,
        rhs: Any,
        window_strides: Any,
        padding: Any,
        lhs_dilation: Any = None,
        rhs_dilation: Any = None,
        dimension_numbers: Any = None,
        feature_group_count: int = 1,
        precision: Any = None,
        **kwargs: Any,
    ) -> Any:
        plain = (
            _is_nhwc_hwio(dimension_numbers, lhs.ndim)
            and tuple(window_strides) == (1, 1)
            and all(d == 1 for d in (lhs_dilation or (1, 1)))
            and all(d == 1 for d in (rhs_dilation or (1, 1)))
            and feature_group_count == 1
            and rhs.shape[2] >= min_channels
        )
        if not plain:
            return lax.conv_general_dilated(
                lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
                feature_group_count=feature_group_count, precision=precision, **kwargs,
            )  # fmt: skip
        kh, kw = rhs.shape[0], rhs.shape[1]
        if isinstance(padding, str):
            if padding == "SAME":
                pads = [((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)]
            else:  # VALID
                pads = [(0, 0), (0, 0)]
        else:
            pads = [tuple(p) for p in padding]
        x = jnp.pad(lhs.astype(jnp.bfloat16), ((0, 0), pads[0], pads[1], (0, 0)))
        h = x.shape[1] - kh + 1
        w = x.shape[2] - kw + 1
        k = rhs.astype(jnp.bfloat16)
        out: Any = None
        for i in range(kh):
            for j in range(kw):
                part = jax.lax.dot_general(
                    x[:, i : i + h, j : j + w, :], k[i, j], (((3,), (0,)), ((), ())),
                    preferred_element_type=jnp.float32,
                )  # fmt: skip
                out = part if out is None else out + part
        return out.astype(lhs.dtype)

    return conv


def use_bf16_dots(model: Any, min_channels: int = MIN_CHANNELS) -> Any:
    """A copy of ``model`` whose wide ``nnx.Conv`` layers run as bf16 matrix products.

    Args:
        model: an ``nnx.Module`` (left unchanged).
        min_channels: input channels from which a layer switches to bf16 dots.

    Returns:
        The copy, with the same parameters (still float32; cast per call).
    """
    from flax import nnx

    clone = nnx.clone(model)
    conv = make_bf16_dot_conv(min_channels)
    for _, node in nnx.iter_graph(clone):
        if isinstance(node, nnx.Conv) and not isinstance(node, nnx.ConvTranspose):
            node.conv_general_dilated = conv
    return clone
