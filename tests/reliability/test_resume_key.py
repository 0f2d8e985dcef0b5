"""Resume reuses a tile only when everything that made it is the same (issue 16, item 1).

One small world per module (the session's ``served_world``: 64 px, 4 months, behind a real
STAC API and range server), tiles of 48 px (2 x 2), one in-process Dask cluster for every run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from hlsmap.inference.resume import KEY_ENTRY, model_fingerprint, reuse_verdict, stored_key
from hlsmap.mapping import run_map
from hlsmap.runconfig import MapConfig

TILES = 4  # 64 px region in tiles of 48


@pytest.fixture(scope="module")
def client() -> Any:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                           dashboard_address=None)  # fmt: skip
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def other_model(served_world, tmp_path_factory) -> Path:
    """The same architecture and metadata as the world's model, other weights."""
    from hlsmap.model import build_model, read_metadata, save_model

    path = tmp_path_factory.mktemp("other") / "model"
    save_model(path, build_model("tiny", seed=7), read_metadata(served_world.model))
    return path


def config(served_world, out: Path, **kw: Any) -> MapConfig:
    base: dict[str, Any] = dict(
        year=2024, out=str(out), model=str(served_world.model), bbox=served_world.world.bbox,
        source=served_world.api, seasons=("wet=01-02",), tile_size=48,
    )  # fmt: skip
    return MapConfig(**{**base, **kw})


def class_map(out: Path, period: str = "annual-2024") -> np.ndarray:
    with rasterio.open(out / f"hlsmap-{period}" / "class.tif") as src:
        return src.read(1)


def tiles(out: Path) -> list[Path]:
    return sorted((out / "work" / "2024" / "tiles").glob("tile_*.npz"))


@pytest.fixture(scope="module")
def first(served_world, client, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "out"
    res = run_map(config(served_world, out), client=client, progress=False)
    assert res.pixel_observations > 0 and res.failed_tiles == 0
    return out


def test_tile_files_hold_their_key(first: Path) -> None:
    assert len(tiles(first)) == TILES
    with np.load(tiles(first)[0], allow_pickle=False) as z:
        key = json.loads(str(z[KEY_ENTRY]))
    assert {"model", "items", "periods", "consensus", "grid", "compute", "version"} <= set(key)


def test_same_inputs_resume_byte_identical(served_world, client, first: Path) -> None:
    before = {p.name: p.read_bytes() for p in tiles(first)}
    annual = (first / "hlsmap-annual-2024" / "class.tif").read_bytes()
    res = run_map(config(served_world, first), client=client, progress=False)
    assert res.pixel_observations == 0
    assert res.resume[2024] == f"{TILES} of {TILES} tile(s) reused from an earlier run"
    assert {p.name: p.read_bytes() for p in tiles(first)} == before
    assert (first / "hlsmap-annual-2024" / "class.tif").read_bytes() == annual


def test_changed_model_recomputes_every_tile(
    served_world, client, first: Path, other_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rerun"
    shutil.copytree(first, out)
    res = run_map(config(served_world, out, model=str(other_model)), client=client,
                  progress=False)  # fmt: skip
    assert res.pixel_observations > 0
    assert res.resume[2024] == (
        f"0 of {TILES} tile(s) reused from an earlier run, {TILES} recomputed "
        f"({TILES} model changed)"
    )
    # the tiles and maps are the new model's, not the old one's
    new_id = model_fingerprint(other_model)[:20]
    assert all(stored_key(t) == {**stored_key(t), "model": new_id} for t in tiles(out))
    assert not np.array_equal(class_map(out), class_map(first))
    report = json.loads((out / "work" / "2024" / "run-report.json").read_text())
    assert report["recomputed"] == {"model changed": TILES} and report["reused"] == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"seasons": ("wet=01-03",)}, "periods changed"),
        ({"min_valid": 3}, "consensus rule or thresholds changed"),
        ({"rule": "mode"}, "consensus rule or thresholds changed"),
    ],
)
def test_changed_settings_recompute(
    served_world, client, first: Path, tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    out = tmp_path / "rerun"
    shutil.copytree(first, out)
    res = run_map(config(served_world, out, **change), client=client, progress=False)
    assert res.pixel_observations > 0
    assert f"{TILES} recomputed ({TILES} {reason})" in res.resume[2024]
    cfg = json.loads((out / "run-config.json").read_text())
    stac_item = json.loads((out / "hlsmap-annual-2024" / "hlsmap-annual-2024.json").read_text())
    # what the products say made them is what made them
    assert stac_item["properties"]["hlsmap:rule"] == cfg["rule"]
    assert stac_item["properties"]["hlsmap:min_valid"] == cfg["min_valid"]


def test_tile_without_key_or_unreadable_is_recomputed(first: Path, tmp_path: Path) -> None:
    tile = tiles(first)[0]
    key = stored_key(tile)
    assert key is not None and reuse_verdict(tile, key) is None
    with np.load(tile, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != KEY_ENTRY}
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)  # a tile file of an hlsmap before resume keys
    assert "older hlsmap" in str(reuse_verdict(old, key))
    half = tmp_path / "half.npz"
    half.write_bytes(tile.read_bytes()[:100])
    assert reuse_verdict(half, key) == "tile file unreadable"
    assert reuse_verdict(tmp_path / "none.npz", key) == "new"
    assert reuse_verdict(tile, {**key, "grid": "other"}) == "tile grid changed"
