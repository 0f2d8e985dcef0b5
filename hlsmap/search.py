"""STAC sources -> HLS items: Planetary Computer, NASA CMR-STAC, any STAC API, static catalogs.

One function, :func:`search`, answers "which observations of these sensors cover this region in
this period", whatever the source is. Filters (cloud cover, properties) are sent to the server
when its conformance says it understands them (Planetary Computer's stac-fastapi + pgstac does)
and are *always* applied again on the client, so servers without the query/filter extensions
(NASA CMR-STAC, rustac, static catalogs) give the same answer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pystac

from hlsmap.errors import (
    ConfigError,
    EmptySearchError,
    InvalidDateRangeError,
    RemoteError,
    UnknownCollectionError,
)
from hlsmap.redact import redact
from hlsmap.region import Region

log = logging.getLogger("hlsmap.search")

PC_STAC_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"
NASA_STAC_URL = "https://cmr.earthdata.nasa.gov/stac/LPCLOUD"
Provider = Literal["pc", "nasa"]


@dataclass(frozen=True)
class Source:
    """Where items come from.

    Attributes:
        kind: ``"api"`` (a STAC API with item search) or ``"file"`` (a static catalog,
            collection or ItemCollection on disk or at a URL).
        href: the API root URL or the file's path/URL.
        provider: whose collection ids to ask for (``"pc"`` or ``"nasa"``); for other servers
            the ids are looked up in the server's own collection list.
    """

    kind: Literal["api", "file"]
    href: str
    provider: Provider | None = None


def resolve_source(source: str | Path | Source) -> Source:
    """Turn ``"pc"``, ``"nasa"``, a URL or a path into a :class:`Source`.

    A URL ending in ``.json`` or ``.geojson`` is a static file; any other URL is a STAC API. A
    directory stands for its ``catalog.json`` (or ``items.json``).
    """
    if isinstance(source, Source):
        return source
    s = str(source)
    if s.lower() in ("pc", "planetary-computer", "planetarycomputer"):
        return Source("api", PC_STAC_URL, "pc")
    if s.lower() in ("nasa", "cmr", "lpdaac"):
        return Source("api", NASA_STAC_URL, "nasa")
    if s.startswith(("http://", "https://")):
        if s.split("?")[0].endswith((".json", ".geojson")):
            return Source("file", s)
        provider: Provider | None = None
        if "planetarycomputer" in s:
            provider = "pc"
        elif "earthdata.nasa.gov" in s:
            provider = "nasa"
        return Source("api", s.rstrip("/"), provider)
    p = Path(s).expanduser()
    if p.is_dir():
        for name in ("catalog.json", "collection.json", "items.json"):
            if (p / name).exists():
                return Source("file", str((p / name).resolve()))
        raise UnknownCollectionError(
            f"folder {p} holds no catalog.json, collection.json or items.json; give a STAC API "
            "URL, a static catalog or an ItemCollection file"
        )
    if not p.exists():
        raise UnknownCollectionError(
            f"source {s!r} is neither 'pc', 'nasa', a URL nor an existing file or folder"
        )
    return Source("file", str(p.resolve()))


def parse_datetime_range(value: str | tuple[Any, Any] | None) -> tuple[dt.datetime, dt.datetime]:
    """Parse ``"2024"``, ``"2024-03"``, ``"2024-01-01/2024-06-30"`` or a pair into UTC bounds.

    Raises:
        InvalidDateRangeError: unparseable, or the start lies after the end.
    """
    if value is None:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) == 1:
            start, end = _parse_instant(parts[0], end=False), _parse_instant(parts[0], end=True)
        elif len(parts) == 2:
            start = _parse_instant(parts[0] or "..", end=False)
            end = _parse_instant(parts[1] or "..", end=True)
        else:
            raise InvalidDateRangeError(
                f"date range {value!r} has more than one '/'; use START/END, e.g. "
                "2024-01-01/2024-12-31"
            )
    else:
        start, end = _parse_instant(value[0], end=False), _parse_instant(value[1], end=True)
    if start > end:
        raise InvalidDateRangeError(
            f"date range starts ({start.date()}) after it ends ({end.date()}); swap the dates"
        )
    return start, end


def _parse_instant(v: Any, *, end: bool) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v if v.tzinfo else v.replace(tzinfo=dt.UTC)
    if isinstance(v, dt.date):
        v = v.isoformat()
    s = str(v).strip()
    if s == "..":
        year = 2100 if end else 1970
        return dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    try:
        if len(s) == 4:  # a year
            y = int(s)
            return (
                dt.datetime(y, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
                if end
                else dt.datetime(y, 1, 1, tzinfo=dt.UTC)
            )
        if len(s) == 7:  # a month
            y, m = int(s[:4]), int(s[5:7])
            first = dt.datetime(y, m, 1, tzinfo=dt.UTC)
            if not end:
                return first
            nxt = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=dt.UTC)
            return nxt - dt.timedelta(seconds=1)
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidDateRangeError(
            f"cannot read {s!r} as a date; use YYYY, YYYY-MM, YYYY-MM-DD or an ISO datetime"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    if end and len(s) == 10:
        t += dt.timedelta(days=1, seconds=-1)  # a date as an end means the whole day
    return t


def _retry() -> Any:
    """Retries with backoff on transient server errors, for every HTTP method (POST searches)."""
    from urllib3 import Retry

    return Retry(
        total=4,
        backoff_factor=0.25,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
    )


def _open_client(url: str) -> Any:
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO

    try:
        return Client.open(url, stac_io=StacApiIO(max_retries=_retry(), timeout=60))
    except Exception as exc:
        raise RemoteError(
            f"could not open the STAC API at {redact(url)}: {redact(exc)}. Check the URL and "
            "your connection, or try again later"
        ) from None  # (the cause quotes the URL unredacted)


def _collections_for(
    sensors: Sequence[str], provider: Provider | None, available: Iterable[str] | None
) -> dict[str, str]:
    """collection id -> sensor name for the sensors asked, as this source names them."""
    from hlsmap.sensors import get_sensor

    have = set(available) if available is not None else None
    out: dict[str, str] = {}
    for name in sensors:
        adapter = get_sensor(name)
        ids = list(adapter.collections.values())
        if provider is not None and provider in adapter.collections:
            ids = [adapter.collections[provider]]
        if have is not None:
            ids = [i for i in ids if i in have]
            if not ids:
                raise UnknownCollectionError(
                    f"this source has no collection for sensor {adapter.name} (looked for "
                    f"{', '.join(adapter.collections.values())}; it has "
                    f"{', '.join(sorted(have)) or 'none'}); choose --sensors among what it serves"
                )
        for i in ids:
            out[i] = adapter.name
    return out


def _fetch_json(href: str) -> Any:
    """Read a JSON document from a path or URL (URLs with retries and backoff)."""
    if not href.startswith(("http://", "https://")):
        try:
            return json.loads(Path(href).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{href} is not valid JSON ({exc}); the file may be truncated: write it again "
                "or give another --source"
            ) from None
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=_retry()))
    session.mount("https://", HTTPAdapter(max_retries=_retry()))
    try:
        response = session.get(href, timeout=60)
        response.raise_for_status()
        return response.json()
    except Exception as exc:
        raise RemoteError(
            f"could not read {redact(href)} after retries: {redact(exc)}"
        ) from None  # (the cause quotes the URL unredacted)


def _read_file_items(href: str) -> list[pystac.Item]:
    doc = _fetch_json(href)
    if doc.get("type") == "FeatureCollection":
        return list(pystac.ItemCollection.from_dict(doc, preserve_dict=False))
    if doc.get("type") == "Feature":
        return [pystac.Item.from_dict(doc)]
    cat = pystac.read_file(href)
    if not isinstance(cat, pystac.Catalog):
        raise UnknownCollectionError(f"{href} is not a STAC catalog, collection or item file")
    return list(cat.get_items(recursive=True))


def _item_tile(item: pystac.Item) -> str | None:
    """The MGRS tile of an item: from its HLS id (``HLS.S30.T13RCN...``) or mgrs/s2 fields."""
    p = item.properties
    if "mgrs:utm_zone" in p:
        return f"{int(p['mgrs:utm_zone']):02d}{p['mgrs:latitude_band']}{p['mgrs:grid_square']}"
    if "s2:mgrs_tile" in p:
        return str(p["s2:mgrs_tile"])
    for part in item.id.split("."):
        if len(part) == 6 and part[0] == "T" and part[1:3].isdigit():
            return part[1:]
    return None


def _misses(item: pystac.Item, region: Region | None) -> bool:
    """Whether the item's footprint misses the region."""
    if region is None or item.geometry is None:
        return False
    from shapely.geometry import shape

    return not shape(item.geometry).intersects(region.geometry)


