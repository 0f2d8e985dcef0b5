"""Periods: years, ranges, months, quarters, seasons (wrapping the year end) and their parsing."""

from __future__ import annotations

import numpy as np
import pytest

from hlsmap.errors import ConfigError, InvalidDateRangeError
from hlsmap.periods import (
    Period,
    check_unique,
    month_range,
    months_of,
    parse_period,
    parse_season,
    quarters_of,
)


def test_month_range_wraps_the_year_end() -> None:
    assert month_range(11, 4) == (11, 12, 1, 2, 3, 4)
    assert month_range(5, 10) == (5, 6, 7, 8, 9, 10)
    assert month_range(7, 7) == (7,)
    with pytest.raises(ConfigError):
        month_range(0, 4)


def test_year_and_date_range_bounds() -> None:
    y = Period.year(2024)
    assert "2024-01-01" in y and "2024-12-31T23:59" in y
    assert "2025-01-01" not in y and "2023-12-31" not in y
    r = Period.date_range("2024-03-01", "2024-03-31")
    assert "2024-03-31" in r and "2024-04-01" not in r
    with pytest.raises(InvalidDateRangeError):
        Period.date_range("2024-05-01", "2024-04-01")


def test_months_and_quarters_tile_the_year() -> None:
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2025-01-01"))
    for parts in (months_of(2024), quarters_of(2024)):
        hits = np.sum([p.contains(days) for p in parts], axis=0)
        assert (hits == 1).all()
    assert Period.quarter(2024, 2).start == np.datetime64("2024-04-01")


def test_wrapping_season_within_and_span() -> None:
    wet = Period.season("wet", (11, 4), 2024)
    assert "2024-01-15" in wet and "2024-11-20" in wet and "2024-12-31" in wet
    assert "2024-05-01" not in wet and "2023-12-15" not in wet
    dry = Period.season("dry", (5, 10), 2024)
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2025-01-01"))
    assert (wet.contains(days) ^ dry.contains(days)).all()
    span = Period.season("wet", (11, 4), 2024, wrap="span")
    assert "2023-11-01" in span and "2024-04-30" in span
    assert "2024-05-01" not in span and "2024-11-15" not in span


def test_parse_season_forms() -> None:
    assert parse_season("wet=11-04") == ("wet", (11, 4))
    assert parse_season("dry = may-oct") == ("dry", (5, 10))
    for bad in ("wet", "wet=13-01", "=11-04", "wet=11"):
        with pytest.raises(ConfigError):
            parse_season(bad)


def test_parse_period_forms() -> None:
    assert parse_period("2024") == Period.year(2024)
    assert parse_period("2024-03").name == "2024-03"
    assert parse_period("2024-q3").start == np.datetime64("2024-07-01")
    r = parse_period("spring=2024-03-01/2024-05-31")
    assert r.name == "spring" and "2024-05-31" in r
    assert parse_period("wet=11-04", year=2024) == Period.season("wet", (11, 4), 2024)
    with pytest.raises(ConfigError):
        parse_period("wet=11-04")  # a season needs a year
    with pytest.raises(ConfigError):
        parse_period("someday")


def test_unique_names_are_enforced() -> None:
    with pytest.raises(ConfigError):
        check_unique([Period.year(2024), Period.year(2024)])
    with pytest.raises(ConfigError):
        Period("bad name!", np.datetime64("2024-01-01"), np.datetime64("2024-02-01"))
