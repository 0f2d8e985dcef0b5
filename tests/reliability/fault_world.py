"""The tiny world of the fault-injection tests: five HLS granules (64 px) and a saved tiny model,
written once; each test serves them from its own :class:`servers.RangeServer` (a fresh port, so
GDAL's cache of what an earlier test's server answered never applies) and injects faults there.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac

import hlsfixtures as hf
import servers

SIZE = 64
TILE = 48  # one tile of the output grid
HALO = 8
BANDS = ("blue", "green", "red", "nir08", "swir16", "swir22")


@dataclass
class ReadsWorld:
    root: Path  # served folder; granules under root / "g"
    items: list[pystac.Item]  # local hrefs
    model: Path

    def served(self, http: servers.RangeServer, query: str = "") -> list[pystac.Item]:
        """The items with hrefs on ``http`` (each followed by ``query``, e.g. a SAS token)."""
        out = []
        for item in self.items:
            copy = item.clone()
            for asset in copy.assets.values():
                rel = Path(asset.href).relative_to(self.root).as_posix()
                asset.href = f"{http.url}/{rel}{query}"
            out.append(copy)
        return out

    @staticmethod
    def rel(http: servers.RangeServer, href: str) -> str:
        """The server path of a served href (the key of ``http.faults``)."""
        return href.removeprefix(http.url + "/").split("?", 1)[0]


def region_geobox() -> Any:
    from odc.geo.geobox import GeoBox

    full = GeoBox.from_bbox(
        (hf.ULX, hf.ULY - 30 * SIZE, hf.ULX + 30 * SIZE, hf.ULY), f"EPSG:{hf.EPSG}", resolution=30
    )
    return full[8 : 8 + TILE, 8 : 8 + TILE]


def periods() -> list[Any]:
    from hlsmap.periods import Period

    return [Period.year(2024)]


def make_reads_world(root: Path) -> ReadsWorld:
    """Write the five granules and the model under ``root``."""
    from hlsmap.model import ModelMetadata, UNetConfig, build_model, save_model

    rng = np.random.default_rng(0)
    items = []
    for k, (month, sensor) in enumerate([(3, "L30"), (5, "S30"), (6, "L30"), (9, "S30"),
                                         (11, "L30")]):  # fmt: skip
        base = rng.integers(200, 3000, size=(SIZE, SIZE)).astype(np.int16)
        values = {b: (base + 150 * i).astype(np.int16) for i, b in enumerate(BANDS)}
        fmask = np.zeros((SIZE, SIZE), np.uint8)
        fmask[: 10 * k, :5] = 0b10  # some cloud
        when = dt.datetime(2024, month, 10, 17, 30, tzinfo=dt.UTC)
        items.append(hf.make_granule(root / "g", sensor, when, shape=(SIZE, SIZE),
                                     values=values, fmask=fmask))  # fmt: skip
    net = build_model(UNetConfig(widths=(8, 16), norm="none"), bands=BANDS, seed=0)
    model = save_model(root / "model", net, ModelMetadata.for_model(net, BANDS))
    return ReadsWorld(root, items, Path(model))


def tile_task(items: list[pystac.Item], model: Path, out: Path, **options: Any) -> Any:
    """The one tile task of the region (tile files under ``out/tiles``)."""
    from hlsmap.inference.runner import RunConfig, plan_tasks
    from hlsmap.inference.tasks import TileOptions

    opts = {"time_batch": 3, "retries": 1, "retry_wait": 0.0, "overlap": 8, **options}
    config = RunConfig(tile_size=TILE, halo=HALO, options=TileOptions(**opts))
    (task,) = plan_tasks(items, region_geobox(), model, out, periods(), config)
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    return task


def write_items(items: list[pystac.Item], path: Path) -> Path:
    """An ItemCollection file of ``items`` (a static source for ``hlsmap predict``)."""
    doc = {"type": "FeatureCollection", "features": [i.to_dict() for i in items]}
    path.write_text(json.dumps(doc))
    return path


def bbox_of_region() -> list[str]:
    """``--bbox`` arguments a little inside the region (degrees)."""
    from odc.geo.geom import Geometry

    g: Geometry = region_geobox().extent.to_crs("EPSG:4326")
    w, s, e, n = g.boundingbox
    dx, dy = (e - w) / 8, (n - s) / 8
    return ["--bbox", str(w + dx), str(s + dy), str(e - dx), str(n - dy)]
