"""Chips from a label raster + a STAC source, end to end: 10 m labels, a real STAC API and
COGs on 127.0.0.1, the search and cube path of inference, majority resampling to 30 m."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from hlsmap.training.chip_sources import build_chips
from hlsmap.training.chips import ChipStore


def test_label_raster_and_stac_source_make_chips(served_world, tmp_path: Path) -> None:
    world = served_world.world
    truth = np.asarray(world.truth_annual(2024).values)
    gbox = world.geobox
    # labels at 10 m, Dynamic World style: every 30 m pixel becomes 3 x 3 label pixels
    fine = np.repeat(np.repeat(truth, 3, axis=0), 3, axis=1).astype(np.uint8)
    fine[:6, :] = 0  # an unlabeled strip
    a = gbox.affine
    profile = {
        "driver": "GTiff", "dtype": "uint8", "count": 1, "width": fine.shape[1],
        "height": fine.shape[0], "crs": str(gbox.crs), "nodata": 0,
        "transform": Affine(a.a / 3, 0, a.c, 0, a.e / 3, a.f),
    }  # fmt: skip
    labels = tmp_path / "labels.tif"
    with rasterio.open(labels, "w", **profile) as dst:
        dst.write(fine, 1)

    store = build_chips(
        served_world.api, tmp_path / "chips.zarr", labels=labels, datetime="2024",
        chip_size=32, min_labeled=0.3,
    )  # fmt: skip
    assert isinstance(store, ChipStore) and len(store) > 0
    reopened = ChipStore.open(tmp_path / "chips.zarr")
    chips = reopened.read(np.arange(len(reopened)))
    assert chips["bands"].dtype == np.int16
    assert {reopened.sensors[i] for i in np.unique(chips["sensor"])} <= {"L30", "S30"}
    lab, fm = chips["labels"], chips["fmask"]
    cloudy = (fm != 255) & ((fm & 0b10) != 0)
    # labels are the truth classes (resampled back to 30 m), clouds carry class 10
    assert set(np.unique(lab[~cloudy])) <= set(np.unique(truth)) | {0}
    if cloudy.any():
        assert (lab[cloudy & (lab > 0)] == 10).all()
    assert (lab == 0).any()  # the unlabeled strip stays unlabeled
