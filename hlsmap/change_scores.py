"""Change maps against a known truth: precision and recall, overall and per change type.

Used by the demo report and ``bench/bench_change.py`` on the synthetic world, whose annual
truth of two years is known. A truth pixel has changed where its annual class differs between
the years; land-cover change leaves out the rotation/season transitions on both sides (the
change products flag those instead of counting them), and a type counts a mapped pixel as right
where the truth changed with that type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlsmap.change_rule import CHANGE_TYPES, is_rotation
from hlsmap.classes import NODATA


def _pr(truth: np.ndarray, mapped: np.ndarray) -> dict[str, Any]:
    tp = int((truth & mapped).sum())
    n_t, n_m = int(truth.sum()), int(mapped.sum())
    return {
        "true_px": n_t,
        "mapped_px": n_m,
        "precision": None if n_m == 0 else tp / n_m,
        "recall": None if n_t == 0 else tp / n_t,
    }


def change_scores(
    truth_before: Any, truth_after: Any, map_before: Any, map_after: Any, changed: Any
) -> dict[str, Any]:
    """Precision/recall of a change map against the truth of both years.

    Args:
        truth_before, truth_after: the true annual classes.
        map_before, map_after: the mapped annual classes.
        changed: bool, the pixels the change map calls changed (any type, rotation included).

    Returns:
        ``{"land_cover": {...}, "types": {type: {...}}}``, each with ``true_px``,
        ``mapped_px``, ``precision`` and ``recall`` (``None`` where undefined).
    """
    tb, ta = np.asarray(truth_before), np.asarray(truth_after)
    mb, ma = np.asarray(map_before), np.asarray(map_after)
    seen = (tb != NODATA) & (ta != NODATA) & (mb != NODATA) & (ma != NODATA)
    t_changed = (tb != ta) & seen
    m_changed = np.asarray(changed, bool) & (mb != ma) & seen
    out: dict[str, Any] = {
        "land_cover": _pr(t_changed & ~is_rotation(tb, ta), m_changed & ~is_rotation(mb, ma))
    }
    out["types"] = {
        name: _pr(rule(tb, ta) & t_changed, rule(mb, ma) & m_changed)
        for name, rule in CHANGE_TYPES.items()
    }
    return out


def score_line(s: dict[str, Any]) -> str:
    """``precision / recall (true px)`` of one score entry, for tables."""

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f}"

    return f"{f(s['precision'])} / {f(s['recall'])} ({s['true_px']} px)"


def score_change_products(maps: Any, world: Any, year: int) -> dict[str, Any]:
    """Score the change products of ``hlsmap map --change`` (folder ``maps``) on a world.

    Reads ``maps/hlsmap-annual-<year-1|year>/class.tif`` and the change folder's
    ``transitions.tif`` (the decided change, after the MMU) and scores them against the
    world's annual truth of both years.
    """
    from pathlib import Path

    from hlsmap.outputs import cog

    maps = Path(maps)
    (tdir,) = (maps / "change").glob("hlsmap-change-*")
    t, _, _ = cog.read_cog(tdir / "transitions.tif")
    mb, _, _ = cog.read_cog(maps / f"hlsmap-annual-{year - 1}" / "class.tif")
    ma, _, _ = cog.read_cog(maps / f"hlsmap-annual-{year}" / "class.tif")
    changed = (t > 0) & (t // 10 != t % 10)
    tb = np.asarray(world.truth_annual(year - 1).values)
    ta = np.asarray(world.truth_annual(year).values)
    return change_scores(tb, ta, mb, ma, changed)
