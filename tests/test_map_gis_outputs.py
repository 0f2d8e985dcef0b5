"""What GIS and STAC tools read from real `hlsmap map` runs: every STAC document passes strict
offline validation and names no machine path; GDAL reads the class names, colour tables,
nodata and units back from the COGs; each season map says exactly which days it covers.

The default run maps the session's tiny served world (4 months of 2024) with a wrapping wet
season kept within the year. The slow tests run the installed console script on a two-year
world with change and a wet season that spans the year end (~1 min: simulating two years)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import rasterio.shutil

import hlsmap

import servers
import stacval


@dataclass
class Run:
    out: Path
    items: list[pystac.Item]  # the served source items
    api: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    from hlsmap.model import PRESETS, ModelMetadata, build_model, save_model
    from hlsmap.sensors import BANDS
    from hlsmap.simulate import WorldConfig, simulate_world

    root = tmp_path_factory.mktemp("gisworld")
    world = simulate_world(
        WorldConfig(seed=5, size=32, year=2023, years=2, tiles_per_side=1, coastal=False,
                    side_orbits=False),
        root / "w",
        workers=1,
    )  # fmt: skip
    model = root / "model"
    norm = {s: {"mean": [0.1] * len(BANDS), "std": [0.1] * len(BANDS)} for s in ("L30", "S30")}
    meta = ModelMetadata(bands=BANDS, normalization=norm, config=PRESETS["tiny"], preset="tiny")
    save_model(model, build_model("tiny"), meta)
    with servers.range_server(root) as http:
        items = world.items(base_url=f"{http.url}/w")
        ic = root / "items.json"
        pystac.ItemCollection(items).save_object(dest_href=str(ic))
        cols = []
        for col in world.collections():
            p = root / f"{col.id}.json"
            col.save_object(dest_href=str(p), include_self_link=False)
            cols.append(p)
        with servers.stac_api(*cols, ic) as api:
            out = root / "out"
            exe = Path(sys.executable).with_name("hlsmap")
            proc = subprocess.run(
                [str(exe), "map", "--bbox", *(str(v) for v in world.bbox), "--year", "2024",
                 "--model", str(model), "--out", str(out), "--source", api,
                 "--season", "wet=11-02", "--season", "dry=03-10", "--season-wrap", "span",
                 "--change", "--license", "CC0-1.0"],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stdout + proc.stderr
            yield Run(out, items, api)


def stac_documents(out: Path) -> dict[Path, dict]:
    docs = {}
    for p in sorted(out.rglob("*.json")):
        if "work" in p.relative_to(out).parts:
            continue
        d = json.loads(p.read_text())
        if isinstance(d, dict) and "stac_version" in d:
            docs[p] = d
    return docs


@pytest.mark.slow
def test_every_stac_document_passes_strict_validation(run: Run) -> None:
    docs = stac_documents(run.out)
    # main collection + 4 period items (annual 2023/2024, wet, dry) + change collection + item
    assert len(docs) == 7, sorted(str(p.relative_to(run.out)) for p in docs)
    for path, d in docs.items():
        stacval.validate(d)
        text = path.read_text()
        assert str(run.out) not in text and "/tmp" not in text, path  # no machine path
        assert not [lk for lk in d["links"] if lk["rel"] == "self"], path
        for link in d["links"]:
            if link["rel"] != "derived_from":
                assert not link["href"].startswith("/") and "://" not in link["href"], link
        for asset in d.get("assets", {}).values():
            assert not asset["href"].startswith("/"), asset["href"]
            assert (path.parent / asset["href"]).exists(), asset["href"]


@pytest.mark.slow
def test_catalog_reads_back_whole_with_pystac(run: Run) -> None:
    coll = pystac.Collection.from_file(str(run.out / "collection.json"))
    assert coll.license == "CC0-1.0"
    assert "hlsmap" in [p.name for p in coll.providers or []]
    assert {i.id for i in coll.get_items()} == {
        "hlsmap-annual-2023", "hlsmap-annual-2024", "hlsmap-wet-2024", "hlsmap-dry-2024",
    }  # fmt: skip
    change = [c for c in coll.get_children() if c.id == "hlsmap-change"]
    assert len(change) == 1  # the change collection is linked from the main one
    (change_item,) = change[0].get_items()
    assert change_item.id == "hlsmap-change-annual-2023-annual-2024"
    assert change_item.get_root() is coll
    # collection-level descriptions
    d = coll.to_dict()
    assert d["item_assets"]["class"]["classification:classes"][2]["name"] == "trees"
    assert {"class", "confidence", "n_valid", "cloud_share"} <= set(d["item_assets"])
    assert d["summaries"]["proj:code"] == [change_item.properties["proj:code"]]
    assert sorted(d["summaries"]["hlsmap:period"]) == [
        "annual-2023", "annual-2024", "dry-2024", "wet-2024",
    ]  # fmt: skip


@pytest.mark.slow
def test_items_say_what_made_them(run: Run) -> None:
    doc = json.loads((run.out / "hlsmap-annual-2024" / "hlsmap-annual-2024.json").read_text())
    p = doc["properties"]
    assert p["processing:software"] == {"hlsmap": hlsmap.__version__}
    assert p["created"].endswith("Z") and p["license"] == "CC0-1.0"
    assert p["hlsmap:model_name"] == "model"
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", p["hlsmap:model_version"])
    assert p["hlsmap:model_license"] == "proprietary"  # the test model states none
    by_id = {i.id: i for i in run.items}
    ids = p["hlsmap:source_granules"]
    assert ids and set(ids) <= set(by_id)
    assert all(by_id[i].datetime.year == 2024 for i in ids)
    assert len(ids) == sum(1 for i in run.items if i.datetime.year == 2024)
    derived = [lk["href"] for lk in doc["links"] if lk["rel"] == "derived_from"]
    assert len(derived) == len(ids) and all(h.startswith(run.api) for h in derived)
    exts = doc["stac_extensions"]
    for name in ("projection/v2.0.0", "raster/v1.1.0", "file/v2.1.0", "classification/v1.1.0"):
        assert any(name in e for e in exts), name
    bands = {k: doc["assets"][k]["raster:bands"][0] for k in ("confidence", "n_valid")}
    assert bands["confidence"]["unit"] == "%" and bands["confidence"]["nodata"] == 0
    assert bands["n_valid"]["unit"] == "count" and bands["n_valid"]["nodata"] == 0
    assert bands["confidence"]["scale"] == 1.0


@pytest.mark.slow
def test_spanning_wet_season_says_exactly_which_days(run: Run) -> None:
    doc = json.loads((run.out / "hlsmap-wet-2024" / "hlsmap-wet-2024.json").read_text())
    p = doc["properties"]
    assert p["start_datetime"] == "2023-11-01T00:00:00Z"
    assert p["end_datetime"] == "2024-02-29T23:59:59Z"
    assert p["hlsmap:date_ranges"] == [["2023-11-01", "2024-02-29"]]
    days = {i.id: i.datetime.date().isoformat() for i in run.items}
    seen = sorted(days[i] for i in p["hlsmap:source_granules"])
    assert seen[0] < "2024-01-01" <= seen[-1] <= "2024-02-29"  # Nov-Dec 2023 were searched
    assert seen[0] >= "2023-11-01"
    with rasterio.open(run.out / "hlsmap-wet-2024" / "class.tif") as src:
        tags = src.tags()
    assert (tags["start"], tags["end"]) == ("2023-11-01", "2024-02-29")
    assert tags["date_ranges"] == "2023-11-01/2024-02-29"
    dry = json.loads((run.out / "hlsmap-dry-2024" / "hlsmap-dry-2024.json").read_text())
    assert dry["properties"]["start_datetime"] == "2024-03-01T00:00:00Z"
    assert dry["properties"]["end_datetime"] == "2024-10-31T23:59:59Z"
    assert json.loads((run.out / "run-config.json").read_text())["season_wrap"] == "span"


def gdal_band(path: Path, tmp_path: Path) -> str:
    """Band 1 as GDAL describes it (a VRT copy: category names, colour table, RAT, nodata)."""
    vrt = tmp_path / (path.stem + ".vrt")
    rasterio.shutil.copy(path, vrt, driver="VRT")
    return vrt.read_text()


def categories(xml: str) -> list[str]:
    block = re.search(r"<CategoryNames>(.*?)</CategoryNames>", xml, re.S)
    assert block, "GDAL reports no category names"
    found = re.findall(r"<Category>.*?</Category>|<Category />", block.group(1))
    return [re.sub(r"</?Category ?/?>", "", c) for c in found]


@pytest.mark.slow
def test_gdal_reads_class_names_and_colours(run: Run, tmp_path: Path) -> None:
    path = run.out / "hlsmap-annual-2024" / "class.tif"
    xml = gdal_band(path, tmp_path)
    names = categories(xml)
    assert names[:3] == ["No data", "Water", "Trees"] and len(names) == 10
    assert xml.count("<Entry ") == 10  # the used entries, not 256
    assert "<GDALRasterAttributeTable" in xml and "<F>trees</F>" in xml
    with rasterio.open(path) as src:
        cmap = src.colormap(1)
        assert src.nodata == 0
        counts = np.bincount(src.read(1).ravel(), minlength=10)
    assert len(cmap) == 10 and cmap[2] == (0x39, 0x7D, 0x49, 255) and cmap[0][3] == 0
    # the attribute table's pixel counts are the map's
    rows = re.findall(r'<Row index="\d+">\s*<F>(\d+)</F>\s*<F>(\d+)</F>', xml)
    assert {int(v): int(n) for v, n in rows} == {v: int(counts[v]) for v in range(1, 10)}


@pytest.mark.slow
def test_gdal_reads_transition_names_and_quality_nodata(run: Run, tmp_path: Path) -> None:
    change = next((run.out / "change").glob("hlsmap-change-*"))
    xml = gdal_band(change / "transitions.tif", tmp_path)
    names = categories(xml)
    assert names[0] == "No data" and names[25] == "Trees to Crops"
    assert names[22] == "Trees (unchanged)" and len(names) == 100
    assert xml.count("<Entry ") == 100
    assert categories(gdal_band(change / "tree_loss.tif", tmp_path))[:2] == [
        "No tree loss", "Tree loss",
    ]  # fmt: skip
    for layer, unit in (("confidence", "%"), ("n_valid", "count")):
        with rasterio.open(run.out / "hlsmap-annual-2024" / f"{layer}.tif") as src:
            assert src.nodata == 0 and src.units[0] == unit, layer


@pytest.fixture(scope="module")
def small_run(served_world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hlsmap.mapping import run_map
    from hlsmap.runconfig import MapConfig

    out = tmp_path_factory.mktemp("small") / "out"
    cfg = MapConfig(
        year=2024, out=str(out), model=str(served_world.model), bbox=served_world.world.bbox,
        source=served_world.api, seasons=("wet=12-02",), season_wrap="within",
    )  # fmt: skip
    run_map(cfg, progress=False)
    return out


def test_small_map_run_is_strictly_valid_stac(small_run: Path, served_world, tmp_path) -> None:
    docs = stac_documents(small_run)
    assert len(docs) == 3  # collection + annual + wet
    for path, d in docs.items():
        stacval.validate(d)
        assert str(small_run) not in path.read_text()
        assert not [lk for lk in d["links"] if lk["rel"] == "self"]
    wet = docs[small_run / "hlsmap-wet-2024" / "hlsmap-wet-2024.json"]["properties"]
    assert wet["hlsmap:date_ranges"] == [["2024-01-01", "2024-02-29"], ["2024-12-01", "2024-12-31"]]
    served = {i.id: i.datetime for i in served_world.world.items()}
    assert {served[g].month for g in wet["hlsmap:source_granules"]} == {1, 2}
    xml = gdal_band(small_run / "hlsmap-annual-2024" / "class.tif", tmp_path)
    assert categories(xml)[1] == "Water" and xml.count("<Entry ") == 10
