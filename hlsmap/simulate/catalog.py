"""The world's STAC: one Planetary-Computer-shaped item per granule (beside its COGs, and all
together in ``items.json``), a collection per sensor and a static ``catalog.json``.

Every link and href on disk is relative, so a world folder can be moved or served over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from hlsmap.simulate.build import Scene, footprint, write_json
from hlsmap.simulate.events import period
from hlsmap.simulate.stacitems import COLLECTION_IDS, collection_dict, item_dict
from hlsmap.simulate.writer import ASSET_KEYS, granule_bands


def write_catalog(
    out: Path, scene: Scene, observations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Write the items, collections, catalog and ItemCollection; return the item dicts."""
    config, grid = scene.config, scene.grid
    first, last = period(config)
    items: list[dict[str, Any]] = []
    for obs in observations:
        for g in obs["granules"]:
            geom, bbox = footprint(grid, g["footprint_px"])
            tile = next(t for t in grid.tiles if t.name == g["tile"])
            left, top = tile.transform.c, tile.transform.f
            extent = tile.size * 30.0
            item = item_dict(
                gid=g["id"],
                sensor=obs["sensor"],
                platform=obs["platform"],
                when=dt.datetime.fromisoformat(g["datetime"]),
                geometry=geom,
                bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
                epsg=grid.epsg,
                shape=(tile.size, tile.size),
                transform=tuple(tile.transform)[:6],
                proj_bbox=(left, top - extent, left + extent, top),
                cloud_cover=g["cloud_cover"],
                sun_azimuth=obs["sun_azimuth"],
                sun_elevation=90.0 - obs["sun_zenith"],
                view_zenith=obs["view_zenith"],
                hrefs={k: f"granules/{g['id']}/{f}" for k, f in g["files"].items()},
            )
            cid = COLLECTION_IDS[obs["sensor"]]
            item["links"] = [
                {
                    "rel": "collection",
                    "type": "application/json",
                    "href": f"collections/{cid}/collection.json",
                }
            ]
            items.append(item)
            # The item beside its files, with relative links for the static catalog.
            local = json.loads(json.dumps(item))
            for asset in local["assets"].values():
                asset["href"] = "./" + asset["href"].rsplit("/", 1)[1]
            local["links"] = [
                {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                {
                    "rel": "parent",
                    "href": f"../../collections/{cid}/collection.json",
                    "type": "application/json",
                },
                {
                    "rel": "collection",
                    "href": f"../../collections/{cid}/collection.json",
                    "type": "application/json",
                },
            ]
            write_json(out / "granules" / g["id"] / f"{g['id']}.json", local)
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    end = dt.datetime.combine(last, dt.time(23, 59, 59), dt.UTC)
    catalog_links: list[dict[str, str]] = [
        {"rel": "root", "href": "./catalog.json", "type": "application/json"}
    ]
    for sensor, cid in COLLECTION_IDS.items():
        bands = granule_bands(sensor, coastal=config.coastal, red_edge=config.red_edge)
        keys = [ASSET_KEYS[sensor][b] for b in bands] + ["Fmask"]
        coll = collection_dict(sensor, grid.bbox, start, end, keys)
        coll["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../../catalog.json", "type": "application/json"},
        ] + [
            {
                "rel": "item",
                "href": f"../../granules/{it['id']}/{it['id']}.json",
                "type": "application/geo+json",
            }
            for it in items
            if it["collection"] == cid
        ]
        write_json(out / "collections" / cid / "collection.json", coll)
        catalog_links.append(
            {
                "rel": "child",
                "href": f"./collections/{cid}/collection.json",
                "type": "application/json",
                "title": cid,
            }
        )
    write_json(
        out / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "hlsmap-synthetic-world",
            "description": f"Synthetic HLS world (seed {config.seed}, {config.climate})",
            "links": catalog_links,
        },
    )
    write_json(out / "items.json", {"type": "FeatureCollection", "features": items})

    return items
