"""The ``probabilities`` product: one multi-band uint8 COG of a period's per-class mean
probabilities, like Dynamic World's per-class bands.

Band ``i`` (1-based) is surface class code ``i`` (water, trees, ... snow/ice: the 9 classes of a
consensus map), holding the period's mean clear-sky probability x 255 (scale 1/255 recorded in
the file); a pixel with every band 0 was not mapped. Written window by window from a region
run's tiles, atomically (staged GeoTIFF -> GDAL's COG driver -> rename).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import SURFACE_CLASSES
from hlsmap.errors import OutputError
from hlsmap.outputs.atomic import atomic_path
from hlsmap.outputs.blocks import block_windows

FILENAME = "probabilities.tif"


def write_probabilities_cog(
    path: str | os.PathLike[str],
    source: Any,
    geobox: Any,
    *,
    blocksize: int = 512,
    tags: dict[str, Any] | None = None,
) -> Path:
    """Stream ``source``'s ``probs`` layer (``(h, w, 9)`` uint8 per window) into a COG.

    Args:
        path: the COG to write.
        source: a layer source whose ``read(window)`` returns a ``"probs"`` block
            (:class:`hlsmap.inference.mosaic.TileMosaic` with ``layers=("probs",)``).
        geobox: the region grid.
        blocksize: window and internal tile side.
        tags: extra GeoTIFF tags (the period's coverage).

    Returns:
        The path written.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    names = [c.name for c in SURFACE_CLASSES]
    profile = {
        "driver": "GTiff", "height": int(geobox.shape[0]), "width": int(geobox.shape[1]),
        "count": len(names), "dtype": "uint8", "crs": geobox.crs.to_wkt(),
        "transform": geobox.affine, "tiled": True, "blockxsize": blocksize,
        "blockysize": blocksize, "compress": "ZSTD", "interleave": "pixel",
    }  # fmt: skip
    options = {"compress": "DEFLATE", "predictor": "YES", "blocksize": blocksize,
               "overview_resampling": "AVERAGE", "bigtiff": "IF_SAFER"}  # fmt: skip
    out = Path(path)
    with atomic_path(out) as tmp, contextlib.ExitStack() as stack:
        stage = tmp.with_name(f"{tmp.stem}.stage.tif")
        stack.callback(stage.unlink, missing_ok=True)
        try:
            with rasterio.open(stage, "w", **profile) as dst:
                for i, name in enumerate(names, start=1):
                    dst.set_band_description(i, f"{name} probability")
                dst.scales = (1 / 255,) * len(names)
                dst.update_tags(**{"probability_scale": "1/255", "classes": ",".join(names),
                                   **(tags or {})})  # fmt: skip
                for window in block_windows(tuple(geobox.shape), blocksize):
                    r, c, h, w = window
                    block = np.asarray(source.read(window)["probs"], np.uint8)
                    dst.write(np.moveaxis(block, -1, 0), window=Window(c, r, w, h))
            rasterio.shutil.copy(stage, tmp, driver="COG", **options)
        except rasterio.errors.RasterioIOError as exc:
            raise OutputError(f"cannot write {out}: {exc}") from exc
    return out