def _report_misses(
    found: list[pystac.Item],
    region: Region | None,
    src: Source,
    dropped: list[tuple[str, str]] | None,
) -> None:
    """Drop (in place) the items whose footprint misses the region, counting and logging them."""
    gone = [i for i in found if _misses(i, region)]
    if not gone:
        return
    keep = [i for i in found if not _misses(i, region)]
    found[:] = keep
    assert region is not None
    reason = f"its footprint misses the region {tuple(round(v, 4) for v in region.bbox)}"
    if dropped is not None:
        dropped.extend((i.id, reason) for i in gone)
    ids = ", ".join(i.id for i in gone[:5]) + (" ..." if len(gone) > 5 else "")
    level = logging.WARNING if src.kind == "api" else logging.INFO
    log.log(level, "%d item(s) from %s dropped: %s: %s", len(gone), redact(src.href), reason, ids)


def _matches(
    item: pystac.Item,
    region: Region | None,
    start: dt.datetime,
    end: dt.datetime,
    max_cloud: float | None,
    tile: str | None,
    properties: dict[str, Any] | None,
) -> bool:
    t = item.datetime or item.common_metadata.start_datetime
    if t is None or not (start <= t.astimezone(dt.UTC) <= end):
        return False
    if max_cloud is not None:
        cc = item.properties.get("eo:cloud_cover")
        if cc is not None and float(cc) > max_cloud:
            return False
    if tile is not None and _item_tile(item) not in (tile, None):
        return False
    if properties:
        for k, v in properties.items():
            if item.properties.get(k) != v:
                return False
    return True  # (the region: _report_misses, which counts what it drops)


