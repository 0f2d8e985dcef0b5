"""`hlsmap map` end to end on a tiny synthetic world served by a local STAC API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hlsmap.cli import main
from hlsmap.errors import ConfigError, EmptySearchError, OutputError
from hlsmap.mapping import plan_map, run_map
from hlsmap.runconfig import MapConfig, resolve_config

import stacval


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def bbox_args(world) -> list[str]:
    return ["--bbox", *(str(v) for v in world.bbox)]


@pytest.fixture(scope="module")
def mapped(served_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("map") / "out"
    code = cli(
        "map",
        *bbox_args(served_world.world),
        "--year",
        "2024",
        "--model",
        str(served_world.model),
        "--out",
        str(out),
        "--source",
        served_world.api,
        "--season",
        "wet=01-02",
        "--season",
        "dry=03-04",
        "--tile-size",
        "48",
    )
    assert code == 0
    return out


def test_all_products_written_and_valid(mapped: Path) -> None:
    for period in ("annual-2024", "wet-2024", "dry-2024"):
        d = mapped / f"hlsmap-{period}"
        with rasterio.open(d / "class.tif") as src:
            assert src.colormap(1)[1][:3] == (0x41, 0x9B, 0xDF)
            assert src.nodata == 0 and src.is_tiled
            codes = src.read(1)
        assert set(np.unique(codes)) <= set(range(0, 10))
        assert (d / "quicklook.png").stat().st_size > 1000
        item = json.loads((d / f"hlsmap-{period}.json").read_text())
        stacval.validate(item)
    cfg = json.loads((mapped / "run-config.json").read_text())
    assert cfg["seasons"] == ["wet=01-02", "dry=03-04"]
    assert json.loads((mapped / "seasons.json").read_text())["method"] == "given"
    assert (mapped / "collection.json").exists()
    # written once: the products stream from the tiles, no region mosaic under work/
    assert not list((mapped / "work").rglob("*.tif"))
    assert len(list((mapped / "work" / "2024" / "tiles").glob("tile_*.npz"))) == 4


def test_rerun_resumes_and_reproduces(mapped: Path, served_world) -> None:
    before = rasterio.open(mapped / "hlsmap-annual-2024" / "class.tif").read(1)
    cfg = resolve_config(
        None,
        bbox=served_world.world.bbox,
        year=2024,
        model=served_world.model,
        out=mapped,
        source=served_world.api,
        seasons=["wet=01-02", "dry=03-04"],
        tile_size=48,
    )
    result = run_map(cfg, progress=False)
    assert result.pixel_observations == 0  # every tile was done: nothing predicted again
    after = rasterio.open(mapped / "hlsmap-annual-2024" / "class.tif").read(1)
    np.testing.assert_array_equal(before, after)


def test_plan_reads_no_pixels(served_world, tmp_path: Path, capsys) -> None:
    http = served_world.http
    tifs_before = sum(n for p, n in http.hits.items() if p.endswith(".tif"))
    code = cli(
        "map",
        *bbox_args(served_world.world),
        "--year",
        "2024",
        "--model",
        str(served_world.model),
        "--out",
        str(tmp_path / "p"),
        "--source",
        served_world.api,
        "--plan",
    )
    assert code == 0
    assert "items 2024:" in capsys.readouterr().out
    assert sum(n for p, n in http.hits.items() if p.endswith(".tif")) == tifs_before
    assert json.loads((tmp_path / "p" / "plan.json").read_text())["tiles"] == 1


def test_bad_inputs(served_world, tmp_path: Path) -> None:
    w = served_world.world
    base = dict(bbox=w.bbox, model=str(served_world.model), source=served_world.api)
    with pytest.raises(EmptySearchError):
        plan_map(MapConfig(year=2020, out=str(tmp_path / "a"), **base))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        run_map(MapConfig(year=2024, out=str(a_file), **base), progress=False)
    with pytest.raises(ConfigError, match="exactly once"):
        MapConfig(year=2024, out="x", model="m", bbox=w.bbox, tile="T13RCN")
    with pytest.raises(ConfigError, match="balance 'week' unknown"):
        MapConfig(year=2024, out="x", model="m", bbox=w.bbox, balance="week")
    with pytest.raises(ConfigError, match="missing year"):
        resolve_config(None, model="m", out="o", bbox=w.bbox)
    toml = tmp_path / "run.toml"
    toml.write_text('year = 2024\nmodel = "m"\nout = "o"\ntile = "T13RCN"\nbogus = 1\n')
    with pytest.raises(ConfigError, match="unknown option.*bogus"):
        resolve_config(toml)


def test_config_file_and_cli_override(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'year = 2023\nmodel = "m"\nout = "o"\ntile = "T13RCN"\nsensors = ["L30"]\n'
        'seasons = ["wet=11-04", "dry=05-10"]\nchange = true\n'
    )
    cfg = resolve_config(toml, year=2024, sensors="L30,S30")
    assert cfg.year == 2024 and cfg.sensors == ("L30", "S30") and cfg.change
    assert cfg.seasons == ("wet=11-04", "dry=05-10")
    written = cfg.write(tmp_path / "resolved.json")
    assert json.loads(written.read_text())["tile"] == "T13RCN"


def test_model_whose_bands_a_sensor_lacks(served_world, tmp_path: Path) -> None:
    from hlsmap.model import ModelMetadata, build_model, read_metadata, save_model

    bands = ("blue", "green", "red", "nir08", "swir16", "swir22", "rededge1")
    norm = {s: {"mean": [0.1] * 7, "std": [0.1] * 7} for s in ("L30", "S30")}
    net = build_model("tiny", bands=bands)
    meta = ModelMetadata(bands=bands, normalization=norm, config=net.config, preset="tiny")
    model = tmp_path / "rededge-model"
    save_model(model, net, meta)
    assert read_metadata(model).bands == bands
    cfg = MapConfig(
        year=2024,
        out=str(tmp_path / "o"),
        model=str(model),
        bbox=served_world.world.bbox,
        source=served_world.api,
    )
    with pytest.raises(ConfigError, match="L30 lacks rededge1; S30 lacks rededge1"):
        run_map(cfg, progress=False)
    assert not (tmp_path / "o" / "run-config.json").exists()  # refused before any work


def test_saved_predictions_give_the_same_consensus(served_world, tmp_path: Path) -> None:
    from hlsmap.outputs.maps import ConsensusConfig, run_consensus

    cfg = MapConfig(
        year=2024, out=str(tmp_path / "m"), model=str(served_world.model),
        bbox=served_world.world.bbox, source=served_world.api, seasons=("wet=01-02",),
        save_predictions=True,
    )  # fmt: skip
    run_map(cfg, progress=False)
    stores = sorted((tmp_path / "m" / "work" / "2024" / "tiles").glob("*.predictions.zarr"))
    assert len(stores) == 1
    run_consensus(
        ConsensusConfig(predictions=stores, out_dir=tmp_path / "c", year=2024, progress=False)
    )
    from_map = rasterio.open(tmp_path / "m" / "hlsmap-annual-2024" / "class.tif").read(1)
    from_store = rasterio.open(tmp_path / "c" / "hlsmap-2024" / "class.tif").read(1)
    np.testing.assert_array_equal(from_map, from_store)


def test_openvino_runtime_maps_like_jax(served_world, mapped: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    out = tmp_path / "ov"
    code = cli(
        "map", *bbox_args(served_world.world), "--year", "2024",
        "--model", str(served_world.model), "--out", str(out), "--source", served_world.api,
        "--season", "wet=01-02", "--season", "dry=03-04", "--tile-size", "48",
        "--runtime", "openvino",
    )  # fmt: skip
    assert code == 0
    assert json.loads((out / "run-config.json").read_text())["runtime"] == "openvino"
    for product in ("hlsmap-annual-2024", "hlsmap-wet-2024"):
        jax_map = rasterio.open(mapped / product / "class.tif").read(1)
        ov_map = rasterio.open(out / product / "class.tif").read(1)
        assert (jax_map == ov_map).mean() > 0.999
    assert cli("map", *bbox_args(served_world.world), "--year", "2024", "--model", "m",
               "--out", str(tmp_path / "x"), "--runtime", "tpu") == 2  # fmt: skip
