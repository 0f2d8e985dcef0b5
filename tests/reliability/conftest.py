"""The fault-injection tests' world (see :mod:`fault_world`), written once per session."""

from __future__ import annotations

import pytest
from fault_world import ReadsWorld, make_reads_world


@pytest.fixture(scope="session")
def reads_world(tmp_path_factory: pytest.TempPathFactory) -> ReadsWorld:
    return make_reads_world(tmp_path_factory.mktemp("reads-world"))
