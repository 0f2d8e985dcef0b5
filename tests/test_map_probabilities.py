"""`hlsmap map --probabilities`: the per-class mean probabilities product (multi-band uint8 COG),
end to end on the tiny synthetic world behind the local STAC API (an untrained model: the
plumbing is under test, not accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from hlsmap.cli import main


def test_probabilities_product_matches_the_class_map(served_world, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["map", "--bbox", *(str(v) for v in served_world.world.bbox), "--year", "2024",
            "--model", str(served_world.model), "--out", str(out), "--source", served_world.api,
            "--season", "wet=01-02", "--tile-size", "48", "--probabilities"]  # fmt: skip
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code
    d = out / "hlsmap-annual-2024"
    with rasterio.open(d / "probabilities.tif") as src:
        probs = src.read()
        assert src.count == 9 and src.dtypes[0] == "uint8"
        assert src.descriptions[0] == "water probability"
    with rasterio.open(d / "class.tif") as src:
        cls = src.read(1)
    mapped = cls > 0
    assert mapped.mean() > 0.5
    total = probs.sum(axis=0, dtype=np.int64)
    # each mapped pixel's 9 probabilities add up to 1 (x 255, up to the rounding of each band)
    assert np.all(np.abs(total[mapped] - 255) <= 5)
    assert np.all(total[~mapped] == 0)
    # the map is the argmax of the mean probabilities (ties from the 1/255 rounding aside)
    agree = (np.argmax(probs, axis=0) + 1 == cls)[mapped].mean()
    assert agree >= 0.98
    item = json.loads((d / "hlsmap-annual-2024.json").read_text())
    assert item["assets"]["probabilities"]["href"].endswith("probabilities.tif")