def search(
    source: str | Path | Source,
    *,
    region: Region | None = None,
    bbox: Sequence[float] | None = None,
    datetime: str | tuple[Any, Any] | None = None,
    sensors: Sequence[str] = ("L30", "S30"),
    max_cloud: float | None = None,
    properties: dict[str, Any] | None = None,
    max_items: int | None = None,
    dropped: list[tuple[str, str]] | None = None,
) -> list[pystac.Item]:
    """Find the observations of ``sensors`` over a region and period.

    Args:
        source: ``"pc"``, ``"nasa"``, a STAC API URL, a static catalog / ItemCollection path or
            URL, or a :class:`Source`.
        region: the area (see :class:`hlsmap.region.Region`; a tile region also restricts to
            granules of that MGRS tile).
        bbox: ``(west, south, east, north)`` in degrees, instead of ``region``.
        datetime: ``"2024"``, ``"2024-01-01/2024-12-31"`` or a ``(start, end)`` pair.
        sensors: registered sensor names (``hlsmap sensors`` lists them).
        max_cloud: keep items whose ``eo:cloud_cover`` is at most this percentage (and items
            without one, except from a server with the query extension but not filter).
        properties: keep items whose properties equal these values.
        max_items: stop after this many items (``None``: all).
        dropped: a list to append ``(item id, reason)`` to for each item the source returned
            that is not used because its footprint misses the region (a server that matched
            it by its bbox, a static catalog's other areas); they are also counted in a log
            line (a warning when an API returned them: it was asked for the region).

    Returns:
        Items sorted by datetime, then id. Each keeps its collection id, from which
        :func:`hlsmap.cube.load_cube` finds the sensor adapter.

    Raises:
        EmptySearchError: nothing matched (the message repeats what was asked).
        RemoteError: the server kept failing.
        UnknownCollectionError: the source serves none of the sensors' collections.
        InvalidDateRangeError: a malformed or inverted date range.
    """
    if not sensors or not all(isinstance(s, str) and s.strip() for s in sensors):
        raise ConfigError("no sensors to search; name at least one, e.g. --sensors L30,S30")
    if max_cloud is not None and not 0 <= max_cloud <= 100:
        raise ConfigError(f"--max-cloud {max_cloud} is not a percentage; give 0..100")
    src = resolve_source(source)
    if region is None and bbox is not None:
        region = Region.from_bbox(tuple(bbox))  # type: ignore[arg-type]
    start, end = parse_datetime_range(datetime)
    tile = region.tile if region is not None else None
    if src.kind == "file":
        items = _read_file_items(src.href)
        wanted = _collections_for(sensors, None, {i.collection_id or "" for i in items})
        found = [i for i in items if i.collection_id in wanted]
    else:
        found = _search_api(src, region, start, end, sensors, max_cloud, max_items)
    found = [i for i in found if _matches(i, region, start, end, max_cloud, tile, properties)]
    _report_misses(found, region, src, dropped)
    found.sort(key=lambda i: (i.datetime or start, i.id))
    if max_items is not None:
        found = found[:max_items]
    if not found:
        where = f"bbox {tuple(round(v, 4) for v in region.bbox)}" if region else "anywhere"
        clouds = f" with cloud cover <= {max_cloud}%" if max_cloud is not None else ""
        raise EmptySearchError(
            f"no {'/'.join(sensors)} items in {redact(src.href)} for {where} between "
            f"{start.date()} and {end.date()}{clouds}; widen the dates, the region or the "
            "cloud limit"
        )
    return found


