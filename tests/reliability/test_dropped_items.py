"""Items that are not used are counted and named: a footprint that misses the region, a
``proj:epsg`` that contradicts the footprint (odc-stac would place its pixels elsewhere)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fault_world import ReadsWorld, region_geobox, tile_task, write_items

from hlsmap.cube import load_cube
from hlsmap.errors import InconsistentItemError
from hlsmap.inference.tasks import run_tile
from hlsmap.search import search


def _wrong_epsg(reads_world: ReadsWorld) -> list:
    items = [i.clone() for i in reads_world.items]
    items[2].properties["proj:epsg"] = 32614  # the files are in 32613
    return items


@pytest.mark.parametrize("reader", ["auto", "odc"])
def test_a_wrong_proj_epsg_is_an_error_naming_the_item(reads_world, reader) -> None:
    items = _wrong_epsg(reads_world)
    with pytest.raises(InconsistentItemError, match=f"{items[2].id} declares EPSG:32614"):
        load_cube(items, geobox=region_geobox(), reader=reader)


def test_a_wrong_proj_epsg_costs_its_observation_and_is_reported(reads_world, tmp_path) -> None:
    items = _wrong_epsg(reads_world)
    rep = run_tile(tile_task(items, reads_world.model, tmp_path))
    assert rep.n_observations == 4
    assert [d["item"] for d in rep.dropped_granules] == [items[2].id]
    assert "proj:epsg" in rep.dropped_granules[0]["reason"]


def test_items_whose_footprint_misses_the_region_are_counted(
    reads_world: ReadsWorld, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from hlsmap.region import Region

    items = [i.clone() for i in reads_world.items]
    far = items[4]
    ring = far.geometry["coordinates"][0]
    far.geometry = {"type": "Polygon", "coordinates": [[[x + 5.0, y] for x, y in ring]]}
    source = write_items(items, tmp_path / "items.json")
    w, s, e, n = region_geobox().extent.to_crs("EPSG:4326").boundingbox
    dropped: list[tuple[str, str]] = []
    with caplog.at_level(logging.INFO, logger="hlsmap.search"):
        found = search(source, region=Region.from_bbox((w, s, e, n)), datetime="2024",
                       dropped=dropped)  # fmt: skip
    assert len(found) == 4 and far.id not in {i.id for i in found}
    assert [d[0] for d in dropped] == [far.id] and "misses the region" in dropped[0][1]
    assert f"1 item(s) from {source} dropped" in caplog.text and far.id in caplog.text


def test_a_map_plan_counts_items_outside_the_region(
    reads_world: ReadsWorld, tmp_path: Path
) -> None:
    """`hlsmap map` (its plan.json, `--plan` and the products' STAC) says how many were dropped."""
    import json

    from hlsmap.mapping import plan_map, write_plan
    from hlsmap.runconfig import MapConfig

    items = [i.clone() for i in reads_world.items]
    ring = items[4].geometry["coordinates"][0]
    items[4].geometry = {"type": "Polygon", "coordinates": [[[x + 5.0, y] for x, y in ring]]}
    source = write_items(items, tmp_path / "items.json")
    w, s, e, n = region_geobox().extent.to_crs("EPSG:4326").boundingbox
    cfg = MapConfig(year=2024, model=str(reads_world.model), out=str(tmp_path / "o"),
                    bbox=(w, s, e, n), source=str(source))  # fmt: skip
    plan = plan_map(cfg)
    assert plan.outside == {2024: [items[4].id]}
    assert "items 2024 outside the region (dropped): 1" in plan.describe()
    doc = json.loads(write_plan(plan, tmp_path / "o").read_text())
    assert doc["items_outside_region"] == {"2024": [items[4].id]}
