"""`hlsmap chips --model` and `hlsmap evaluate --model dynamicworld` (issue 14), offline: chips
cut for a model's input contract (bands, grid resolution, sensors it can read). Dynamic World
on synthetic spectra is a plumbing check: these tests check bands, grid, sensors and the
report, never an accuracy figure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from teacher_world import DEMO_MODEL, FIXTURE, ServedWorld, served_world

from hlsmap.training.chip_sources import (
    ChipContract,
    build_chips,
    chips_from_world,
    labels_to_grid,
    model_grid,
)

pytestmark = pytest.mark.skipif(
    not (FIXTURE / "forward" / "saved_model.pb").is_file(),
    reason=f"Dynamic World fixture missing at {FIXTURE}",
)


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    with served_world(tmp_path_factory.mktemp("mchips"), seed=7) as w:
        yield w


@pytest.fixture(scope="module")
def dw_cache(tw: ServedWorld) -> Iterator[Path]:
    """A converted Dynamic World in a cache of its own, where `dynamicworld` resolves to."""
    from hlsmap.model.dw_import import import_dynamicworld
    from hlsmap.model.zoo import cached_path

    mp = pytest.MonkeyPatch()
    mp.setenv("HLSMAP_CACHE_DIR", str(tw.root / "cache"))
    path = cached_path("dynamicworld")
    import_dynamicworld(FIXTURE / "forward", path, FIXTURE)
    yield path
    mp.undo()


def test_labels_to_grid_repeats_each_30_m_cell_on_the_10_m_grid(tw: ServedWorld) -> None:
    g30 = tw.world.geobox
    g10 = model_grid(g30, 10.0)
    assert g10.shape == (3 * g30.shape[0], 3 * g30.shape[1]) and g10.extent == g30.extent
    lab = np.random.default_rng(0).integers(0, 10, g30.shape).astype(np.uint8)
    np.testing.assert_array_equal(
        labels_to_grid(lab, g30, g10), np.repeat(np.repeat(lab, 3, 0), 3, 1)
    )
    assert model_grid(g30, 30.0) is g30


def test_world_chips_for_dynamicworld_are_s30_9_bands_at_10_m(
    tw: ServedWorld, dw_cache: Path, tmp_path: Path
) -> None:
    from hlsmap.model.dynamicworld import DW_BANDS

    store = chips_from_world(tw.root / "w", tmp_path / "c.zarr", model="dynamicworld",
                             chip_size=32, holdout=0.5)  # fmt: skip
    assert store.bands == DW_BANDS and store.sensors == ["S30"]
    src = store.attrs["source"]
    assert src["resolution"] == 10.0 and src["model"] == "dynamicworld"
    n_l30 = sum(o["sensor"] == "L30" for o in tw.world.observations)
    assert src["sensors"]["L30"]["used"] == 0 and src["sensors"]["L30"]["skipped"] >= n_l30 > 0
    assert "lacks" in src["sensors"]["L30"]["reason"] and src["sensors"]["S30"]["used"] > 0
    # a 32 px world at 30 m is 96 px at 10 m: 3 x 3 chips of 32 per observation
    n_obs = len(store.attrs["observations"])
    assert n_obs > 0 and len(store) <= 9 * n_obs and len(store) > 0
    chips = store.read(np.arange(len(store)))
    red_edge = chips["bands"][..., DW_BANDS.index("rededge075")]
    assert (red_edge[red_edge != -9999] > 0).mean() > 0.9  # the red edge was read, not fill
    # each 30 m truth cell is a 3 x 3 block of the 10 m label chips
    lab = chips["labels"][0]
    origin = np.asarray(store.group["origin"][0])
    r0, c0 = (-origin) % 3
    block = lab[r0 : r0 + 27, c0 : c0 + 27].reshape(9, 3, 9, 3)
    assert (block == block[:, :1, :, :1]).all()


def test_contract_mismatch_and_unreadable_sensors_fail(
    tw: ServedWorld, dw_cache: Path, tmp_path: Path
) -> None:
    from hlsmap.errors import ConfigError
    from hlsmap.training.chip_sources import chips_from_labels

    assert ChipContract.of("dynamicworld").assets(["L30", "S30"])["S30"]["nir"] == "B08"
    assert "L30" not in ChipContract.of("dynamicworld").assets(["L30", "S30"])
    with pytest.raises(ConfigError, match="resolution 30 m differs"):
        chips_from_labels(tmp_path / "x.tif", [], tmp_path / "o.zarr", model="dynamicworld",
                          resolution=30)  # fmt: skip
    with pytest.raises(ConfigError, match="L30 lacks"):
        build_chips(tw.api, tmp_path / "o.zarr", labels=_labels(tw, tmp_path), model="dynamicworld",
                    sensors=("L30",), datetime="2024")  # fmt: skip


def _labels(tw: ServedWorld, tmp_path: Path) -> Path:
    """The world's annual truth as a 30 m label GeoTIFF."""
    import rasterio

    truth = np.asarray(tw.world.truth_annual()).astype(np.uint8)
    g = tw.world.geobox
    path = tmp_path / "labels.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=g.shape[1],
        height=g.shape[0],
        count=1,
        dtype="uint8",
        crs=str(g.crs),
        transform=g.affine,
        nodata=0,
    ) as dst:
        dst.write(truth, 1)  # fmt: skip
    return path


def test_label_chips_through_stac_for_a_model_skip_l30(
    tw: ServedWorld, dw_cache: Path, tmp_path: Path
) -> None:
    from hlsmap.model.dynamicworld import DW_BANDS

    store = build_chips(tw.api, tmp_path / "l.zarr", labels=_labels(tw, tmp_path),
                        model="dynamicworld", datetime="2024", chip_size=32,
                        max_obs=2, max_cloud_share=1.0)  # fmt: skip
    assert store.bands == DW_BANDS and store.sensors == ["S30"]
    src = store.attrs["source"]
    assert src["resolution"] == 10.0 and src["sensors"]["L30"]["skipped"] > 0
    assert len(store.attrs["observations"]) == 2  # picked among S30 observations only


def test_cli_chips_and_evaluate_model_dynamicworld(
    tw: ServedWorld, dw_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hlsmap.cli import main

    def err() -> str:
        return " ".join(capsys.readouterr().err.split())

    chips = tmp_path / "dw.zarr"
    main(["chips", str(tw.root / "w"), str(chips), "--model", "dynamicworld", "--chip-size",
          "32", "--holdout", "0.5"])  # fmt: skip
    text = err()
    assert "at 10 m" in text and "L30: 0 granule(s) used" in text and "lacks" in text
    main(["evaluate", "--model", "dynamicworld", str(chips), "--json", "--split", "train",
          "--out", str(tmp_path / "ev")])  # fmt: skip
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert 0.0 <= report["overall_accuracy"] <= 1.0 and report["pixels"] > 0
    cm = np.asarray(report["confusion_matrix"])
    assert cm.shape == (10, 10) and cm[:, 9].sum() == 0  # Dynamic World has no cloud class
    assert any("plumbing check" in n for n in report["notes"])
    assert report["sensors"]["L30"]["skipped"] > 0
    assert (tmp_path / "ev" / "metrics.json").is_file()
    # a 6-band model and a 10 m chip set do not fit: say how to build chips for it
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(DEMO_MODEL), str(chips)])
    assert e.value.code == 2 and "hlsmap chips --model" in err()
