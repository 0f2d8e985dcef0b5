"""The ``hlsmap`` command line: one module per command group, all registered on one app."""

from __future__ import annotations

# Importing a command module registers its commands on `app` (keep one line per module).
import hlsmap.cli.consensus_cmd
import hlsmap.cli.predict_cmd
import hlsmap.cli.simulate_cmd
import hlsmap.cli.train_cmd  # noqa: F401
from hlsmap.cli import cube_cmd, sensors_cmd  # noqa: F401
from hlsmap.cli.app import app, main

__all__ = ["app", "main"]
