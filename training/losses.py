"""Class-weighted cross-entropy with an ignore value, and the class weights it uses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hlsmap.classes import NUM_CLASSES


def class_weights(counts: np.ndarray, power: float = 0.5, clip: float = 10.0) -> np.ndarray:
    """Loss weights per logit index from pixel counts per class code.

    Median-frequency balancing softened by ``power``: ``w_c = (median / freq_c) ** power``,
    clipped to ``[1/clip, clip]`` and rescaled so the labelled pixels' mean weight is 1.
    Classes absent from the data get weight 0 (they cannot be learned from it).

    Args:
        counts: pixels per class code ``0..NUM_CLASSES`` (code 0, unlabeled, is ignored).
        power: 0 = unweighted, 1 = full median-frequency balancing.
        clip: bound on the ratio between a weight and 1.

    Returns:
        float32 ``(NUM_CLASSES,)``, index ``i`` for class code ``i + 1``.
    """
    c = np.asarray(counts, dtype=np.float64)[1 : NUM_CLASSES + 1]
    present = c > 0
    w = np.zeros(NUM_CLASSES)
    if not present.any():
        return np.ones(NUM_CLASSES, np.float32)
    freq = c / c.sum()
    med = np.median(freq[present])
    w[present] = np.clip((med / freq[present]) ** power, 1.0 / clip, clip)
    w *= c.sum() / max((w * c).sum(), 1e-12)
    return w.astype(np.float32)


def masked_inputs(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(x with NaN/inf set to 0, per-pixel mask of finite inputs)``.

    A NaN reaching a convolution would spread to every pixel in its receptive field and then
    into the loss; zeroing it first and masking the pixel keeps the loss finite.
    """
    finite = jnp.isfinite(x)
    return jnp.where(finite, x, 0.0), jnp.all(finite, axis=-1)


def weighted_cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    weights: jax.Array,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Mean class-weighted softmax cross-entropy over labelled pixels.

    The one-hot form is used on purpose: with integer labels XLA constant-folded the gather
    for seconds at compile time on CPU.

    Args:
        logits: ``(..., NUM_CLASSES)`` float.
        labels: ``(...)`` class codes; 0 (unlabeled) is ignored.
        weights: ``(NUM_CLASSES,)`` per logit index.
        mask: optional ``(...)`` bool of pixels allowed in the loss (valid inputs).

    Returns:
        ``(loss, weight_sum)``: the weighted mean loss (0 when nothing is labelled) and the
        total weight it averages over.
    """
    num = logits.shape[-1]
    labels = labels.astype(jnp.int32)
    onehot = jax.nn.one_hot(labels - 1, num, dtype=jnp.float32)  # code 0 -> all zeros
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    w = onehot @ weights.astype(jnp.float32)
    if mask is not None:
        w = w * mask.astype(jnp.float32)
    nll = -jnp.sum(onehot * logp, axis=-1)
    total = jnp.sum(w)
    return jnp.sum(w * nll) / jnp.maximum(total, 1e-6), total


def soft_cross_entropy(
    logits: jax.Array,
    targets: jax.Array,
    pixel_weight: jax.Array,
    weights: jax.Array,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Mean weighted soft-target cross-entropy (distillation from a teacher's probabilities).

    ``-sum_c q_c log p_c`` per pixel, weighted by the pixel's own weight (the teacher's
    certainty: 0 ignores the pixel) times the class weights averaged under the target
    (``q @ weights``: with one-hot targets this is :func:`weighted_cross_entropy`). Its
    minimum is at ``p = q``; minus the target's entropy it is the KL divergence, so it has the
    same gradients as KL.

    Args:
        logits: ``(..., NUM_CLASSES)`` float.
        targets: ``(..., NUM_CLASSES)`` probabilities (rows sum to 1; all-zero rows count 0).
        pixel_weight: ``(...)`` float in ``[0, 1]``.
        weights: ``(NUM_CLASSES,)`` class weights per logit index.
        mask: optional ``(...)`` bool of pixels allowed in the loss (valid inputs).

    Returns:
        ``(loss, weight_sum)`` as :func:`weighted_cross_entropy`.
    """
    q = targets.astype(jnp.float32)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    w = pixel_weight.astype(jnp.float32) * (q @ weights.astype(jnp.float32))
    if mask is not None:
        w = w * mask.astype(jnp.float32)
    nll = -jnp.sum(q * logp, axis=-1)
    total = jnp.sum(w)
    return jnp.sum(w * nll) / jnp.maximum(total, 1e-6), total
