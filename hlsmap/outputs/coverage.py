"""Exactly which days a period map covers, as STAC properties and GeoTIFF tags.

A :class:`~hlsmap.periods.Period` is a date range, optionally narrowed to calendar months. A
season that keeps to the calendar year and wraps its end (``wet=11-04`` of 2024 with
``--season-wrap within``) covers two separate stretches, 2024-01-01..2024-04-30 and
2024-11-01..2024-12-31, parts of two rainy seasons; the same season with ``span`` covers
2023-11-01..2024-04-30. Products say both the envelope (STAC ``start_datetime`` /
``end_datetime``; GeoTIFF tags ``start`` / ``end``) and the exact stretches
(``hlsmap:date_ranges``; tag ``date_ranges``), so no map claims a whole year it does not cover.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlsmap.periods import Period

DateRange = tuple[np.datetime64, np.datetime64]
"""First and last day (both included)."""


def date_ranges(period: Period) -> list[DateRange]:
    """The stretches of days ``period`` covers, in order, each ``(first, last)`` inclusive."""
    if period.months is None:
        return [(period.start, period.end_inclusive)]
    one_day = np.timedelta64(1, "D")
    out: list[DateRange] = []
    month = period.start.astype("datetime64[M]")
    while month.astype("datetime64[D]") < period.end:
        nxt = month + np.timedelta64(1, "M")
        if int(month.astype(np.int64) % 12) + 1 in period.months:
            first = max(month.astype("datetime64[D]"), period.start)
            last = min(nxt.astype("datetime64[D]"), period.end) - one_day
            if out and out[-1][1] + one_day == first:
                out[-1] = (out[-1][0], last)  # contiguous months are one stretch
            else:
                out.append((first, last))
        month = nxt
    return out


def _text(ranges: list[DateRange]) -> list[list[str]]:
    return [[str(a), str(b)] for a, b in ranges]


def coverage_tags(period: Period) -> dict[str, str]:
    """GeoTIFF tags: ``period``, ``start`` / ``end`` (the envelope) and ``date_ranges``
    (``first/last`` stretches, comma-separated)."""
    ranges = date_ranges(period)
    tags = {
        "period": period.name,
        "start": str(ranges[0][0]) if ranges else str(period.start),
        "end": str(ranges[-1][1]) if ranges else str(period.end_inclusive),
        "date_ranges": ",".join(f"{a}/{b}" for a, b in _text(ranges)),
    }
    if period.months is not None:
        tags["months"] = ",".join(str(m) for m in sorted(period.months))
    return tags


def envelope(period: Period) -> DateRange:
    """First and last day covered (the period's own bounds when no month of it is covered)."""
    ranges = date_ranges(period)
    if not ranges:
        return period.start, period.end_inclusive
    return ranges[0][0], ranges[-1][1]


def coverage_properties(period: Period) -> dict[str, Any]:
    """STAC properties beyond start/end: ``hlsmap:period``, ``hlsmap:date_ranges`` and, for a
    season, ``hlsmap:months``."""
    props: dict[str, Any] = {
        "hlsmap:period": period.name,
        "hlsmap:date_ranges": _text(date_ranges(period)),
    }
    if period.months is not None:
        props["hlsmap:months"] = sorted(period.months)
    return props
