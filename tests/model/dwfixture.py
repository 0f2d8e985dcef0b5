"""Where the Dynamic World fixtures live, and a skip when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/model/<file> -> parents[3] is the folder holding the checkout and shared/.
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dynamicworld"
FORWARD = FIXTURES / "forward"
GOLDEN = FIXTURES / "golden" / "golden.npz"

needs_fixtures = pytest.mark.skipif(
    not (FORWARD / "saved_model.pb").is_file() or not GOLDEN.is_file(),
    reason=f"Dynamic World fixtures not found under {FIXTURES} (shared/fixtures/dynamicworld)",
)
