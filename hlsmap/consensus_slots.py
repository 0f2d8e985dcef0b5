"""Where the consensus state keeps each observation's sums (its *slots*), and how a period's
scores are read from them.

A slot is a set of days that the same periods hold and - when the consensus balances months
(``balance="month"``) - that fall in the same calendar month. An observation adds to the one
slot of its day; a period's map is made from the slots that it holds, month by month. A year
with wet and dry seasons is 12 slots (``"none"``: 2, the wet and the dry days), twelve months as
periods also 12: the number depends on the periods only, never on the observations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hlsmap.periods import Period

BALANCES: tuple[str, ...] = ("month", "none")


class SlotLayout:
    """The slots of a list of periods.

    Args:
        periods: the periods of the accumulator.
        balance: ``"month"`` (a slot never spans two calendar months) or ``"none"``.
    """

    def __init__(self, periods: Sequence[Period], balance: str) -> None:
        self.balance = balance
        self.first_day = min(p.start for p in periods)
        days = np.arange(self.first_day, max(p.end for p in periods), dtype="datetime64[D]")
        member = np.stack([p.contains(days) for p in periods])
        if balance == "month":
            month = days.astype("datetime64[M]").astype(np.int64)
        else:
            month = np.zeros(days.size, np.int64)
        inside = member.any(axis=0)
        keys = np.concatenate([month[None], member]).T[inside]
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        self.day_slot = np.full(days.size, -1, np.int64)
        self.day_slot[inside] = inverse.ravel()
        #: per slot: (month number since 1970-01, or 0), indices of the periods holding it
        self.slots = [(int(k[0]), tuple(int(j) for j in np.flatnonzero(k[1:]))) for k in uniq]

    def __len__(self) -> int:
        return len(self.slots)

    def slot_of(self, time: Any) -> int | None:
        """The slot of an observation's time; ``None`` when no period holds it."""
        day = int(np.datetime64(time, "D").astype(np.int64) - self.first_day.astype(np.int64))
        slot = int(self.day_slot[day]) if 0 <= day < self.day_slot.size else -1
        return None if slot < 0 else slot

    def periods_of(self, slot: int) -> tuple[int, ...]:
        """Indices of the periods that hold a slot."""
        return self.slots[slot][1]

    def month_groups(self, period: int) -> list[list[int]]:
        """The slots of one period (by index), grouped by calendar month (one group when the
        layout does not balance months), in calendar order."""
        groups: dict[int, list[int]] = {}
        for s, (month, members) in enumerate(self.slots):
            if period in members:
                groups.setdefault(month, []).append(s)
        return list(groups.values())


def period_scores(
    layout: SlotLayout,
    period: int,
    acc: Sequence[np.ndarray],
    n_valid: Sequence[np.ndarray],
    n_obs: Sequence[np.ndarray],
    norm: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of one period: class scores, their full-confidence total, n_valid, n_obs.

    ``acc``/``n_valid``/``n_obs``: the per-slot sums; ``norm(sums, n_valid)``: what a group's
    sums add up to with full confidence. Without month balance: the integer sums over the
    period. With it: per calendar month its sums divided by its valid count (float64, added in
    calendar order, so the result is a deterministic function of the state), so each month with
    a valid observation weighs one.
    """
    balance = layout.balance == "month"
    shape = n_valid[0].shape
    kind = np.float64 if balance else np.uint64
    score: np.ndarray = np.zeros((*shape, acc[0].shape[-1]), kind)
    total: np.ndarray = np.zeros(shape, kind)
    n_val = np.zeros(shape, np.uint32)
    n_ob = np.zeros(shape, np.uint32)
    for group in layout.month_groups(period):
        sums = np.zeros(score.shape, np.uint64)
        nv = np.zeros(shape, np.uint32)
        for s in group:
            sums += acc[s]
            nv += n_valid[s]
            n_ob += n_obs[s]
        n_val += nv
        if balance:
            n = np.maximum(nv, 1)
            score += sums / n[..., None]
            total += norm(sums, nv) / n
        else:
            score += sums
            total += norm(sums, nv)
    return score, total, n_val, n_ob


def percent(num: np.ndarray, den: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``round(100 * num / den)`` (integers exactly, floats deterministically), 0 where
    ``where`` is false."""
    if num.dtype.kind == "f" or den.dtype.kind == "f":
        with np.errstate(all="ignore"):
            pct = np.floor(100 * num / np.where(where, den, 1) + 0.5)
        return np.where(where, np.clip(pct, 0, 100), 0).astype(np.uint8)
    den = np.where(where, den, 1).astype(np.uint64)
    pct = (200 * num.astype(np.uint64) + den) // (2 * den)
    return np.where(where, np.minimum(pct, 100), 0).astype(np.uint8)
