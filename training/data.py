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

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``step``: float32 ``(B, h, w, C)`` inputs and int32 ``(B, h, w)`` codes."""
        rng = np.random.default_rng([self.cfg.seed, step])
        pick = rng.choice(self.idx, size=self.cfg.batch_size, p=self.p)
        chips = self.store.read(pick)
        a = self.cfg.augment
        bands, labels = random_crop(rng, [chips["bands"], chips["labels"]], self.cfg.crop)
        bands, labels = dihedral(rng, [bands, labels], a.flips, a.rot90)
        sensors = [self.store.sensors[int(s)] for s in chips["sensor"]]
        x = make_inputs(bands, sensors, self.meta, rng, a)
        return x, labels.astype(np.int32)

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
