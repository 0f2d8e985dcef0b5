"""Experiment configurations (frozen dataclasses), by name.

Each named config says in its docstring how to run it and what it should reach.
``hlsmap train --config NAME`` picks one; command-line options override single fields.
"""

from __future__ import annotations

from hlsmap.training.configs.base import AugmentConfig, TrainConfig

from hlsmap.errors import ConfigError

CPU = TrainConfig(preset="small", steps=1500, batch_size=16, crop=48, lr=3e-3, warmup_steps=100)
"""Default CPU experiment: the ``small`` U-Net (118k parameters) on the synthetic world.

Command::

    hlsmap simulate world/ && hlsmap chips world/ chips/ && hlsmap train chips/ run/ --config cpu

Expected: about 8 minutes on a 2-core CPU (at ~2e5 px/s); on clear pixels of held-out
observations >= 90% overall accuracy and >= 0.8 F1 on every class covering >= 1% of the area
(``hlsmap evaluate run/model chips/`` or ``bench/bench_train.py`` prints the figures).
"""

GPU = TrainConfig(
    preset="standard", steps=8000, batch_size=64, crop=64, lr=2e-3, warmup_steps=500,
    checkpoint_every=1000, eval_every=1000,
)  # fmt: skip
"""GPU experiment: the ``standard`` U-Net (7.8M parameters, bfloat16 compute).

Command::

    hlsmap train chips/ run-gpu/ --config gpu

Expected: a stronger model on real label sets; on the synthetic world it reaches the CPU
config's accuracy within its first ~1000 steps.
"""

TINY = TrainConfig(
    preset="tiny", steps=60, batch_size=8, crop=None, lr=1e-2, warmup_steps=5,
    checkpoint_every=0, log_every=5, cache_mb=256,
)  # fmt: skip
"""Smoke test: the ``tiny`` U-Net for a few steps (seconds).

Command::

    hlsmap train chips/ run-tiny/ --config tiny

Expected: finishes in well under a minute; the loss falls; accuracy is not meaningful.
"""

CONFIGS: dict[str, TrainConfig] = {"cpu": CPU, "gpu": GPU, "tiny": TINY}


def get_config(name: str) -> TrainConfig:
    """The named experiment configuration (``cpu``, ``gpu``, ``tiny``)."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(
            f"unknown training config {name!r}: choose one of {sorted(CONFIGS)}"
        ) from None


__all__ = ["CONFIGS", "CPU", "GPU", "TINY", "AugmentConfig", "TrainConfig", "get_config"]
