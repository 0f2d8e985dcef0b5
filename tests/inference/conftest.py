"""Fixtures of the inference tests: tiny models (compiled once per module)."""

from __future__ import annotations

import pytest
from predict_nets import make_conv_net


@pytest.fixture(scope="module")
def conv_net():
    return make_conv_net()
