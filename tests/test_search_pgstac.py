"""Search against Planetary Computer's own stack: stac-fastapi-pgstac on PostgreSQL + PostGIS.

Unlike rustac (tests/test_search.py), this server implements the query and CQL2 filter
extensions, so :func:`hlsmap.search.search` sends the cloud filter to it. These tests prove the
server applies it: with the client-side re-filter switched off, the answer is still exact.

The server needs PostGIS and ``.venv-pgstac`` (``bash tests/services/pgstac.sh`` installs both);
without them the tests skip, unless ``HLSMAP_REQUIRE_PGSTAC=1`` (set by ``.ci/run`` when the
install worked), under which they fail.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac
import pytest

import hlsmap.search as hsearch
from hlsmap.cube import load_cube
from hlsmap.errors import EmptySearchError
from hlsmap.region import Region
from hlsmap.search import search

import servers

PC_COLLECTIONS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "hls"

# A second, asset-less set of granules elsewhere (2023, a 1-degree box in the Alps): enough of
# them that a search pages (hlsmap asks 250 a page), cloud cover i % 101, fractional seconds.
BULK = 600
BULK_BBOX = (10.2, 45.2, 10.8, 45.8)
BULK_T0 = dt.datetime(2023, 1, 1, 10, 30, 0, 250000, tzinfo=dt.UTC)


# Three granules, one without eo:cloud_cover (which the client-side filter keeps)
UNKNOWN_BBOX = (20.2, 10.2, 20.8, 10.8)
UNKNOWN_COVER: list[float | None] = [None, 10, 90]


def bulk_time(i: int) -> dt.datetime:
    return BULK_T0 + dt.timedelta(hours=13 * i)


def bulk_cloud(i: int) -> int:
    return i % 101


def feature(sensor: str, tile: str, t: dt.datetime, lon: int, lat: int, cloud: float | None):
    """An asset-less HLS-shaped item on the 1-degree cell at (lon, lat)."""
    props: dict[str, Any] = {"datetime": t.isoformat().replace("+00:00", "Z")}
    if cloud is not None:
        props["eo:cloud_cover"] = cloud
    ring = [[lon, lat], [lon + 1, lat], [lon + 1, lat + 1], [lon, lat + 1], [lon, lat]]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"HLS.{sensor}.T{tile}.{t:%Y%jT%H%M%S}.v2.0",
        "collection": f"hls2-{sensor.lower()}",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [lon, lat, lon + 1, lat + 1],
        "properties": props,
        "links": [],
        "assets": {},
    }


def write_features(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@dataclass
class PgArchive:
    url: str
    archive: Any  # conftest.Archive: the same 4 granules, also behind rustac at archive.api
    unknown: Path  # the UNKNOWN_COVER granules as an ItemCollection file


@pytest.fixture(scope="module")
def pg(archive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgArchive]:
    missing = servers.pgstac_missing()
    if missing:
        if os.environ.get("HLSMAP_REQUIRE_PGSTAC") == "1":
            pytest.fail(f"HLSMAP_REQUIRE_PGSTAC=1 but {missing}")
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("pgstac")
    bulk = [
        feature("S30" if i % 2 else "L30", "32TNR", bulk_time(i), 10, 45, bulk_cloud(i))
        for i in range(BULK)
    ]
    t = dt.datetime(2024, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
    unknown = [
        feature("S30", "34PDA", t + dt.timedelta(days=5 * i), 20, 10, c)
        for i, c in enumerate(UNKNOWN_COVER)
    ]
    files = [write_features(root / "bulk.json", bulk), write_features(root / "unk.json", unknown)]
    cols = [PC_COLLECTIONS / f"pc-hls2-{s}-collection.json" for s in ("l30", "s30")]
    with servers.pgstac_api(*cols, archive.item_collection, *files) as url:
        yield PgArchive(url, archive, files[1])


def _post_search(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Raw ``POST /search`` (no hlsmap, no pystac-client), following ``next`` links."""
    out: list[dict[str, Any]] = []
    body = {"limit": 1000, **body}
    while True:
        req = urllib.request.Request(
            f"{url}/search", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            page = json.loads(r.read())
        out += page["features"]
        nxt = [link for link in page.get("links", []) if link["rel"] == "next"]
        if not nxt:
            return out
        body = {**body, **nxt[0].get("body", {})} if nxt[0].get("merge") else nxt[0]["body"]


def test_conformance_has_filter_and_query(pg: PgArchive) -> None:
    from pystac_client import Client
    from pystac_client.conformance import ConformanceClasses

    client = Client.open(pg.url)
    assert client.conforms_to(ConformanceClasses.FILTER)
    assert client.conforms_to(ConformanceClasses.QUERY)
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in client.get_conforms_to()
    assert {c.id for c in client.get_collections()} == {"hls2-l30", "hls2-s30"}


def test_server_itself_honours_filter_and_query(pg: PgArchive) -> None:
    # ground truth without hlsmap or pystac-client: the filters hlsmap sends, raw
    want = sorted(i for i in range(BULK) if bulk_cloud(i) <= 60)
    cql2 = hsearch.cloud_filter(60)
    by_filter = _post_search(
        pg.url, {"bbox": BULK_BBOX, "filter": cql2, "filter-lang": "cql2-json"}
    )
    by_query = _post_search(pg.url, {"bbox": BULK_BBOX, "query": {"eo:cloud_cover": {"lte": 60}}})
    assert len(by_filter) == len(by_query) == len(want)
    assert max(f["properties"]["eo:cloud_cover"] for f in by_filter + by_query) == 60


def test_max_cloud_returns_exactly_the_clear_items(pg: PgArchive) -> None:
    items = search(pg.url, bbox=pg.archive.bbox, datetime="2024", max_cloud=50)
    assert sorted(i.properties["eo:cloud_cover"] for i in items) == [0, 20]
    bulk = search(pg.url, bbox=BULK_BBOX, datetime="2023", max_cloud=60)
    want = {i for i in range(BULK) if bulk_cloud(i) <= 60}
    assert len(want) > 250  # more than one page of hlsmap's searches, filtered on every page
    assert [i.datetime for i in bulk] == [bulk_time(i) for i in sorted(want)]


@pytest.mark.parametrize("extension", ["filter", "query"])
def test_cloud_filter_is_applied_server_side(
    pg: PgArchive, monkeypatch: pytest.MonkeyPatch, extension: str
) -> None:
    from pystac_client import Client
    from pystac_client.conformance import ConformanceClasses

    sent: list[dict[str, Any]] = []
    real_search, real_conforms = Client.search, Client.conforms_to

    def spy(self: Client, **kwargs: Any) -> Any:
        sent.append(kwargs)
        return real_search(self, **kwargs)

    def conforms(self: Client, *classes: Any) -> bool:
        if extension == "query" and ConformanceClasses.FILTER in classes:
            return False  # a server with the query extension only: the second branch
        return bool(real_conforms(self, *classes))

    monkeypatch.setattr(Client, "search", spy)
    monkeypatch.setattr(Client, "conforms_to", conforms)
    # no client-side re-filter at all: whatever comes back is what the server selected
    monkeypatch.setattr(hsearch, "_matches", lambda *args, **kwargs: True)

    everything = search(pg.url, bbox=BULK_BBOX, datetime="2023")
    assert len(everything) == BULK  # the client filter really is off
    items = search(pg.url, bbox=BULK_BBOX, datetime="2023", max_cloud=60)
    other = "query" if extension == "filter" else "filter"
    assert sent[-1].get(extension) and not sent[-1].get(other)
    assert len(items) == sum(bulk_cloud(i) <= 60 for i in range(BULK))
    assert max(i.properties["eo:cloud_cover"] for i in items) == 60
    small = search(pg.url, bbox=pg.archive.bbox, datetime="2024", max_cloud=50)
    assert sorted(i.properties["eo:cloud_cover"] for i in small) == [0, 20]


def test_bbox_datetime_tile_and_sensors(pg: PgArchive) -> None:
    items = search(pg.url, bbox=pg.archive.bbox, datetime="2024")
    assert [i.id for i in items] == [i.id for i in search(pg.archive.api, bbox=pg.archive.bbox)]
    assert len(search(pg.url, bbox=pg.archive.bbox, datetime="2024-05-01/2024-05-10")) == 3
    only_l30 = search(pg.url, bbox=pg.archive.bbox, datetime="2024", sensors=["L30"])
    assert [i.collection_id for i in only_l30] == ["hls2-l30"]
    tile = search(pg.url, region=Region.from_tile("T13RCN"), datetime="2024")
    assert [i.id.split(".")[2] for i in tile] == ["T13RCN"] * 3
    with pytest.raises(EmptySearchError):
        search(pg.url, bbox=pg.archive.bbox, datetime="2022")
    # a one-instant range at a fractional-second datetime finds exactly that granule
    t = bulk_time(7)
    (one,) = search(pg.url, bbox=BULK_BBOX, datetime=(t, t))
    assert one.datetime == t


def test_items_round_trip_and_load_as_a_cube(pg: PgArchive) -> None:
    items = search(pg.url, bbox=pg.archive.bbox, datetime="2024")
    by_id = {i.id: i for i in pg.archive.items}
    for item in items:
        assert isinstance(item, pystac.Item)
        orig = by_id[item.id]
        # pgstac stores items dehydrated against the collection's item_assets: nothing added
        assert item.assets.keys() == orig.assets.keys()
        assert {k: a.href for k, a in item.assets.items()} == {
            k: a.href for k, a in orig.assets.items()
        }
        assert item.datetime == orig.datetime and item.collection_id == orig.collection_id
    cube = load_cube(items)
    assert cube.sizes["time"] == 3
    assert cube.sensor.values.tolist() == ["S30", "L30", "S30"]


def test_items_without_cloud_cover_are_kept_as_on_the_client(
    pg: PgArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pystac_client import Client
    from pystac_client.conformance import ConformanceClasses

    def covers(items: list[pystac.Item]) -> list[float | None]:
        return [i.properties.get("eo:cloud_cover") for i in items]

    from_file = search(pg.unknown, bbox=UNKNOWN_BBOX, max_cloud=50, sensors=["S30"])
    assert covers(from_file) == [None, 10]
    # the server keeps it itself (the filter's isNull), not the client-side pass
    monkeypatch.setattr(hsearch, "_matches", lambda *args, **kwargs: True)
    assert covers(search(pg.url, bbox=UNKNOWN_BBOX, max_cloud=50, sensors=["S30"])) == [None, 10]
    # the documented exception: the query extension cannot say "or unknown"
    real = Client.conforms_to
    monkeypatch.setattr(
        Client,
        "conforms_to",
        lambda self, *c: ConformanceClasses.FILTER not in c and bool(real(self, *c)),
    )
    assert covers(search(pg.url, bbox=UNKNOWN_BBOX, max_cloud=50, sensors=["S30"])) == [10]
