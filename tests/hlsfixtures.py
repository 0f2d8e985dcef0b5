"""Tiny HLS v2.0-shaped granules written by the tests: COGs per band + Fmask and a STAC item
shaped like Planetary Computer's ``hls2-l30`` / ``hls2-s30`` items, on the 30 m UTM grid."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pystac
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

L30_ASSETS = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir08": "B05",
    "swir16": "B06",
    "swir22": "B07",
    "coastal": "B01",
}
S30_ASSETS = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir08": "B8A",
    "swir16": "B11",
    "swir22": "B12",
    "coastal": "B01",
}
EPSG = 32613
ULX, ULY = 300000.0, 3300000.0  # T13RCN's corner


def write_cog(
    path: Path, data: np.ndarray, ulx: float, uly: float, nodata: float, epsg: int = EPSG
) -> None:
    profile = {
        "driver": "COG",
        "dtype": data.dtype.name,
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "crs": f"EPSG:{epsg}",
        "nodata": nodata,
        "transform": from_origin(ulx, uly, 30.0, 30.0),
        "compress": "deflate",
        "blocksize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if data.dtype == np.int16:
            dst.scales = (0.0001,)


def make_granule(
    root: Path,
    sensor: str,
    when: dt.datetime,
    *,
    shape: tuple[int, int] = (64, 64),
    origin: tuple[float, float] = (ULX, ULY),
    tile: str = "13RCN",
    values: dict[str, np.ndarray] | None = None,
    fmask: np.ndarray | None = None,
    cloud_cover: float = 10.0,
    base_url: str | None = None,
    platform: str | None = None,
    epsg: int = EPSG,
) -> pystac.Item:
    """Write one granule under ``root`` and return its item (hrefs local or under base_url)."""
    assets_map = L30_ASSETS if sensor == "L30" else S30_ASSETS
    gid = f"HLS.{sensor}.T{tile}.{when:%Y%j}T{when:%H%M%S}.v2.0"
    gdir = root / gid
    gdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(gid)) % 2**32)
    h, w = shape
    ulx, uly = origin
    assets = {}
    fm = fmask if fmask is not None else np.zeros(shape, np.uint8)
    for common, key in assets_map.items():
        arr = (values or {}).get(common)
        if arr is None:
            arr = rng.integers(100, 4000, size=shape, dtype=np.int16)
        arr = np.where(fm == 255, -9999, arr)  # outside the swath every band is fill, as in HLS
        fname = f"{gid}.{key}.tif"
        write_cog(gdir / fname, arr.astype(np.int16), ulx, uly, -9999, epsg)
        href = f"{base_url}/{gid}/{fname}" if base_url else str(gdir / fname)
        assets[key] = pystac.Asset(
            href,
            media_type=pystac.MediaType.COG,
            roles=["data"],
            extra_fields={"eo:bands": [{"name": key, "common_name": common}]},
        )
    write_cog(gdir / f"{gid}.Fmask.tif", fm.astype(np.uint8), ulx, uly, 255, epsg)
    href = f"{base_url}/{gid}/{gid}.Fmask.tif" if base_url else str(gdir / f"{gid}.Fmask.tif")
    assets["Fmask"] = pystac.Asset(href, media_type=pystac.MediaType.COG, roles=["data"])
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    x0, y0, x1, y1 = ulx, uly - 30 * h, ulx + 30 * w, uly
    ring = [
        list(to_ll.transform(x, y)) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))
    ]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    item = pystac.Item(
        gid,
        {"type": "Polygon", "coordinates": [ring]},
        [min(lons), min(lats), max(lons), max(lats)],
        when,
        {
            "platform": platform or ("Landsat 8" if sensor == "L30" else "Sentinel-2B"),
            "eo:cloud_cover": cloud_cover,
            "proj:epsg": epsg,
            "proj:shape": [h, w],
            "proj:transform": [30.0, 0.0, ulx, 0.0, -30.0, uly],
        },
        collection="hls2-l30" if sensor == "L30" else "hls2-s30",
    )
    for k, a in assets.items():
        item.add_asset(k, a)
    return item


def write_item_collection(items: list[pystac.Item], path: Path) -> Path:
    pystac.ItemCollection(items).save_object(dest_href=str(path))
    return path


def write_collections(root: Path) -> list[Path]:
    """Minimal hls2-l30 / hls2-s30 collection documents (for a STAC API to load items into)."""
    out = []
    for cid in ("hls2-l30", "hls2-s30"):
        col = pystac.Collection(
            cid,
            f"test {cid}",
            pystac.Extent(
                pystac.SpatialExtent([[-180, -90, 180, 90]]),
                pystac.TemporalExtent([[dt.datetime(2013, 1, 1, tzinfo=dt.UTC), None]]),
            ),
        )
        p = root / f"{cid}.json"
        col.save_object(dest_href=str(p), include_self_link=False)
        out.append(p)
    return out
