"""Shared fixtures. This folder is on sys.path (pytest's prepend import mode), so helper modules
here (``stacval``, ``servers``, ``hlsfixtures``) import by name from any test.

``archive`` is a tiny HLS archive served the way Planetary Computer serves HLS: COGs behind a
range-capable HTTP server and PC-shaped items behind a real STAC API (``rustac serve``), both on
127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pystac
import pytest

import hlsfixtures as hf
import servers


@dataclass
class Archive:
    root: Path  # served folder; granules under root / "data"
    http: servers.RangeServer
    api: str  # STAC API root URL
    items: list[pystac.Item]  # with http hrefs
    item_collection: Path  # the same items as an ItemCollection file (http hrefs)
    local_items: list[pystac.Item]  # with local file hrefs
    bbox: tuple[float, float, float, float]  # covers the granules (degrees)


T0 = dt.datetime(2024, 5, 7, 17, 55, 57, tzinfo=dt.UTC)


def _const(value: int, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    bands = ("blue", "green", "red", "nir08", "swir16", "swir22", "coastal")
    return {b: np.full(shape, value + i, np.int16) for i, b in enumerate(bands)}


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    root = tmp_path_factory.mktemp("archive")
    data = root / "data"
    shape = (64, 64)
    cloud = np.zeros(shape, np.uint8)
    cloud[:16, :16] = 0b0000_0010  # cloud
    cloud[16:20, :16] = 0b0000_0100  # adjacent
    cloud[:, 60:] = 255  # outside the swath
    with servers.range_server(root) as http:
        base = f"{http.url}/data"
        specs = [
            # two S30 granules of one overpass on overlapping tiles: fused into one observation
            dict(
                sensor="S30",
                when=T0,
                tile="13RCN",
                values=_const(1000, shape),
                fmask=cloud,
                cloud_cover=20,
            ),
            dict(
                sensor="S30",
                when=T0 + dt.timedelta(seconds=4),
                tile="13RDN",
                origin=(hf.ULX + 30 * 32, hf.ULY),
                values=_const(2000, shape),
                cloud_cover=0,
            ),
            dict(
                sensor="L30",
                when=T0 + dt.timedelta(days=2, hours=0.3),
                tile="13RCN",
                values=_const(3000, shape),
                cloud_cover=60,
                platform="Landsat 9",
            ),
            dict(
                sensor="S30",
                when=T0 + dt.timedelta(days=10),
                tile="13RCN",
                values=_const(4000, shape),
                cloud_cover=95,
                platform="Sentinel-2A",
            ),
        ]
        items, local = [], []
        for spec in specs:
            items.append(hf.make_granule(data, base_url=base, **spec))  # type: ignore[arg-type]
            local.append(hf.make_granule(data, **spec))  # type: ignore[arg-type]
        ic = hf.write_item_collection(items, root / "items.json")
        cols = hf.write_collections(root)
        w = min(i.bbox[0] for i in items)
        s = min(i.bbox[1] for i in items)
        e = max(i.bbox[2] for i in items)
        n = max(i.bbox[3] for i in items)
        with servers.stac_api(*cols, ic) as api:
            yield Archive(root, http, api, items, ic, local, (w, s, e, n))


@dataclass
class ServedWorld:
    world: object  # hlsmap.simulate.World
    http: servers.RangeServer
    api: str
    model: Path  # an untrained tiny model: the pipeline, not the accuracy, is under test


@pytest.fixture(scope="session")
def served_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    """A tiny synthetic world (64 px, 4 months) behind a range server and a rustac STAC API."""
    import pystac

    from hlsmap.model import PRESETS, ModelMetadata, build_model, save_model
    from hlsmap.sensors import BANDS
    from hlsmap.simulate import WorldConfig, simulate_world

    root = tmp_path_factory.mktemp("world")
    world = simulate_world(
        WorldConfig(seed=3, size=64, months=4, tiles_per_side=1, coastal=False),
        root / "w",
        workers=1,
    )
    model = root / "model"
    norm = {s: {"mean": [0.1] * len(BANDS), "std": [0.1] * len(BANDS)} for s in ("L30", "S30")}
    meta = ModelMetadata(bands=BANDS, normalization=norm, config=PRESETS["tiny"], preset="tiny")
    save_model(model, build_model("tiny"), meta)
    with servers.range_server(root) as http:
        items = world.items(base_url=f"{http.url}/w")
        ic = root / "world-items.json"
        pystac.ItemCollection(items).save_object(dest_href=str(ic))
        cols = []
        for col in world.collections():
            p = root / f"{col.id}.json"
            col.save_object(dest_href=str(p), include_self_link=False)
            cols.append(p)
        with servers.stac_api(*cols, ic) as api:
            yield ServedWorld(world, http, api, model)
