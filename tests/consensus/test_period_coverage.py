"""Season maps say exactly which days they cover (STAC and GeoTIFF tags), wrapping or not, and
the products of ``hlsmap consensus`` (the installed console script) pass strict STAC
validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from odc.geo.geobox import GeoBox

from hlsmap.outputs.coverage import coverage_tags, date_ranges, envelope
from hlsmap.periods import Period
from hlsmap.predictions import PredictionWriter

import stacval

D = np.datetime64


def test_date_ranges_of_seasons() -> None:
    within = Period.season("wet", (11, 2), 2024, wrap="within")
    assert date_ranges(within) == [(D("2024-01-01"), D("2024-02-29")),
                                   (D("2024-11-01"), D("2024-12-31"))]  # fmt: skip
    assert envelope(within) == (D("2024-01-01"), D("2024-12-31"))
    span = Period.season("wet", (11, 2), 2024, wrap="span")
    assert date_ranges(span) == [(D("2023-11-01"), D("2024-02-29"))]
    dry = Period.season("dry", (5, 10), 2024)  # inside the year: not the whole year
    assert envelope(dry) == (D("2024-05-01"), D("2024-10-31"))
    assert date_ranges(Period.year(2024)) == [(D("2024-01-01"), D("2024-12-31"))]
    # a date range cut by months: only the overlap of each month counts
    odd = Period("odd", D("2024-01-15"), D("2024-04-10"), frozenset({1, 3, 4}))
    assert date_ranges(odd) == [(D("2024-01-15"), D("2024-01-31")),
                                (D("2024-03-01"), D("2024-04-09"))]  # fmt: skip
    tags = coverage_tags(within)
    assert tags["date_ranges"] == "2024-01-01/2024-02-29,2024-11-01/2024-12-31"
    assert tags["months"] == "1,2,11,12"


GB = GeoBox.from_bbox(
    (300000, 7000000, 300000 + 30 * 24, 7000000 + 30 * 16), "EPSG:32735", resolution=30
)


@pytest.fixture(scope="module")
def consensus_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("coverage")
    rng = np.random.default_rng(0)
    h, w = int(GB.shape[0]), int(GB.shape[1])
    with PredictionWriter(root / "p.zarr", GB, chunk=16) as writer:
        for i, day in enumerate(
            np.arange(D("2024-01-03"), D("2025-01-01"), np.timedelta64(9, "D"))
        ):
            probs = rng.integers(0, 40, (h, w, 10)).astype(np.uint8)
            probs[..., 1] += 100  # trees
            valid = rng.random((h, w)) > 0.2
            valid[:2] = False  # never clear: no data in the maps
            writer.append(probs, valid, np.ones((h, w), bool), day,
                          sensor="L30" if i % 2 else "S30")  # fmt: skip
    out = root / "out"
    exe = Path(sys.executable).with_name("hlsmap")
    proc = subprocess.run(
        [str(exe), "consensus", str(root / "p.zarr"), "--out", str(out), "--year", "2024",
         "--season", "wet=11-02", "--season", "dry=03-10"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_within_wet_season_lists_its_two_stretches(consensus_out: Path) -> None:
    d = consensus_out / "hlsmap-wet"
    item = json.loads((d / "hlsmap-wet.json").read_text())
    p = item["properties"]
    assert p["hlsmap:date_ranges"] == [["2024-01-01", "2024-02-29"], ["2024-11-01", "2024-12-31"]]
    assert p["start_datetime"] == "2024-01-01T00:00:00Z"
    assert p["end_datetime"] == "2024-12-31T23:59:59Z"
    assert p["hlsmap:months"] == [1, 2, 11, 12]
    with rasterio.open(d / "class.tif") as src:
        assert src.tags()["date_ranges"] == "2024-01-01/2024-02-29,2024-11-01/2024-12-31"
    dry = json.loads((consensus_out / "hlsmap-dry" / "hlsmap-dry.json").read_text())
    assert dry["properties"]["start_datetime"] == "2024-03-01T00:00:00Z"  # not the whole year
    assert dry["properties"]["end_datetime"] == "2024-10-31T23:59:59Z"
    with rasterio.open(consensus_out / "hlsmap-dry" / "class.tif") as src:
        assert (src.tags()["start"], src.tags()["end"]) == ("2024-03-01", "2024-10-31")


def test_consensus_stac_is_strictly_valid_and_knows_no_granules(consensus_out: Path) -> None:
    docs = [json.loads(p.read_text()) for p in sorted(consensus_out.rglob("*.json"))]
    docs = [d for d in docs if isinstance(d, dict) and "stac_version" in d]
    assert len(docs) == 4  # collection + annual, wet, dry
    for d in docs:
        stacval.validate(d)
        assert str(consensus_out) not in json.dumps(d)
    item = next(d for d in docs if d["id"] == "hlsmap-2024")
    # predictions stores keep no granule ids: the item says nothing rather than "none"
    assert "hlsmap:source_granules" not in item["properties"]
    assert item["properties"]["license"] == "CC-BY-4.0"
    with rasterio.open(consensus_out / "hlsmap-2024" / "confidence.tif") as src:
        conf = src.read(1, masked=True)
    assert conf.mask[:2].all() and not conf.mask[2:].any()  # nodata exactly where unmapped
