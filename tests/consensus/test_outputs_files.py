"""Outputs: COGs open in GDAL with colour table, overviews, tiles, nodata; STAC validates offline;
quicklooks and statistics are written."""

from __future__ import annotations

import json
import re

import numpy as np
import pystac
import pytest
import rasterio
import rasterio.shutil
from odc.geo.geobox import GeoBox
from PIL import Image

from hlsmap.classes import colormap
from hlsmap.errors import ConfigError, OutputError
from hlsmap.outputs import cog, quicklook, stac, stats

import stacval

GB = GeoBox.from_bbox(
    (500000, 4000000, 500000 + 30 * 320, 4000000 + 30 * 256), "EPSG:32633", resolution=30
)
SHAPE = [int(GB.shape[0]), int(GB.shape[1])]


def _class_map() -> np.ndarray:
    a = np.zeros(GB.shape, np.uint8)
    a[:, 0::2] = 1  # water / bare stripes: an average overview would invent class 5
    a[:, 1::2] = 9
    a[40:190, 20:170] = 2
    a[:5] = 0  # no data
    return a


def test_class_cog_opens_in_gdal(tmp_path) -> None:
    path = cog.write_class_cog(tmp_path / "class.tif", _class_map(), GB, blocksize=128)
    with rasterio.open(path) as src:
        assert src.nodata == 0
        assert src.profile["tiled"] and src.block_shapes == [(128, 128)]
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.compression.name.upper() == "DEFLATE"
        assert src.overviews(1) == [2, 4]
        ct = src.colormap(1)  # GDAL's colour table: the used entries only (no clouds, no 0..255)
        assert ct == {code: rgba for code, rgba in colormap("v1").items() if code != 10}
        assert src.crs.to_epsg() == 32633 and src.transform == GB.affine
        np.testing.assert_array_equal(src.read(1), _class_map())
    with rasterio.open(path, overview_level=0) as ov:
        values = set(np.unique(ov.read(1)).tolist())
    assert values <= {0, 1, 2, 9}  # mode, never an average of codes
    assert not list(tmp_path.glob(".*tmp*"))  # atomic: no temporary left behind


def test_value_cog_and_errors(tmp_path) -> None:
    n = np.arange(GB.shape[0] * GB.shape[1]).reshape(GB.shape).astype(np.uint16)
    path = cog.write_cog(tmp_path / "n.tif", n, GB, nodata=None, blocksize=128)
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint16" and src.nodata is None
        np.testing.assert_array_equal(src.read(1), n)
    with pytest.raises(ConfigError, match="GeoBox"):
        cog.write_cog(tmp_path / "bad.tif", n[:5], GB)
    (tmp_path / "folder.tif").mkdir()
    with pytest.raises(OutputError):
        cog.write_class_cog(tmp_path / "folder.tif", _class_map(), GB)


def test_stac_item_and_catalog_validate_offline(tmp_path) -> None:
    item_dir = tmp_path / "out" / "hlsmap-2024"
    c = cog.write_class_cog(item_dir / "class.tif", _class_map(), GB, blocksize=128)
    conf = cog.write_cog(
        item_dir / "confidence.tif", np.full(GB.shape, 80, np.uint8), GB, nodata=None
    )
    png = quicklook.class_png(item_dir / "quicklook.png", _class_map(), title="2024")
    item = stac.item_for_cog(
        "hlsmap-2024",
        {"class": c, "confidence": conf},
        GB,
        "2024-01-01",
        "2024-12-31",
        item_dir=item_dir,
        properties={"hlsmap:rule": "mean_prob"},
        extra_assets={"quicklook": stac.file_asset(png, "image/png", item_dir, ("overview",))},
    )
    uris = stacval.validate(item.to_dict())
    assert any("classification" in u for u in uris) and any("file" in u for u in uris)
    d = item.to_dict()
    assert d["properties"]["proj:code"] == "EPSG:32633"
    assert d["properties"]["proj:shape"] == SHAPE
    assert d["properties"]["end_datetime"].startswith("2024-12-31T23:59:59")
    classes = d["assets"]["class"]["classification:classes"]
    assert [c["value"] for c in classes] == list(range(10))
    assert classes[2]["color_hint"] == "397D49"
    assert d["assets"]["class"]["file:size"] == c.stat().st_size

    coll_path = stac.write_catalog(tmp_path / "out", [item], collection_id="hlsmap-test")
    coll = json.loads(coll_path.read_text())
    stacval.validate(coll)
    loaded = pystac.Collection.from_file(str(coll_path))
    items = list(loaded.get_items())
    assert [i.id for i in items] == ["hlsmap-2024"]
    # validate what is on disk (pystac migrates extension versions when it reads)
    stacval.validate(json.loads(open(items[0].get_self_href() or "").read()))
    href = items[0].assets["class"].get_absolute_href()
    assert href is not None and rasterio.open(href).read(1).shape == GB.shape
    assert not items[0].to_dict(transform_hrefs=False)["assets"]["class"]["href"].startswith("/")


def test_malformed_item_is_rejected() -> None:
    with pytest.raises(ConfigError):
        stac.item_for_cog("x", {}, GB, "2024-01-01")


