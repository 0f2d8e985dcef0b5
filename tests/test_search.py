"""Search through a real STAC API, static files, and failing servers, all on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pystac
import pytest

from hlsmap.errors import (
    EmptySearchError,
    InvalidDateRangeError,
    InvalidRegionError,
    RemoteError,
    UnknownCollectionError,
    UnknownSensorError,
)
from hlsmap.region import Region
from hlsmap.search import parse_datetime_range, resolve_source, search

import servers


def ids(items: list[pystac.Item]) -> list[str]:
    return [i.id.split(".")[1] + i.id.split(".")[2] + i.id.split(".")[3][:7] for i in items]


def test_api_search_by_bbox_dates_and_sensors(archive) -> None:
    items = search(archive.api, bbox=archive.bbox, datetime="2024")
    assert len(items) == 4
    assert [i.datetime for i in items] == sorted(i.datetime for i in items)  # type: ignore[type-var]
    only_l30 = search(archive.api, bbox=archive.bbox, datetime="2024", sensors=["L30"])
    assert [i.collection_id for i in only_l30] == ["hls2-l30"]
    may = search(archive.api, bbox=archive.bbox, datetime="2024-05-01/2024-05-10")
    assert len(may) == 3


def test_cloud_filter_works_without_server_support(archive) -> None:
    # rustac implements neither the query nor the filter extension: filtered on the client.
    items = search(archive.api, bbox=archive.bbox, datetime="2024", max_cloud=50)
    assert sorted(i.properties["eo:cloud_cover"] for i in items) == [0, 20]


def test_tile_region_keeps_that_tiles_granules(archive) -> None:
    # the fake T13RDN granule lies inside T13RCN's footprint: only the tile filter drops it
    items = search(archive.api, region=Region.from_tile("T13RCN"), datetime="2024")
    assert [i.id.split(".")[2] for i in items] == ["T13RCN"] * 3


def test_static_item_collection_and_catalog(archive, tmp_path: Path) -> None:
    from_file = search(str(archive.item_collection), bbox=archive.bbox, datetime="2024")
    assert len(from_file) == 4
    cat = pystac.Catalog("c", "test catalog")
    for item in archive.local_items:
        cat.add_item(item.clone())
    cat.normalize_hrefs(str(tmp_path / "cat"))
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    from_cat = search(tmp_path / "cat", bbox=archive.bbox, datetime="2024-05", max_cloud=30)
    assert len(from_cat) == 2
    over_http = search(f"{archive.http.url}/items.json", bbox=archive.bbox, datetime="2024")
    assert len(over_http) == 4


def test_empty_search_says_what_was_asked(archive) -> None:
    with pytest.raises(EmptySearchError, match="2023-01-01.*widen"):
        search(archive.api, bbox=archive.bbox, datetime="2023")
    with pytest.raises(EmptySearchError):
        search(archive.api, bbox=(10, 10, 11, 11), datetime="2024")


def test_bad_inputs_get_clear_errors(archive, tmp_path: Path) -> None:
    with pytest.raises(InvalidDateRangeError, match="swap"):
        search(archive.api, bbox=archive.bbox, datetime="2024-06-01/2024-01-01")
    with pytest.raises(InvalidDateRangeError, match="cannot read"):
        parse_datetime_range("June 2024")
    with pytest.raises(UnknownSensorError, match="L30"):
        search(archive.api, bbox=archive.bbox, datetime="2024", sensors=["MODIS"])
    with pytest.raises(UnknownCollectionError, match="no collection for sensor S2L2A"):
        search(archive.api, bbox=archive.bbox, datetime="2024", sensors=["S2L2A"])
    with pytest.raises(InvalidRegionError, match="inverted"):
        search(archive.api, bbox=(10, 10, 9, 11), datetime="2024")
    with pytest.raises(UnknownCollectionError, match="neither"):
        resolve_source(tmp_path / "nothing-here")


def test_server_errors_are_retried_then_reported(tmp_path: Path) -> None:
    with servers.range_server(tmp_path) as http:
        http.failures[""] = [500, 100]
        with pytest.raises(RemoteError, match=http.url):
            search(http.url, bbox=(0, 0, 1, 1), datetime="2024")
        assert http.hits[""] >= 4  # retried with backoff, not given up at once


def test_datetime_parsing() -> None:
    s, e = parse_datetime_range("2024-02")
    assert s == dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    assert e.date() == dt.date(2024, 2, 29)
    s, e = parse_datetime_range("2024-01-01/2024-01-31")
    assert e.date() == dt.date(2024, 1, 31) and e.hour == 23
    s, e = parse_datetime_range("../2024-01-01")
    assert s.year == 1970
