"""STAC items and collections shaped like Planetary Computer's ``hls2-l30`` / ``hls2-s30``.

Asset keys, titles and ``eo:bands`` are those of Planetary Computer's collections'
``item_assets`` (for the assets the world writes: the reflective bands and Fmask); item
properties carry ``datetime``, ``platform``, ``instruments``, ``eo:cloud_cover``, the projection
fields (``proj:epsg`` and ``proj:code``, ``proj:shape``, ``proj:transform``, ``proj:bbox``) and
the sun/view angles.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.2.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]
COLLECTION_IDS = {"L30": "hls2-l30", "S30": "hls2-s30"}
TITLES = {
    "hls2-l30": "Harmonized Landsat Sentinel-2 (HLS) Version 2.0, Landsat Data",
    "hls2-s30": "Harmonized Landsat Sentinel-2 (HLS) Version 2.0, Sentinel-2 Data",
}
INSTRUMENTS = {"L30": ["oli", "tirs"], "S30": ["msi"]}
PLATFORMS = {
    "L30": ["Landsat 8", "Landsat 9"],
    "S30": ["Sentinel-2A", "Sentinel-2B", "Sentinel-2C"],
}

# (asset key, title, common name or None, centre wavelength um, FWHM um), from PC item_assets.
BAND_INFO: dict[str, dict[str, tuple[str, str | None, float, float]]] = {
    "L30": {
        "B01": ("Coastal Aerosol", "coastal", 0.48, 0.02),
        "B02": ("Blue", "blue", 0.44, 0.06),
        "B03": ("Green", "green", 0.56, 0.06),
        "B04": ("Red", "red", 0.65, 0.04),
        "B05": ("NIR Narrow", "nir", 0.86, 0.03),
        "B06": ("SWIR 1", "swir16", 1.6, 0.08),
        "B07": ("SWIR 2", "swir22", 2.2, 0.2),
    },
    "S30": {
        "B01": ("Coastal Aerosol", "coastal", 0.4439, 0.027),
        "B02": ("Blue", "blue", 0.4966, 0.098),
        "B03": ("Green", "green", 0.56, 0.045),
        "B04": ("Red", "red", 0.6645, 0.038),
        # the red edge has no eo 1.1 common name (PC gives none); broad B08 is PC's "nir"
        "B05": ("Red-Edge 1", None, 0.7039, 0.019),
        "B06": ("Red-Edge 2", None, 0.7402, 0.018),
        "B07": ("Red-Edge 3", None, 0.7825, 0.028),
        "B08": ("NIR Broad", "nir", 0.8351, 0.145),
        "B8A": ("NIR Narrow", None, 0.8648, 0.033),
        "B11": ("SWIR 1", "swir16", 1.6137, 0.143),
        "B12": ("SWIR 2", "swir22", 2.22024, 0.242),
    },
}


def asset_metadata(sensor: str, key: str) -> dict[str, Any]:
    """An asset's type, roles, title and ``eo:bands`` as Planetary Computer lists them."""
    if key == "Fmask":
        return {
            "type": COG_TYPE,
            "roles": ["data"],
            "title": "Fmask",
            "eo:bands": [{"name": "Fmask"}],
        }
    title, common, centre, fwhm = BAND_INFO[sensor][key]
    band: dict[str, Any] = {"name": key}
    if common:
        band["common_name"] = common
    band["center_wavelength"] = centre
    band["full_width_half_max"] = fwhm
    return {"type": COG_TYPE, "roles": ["data"], "title": title, "eo:bands": [band]}


def granule_id(sensor: str, tile: str, when: dt.datetime) -> str:
    """The HLS v2.0 granule id: ``HLS.S30.T32TMR.2024003T101021.v2.0``."""
    return f"HLS.{sensor}.T{tile}.{when:%Y%j}T{when:%H%M%S}.v2.0"


def isoformat(when: dt.datetime) -> str:
    """``2024-01-03T10:10:21.500000Z`` (UTC, like Planetary Computer)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item_dict(
    *,
    gid: str,
    sensor: str,
    platform: str,
    when: dt.datetime,
    geometry: dict[str, Any],
    bbox: tuple[float, float, float, float],
    epsg: int,
    shape: tuple[int, int],
    transform: tuple[float, ...],
    proj_bbox: tuple[float, float, float, float],
    cloud_cover: float,
    sun_azimuth: float,
    sun_elevation: float,
    view_zenith: float,
    hrefs: dict[str, str],
) -> dict[str, Any]:
    """A Planetary-Computer-shaped HLS item as a dict (hrefs as given)."""
    collection = COLLECTION_IDS[sensor]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": list(STAC_EXTENSIONS),
        "id": gid,
        "collection": collection,
        "geometry": geometry,
        "bbox": list(bbox),
        "properties": {
            "datetime": isoformat(when),
            "platform": platform,
            "instruments": list(INSTRUMENTS[sensor]),
            "eo:cloud_cover": round(cloud_cover),
            "proj:epsg": epsg,
            "proj:code": f"EPSG:{epsg}",
            "proj:shape": list(shape),
            "proj:transform": list(transform),
            "proj:bbox": list(proj_bbox),
            "view:sun_azimuth": round(sun_azimuth, 6),
            "view:sun_elevation": round(sun_elevation, 6),
            "view:incidence_angle": round(view_zenith, 6),
        },
        "links": [],
        "assets": {
            key: {"href": href, **asset_metadata(sensor, key)} for key, href in hrefs.items()
        },
    }


def collection_dict(
    sensor: str,
    bbox: tuple[float, float, float, float],
    start: dt.datetime,
    end: dt.datetime,
    asset_keys: list[str],
) -> dict[str, Any]:
    """A collection like Planetary Computer's hls2-l30 / hls2-s30 (item_assets included)."""
    cid = COLLECTION_IDS[sensor]
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
        ],
        "id": cid,
        "title": TITLES[cid],
        "description": (
            f"{TITLES[cid]}: a synthetic archive written by hlsmap simulate, shaped like "
            "Planetary Computer's collection, with known ground truth."
        ),
        "license": "proprietary",
        "keywords": ["Sentinel", "Landsat", "HLS", "Satellite", "Synthetic"],
        "providers": [{"name": "hlsmap", "roles": ["producer", "host"]}],
        "extent": {
            "spatial": {"bbox": [list(bbox)]},
            "temporal": {"interval": [[isoformat(start), isoformat(end)]]},
        },
        "summaries": {"gsd": [30], "platform": list(PLATFORMS[sensor])},
        "item_assets": {key: asset_metadata(sensor, key) for key in asset_keys},
        "links": [],
    }