def test_quicklook_png_with_legend(tmp_path) -> None:
    path = quicklook.class_png(tmp_path / "q.png", _class_map(), title="Annual 2024")
    img = Image.open(path)
    assert img.format == "PNG" and img.size[0] > 300
    rgb = np.asarray(img.convert("RGB")).reshape(-1, 3)
    colours = {tuple(c) for c in rgb[:: max(1, rgb.shape[0] // 20000)]}
    assert (0x39, 0x7D, 0x49) in colours  # the trees colour appears
    v = quicklook.value_png(tmp_path / "c.png", np.arange(100).reshape(10, 10), title="conf")
    assert Image.open(v).format == "PNG"


def test_area_statistics(tmp_path) -> None:
    a = _class_map()
    rows = stats.area_table(a, GB)
    assert [r["code"] for r in rows] == list(range(1, 10))
    mapped = (a > 0).sum()
    assert sum(r["pixels"] for r in rows) == mapped
    assert sum(r["hectares"] for r in rows) == pytest.approx(mapped * 0.09)
    assert sum(r["percent"] for r in rows) == pytest.approx(100.0)
    j, c = stats.write_area_stats(tmp_path / "area", a, GB, period="2024")
    assert json.loads(j.read_text())["period"] == "2024"
    assert c.read_text().splitlines()[0] == "code,name,title,pixels,hectares,percent"
    m = stats.transition_matrix(a, np.where(a == 9, 5, a), GB)
    assert m.sum() == pytest.approx(mapped * 0.09) and m[8, 4] > 0
    mj, mc = stats.write_transition_matrix(tmp_path / "matrix", m)
    assert json.loads(mj.read_text())["transitions"]["snow_ice"]["crops"] == pytest.approx(m[8, 4])
    assert mc.read_text().startswith("from\\to,water")
    with pytest.raises(ConfigError, match="projected"):
        stats.pixel_area_ha(GeoBox.from_bbox((0, 0, 1, 1), "EPSG:4326", resolution=0.1))


def _gdal_band(path, tmp_path) -> str:
    """Band 1 as GDAL describes it: a VRT copy lists its category names, colour table, RAT."""
    vrt = tmp_path / f"{path.stem}.vrt"
    rasterio.shutil.copy(path, vrt, driver="VRT")
    return vrt.read_text()


def _category_names(xml: str) -> list[str]:
    block = re.search(r"<CategoryNames>(.*?)</CategoryNames>", xml, re.S)
    assert block, "GDAL reports no category names"
    found = re.findall(r"<Category>.*?</Category>|<Category />", block.group(1))
    return [re.sub(r"</?Category ?/?>", "", c) for c in found]


@pytest.mark.parametrize("scheme", ["v1", "v2"])
def test_class_cog_names_its_classes_for_gdal(tmp_path, scheme: str) -> None:
    a = _class_map()
    path = cog.write_class_cog(tmp_path / "class.tif", a, GB, scheme=scheme, blocksize=128)
    xml = _gdal_band(path, tmp_path)
    names = _category_names(xml)
    if scheme == "v1":
        assert names == ["No data", "Water", "Trees", "Grass", "Flooded vegetation", "Crops",
                         "Scrub/shrub", "Built area", "Bare ground", "Snow/ice"]  # fmt: skip
    else:
        assert names[11] == "Rangeland" and names[3] == "" and len(names) == 12
    assert xml.count("<Entry ") == len(names)  # the used entries only
    assert '<GDALRasterAttributeTable tableType="thematic">' in xml
    rows = dict(re.findall(r'<Row index="\d+">\s*<F>(\d+)</F>\s*<F>(\d+)</F>', xml))
    counts = np.bincount(a.ravel(), minlength=12)
    assert {int(k): int(v) for k, v in rows.items() if int(k) in (1, 2, 9)} == {
        c: int(counts[c]) for c in (1, 2, 9)
    }  # the attribute table counts the map's pixels
    # a layer written again without categories drops the stale names
    cog.write_cog(path, a, GB, nodata=0, blocksize=128)
    assert "<CategoryNames>" not in _gdal_band(path, tmp_path)


def test_change_products_name_transitions_for_gdal(tmp_path) -> None:
    from hlsmap.outputs.changes import ChangeConfig, run_change

    before = _class_map()
    after = before.copy()
    after[40:80, 20:60] = 7  # trees -> built
    a = cog.write_class_cog(tmp_path / "a" / "class.tif", before, GB, blocksize=128)
    b = cog.write_class_cog(tmp_path / "b" / "class.tif", after, GB, blocksize=128)
    item = run_change(ChangeConfig(a, b, tmp_path / "out", blocksize=128))
    d = tmp_path / "out" / item.id
    xml = _gdal_band(d / "transitions.tif", tmp_path)
    names = _category_names(xml)
    assert names[27] == "Trees to Built area" and names[22] == "Trees (unchanged)"
    assert names[0] == "No data" and xml.count("<Entry ") == 100
    with rasterio.open(d / "transitions.tif") as src:
        assert src.colormap(1)[27] == (0xC4, 0x28, 0x1B, 255)  # the new class's colour
    assert _category_names(_gdal_band(d / "new_built.tif", tmp_path))[:2] == [
        "No new built", "New built",
    ]  # fmt: skip
    for p in [d / f"{item.id}.json", tmp_path / "out" / "collection.json"]:
        doc = json.loads(p.read_text())
        stacval.validate(doc)
        assert str(tmp_path) not in p.read_text()
    classes = item.assets["transitions"].extra_fields["classification:classes"]
    assert {c["value"]: c["description"] for c in classes}[27] == "Trees to Built area"
