"""Time periods that consensus maps cover: years, date ranges, months, quarters and seasons.

A :class:`Period` is a half-open date range ``[start, end)`` with an optional set of calendar
months. The month set is what makes a named season such as ``wet=11-04`` work inside one
calendar year: the 2024 wet season (``wrap="within"``) is every observation of 2024 in
January-April or November-December. With ``wrap="span"`` the same season is the contiguous
range November 2023 - April 2024 instead (the season that *ends* in the given year).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from hlsmap.errors import ConfigError, InvalidDateRangeError

_DAY = "datetime64[D]"
_MONTH_ABBR = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def to_day(value: Any) -> np.datetime64:
    """Convert a date-like value (str, date, datetime, numpy datetime64) to ``datetime64[D]``."""
    try:
        return (
            np.datetime64(value, "D")
            if not isinstance(value, datetime)
            else np.datetime64(value.date(), "D")
        )
    except (ValueError, TypeError) as exc:
        raise InvalidDateRangeError(
            f"cannot read {value!r} as a date; write dates as YYYY-MM-DD"
        ) from exc


def month_range(first: int, last: int) -> tuple[int, ...]:
    """The calendar months from ``first`` to ``last`` inclusive, wrapping the year end.

    >>> month_range(11, 2)
    (11, 12, 1, 2)
    """
    for m in (first, last):
        if not 1 <= m <= 12:
            raise ConfigError(f"month {m} is not in 1..12; use month numbers like 11-04")
    n = (last - first) % 12 + 1
    return tuple((first - 1 + i) % 12 + 1 for i in range(n))


@dataclass(frozen=True)
class Period:
    """A named time window: ``start <= t < end`` and (when set) the month of ``t`` in ``months``.

    Attributes:
        name: the period's name, used for output folders and STAC ids.
        start: first day included.
        end: first day excluded.
        months: calendar months (1..12) included, or ``None`` for every month.
    """

    name: str
    start: np.datetime64
    end: np.datetime64
    months: frozenset[int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_day(self.start))
        object.__setattr__(self, "end", to_day(self.end))
        if self.end <= self.start:
            raise InvalidDateRangeError(
                f"period {self.name!r} ends ({self.end}) on or before it starts ({self.start});"
                " give the start first"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise ConfigError(
                f"period name {self.name!r} may only hold letters, digits, '_', '-' and '.'"
                " (it names output files)"
            )
        if self.months is not None:
            object.__setattr__(self, "months", frozenset(int(m) for m in self.months))

    def contains(self, times: Any) -> np.ndarray:
        """Whether each time falls in the period (vectorised; accepts scalars or arrays)."""
        t = np.asarray(times).astype("datetime64[D]")
        inside = (t >= self.start) & (t < self.end)
        if self.months is not None:
            month = t.astype("datetime64[M]").astype(np.int64) % 12 + 1
            inside &= np.isin(month, sorted(self.months))
        return np.asarray(inside)

    def __contains__(self, time: Any) -> bool:
        return bool(self.contains(time))

    @property
    def end_inclusive(self) -> np.datetime64:
        """The last day included (``end - 1 day``)."""
        return self.end - np.timedelta64(1, "D")

    def describe(self) -> str:
        """A short human description, e.g. ``wet: 2024-01-01..2024-12-31, months 11-4``."""
        text = f"{self.name}: {self.start}..{self.end_inclusive}"
        if self.months is not None:
            text += ", months " + ",".join(str(m) for m in sorted(self.months))
        return text

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def year(cls, year: int, name: str | None = None) -> Period:
        """The calendar year ``year``."""
        return cls(
            name or str(year),
            np.datetime64(f"{year:04d}-01-01"),
            np.datetime64(f"{year + 1:04d}-01-01"),
        )

    @classmethod
    def date_range(cls, start: Any, end: Any, name: str | None = None) -> Period:
        """The days ``start`` .. ``end`` (both included)."""
        s, e = to_day(start), to_day(end)
        return cls(name or f"{s}_{e}", s, e + np.timedelta64(1, "D"))

    @classmethod
    def month(cls, year: int, month: int, name: str | None = None) -> Period:
        """One calendar month."""
        m = np.datetime64(f"{year:04d}-{month:02d}", "M")
        return cls(
            name or f"{year:04d}-{month:02d}",
            m.astype(_DAY),
            (m + np.timedelta64(1, "M")).astype(_DAY),
        )

    @classmethod
    def quarter(cls, year: int, quarter: int, name: str | None = None) -> Period:
        """Calendar quarter 1..4 of ``year``."""
        if not 1 <= quarter <= 4:
            raise ConfigError(f"quarter {quarter} is not in 1..4")
        m = np.datetime64(f"{year:04d}-{3 * quarter - 2:02d}", "M")
        return cls(
            name or f"{year:04d}-Q{quarter}",
            m.astype(_DAY),
            (m + np.timedelta64(3, "M")).astype(_DAY),
        )

    @classmethod
    def season(
        cls,
        name: str,
        months: tuple[int, int],
        year: int,
        wrap: Literal["within", "span"] = "within",
    ) -> Period:
        """A named season given as a month range ``(first, last)`` that may wrap the year end.

        Args:
            name: the season's name (e.g. ``"wet"``).
            months: first and last month included, e.g. ``(11, 4)`` for November-April.
            year: the year the season belongs to.
            wrap: ``"within"`` keeps to the calendar year (the months of ``year`` in the range);
                ``"span"`` takes the contiguous range that ends in ``year`` (Nov 2023-Apr 2024).
        """
        ms = month_range(*months)
        if wrap == "within":
            y = cls.year(year)
            return cls(name, y.start, y.end, frozenset(ms))
        if wrap != "span":
            raise ConfigError(f"wrap={wrap!r} is neither 'within' nor 'span'")
        first, last = months
        start_year = year - 1 if first > last else year
        s = np.datetime64(f"{start_year:04d}-{first:02d}", "M")
        e = np.datetime64(f"{year:04d}-{last:02d}", "M") + np.timedelta64(1, "M")
        return cls(name, s.astype(_DAY), e.astype(_DAY))


def parse_month(text: str) -> int:
    """A month from ``"4"``, ``"04"`` or ``"apr"``."""
    t = text.strip().lower()
    if t[:3] in _MONTH_ABBR and not t.isdigit():
        return _MONTH_ABBR.index(t[:3]) + 1
    try:
        m = int(t)
    except ValueError:
        raise ConfigError(f"{text!r} is not a month; write 1..12 or jan..dec") from None
    if not 1 <= m <= 12:
        raise ConfigError(f"month {m} is not in 1..12")
    return m


def parse_season(text: str) -> tuple[str, tuple[int, int]]:
    """Parse ``--season`` text ``NAME=MM-MM`` (e.g. ``wet=11-04``) into ``(name, (11, 4))``."""
    m = re.fullmatch(
        r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*([A-Za-z0-9]+)\s*-\s*([A-Za-z0-9]+)\s*", text
    )
    if not m:
        raise ConfigError(
            f"season {text!r} is not NAME=FIRST-LAST; write for example wet=11-04 or dry=may-oct"
        )
    return m.group(1), (parse_month(m.group(2)), parse_month(m.group(3)))


def parse_period(text: str, year: int | None = None) -> Period:
    """Parse a period from text.

    Accepted forms: ``2024`` (a year), ``2024-03`` (a month), ``2024-Q2`` (a quarter),
    ``2024-01-01/2024-06-30`` (a date range, both ends included), ``NAME=START/END`` (a named
    date range), ``NAME=MM-MM`` (a season of ``year``).
    """
    t = text.strip()
    if m := re.fullmatch(r"(\d{4})", t):
        return Period.year(int(m.group(1)))
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", t):
        return Period.month(int(m.group(1)), int(m.group(2)))
    if m := re.fullmatch(r"(\d{4})-[Qq]([1-4])", t):
        return Period.quarter(int(m.group(1)), int(m.group(2)))
    name = None
    if "=" in t:
        name, rest = (s.strip() for s in t.split("=", 1))
        if "/" not in rest:
            if year is None:
                raise ConfigError(f"season {text!r} needs a year; pass --year")
            sname, months = parse_season(t)
            return Period.season(sname, months, year)
        t = rest
    if "/" in t:
        start, end = t.split("/", 1)
        return Period.date_range(start, end, name=name)
    raise ConfigError(
        f"cannot read period {text!r}; use 2024, 2024-03, 2024-Q2, 2024-01-01/2024-06-30,"
        " name=2024-01-01/2024-06-30 or wet=11-04"
    )


def months_of(year: int) -> list[Period]:
    """The 12 calendar months of ``year``."""
    return [Period.month(year, m) for m in range(1, 13)]


def quarters_of(year: int) -> list[Period]:
    """The 4 calendar quarters of ``year``."""
    return [Period.quarter(year, q) for q in range(1, 5)]


def check_unique(periods: Iterable[Period]) -> list[Period]:
    """The periods as a list; raises :class:`ConfigError` when two share a name."""
    out = list(periods)
    names = [p.name for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"period names must be unique; {dup} appear more than once")
    return out
