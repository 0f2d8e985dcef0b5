"""The ``hlsmap`` command line: one module per command group, all registered on one app."""

from __future__ import annotations

# Importing a command module registers its commands on `app` (one module per line).
from hlsmap.cli import consensus_cmd as consensus_cmd
from hlsmap.cli import cube_cmd as cube_cmd
from hlsmap.cli import demo_cmd as demo_cmd
from hlsmap.cli import distill_cmd as distill_cmd
from hlsmap.cli import map_cmd as map_cmd
from hlsmap.cli import models_cmd as models_cmd
from hlsmap.cli import predict_cmd as predict_cmd
from hlsmap.cli import sensors_cmd as sensors_cmd
from hlsmap.cli import simulate_cmd as simulate_cmd
from hlsmap.cli import train_cmd as train_cmd
from hlsmap.cli.app import app, main

__all__ = ["app", "main"]
