"""Training batches: class-balanced sampling from a chip set, augmentation, prefetching.

The batch of step ``s`` depends only on ``(seed, s)``: sampling and augmentation draw from a
generator seeded with both, so a resumed run sees exactly the batches the interrupted run would
have seen.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np

from hlsmap.classes import NUM_CLASSES
from hlsmap.model import ModelMetadata
from hlsmap.training.augment import dihedral, make_inputs, random_crop
from hlsmap.training.chips import ChipStore
from hlsmap.training.configs.base import TrainConfig


def balance_regions(p: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Draw probabilities rescaled so every region's chips together weigh the same.

    Within a region the class-balanced weights keep their ratios; a region with many chips
    (a large tile, a long period) then does not crowd out the others.
    """
    out = np.asarray(p, np.float64).copy()
    groups = np.unique(region)
    for g in groups:
        sel = region == g
        mass = out[sel].sum()
        if mass > 0:
            out[sel] /= mass * len(groups)
    total = out.sum()
    return out / total if total > 0 else np.full(len(out), 1.0 / max(len(out), 1))


def sampling_weights(counts: np.ndarray, power: float) -> np.ndarray:
    """Draw probability per chip for class-balanced sampling.

    A chip's weight is the mean, over its labelled pixels, of ``(1 / freq_c) ** power`` where
    ``freq_c`` is class c's share of all labelled pixels: chips holding rare classes are drawn
    more often. ``power = 0`` samples uniformly.

    Args:
        counts: ``(N, NUM_CLASSES + 1)`` pixels per class code per chip.
        power: strength of the balancing.
    """
    c = np.asarray(counts, dtype=np.float64)[:, 1 : NUM_CLASSES + 1]
    labelled = c.sum(axis=1)
    if power == 0 or c.sum() == 0:
        w = np.ones(len(c))
    else:
        freq = c.sum(axis=0) / c.sum()
        inv = np.where(freq > 0, 1.0 / np.maximum(freq, 1e-12), 0.0) ** power
        w = (c @ inv) / np.maximum(labelled, 1.0)
    w = np.where(labelled > 0, w, 0.0)
    return w / w.sum()


class Batches:
    """Deterministic, augmented training batches from the train split of a chip set."""

    def __init__(self, store: ChipStore, meta: ModelMetadata, cfg: TrainConfig) -> None:
        self.store, self.meta, self.cfg = store, meta, cfg
        self.idx = store.indices("train")
        if self.idx.size == 0:
            from hlsmap.errors import ChipSetError

            raise ChipSetError(f"{store.path} has no training chips (all held out?).")
        self.p = sampling_weights(store.counts[self.idx], cfg.balance_power)
        if store.soft and len(np.unique(store.region[self.idx])) > 1:
            self.p = balance_regions(self.p, store.region[self.idx])

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``step``: float32 ``(B, h, w, C)`` inputs and int32 ``(B, h, w)`` codes.

        A soft-target chip set gives float32 ``y`` of ``(B, h, w, NUM_CLASSES + 1)``: the
        target probabilities and, last, the pixel weight (both scaled to 0..1).
        """
        rng = np.random.default_rng([self.cfg.seed, step])
        pick = rng.choice(self.idx, size=self.cfg.batch_size, p=self.p)
        chips = self.store.read(pick)
        a = self.cfg.augment
        if self.store.soft:
            target = np.concatenate([chips["soft"], chips["weight"][..., None]], axis=-1)
        else:
            target = chips["labels"]
        bands, target = random_crop(rng, [chips["bands"], target], self.cfg.crop)
        bands, target = dihedral(rng, [bands, target], a.flips, a.rot90)
        sensors = [self.store.sensors[int(s)] for s in chips["sensor"]]
        x = make_inputs(bands, sensors, self.meta, rng, a)
        if self.store.soft:
            return x, target.astype(np.float32) / np.float32(255.0)
        return x, target.astype(np.int32)

    def iterate(self, start: int, stop: int, prefetch: int = 3) -> Iterator[tuple[np.ndarray, ...]]:
        """Batches of steps ``start..stop-1``, prepared in a background thread."""
        q: queue.Queue[tuple[np.ndarray, ...] | BaseException | None] = queue.Queue(prefetch)
        halt = threading.Event()

        def work() -> None:
            try:
                for s in range(start, stop):
                    if halt.is_set():
                        return
                    q.put(self.batch(s))
                q.put(None)
            except BaseException as exc:  # surfaced in the consumer
                q.put(exc)

        t = threading.Thread(target=work, daemon=True, name="hlsmap-batches")
        t.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            halt.set()
            while not q.empty():  # unblock a producer waiting on a full queue
                q.get_nowait()
