"""Products written block by block equal the whole-map products: COGs, statistics, quicklooks,
change (the minimum mapping unit across block borders included)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from hlsmap.change import compute_change
from hlsmap.classes import remap_v2
from hlsmap.outputs import cog, quicklook, stats
from hlsmap.outputs.blocks import ArraySource, Decimator, block_windows, window_slices
from hlsmap.outputs.changes import ChangeConfig, change_blocks, run_change
from hlsmap.outputs.maps import LAYER_META, write_period_products
from hlsmap.outputs.pam import pam_path
from hlsmap.periods import Period

H, W = 300, 410
GB = GeoBox((H, W), Affine(30, 0, 500000, 0, -30, 4_000_020), "EPSG:32633")


def class_map(seed: int, patch: int = 6) -> np.ndarray:
    """Patches of classes with speckle: changed patches of every size straddle block borders."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 10, (H // patch + 1, W // patch + 1))
    a = np.repeat(np.repeat(coarse, patch, 0), patch, 1)[:H, :W].astype(np.uint8)
    speckle = rng.random((H, W)) < 0.03
    a[speckle] = rng.integers(0, 10, int(speckle.sum()))
    return a


def test_decimator_is_a_strided_slice() -> None:
    a = np.arange(H * W, dtype=np.int64).reshape(H, W)
    for max_size, block in ((100, 64), (37, 50), (1000, 128)):
        dec = Decimator(a.shape, max_size, a.dtype)
        for win in block_windows(a.shape, block):
            dec.add(win, a[window_slices(win)])
        np.testing.assert_array_equal(dec.array, quicklook._decimate(a, max_size))


@pytest.mark.parametrize("scheme", ["v1", "v2"])
def test_period_products_from_blocks(tmp_path: Path, scheme: str) -> None:
    rng = np.random.default_rng(0)
    layers = {
        "class": class_map(0),
        "confidence": rng.integers(0, 101, (H, W)).astype(np.uint8),
        "n_valid": rng.integers(0, 60, (H, W)).astype(np.uint16),
        "cloud_share": rng.integers(0, 256, (H, W)).astype(np.uint8),
    }
    ds = xr.Dataset({k: (("y", "x"), v) for k, v in layers.items()})
    period = Period.year(2024)
    item = write_period_products(tmp_path, period, ds, GB, scheme=scheme, blocksize=128)
    d = tmp_path / "hlsmap-2024"
    codes = remap_v2(layers["class"]) if scheme == "v2" else layers["class"]
    # the COGs are the files the whole-array writer makes
    tags = {"period": "2024", "start": "2024-01-01", "end": "2024-12-31",
            "date_ranges": "2024-01-01/2024-12-31"}  # fmt: skip
    ref = cog.write_class_cog(tmp_path / "ref" / "class.tif", codes, GB, scheme, tags, 128)
    assert (d / "class.tif").read_bytes() == ref.read_bytes()
    # the attribute table's counts, summed block by block, are the whole map's
    assert (d / "class.tif.aux.xml").read_text() == pam_path(ref).read_text()
    for name, meta in LAYER_META.items():
        ref = cog.write_cog(tmp_path / "ref" / f"{name}.tif", layers[name], GB, tags=tags,
                            description=name.replace("_", " "), blocksize=128, **meta)  # fmt: skip
        assert (d / f"{name}.tif").read_bytes() == ref.read_bytes(), name
    j, c = stats.write_area_stats(tmp_path / "ref" / "area", codes, GB, scheme, period="2024")
    assert (d / "area.json").read_text() == j.read_text()
    assert (d / "area.csv").read_text() == c.read_text()
    png = quicklook.class_png(tmp_path / "ref" / "q.png", codes, title=period.describe(),
                              scheme=scheme)  # fmt: skip
    assert (d / "quicklook.png").read_bytes() == png.read_bytes()
    assert set(item.assets) >= {"class", "confidence", "n_valid", "cloud_share", "quicklook"}
    assert not list(d.glob(".*"))  # no staging file left


