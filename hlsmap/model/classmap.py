"""A model's classes onto hlsmap's class table: logits in hlsmap's order, every class present.

The pipeline (kernels, quantized probabilities, consensus) works on logits whose channel ``i``
is the class with code ``i + 1``. A model whose classes differ (Dynamic World: nine classes, no
cloud class) is wrapped so that its logits land on their codes and every class it does not
predict gets a logit so low that its probability is exactly 0 after softmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hlsmap.classes import NUM_CLASSES

ABSENT_LOGIT = -1.0e4
"""Logit of a class the model does not predict: exp(-1e4 - max) underflows to 0 in float32
and bfloat16 alike, while staying finite (no NaN from inf - inf)."""


def is_identity(codes: Sequence[int]) -> bool:
    """Whether logits with these class codes already are in hlsmap's order."""
    return tuple(codes) == tuple(range(1, NUM_CLASSES + 1))


class ClassMapped(nnx.Module):
    """``inner``'s logits placed on hlsmap's class codes.

    Args:
        inner: a network returning ``(B, H, W, len(codes))`` logits.
        codes: the hlsmap class code of each of ``inner``'s logits.
    """

    def __init__(self, inner: nnx.Module, codes: Sequence[int]) -> None:
        self.inner = inner
        self.codes = tuple(int(c) for c in codes)
        self.multiple = int(getattr(inner, "multiple", 1))

    def __call__(self, x: jax.Array) -> jax.Array:
        logits = self.inner(x)
        out = jnp.full((*logits.shape[:-1], NUM_CLASSES), ABSENT_LOGIT, logits.dtype)
        return out.at[..., np.asarray(self.codes) - 1].set(logits)
