"""``hlsmap predict`` end to end on a static catalog and an existing Dask scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import rasterio
from runner_world import make_world, region_geobox

from hlsfixtures import write_item_collection

pytest.importorskip("hlsmap.consensus")

from hlsmap.cli import main


@pytest.fixture(scope="module")
def scheduler() -> Any:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_predict_command_maps_a_region(tmp_path: Path, scheduler: str, capsys: Any) -> None:
    items, model_dir = make_world(tmp_path / "world")
    catalog = write_item_collection(items, tmp_path / "items.json")
    w, s, e, n = region_geobox().extent.to_crs("EPSG:4326").boundingbox
    out = tmp_path / "out"
    args = [
        "predict", str(out), "--model", str(model_dir), "--source", str(catalog),
        "--bbox", str(w), str(s), str(e), str(n), "--year", "2024",
        "--period", "h1=2024-01-01/2024-06-30", "--tile-size", "40", "--halo", "16",
        "--window", "48", "--overlap", "16", "--scheduler", scheduler, "--no-progress",
    ]  # fmt: skip
    main(args)
    err = capsys.readouterr().err
    assert "0 already done" in err and "pixel-observations" in err
    for period in ("2024", "h1"):
        with rasterio.open(out / period / "class.tif") as src:
            cls = src.read(1)
        assert cls.shape[0] >= 70 and (cls > 0).mean() > 0.9
    # a second run finds every tile done
    main(args)
    assert "already done" in capsys.readouterr().err


def test_predict_command_needs_a_period(tmp_path: Path, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(tmp_path / "o"), "--model", str(tmp_path), "--bbox", "0", "0", "1",
              "1"])  # fmt: skip
    assert exc.value.code == 2
    assert "--year" in capsys.readouterr().err
