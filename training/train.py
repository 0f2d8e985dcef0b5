"""The training loop: data-parallel over a ``('data',)`` mesh of every device.

The model and optimizer state are replicated, each batch is sharded along its first axis, and
one jitted step (donating the old state's buffers) does forward, loss, backward and the AdamW
update; XLA inserts the gradient all-reduce. Same code on 1 CPU, 8 forced CPU devices, a GPU or
a TPU slice.

Output folder ``OUT``: ``model/`` (the saved model, see :func:`hlsmap.model.save_model`),
``checkpoints/``, ``config.json`` (the resolved configuration), ``log.jsonl`` (loss, learning
rate and throughput every ``log_every`` steps) and ``eval/`` (held-out metrics).
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from hlsmap.errors import ConfigError
from hlsmap.model import PRESETS, ModelMetadata, UNet, build_model, save_model
from hlsmap.training.checkpoint import latest_checkpoint, restore_checkpoint, save_checkpoint
from hlsmap.training.chips import ChipStore
from hlsmap.training.configs.base import TrainConfig
from hlsmap.training.data import Batches
from hlsmap.training.losses import (
    class_weights,
    masked_inputs,
    soft_cross_entropy,
    weighted_cross_entropy,
)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        out: the run folder.
        model_dir: the saved model (``out / "model"``).
        step: the last step trained.
        seconds: wall time of the steps run in this call (compile included).
        px_per_s: training throughput (input pixels per second, first step excluded).
        losses: ``(step, loss)`` pairs logged.
        metrics: held-out metrics (empty when evaluation was skipped).
    """

    out: Path
    model_dir: Path
    step: int
    seconds: float
    px_per_s: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def make_mesh(devices: Sequence[Any] | None = None) -> jax.sharding.Mesh:
    """A 1-D ``('data',)`` mesh over ``devices`` (default: every device), classic auto axes."""
    devs = list(devices) if devices is not None else jax.devices()
    return jax.make_mesh(
        (len(devs),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devs
    )


# Compiled train steps by (graphdef, dropout, mesh): runs with the same architecture and
# optimizer settings in one process (resume, tests, sweeps) compile once.
_STEPS: dict[Any, Callable[..., Any]] = {}


def _make_step(graphdef: Any, use_dropout: bool, mesh: jax.sharding.Mesh) -> Callable[..., Any]:
    def step(state: Any, x: jax.Array, y: jax.Array, key: jax.Array, weights: jax.Array) -> Any:
        net, opt = nnx.merge(graphdef, state)
        x, finite = masked_inputs(x)

        def loss_fn(net: UNet) -> jax.Array:
            rngs = nnx.Rngs(dropout=key) if use_dropout else None
            logits = net(x, rngs=rngs)
            if y.ndim == x.ndim:
                # soft targets (distillation): y = class probabilities + the pixel weight last;
                # decided at trace time, so hard-label runs compile exactly as before
                loss, _ = soft_cross_entropy(logits, y[..., :-1], y[..., -1], weights, finite)
            else:
                loss, _ = weighted_cross_entropy(logits, y, weights, finite)
            return loss

        loss, grads = nnx.value_and_grad(loss_fn)(net)
        opt.update(net, grads)
        return nnx.state((net, opt)), loss

    repl, data = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    return jax.jit(
        step,
        in_shardings=(repl, data, data, repl, repl),
        out_shardings=(repl, repl),
        donate_argnums=(0,),
    )


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """AdamW with linear warm-up + cosine decay, global-norm clipping, decay on kernels only."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        decay_steps=cfg.steps,
        end_value=cfg.lr * cfg.min_lr_ratio,
    )

    def decay_mask(params: Any) -> Any:
        # Norm scales and biases are 1-D; decaying them only fights the normalization.
        return jax.tree.map(lambda p: p.ndim > 1, params)

    return optax.chain(
        optax.clip_by_global_norm(cfg.clip_norm),
        optax.adamw(schedule, weight_decay=cfg.weight_decay, mask=decay_mask),
    )


@functools.lru_cache(maxsize=32)
def _cached_optimizer(
    lr: float, warmup: int, steps: int, min_ratio: float, wd: float, clip: float
) -> optax.GradientTransformation:
    # The transformation is part of the optimizer's graphdef, so equal settings must give the
    # same object for the compiled-step cache to hit.
    from hlsmap.training.configs.base import TrainConfig

    cfg = TrainConfig(lr=lr, warmup_steps=warmup, steps=steps, min_lr_ratio=min_ratio,
                      weight_decay=wd, clip_norm=clip)  # fmt: skip
    return make_optimizer(cfg)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The scheduled learning rate at ``step`` (for logs)."""
    sched = optax.warmup_cosine_decay_schedule(
        0.0, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.lr * cfg.min_lr_ratio
    )
    return float(sched(step))


def resolve_dtype(cfg: TrainConfig) -> str:
    """float32 on CPU (bfloat16 gains nothing there), else the preset's compute dtype."""
    if cfg.dtype is not None:
        return cfg.dtype
    if jax.default_backend() == "cpu":
        return "float32"
    return PRESETS[cfg.preset].dtype if cfg.preset in PRESETS else "float32"


class Trainer:
    """The model, optimizer and compiled step for one configuration on one mesh."""

    def __init__(
        self,
        cfg: TrainConfig,
        meta_source: ChipStore,
        devices: Sequence[Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.mesh = make_mesh(devices)
        n = self.mesh.size
        if cfg.batch_size % n:
            raise ConfigError(
                f"batch_size={cfg.batch_size} does not split over {n} devices: use a multiple"
                f" of {n}."
            )
        store = meta_source
        net = build_model(
            cfg.preset, bands=store.bands, seed=cfg.seed, indices=cfg.indices,
            dtype=resolve_dtype(cfg),
        )  # fmt: skip
        crop = cfg.crop or store.chip_size
        if crop > store.chip_size or crop % net.multiple:
            raise ConfigError(
                f"crop={crop} must be <= the chip size ({store.chip_size}) and a multiple of"
                f" {net.multiple} for preset {cfg.preset!r}."
            )
        self.pixels_per_batch = cfg.batch_size * crop * crop
        self.meta = ModelMetadata.for_model(
            net, store.bands, store.normalization, preset=cfg.preset, indices=cfg.indices
        )
        self.weights = class_weights(store.class_counts("train"), cfg.class_weight_power)
        self._weights = jnp.asarray(self.weights)
        net.train()  # build_model returns an evaluation-mode network
        tx = _cached_optimizer(cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio,
                               cfg.weight_decay, cfg.clip_norm)  # fmt: skip
        optimizer = nnx.Optimizer(net, tx, wrt=nnx.Param)
        self.graphdef, state = nnx.split((net, optimizer))
        self.repl = NamedSharding(self.mesh, P())
        self.data = NamedSharding(self.mesh, P("data"))
        self.state = jax.device_put(state, self.repl)
        self.step_fn = self._compile_step()

    def _compile_step(self) -> Callable[..., Any]:
        key = (self.graphdef, self.meta.config.dropout > 0, self.mesh)
        fn = _STEPS.get(key)
        if fn is None:
            fn = _STEPS[key] = _make_step(*key)
        return fn

    def run_step(self, step: int, x: np.ndarray, y: np.ndarray) -> jax.Array:
        """One optimizer step on a global batch; returns the (device) loss."""
        key = jax.random.fold_in(jax.random.key(self.cfg.seed), step)
        xs = jax.device_put(x, self.data)
        ys = jax.device_put(y, self.data)
        self.state, loss = self.step_fn(self.state, xs, ys, key, self._weights)
        return loss

    def model(self) -> UNet:
        """The network with the current weights (a host copy, in evaluation mode)."""
        net, _ = nnx.merge(self.graphdef, jax.device_get(self.state))
        net.eval()
        return net

    def checkpoint(self, root: Path, step: int) -> Path:
        """Save the train state of ``step`` under ``root``."""
        meta = {"config": self.cfg.to_dict(), "devices": self.mesh.size}
        return save_checkpoint(root, step, self.state, meta, keep=self.cfg.keep_checkpoints)

    def restore(self, path: Path) -> int:
        """Load a checkpoint; returns its step."""
        state, meta = restore_checkpoint(path, self.state)
        self.state = jax.device_put(state, self.repl)
        return int(meta["step"])


def train(
    cfg: TrainConfig,
    chips: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    resume: bool = False,
    stop_after: int | None = None,
    devices: Sequence[Any] | None = None,
    evaluate: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train a model on a chip set.

    Args:
        cfg: the experiment configuration (see :mod:`hlsmap.training.configs`).
        chips: a chip set written by ``hlsmap chips``.
        out: the run folder (created); holds ``model/``, ``checkpoints/``, logs.
        resume: continue from the newest checkpoint in ``out`` (same config).
        stop_after: stop (with a checkpoint) after this step, as an interruption would; the
            schedule still spans ``cfg.steps``.
        devices: devices of the data-parallel mesh (default: all).
        evaluate: evaluate the saved model on the chip set's test split at the end.
        progress: show a progress bar.

    Returns:
        A :class:`TrainResult`.
    """
    from rich.console import Console

    console = Console(stderr=True)
    out = Path(out)
    store = ChipStore.open(chips)
    if store.nbytes <= cfg.cache_mb * 2**20:
        store.cache()
    ckpt_root = out / "checkpoints"
    if not resume and latest_checkpoint(ckpt_root) is not None:
        raise ConfigError(
            f"{out} already holds checkpoints of a run: pass resume (--resume) to continue it or"
            " choose a new output folder."
        )
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, store, devices)
    start = 0
    if resume:
        ckpt = latest_checkpoint(ckpt_root)
        if ckpt is not None:
            start = trainer.restore(ckpt)
            console.print(f"resuming from {ckpt.name} (step {start})")
    resolved = {
        "config": cfg.to_dict(),
        "chips": str(Path(chips).resolve()),
        "devices": [str(d) for d in trainer.mesh.devices.flat],
        "backend": jax.default_backend(),
        "dtype": trainer.meta.config.dtype,
        "class_weights": [round(float(w), 4) for w in trainer.weights],
        "train_chips": int(store.indices("train").size),
        "test_chips": int(store.indices("test").size),
        "resumed_from": start,
    }
    (out / "config.json").write_text(json.dumps(resolved, indent=2) + "\n")
    console.print_json(json.dumps(resolved))
    stop = min(cfg.steps, stop_after) if stop_after is not None else cfg.steps
    losses, t0, t_first, px = _loop(trainer, Batches(store, trainer.meta, cfg), start, stop,
                                     out, progress, console)  # fmt: skip
    seconds = time.perf_counter() - t0
    rate = px / max(time.perf_counter() - t_first, 1e-9) if t_first else 0.0
    if stop > start and (cfg.checkpoint_every or stop < cfg.steps):
        trainer.checkpoint(ckpt_root, stop)
    net = trainer.model()
    trainer.meta.provenance = {
        "chips": str(Path(chips).resolve()),
        "chip_source": store.attrs.get("source", {}),
        "steps": stop,
        "config": cfg.to_dict(),
        "train_seconds": round(seconds, 1),
        "px_per_s": round(rate, 1),
        "final_loss": losses[-1][1] if losses else None,
    }
    metrics: dict[str, Any] = {}
    if evaluate and stop == cfg.steps and store.indices("test").size:
        from hlsmap.training.evaluate import evaluate_model

        metrics = evaluate_model(net, trainer.meta, store, out / "eval", progress=progress)
        trainer.meta.provenance["metrics"] = {
            k: metrics[k] for k in ("overall_accuracy", "kappa") if k in metrics
        }
    model_dir = save_model(out / "model", net, trainer.meta)
    return TrainResult(out, model_dir, stop, seconds, rate, losses, metrics)


def _validate(trainer: Trainer, store: ChipStore) -> float:
    from hlsmap.training.evaluate import clear_accuracy

    idx = store.indices("test")
    if idx.size == 0:
        return float("nan")
    # an evenly spread, fixed subset: comparable from one validation to the next
    pick = idx[np.linspace(0, idx.size - 1, min(trainer.cfg.eval_chips, idx.size)).astype(int)]
    return clear_accuracy(trainer.model(), trainer.meta, store, np.unique(pick))


def _loop(
    trainer: Trainer,
    batches: Batches,
    start: int,
    stop: int,
    out: Path,
    progress: bool,
    console: Any,
) -> tuple[list[tuple[int, float]], float, float, int]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    cfg = trainer.cfg
    losses: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    t_first = 0.0
    px = 0
    columns = (
        TextColumn("training"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} px/s"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    log = open(out / "log.jsonl", "a")
    done = start
    try:
        with Progress(*columns, console=console, disable=not progress) as bar:
            task = bar.add_task("train", total=stop, completed=start, loss="-", rate="-")
            for step, (x, y) in enumerate(batches.iterate(start, stop), start=start):
                loss = trainer.run_step(step, x, y)
                done = step + 1
                if step == start:
                    loss.block_until_ready()  # the first step includes compilation
                    t_first = time.perf_counter()
                else:
                    px += trainer.pixels_per_batch
                if done % cfg.log_every == 0 or done == stop:
                    lv = float(loss)
                    losses.append((done, lv))
                    rate = px / max(time.perf_counter() - t_first, 1e-9) if t_first else 0.0
                    log.write(json.dumps({"step": done, "loss": lv, "px_per_s": round(rate),
                                          "lr": learning_rate(cfg, step)}) + "\n")  # fmt: skip
                    log.flush()
                    bar.update(task, loss=f"{lv:.4f}", rate=f"{rate:,.0f}")
                    if not np.isfinite(lv):
                        raise FloatingPointError(
                            f"loss became {lv} at step {done}: lower the learning rate"
                            " (--lr) or check the chips for corrupt values."
                        )
                bar.update(task, completed=done)
                if cfg.eval_every and done % cfg.eval_every == 0 and done < stop:
                    oa = _validate(trainer, batches.store)
                    log.write(json.dumps({"step": done, "val_clear_oa": oa}) + "\n")
                    console.print(f"step {done}: validation OA (clear pixels) {oa:.4f}")
                if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < stop:
                    trainer.checkpoint(out / "checkpoints", done)
    except KeyboardInterrupt:
        # Keep what was trained: the next `--resume` continues from here, not from the last
        # periodic checkpoint.
        if done > start:
            try:
                trainer.checkpoint(out / "checkpoints", done)
                console.print(f"interrupted: checkpoint of step {done} saved; rerun with --resume")
            except Exception:  # interrupted mid-step: the donated state is gone
                console.print("interrupted: rerun with --resume (last checkpoint)")
        raise
    finally:
        log.close()
    return losses, t0, t_first, px
