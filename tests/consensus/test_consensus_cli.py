"""``hlsmap consensus``, ``hlsmap change`` and ``hlsmap alerts`` end to end on tiny stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from odc.geo.geobox import GeoBox

from hlsmap.change_rule import CHANGE_THRESHOLD
from hlsmap.cli import main
from hlsmap.predictions import PredictionWriter

import stacval

GB = GeoBox.from_bbox(
    (300000, 7000000, 300000 + 30 * 48, 7000000 + 30 * 32), "EPSG:32735", resolution=30
)
H, W = int(GB.shape[0]), int(GB.shape[1])
WET = (11, 12, 1, 2, 3, 4)
FLOOD = (12, 1, 2, 3)  # most of the wet season, a third of the year


def _truth(day: np.datetime64) -> np.ndarray:
    """Trees on the left, crops on the right that flood (water) in most of the wet season, and a
    clearing (trees -> bare) from 2025-01-10 on."""
    t = np.full((H, W), 2, np.uint8)
    t[:, W // 2 :] = 5
    month = int(day.astype("datetime64[M]").astype(int) % 12 + 1)
    if month in FLOOD:
        t[20:, W // 2 :] = 1
    if day >= np.datetime64("2025-01-10"):
        t[4:12, 4:14] = 8
    return t


def _write(path: Path, start: str, end: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64(start), np.datetime64(end), np.timedelta64(6, "D"))
    with PredictionWriter(path, GB, chunk=16) as w:
        for d in days:
            labels = _truth(d)
            flip = rng.random((H, W)) < 0.25  # a noisy classifier
            labels[flip] = rng.integers(1, 10, flip.sum())
            p = np.full((H, W, 10), 8, np.uint8)
            np.put_along_axis(p, (labels - 1)[..., None].astype(np.intp), 180, axis=-1)
            observed = np.ones((H, W), bool)
            observed[:, :3] = rng.random() < 0.5  # swath edge
            valid = observed & (rng.random((H, W)) > 0.3)
            month = int(d.astype("datetime64[M]").astype(int) % 12 + 1)
            ndvi = 0.7 if month in WET else 0.3
            w.append(p, valid, observed, d, sensor="S30", ndvi=ndvi + rng.normal(0, 0.03))


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("preds")
    _write(root / "y2024.zarr", "2024-01-02", "2025-01-01", 0)
    _write(root / "y2025.zarr", "2025-01-03", "2025-04-15", 1)
    return {"2024": root / "y2024.zarr", "2025": root / "y2025.zarr"}


def test_consensus_annual_and_detected_seasons(stores, tmp_path, capsys) -> None:
    out = tmp_path / "maps"
    main(
        [
            "consensus",
            str(stores["2024"]),
            "--out",
            str(out),
            "--season",
            "auto",
            "--min-valid",
            "3",
            "--fallback",
            "year",
            "--blocksize",
            "128",
        ]
    )
    err = capsys.readouterr().err
    assert "wet: Nov-Apr (11-04)" in err and "dry: May-Oct (05-10)" in err
    seasons = json.loads((out / "seasons.json").read_text())
    assert seasons["method"] == "detected" and seasons["windows"]["wet"]["first"] == 11
    for name, want in (("2024", None), ("wet", "wet"), ("dry", "dry")):
        with rasterio.open(out / f"hlsmap-{name}" / "class.tif") as src:
            got = src.read(1)
            assert src.colormap(1)[2] == (0x39, 0x7D, 0x49, 255)
        day = {"wet": "2024-01-15", "dry": "2024-07-15"}.get(want or "", "2024-07-15")
        truth = _truth(np.datetime64(day))
        if want is None:
            truth[4:12, 4:14] = 2
        assert (got == truth).mean() > 0.97, name
    coll = json.loads((out / "collection.json").read_text())
    stacval.validate(coll)
    item = json.loads((out / "hlsmap-wet" / "hlsmap-wet.json").read_text())
    stacval.validate(item)
    assert item["properties"]["hlsmap:months"] == [1, 2, 3, 4, 11, 12]
    assert set(item["assets"]) >= {
        "class",
        "confidence",
        "n_valid",
        "cloud_share",
        "fallback",
        "quicklook",
        "area_json",
        "area_csv",
    }
    area = json.loads((out / "hlsmap-2024" / "area.json").read_text())
    assert sum(r["pixels"] for r in area["classes"]) == H * W


def test_change_between_years(stores, tmp_path, capsys) -> None:
    maps = tmp_path / "maps"
    main(["consensus", str(stores["2024"]), "--out", str(maps / "a"), "--blocksize", "128"])
    main(
        [
            "consensus",
            str(stores["2025"]),
            "--out",
            str(maps / "b"),
            "--blocksize",
            "128",
            "--year",
            "2025",
        ]
    )
    out = tmp_path / "change"
    a, b = maps / "a" / "hlsmap-2024" / "class.tif", maps / "b" / "hlsmap-2025" / "class.tif"
    # this classifier is noisy (25% random labels, top-1 probability 0.71): the maps'
    # confidence is ~55%, so the demo model's threshold is too strict for it; 10% keeps the
    # clearing (the confidence of the pixels that did not change is checked below)
    main(["change", str(a), str(b), "--out", str(out), "--mmu", "4", "--blocksize", "128",
          "--threshold", "10"])  # fmt: skip
    d = next(out.glob("hlsmap-change-*"))
    with rasterio.open(d / "tree_loss.tif") as src:
        loss = src.read(1)
    assert (loss[4:12, 4:14] == 1).all() and (loss == 1).sum() == 80  # the clearing only
    matrix = json.loads((d / "matrix.json").read_text())
    with rasterio.open(a) as sa, rasterio.open(b) as sb:
        both = (sa.read(1) > 0) & (sb.read(1) > 0)
    assert matrix["total"] == pytest.approx(both.sum() * 0.09)
    assert matrix["transitions"]["trees"]["bare"] == pytest.approx(80 * 0.09)
    stacval.validate(json.loads(next(d.glob("hlsmap-change-*.json")).read_text()))
    assert "tree loss 7.2 ha" in capsys.readouterr().err
    # the maps' confidence.tif / n_valid.tif decided it: a confidence layer, types in hectares
    with rasterio.open(d / "change_confidence.tif") as src:
        conf = src.read(1)
    assert (conf[4:12, 4:14] >= 10).all() and (conf[loss == 0] < 255).any()
    assert (conf[4:12, 4:14] < CHANGE_THRESHOLD).any()  # why the test gives --threshold
    stats = json.loads((d / "change_stats.json").read_text())
    assert stats["threshold_percent"] == 10
    assert stats["evidence"] == ["confidence_after", "confidence_before", "n_valid_after",
                                 "n_valid_before"]  # fmt: skip
    assert stats["types"]["tree_loss"]["hectares"] == pytest.approx(80 * 0.09)
    # the rest is the flood: Jan-Apr 2025 is mostly under water, 2024 mostly crops
    types = stats["types"]
    lc = types["land_cover_change"]["pixels"]
    assert types["water_gain"]["pixels"] > 0 and lc >= 80 + types["water_gain"]["pixels"]
    assert lc == round(stats["changed_hectares"] / 0.09) - types["rotation"]["pixels"]
    # a threshold above the clearing's confidence: the clearing is not change any more
    above = int(conf[4:12, 4:14].max()) + 1
    assert above <= 100, "the tiny stores' maps should not be 100% sure of every year"
    main(["change", str(a), str(b), "--out", str(tmp_path / "strict"), "--threshold", str(above)])
    d2 = next((tmp_path / "strict").glob("hlsmap-change-*"))
    with rasterio.open(d2 / "tree_loss.tif") as src:
        assert (src.read(1) == 1).sum() == 0


def _alerts(stores, baseline: Path, out: Path, *extra: str) -> Path:
    main(
        [
            "alerts",
            str(stores["2025"]),
            "--baseline",
            str(baseline),
            "--out",
            str(out),
            "--blocksize",
            "128",
            *extra,
        ]
    )
    return out / "hlsmap-alerts"


def test_alerts_fire_on_the_clearing_and_resume(stores, tmp_path) -> None:
    base = tmp_path / "base"
    main(["consensus", str(stores["2024"]), "--out", str(base), "--blocksize", "128"])
    baseline = base / "hlsmap-2024" / "class.tif"
    state = tmp_path / "state.npz"
    # this noisy classifier is never above 0.71 sure (180/252): ask the baseline for 0.5
    opts = ("--state", str(state), "--min-baseline-conf", "0.5")
    d = _alerts(stores, baseline, tmp_path / "alerts", *opts)
    with rasterio.open(d / "alert.tif") as src:
        alert = src.read(1)
    with rasterio.open(d / "first_date.tif") as src:
        first = src.read(1)
    clearing = np.zeros((H, W), bool)
    clearing[4:12, 4:14] = True
    assert (alert[clearing] == 8).mean() > 0.95
    assert (alert[~clearing] > 0).mean() < 0.01
    assert first[clearing & (alert > 0)].min() >= (
        np.datetime64("2025-01-10") - np.datetime64("1970-01-01")
    )
    summary = json.loads((d / "alerts.json").read_text())
    assert summary["kinds"]["tree_loss"]["pixels"] >= 76
    assert summary["baseline_confidence"] == str(baseline.with_name("confidence.tif"))
    stacval.validate(json.loads((d / "hlsmap-alerts.json").read_text()))
    # a second run with the same stores has nothing new to add
    _alerts(stores, baseline, tmp_path / "alerts", *opts)
    assert json.loads((d / "alerts.json").read_text())["observations_used"] == 0


def test_alerts_only_where_the_baseline_is_sure(stores, tmp_path) -> None:
    """The seasonally flooded crops make an unsure annual baseline (crops a third of the year
    water): found next to ``class.tif``, its confidence keeps them from alerting; without it
    (``--min-baseline-conf 0``) the floods alert as water gain."""
    base = tmp_path / "base"
    main(["consensus", str(stores["2024"]), "--out", str(base), "--blocksize", "128"])
    baseline = base / "hlsmap-2024" / "class.tif"
    with rasterio.open(baseline.with_name("confidence.tif")) as src:
        conf = src.read(1)
    flood = np.zeros((H, W), bool)
    flood[20:, W // 2 :] = True
    assert (conf[flood] < 50).mean() > 0.95 and (conf[~flood] >= 50).mean() > 0.9
    sure = json.loads((_alerts(stores, baseline, tmp_path / "a", "--min-baseline-conf", "0.5")
                       / "alerts.json").read_text())  # fmt: skip
    everywhere = _alerts(stores, baseline, tmp_path / "b", "--min-baseline-conf", "0")
    with rasterio.open(everywhere / "alert.tif") as src:
        alert = src.read(1)
    assert (alert[flood] == 1).mean() > 0.9  # water gain where the baseline was unsure
    assert sure["eligible_pixels"] == (conf >= 50).sum()
    assert sure["kinds"]["water_gain"]["pixels"] < 0.05 * flood.sum()
    # an explicit confidence layer is used as given; one on another grid is refused
    low = tmp_path / "low.tif"
    from hlsmap.outputs.cog import write_cog

    write_cog(low, np.full((H, W), 10, np.uint8), GB, nodata=None)
    explicit = _alerts(stores, baseline, tmp_path / "c", "--baseline-confidence", str(low))
    assert json.loads((explicit / "alerts.json").read_text())["confirmed_pixels"] == 0
    small = tmp_path / "small.tif"
    write_cog(small, np.full((8, 8), 90, np.uint8), GB[:8, :8], nodata=None)
    with pytest.raises(SystemExit) as exc:
        _alerts(stores, baseline, tmp_path / "d", "--baseline-confidence", str(small))
    assert exc.value.code == 2


def test_user_mistakes_exit_2(stores, tmp_path, capsys) -> None:
    for argv in (
        ["consensus", str(stores["2024"]), "--out", str(tmp_path / "x"), "--rule", "median"],
        ["consensus", str(stores["2024"]), "--out", str(tmp_path / "x"), "--season", "wet=13-1"],
        ["consensus", str(stores["2024"]), "--out", str(tmp_path / "x"), "--balance", "week"],
        ["consensus", str(tmp_path / "missing.zarr"), "--out", str(tmp_path / "x")],
        ["change", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--out", str(tmp_path)],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        assert "error:" in capsys.readouterr().err


def test_months_quarters_periods_and_v2_scheme(stores, tmp_path) -> None:
    out = tmp_path / "m"
    main(
        [
            "consensus",
            str(stores["2024"]),
            "--out",
            str(out),
            "--no-annual",
            "--quarters",
            "--period",
            "spring=2024-03-01/2024-05-31",
            "--scheme",
            "v2",
            "--rule",
            "mode",
            "--balance",
            "none",
            "--blocksize",
            "128",
        ]
    )
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == [
        "hlsmap-2024-Q1",
        "hlsmap-2024-Q2",
        "hlsmap-2024-Q3",
        "hlsmap-2024-Q4",
        "hlsmap-spring",
    ]
    with rasterio.open(out / "hlsmap-2024-Q3" / "class.tif") as src:
        codes = set(np.unique(src.read(1)).tolist())
        assert src.colormap(1)[11][:3] == (0xE3, 0xE2, 0xC3)  # rangeland in the v2 table
    assert codes <= {0, 1, 2, 4, 5, 7, 8, 9, 11} and 5 in codes
    item = json.loads((out / "hlsmap-spring" / "hlsmap-spring.json").read_text())
    stacval.validate(item)
    assert item["properties"]["start_datetime"].startswith("2024-03-01")
    assert item["properties"]["hlsmap:rule"] == "mode"
    assert item["properties"]["hlsmap:balance"] == "none"
    assert 11 in [c["value"] for c in item["assets"]["class"]["classification:classes"]]
