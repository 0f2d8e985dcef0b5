"""The World API of TEAM.md: items, collections, geobox, truth, events, determinism."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pystac
import pytest

from hlsmap.errors import ConfigError, OutputError
from hlsmap.simulate import World, WorldConfig, simulate_world

import stacval


def test_items_are_pc_shaped_and_valid(tiny_world: World) -> None:
    items = tiny_world.items()
    assert items and all(isinstance(i, pystac.Item) for i in items)
    collections = {i.collection_id for i in items}
    assert collections == {"hls2-l30", "hls2-s30"}
    for item in items[:6]:
        stacval.validate(item.to_dict())
        props = item.properties
        assert props["platform"] in {"Landsat 8", "Landsat 9", "Sentinel-2A", "Sentinel-2B"}
        assert props["proj:code"].startswith("EPSG:326")
        assert props["proj:epsg"] == int(props["proj:code"][5:])
        assert len(props["proj:shape"]) == 2 and len(props["proj:transform"]) >= 6
        assert 0 <= props["eo:cloud_cover"] <= 100
        sensor = item.id.split(".")[1]
        nir = "B05" if sensor == "L30" else "B8A"
        assert {"B02", "B03", "B04", nir, "Fmask"} <= set(item.assets)
        assert Path(item.assets["B02"].href).is_file()
        assert item.id.startswith(f"HLS.{sensor}.T") and item.id.endswith(".v2.0")
        assert item.assets["B02"].href.endswith(f"{item.id}.B02.tif")
        band = item.assets[nir].to_dict()["eo:bands"][0]
        assert band["name"] == nir and 0.85 < band["center_wavelength"] < 0.87
    for coll in tiny_world.collections():
        stacval.validate(coll.to_dict())


def test_base_url_hrefs(tiny_world: World) -> None:
    item = tiny_world.items(base_url="http://127.0.0.1:8000/")[0]
    assert item.assets["Fmask"].href.startswith("http://127.0.0.1:8000/granules/")


def test_static_catalog_walks(tiny_world: World) -> None:
    cat = pystac.Catalog.from_file(str(tiny_world.root / "catalog.json"))
    walked = {i.id for i in cat.get_items(recursive=True)}
    assert walked == {i.id for i in tiny_world.items()}


def test_overlap_same_observation_in_two_tiles(tiny_world: World) -> None:
    obs = [o for o in tiny_world.observations if len(o["granules"]) == 4][0]
    tiles = {g.split(".")[2] for g in obs["granules"]}
    assert len(tiles) == 4


def test_geobox_bbox_seasons(tiny_world: World) -> None:
    gb = tiny_world.geobox
    assert gb.shape == (96, 96)
    assert gb.crs.epsg is not None and 32601 <= gb.crs.epsg <= 32760
    w, s, e, n = tiny_world.bbox
    assert w < e and s < n
    assert set(tiny_world.seasons) == {"wet", "dry"}
    assert tiny_world.year == 2024


def test_truth_layers(tiny_world: World) -> None:
    annual = tiny_world.truth_annual(2024)
    assert annual.dtype == np.uint8 and annual.shape == (96, 96)
    assert set(np.unique(annual.values)) <= set(range(1, 10))
    assert annual.odc.geobox == tiny_world.geobox
    wet = tiny_world.truth_season("wet", 2024)
    assert set(np.unique(wet.values)) <= set(range(1, 10))
    with pytest.raises(ConfigError):
        tiny_world.truth_season("monsoon", 2024)
    item = tiny_world.items()[0]
    by_id = tiny_world.truth_at(item.id)
    by_time = tiny_world.truth_at(item.datetime)
    np.testing.assert_array_equal(by_id.values, by_time.values)
    assert set(np.unique(by_id.values)) <= set(range(0, 11))
    with pytest.raises(ConfigError):
        tiny_world.truth_at(dt.datetime(1999, 1, 1))


def test_events(tiny_world: World) -> None:
    events = tiny_world.events
    kinds = {e.kind for e in events}
    assert kinds <= {"forest_clearing", "construction", "new_cropland", "flood"}
    assert len(kinds) >= 3
    for e in events:
        assert e.mask.shape == (96, 96) and e.mask.any()
        first, last = tiny_world.period
        assert first <= e.date <= last


def test_manifest_records_config(tiny_world: World) -> None:
    assert WorldConfig.from_dict(tiny_world.manifest["config"]) == tiny_world.config
    assert tiny_world.manifest["counts"]["granules"] == len(tiny_world.items())


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_deterministic_bytes(tmp_path: Path) -> None:
    cfg = WorldConfig(seed=11, size=64, months=1, tiles_per_side=1, coastal=False)
    a = simulate_world(cfg, tmp_path / "a", workers=1)
    b = simulate_world(cfg, tmp_path / "b", workers=2)
    da, db = _digest(a.root), _digest(b.root)
    assert da.keys() == db.keys()
    # items.json and item files hold absolute paths nowhere: every byte matches.
    assert da == db
    c = simulate_world(
        WorldConfig(seed=12, size=64, months=1, tiles_per_side=1, coastal=False),
        tmp_path / "c",
        workers=1,
    )
    assert _digest(c.root) != da


def test_refuses_foreign_folder_and_opens_only_worlds(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError):
        simulate_world(WorldConfig(size=64, months=1), tmp_path)
    with pytest.raises(ConfigError):
        World.open(tmp_path)


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        WorldConfig(climate="arctic")
    with pytest.raises(ConfigError):
        WorldConfig(fmask_cloud_miss_rate=1.5)
    with pytest.raises(ConfigError):
        WorldConfig(size=8)


def test_cli_writes_a_world(tmp_path: Path) -> None:
    from hlsmap.cli import main

    out = tmp_path / "cli-world"
    args = ["simulate", str(out), "--size", "64", "--months", "1", "--tiles", "1"]
    main([*args, "--seed", "5", "--no-coastal", "--red-edge", "--workers", "1"])  # returns
    world = World.open(out)
    assert world.config.seed == 5 and world.config.red_edge and world.items()
    s30 = [i for i in world.items() if i.collection_id == "hls2-s30"]
    assert s30 and all({"B05", "B06", "B07", "B08"} <= set(i.assets) for i in s30)
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(out), "--climate", "arctic"])
    assert exc.value.code == 2


def test_cogs_are_hls_typed_and_overlaps_match(tiny_world: World) -> None:
    import rasterio

    obs = [o for o in tiny_world.observations if len(o["granules"]) == 4][0]
    items = {i.id: i for i in tiny_world.items()}
    grids = {}
    for gid in obs["granules"]:
        item = items[gid]
        with rasterio.open(item.assets["B04"].href) as src:
            assert src.dtypes[0] == "int16" and src.nodata == -9999
            assert src.scales[0] == pytest.approx(0.0001)
            assert src.tags(1)["scale_factor"] == "0.0001"
            assert src.profile["blockxsize"] == 256 or src.width < 256
            grids[gid] = (src.transform, src.read(1))
        with rasterio.open(item.assets["Fmask"].href) as src:
            assert src.dtypes[0] == "uint8" and src.nodata == 255
            assert "Fmask description" in src.tags()
    # Same observation, neighbouring tiles: identical pixels where the tiles overlap.
    (ta, a), (tb, b) = list(grids.values())[:2]
    ox = round((tb.c - ta.c) / 30)
    oy = round((ta.f - tb.f) / 30)
    assert (ox, oy) != (0, 0)
    h, w = a.shape
    sub_a = a[max(0, oy) : h, max(0, ox) : w]
    sub_b = b[: h - max(0, oy), : w - max(0, ox)]
    overlap = min(sub_a.shape[0], sub_b.shape[0]), min(sub_a.shape[1], sub_b.shape[1])
    assert overlap[0] > 0 and overlap[1] > 0
    np.testing.assert_array_equal(
        sub_a[: overlap[0], : overlap[1]], sub_b[: overlap[0], : overlap[1]]
    )
