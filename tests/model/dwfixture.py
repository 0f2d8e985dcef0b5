"""Where the Dynamic World fixtures live, and a skip when they are absent."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

# tests/model/<file> -> parents[3] is the folder holding the checkout and shared/.
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dynamicworld"
FORWARD = FIXTURES / "forward"
GOLDEN = FIXTURES / "golden" / "golden.npz"

needs_fixtures = pytest.mark.skipif(
    not (FORWARD / "saved_model.pb").is_file() or not GOLDEN.is_file(),
    reason=f"Dynamic World fixtures not found under {FIXTURES} (shared/fixtures/dynamicworld)",
)


@functools.cache
def dw_predict() -> Callable[[np.ndarray], np.ndarray]:
    """The converted Dynamic World port as a jitted ``x -> logits`` (converted once per run)."""
    from flax import nnx

    from hlsmap.model.dw_convert import convert_savedmodel
    from hlsmap.model.dynamicworld import build_dynamicworld

    net = build_dynamicworld(convert_savedmodel(FORWARD, check_hashes=True))
    step = nnx.jit(lambda n, x: n(x))
    return lambda x: np.asarray(step(net, x))
