"""Tiny models shared by the inference tests (a module of its own: several test folders have a
``conftest.py``, so ``from conftest import`` would pick whichever pytest loaded last)."""

from __future__ import annotations

import numpy as np


def make_conv_net(channels: int = 6, seed: int = 0, multiple: int = 4):
    """Two 3x3 convolutions (receptive-field radius 2): a stand-in U-Net that compiles fast."""
    import jax
    from flax import nnx

    class TinyConv(nnx.Module):
        def __init__(self, rngs: nnx.Rngs) -> None:
            self.multiple = multiple
            self.c1 = nnx.Conv(channels, 8, (3, 3), rngs=rngs)
            self.c2 = nnx.Conv(8, 10, (3, 3), rngs=rngs)

        def __call__(self, x):
            return self.c2(jax.nn.relu(self.c1(x))) * 3.0

    return TinyConv(nnx.Rngs(seed))


def make_rule_net(channels: int = 6):
    """A 1x1 convolution with fixed weights: channel 0 high -> cloud, else channel 1 -> water."""
    from flax import nnx

    net = nnx.Conv(channels, 10, (1, 1), rngs=nnx.Rngs(0))
    kernel = np.zeros((1, 1, channels, 10), np.float32)
    kernel[0, 0, 0, 9] = 10.0  # cloud
    kernel[0, 0, 1, 0] = 5.0  # water
    net.kernel[...] = kernel  # type: ignore[index]
    bias = np.zeros(10, np.float32)
    bias[1] = 2.0  # trees by default
    net.bias[...] = bias  # type: ignore[index]
    return net


def simple_normalize(x: np.ndarray, sensor: str) -> np.ndarray:
    """(x - 1000) / 1000 with fill (-9999) mapped to 0."""
    out = (x.astype(np.float32) - 1000.0) / 1000.0
    bad = np.any(x == -9999, axis=-1, keepdims=True)
    return np.where(bad, 0.0, out).astype(np.float32)
