"""Regions and MGRS tiles, checked against the grids of real HLS granules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio

from hlsmap.errors import InvalidRegionError
from hlsmap.mgrs import tile_grid
from hlsmap.region import Region

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "hls"


@pytest.mark.parametrize(
    "name",
    [
        "HLS.S30.T13RCN.2024128T173909.v2.0.Fmask.tif",
        "HLS.L30.T06WVS.2024120T211159.v2.0.Fmask.tif",
    ],
)
def test_tile_grid_matches_real_granules(name: str) -> None:
    tile = name.split(".")[2]
    grid = tile_grid(tile)
    with rasterio.open(FIXTURES / name) as src:
        assert src.crs.to_epsg() == grid.epsg
        assert (src.transform.c, src.transform.f) == (grid.ulx, grid.uly)
        assert src.width * 30 == grid.size
    gbox = Region.from_tile(tile).geobox()
    assert gbox.shape == (3660, 3660)
    assert gbox.affine.c == grid.ulx and gbox.affine.f == grid.uly


def test_bad_tiles_and_bboxes() -> None:
    with pytest.raises(InvalidRegionError, match="T13RCN"):
        tile_grid("13XYZQ")
    with pytest.raises(InvalidRegionError, match="degrees"):
        Region.from_bbox((500000, 3200000, 510000, 3210000))
    with pytest.raises(InvalidRegionError, match="4 numbers"):
        Region.from_bbox((1, 2, 3))


def test_geojson_region_and_grid(tmp_path: Path) -> None:
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[-106.5, 29.1], [-106.3, 29.1], [-106.3, 29.3], [-106.5, 29.1]]
                    ],
                },
            }
        ],
    }
    p = tmp_path / "aoi.geojson"
    p.write_text(json.dumps(fc))
    region = Region.from_geojson(p)
    gbox = region.geobox()
    assert gbox.crs.epsg == 32613
    assert gbox.affine.c % 30 == 0 and gbox.affine.f % 30 == 0  # on the HLS 30 m grid
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(InvalidRegionError, match="not valid GeoJSON"):
        Region.from_geojson(bad)
    with pytest.raises(InvalidRegionError, match="does not exist"):
        Region.from_geojson(tmp_path / "missing.geojson")
