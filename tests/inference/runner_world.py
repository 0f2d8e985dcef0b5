"""A small synthetic region for the runner tests: five HLS granules and a saved tiny model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.inference.runner import RunConfig
from hlsmap.inference.tasks import TileOptions
from hlsmap.periods import Period

from hlsfixtures import EPSG, ULX, ULY, make_granule

__all__ = ["CONFIG", "EPSG", "PERIODS", "SIZE", "make_world", "region_geobox"]

SIZE = 96
PERIODS = [Period.year(2024), Period.date_range("2024-01-01", "2024-06-30", name="h1")]
OPTIONS = TileOptions(window=None, overlap=16, batch_size=4, time_batch=3, retries=1, retry_wait=0)
CONFIG = RunConfig(tile_size=40, halo=16, options=OPTIONS)


def region_geobox() -> Any:
    from odc.geo.geobox import GeoBox

    full = GeoBox.from_bbox(
        (ULX, ULY - 30 * SIZE, ULX + 30 * SIZE, ULY), f"EPSG:{EPSG}", resolution=30
    )
    return full[8:88, 8:80]  # 80 x 72: tiles of 40 -> 2 x 2


def make_world(root: Path) -> tuple[list[Any], Path]:
    """Four granules over the region (clouds, fill) and a saved tiny model."""
    from hlsmap.model import BANDS, ModelMetadata, UNetConfig, build_model, save_model

    rng = np.random.default_rng(0)
    items = []
    dates = [(3, "L30"), (5, "S30"), (6, "L30"), (9, "S30"), (11, "L30")]
    for k, (month, sensor) in enumerate(dates):
        base = rng.integers(200, 3000, size=(SIZE, SIZE)).astype(np.int16)
        values = {b: (base + 150 * i).astype(np.int16) for i, b in enumerate(BANDS)}
        fmask = np.zeros((SIZE, SIZE), np.uint8)
        if k == 1:
            fmask[20:50, 30:70] = 0b10  # a cloud
        if k == 3:
            fmask[:, :35] = 255  # outside the swath
            for v in values.values():
                v[:, :35] = -9999
        when = dt.datetime(2024, month, 10, 17, 30, tzinfo=dt.UTC)
        items.append(make_granule(root / "granules", sensor, when, shape=(SIZE, SIZE),
                                  values=values, fmask=fmask))  # fmt: skip
    # no GroupNorm: its statistics span a whole window, so predictions would depend on where
    # windows fall and tiles could not be compared with one big tile
    net = build_model(UNetConfig(widths=(8, 16), norm="none"), bands=BANDS, seed=0)
    # an untrained model may call anything a cloud; keep its cloud logit low so that validity
    # comes from Fmask and fill only and the tests can count valid observations exactly
    bias = np.asarray(net.head.bias[...]).copy()  # type: ignore[index]
    bias[9] = -20.0
    net.head.bias[...] = bias  # type: ignore[index]
    model_dir = save_model(root / "model", net, ModelMetadata.for_model(net, BANDS))
    return items, model_dir