def cloud_filter(max_cloud: float) -> dict[str, Any]:
    """The CQL2-JSON filter for ``max_cloud``: cover at most this, or unknown (as on the client).

    A bare ``eo:cloud_cover <= max_cloud`` is NULL, so false, on a server (pgstac) for an item
    without the property, which the client-side filter keeps: the ``isNull`` keeps the answers
    the same.
    """
    prop = {"property": "eo:cloud_cover"}
    return {
        "op": "or",
        "args": [{"op": "<=", "args": [prop, max_cloud]}, {"op": "isNull", "args": [prop]}],
    }


def _search_api(
    src: Source,
    region: Region | None,
    start: dt.datetime,
    end: dt.datetime,
    sensors: Sequence[str],
    max_cloud: float | None,
    max_items: int | None,
) -> list[pystac.Item]:
    from pystac_client.conformance import ConformanceClasses

    client = _open_client(src.href)
    available = None
    if src.provider is None:
        try:
            available = [c.id for c in client.get_collections()]
        except Exception as exc:
            raise RemoteError(
                f"could not list the collections of {redact(src.href)}: {redact(exc)}"
            ) from None
    collections = _collections_for(sensors, src.provider, available)
    kwargs: dict[str, Any] = {
        "collections": list(collections),
        "datetime": (start, end),
        "max_items": max_items,
        "limit": 250,
    }
    if region is not None:
        kwargs["intersects"] = region.geometry.__geo_interface__
    if max_cloud is not None:
        if client.conforms_to(ConformanceClasses.FILTER):
            kwargs["filter"] = cloud_filter(max_cloud)
            kwargs["filter_lang"] = "cql2-json"
        elif client.conforms_to(ConformanceClasses.QUERY):
            # the query extension cannot say "or unknown": such a server drops the items that
            # have no eo:cloud_cover, which every other source keeps
            kwargs["query"] = {"eo:cloud_cover": {"lte": max_cloud}}
    try:
        return list(client.search(**kwargs).items())
    except Exception as exc:
        raise RemoteError(
            f"item search at {redact(src.href)} failed after retries: {redact(exc)}. The server "
            "may be down or overloaded; try again later"
        ) from None