@pytest.mark.parametrize(("mmu", "connectivity"), [(1, 8), (4, 8), (9, 4), (25, 8)])
def test_change_blocks_equal_the_whole_map(tmp_path: Path, mmu: int, connectivity: int) -> None:
    a, b = class_map(1), class_map(2)
    b[:150] = a[:150]  # unchanged apart from speckle: small patches the MMU must judge
    b[100:103, 100:300] = 7  # a thin changed strip over many blocks: big, kept
    pa = cog.write_class_cog(tmp_path / "a.tif", a, GB)
    pb = cog.write_class_cog(tmp_path / "b.tif", b, GB)
    whole = compute_change(a, b, GB, mmu=mmu, connectivity=connectivity)
    t = np.zeros((H, W), np.uint8)
    layers = {k: np.zeros((H, W), bool) for k in whole.layers}
    with rasterio.open(pa) as sa, rasterio.open(pb) as sb:
        for win, tb, masks in change_blocks(sa, sb, mmu, connectivity, blocksize=32):
            t[window_slices(win)] = tb
            for k, m in masks.items():
                layers[k][window_slices(win)] = m
    np.testing.assert_array_equal(t, whole.transitions)
    for k in layers:
        np.testing.assert_array_equal(layers[k], whole.layers[k], err_msg=k)
    if mmu == 4:  # the products, written from 128 px blocks
        item = run_change(ChangeConfig(pa, pb, tmp_path / "out", mmu=mmu, blocksize=128))
        d = tmp_path / "out" / item.id
        np.testing.assert_array_equal(rasterio.open(d / "transitions.tif").read(1), t)
        tree = np.where(t == 0, 255, layers["tree_loss"]).astype(np.uint8)
        np.testing.assert_array_equal(rasterio.open(d / "tree_loss.tif").read(1), tree)
        matrix = json.loads((d / "matrix.json").read_text())
        assert matrix["total"] == pytest.approx(whole.matrix.sum(), abs=1e-3)
        ha = stats.pixel_area_ha(GB)
        changed = item.properties["hlsmap:changed_hectares"]
        assert changed == round(float(whole.changed.sum()) * ha, 4)


def test_array_source_keeps_2d_layers() -> None:
    ds = xr.Dataset({"class": (("y", "x"), np.ones((4, 5), np.uint8)),
                     "probs": (("y", "x", "c"), np.ones((4, 5, 3)))})  # fmt: skip
    src = ArraySource(ds)
    assert src.shape == (4, 5) and list(src.dtypes) == ["class"]
    assert src.read((1, 2, 2, 3))["class"].shape == (2, 3)
    with pytest.raises(ValueError, match="one shape"):
        ArraySource({"a": np.ones((2, 2)), "b": np.ones((3, 3))})


def test_change_blocks_with_evidence_equal_the_whole_map(tmp_path: Path) -> None:
    """The evidence rule block by block: the confidence layer and the decided change equal
    the whole-map rule, and run_change finds confidence.tif / n_valid.tif next to the maps."""
    from hlsmap.change_rule import change_confidence, decide_change

    a, b = class_map(3), class_map(4)
    b[:150] = a[:150]
    rng = np.random.default_rng(5)
    conf = {k: rng.integers(30, 101, (H, W)).astype(np.uint8) for k in ("a", "b")}
    nval = {k: rng.integers(0, 12, (H, W)).astype(np.uint16) for k in ("a", "b")}
    paths = {}
    for k, m in (("a", a), ("b", b)):
        (tmp_path / k).mkdir()
        paths[k] = cog.write_class_cog(tmp_path / k / "class.tif", m, GB)
        cog.write_cog(tmp_path / k / "confidence.tif", conf[k], GB, nodata=None)
        cog.write_cog(tmp_path / k / "n_valid.tif", nval[k], GB, nodata=None)
    c = change_confidence(a, b, conf["a"], conf["b"], nval["a"], nval["b"])
    whole = compute_change(a, b, GB, mmu=4, decided=decide_change(c, 40))
    assert 0 < whole.changed.sum() < ((a != b) & (a > 0) & (b > 0)).sum()  # some flips go
    item = run_change(ChangeConfig(paths["a"], paths["b"], tmp_path / "out", mmu=4,
                                   blocksize=128, threshold=40))  # fmt: skip
    d = tmp_path / "out" / item.id
    np.testing.assert_array_equal(rasterio.open(d / "transitions.tif").read(1), whole.transitions)
    np.testing.assert_array_equal(rasterio.open(d / "change_confidence.tif").read(1), c)
    lc = rasterio.open(d / "land_cover_change.tif").read(1)
    expect = np.where(whole.transitions == 0, 255, whole.changed & ~whole.layers["rotation"])
    np.testing.assert_array_equal(lc, expect.astype(np.uint8))
    assert item.properties["hlsmap:change_threshold"] == 40
    assert {"change_confidence", "land_cover_change", "rotation", "change_stats"} <= set(
        item.assets
    )
