"""Sentinel-2 Level-1C (top-of-atmosphere reflectance) on Element 84's Earth Search
(``https://earth-search.aws.element84.com/v1``, collection ``sentinel-2-l1c``).

Planetary Computer serves no L1C collection; Earth Search v1 does (and the Copernicus Data
Space Ecosystem, whose asset keys differ: register an adapter of your own for it). Dynamic World
was trained on L1C top-of-atmosphere reflectance, so this is the product it reads natively.

Asset keys are Earth Search v1's, named by band rather than by MSI band number: ``blue`` (B02),
``green`` (B03), ``red`` (B04), ``rededge1``/``rededge2``/``rededge3`` (B05/B06/B07, 20 m),
``nir`` (B08, 10 m), ``nir08`` (B8A, 20 m), ``swir16``/``swir22`` (B11/B12, 20 m), ``coastal``
(B01), ``nir09`` (B09) and ``cirrus`` (B10) at 60 m. The files are JPEG 2000 (GDAL's
JP2OpenJPEG driver reads them; slower than COGs). Checked against Earth Search's collection
description when written, not against the live service (hlsmap's tests are offline).

Scaling: uint16 DN, 0 = no data, TOA reflectance = DN / 10000, except that from processing
baseline 04.00 (25 January 2022) ESA adds 1000 to every DN (``RADIO_ADD_OFFSET = -1000``):
reflectance = (DN - 1000) / 10000. The baseline is read per item from
``s2:processing_baseline`` (then ``s2:product_uri``, then the date), exactly as for L2A
(:func:`hlsmap.sensors.sentinel2.boa_offset`), and :meth:`Sentinel2L1C.harmonize` removes
the offset from every band: its output is TOA reflectance x 10,000, the DN scale Dynamic World
takes (Earth Engine's ``COPERNICUS/S2_HARMONIZED`` shifts the new baselines the same way).

QA: L1C has no scene classification, and Earth Search's L1C items carry no cloud mask asset.
The ``fmask`` layer this adapter makes marks only no-data (from the ``cirrus`` band's 0 fill,
at 60 m); every pixel with data is "clear". Clouds are then screened only by a model's own
cloud class (the U-Net's) or not at all (Dynamic World has none): search L1C with a low
``max_cloud`` (``eo:cloud_cover``) for such models.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hlsmap.sensors.base import BandSpec, QASpec
from hlsmap.sensors.qa import FMASK_FILL
from hlsmap.sensors.sentinel2 import Sentinel2L2A, _s2


class Sentinel2L1C(Sentinel2L2A):
    """Sentinel-2 L1C top-of-atmosphere reflectance on Earth Search v1 (``sentinel-2-l1c``).

    Harmonizing and platform names are L2A's (the same DN encoding and -1000 offset from
    baseline 04.00); band asset keys and QA differ (see the module notes).
    """

    name: ClassVar[str] = "S2L1C"
    title: ClassVar[str] = "Sentinel-2 Level-1C (top of atmosphere), Earth Search"
    collections: ClassVar[dict[str, str]] = {"earth-search": "sentinel-2-l1c"}
    bands: ClassVar[dict[str, BandSpec]] = {
        "coastal": _s2("coastal"),
        "blue": _s2("blue"),
        "green": _s2("green"),
        "red": _s2("red"),
        "nir08": _s2("nir08"),  # narrow NIR B8A (20 m), the OLI-like band HLS uses
        "swir16": _s2("swir16"),
        "swir22": _s2("swir22"),
        "rededge071": _s2("rededge1"),
        "rededge075": _s2("rededge2"),
        "rededge078": _s2("rededge3"),
        "nir": _s2("nir"),  # broad NIR B08 (10 m)
    }
    # no cloud mask: the cirrus band (read by no model) gives the no-data footprint
    qa: ClassVar[QASpec] = QASpec(asset="cirrus", dtype="uint16", nodata=0, kind="nodata")

    def to_fmask(self, qa_raw: Any) -> np.ndarray:
        """Fmask from the footprint alone: 255 where the QA band is fill, else 0 (clear).

        Works on numpy and dask arrays (lazily) alike.
        """
        raw = qa_raw
        fill = raw == self.qa.nodata
        if np.issubdtype(np.dtype(raw.dtype), np.floating):
            fill = fill | (raw != raw)  # NaN fill
        return np.where(fill, np.uint8(FMASK_FILL), np.uint8(0)).astype(np.uint8)  # type: ignore[no-any-return]
