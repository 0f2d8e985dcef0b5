"""Sensor adapters: what each STAC product looks like, and how it maps onto HLS.

>>> from hlsmap.sensors import get_sensor, BANDS
>>> a = get_sensor("S30")
>>> a.collections["pc"], a.bands["nir08"].asset, a.bands["nir"].asset
('hls2-s30', 'B8A', 'B08')

Built-ins: ``L30`` and ``S30`` (HLS v2.0, Planetary Computer and NASA CMR-STAC), ``S2L2A``
(Sentinel-2 L2A on Planetary Computer) and ``LC2L2`` (Landsat Collection 2 Level-2 on
Planetary Computer). Add your own with :func:`register_sensor` or the ``hlsmap.sensors``
entry-point group.
"""

from __future__ import annotations

from hlsmap.sensors import qa
from hlsmap.sensors.base import (
    BANDS,
    HLS_FILL,
    HLS_SCALE,
    MSI_BANDS,
    OPTIONAL_BANDS,
    QA_BAND,
    BandSpec,
    QASpec,
    Sensor,
    SensorAdapter,
    normalize_platform,
    to_hls_int16,
)
from hlsmap.sensors.hls import HLSL30, HLSS30
from hlsmap.sensors.landsat import LandsatC2L2
from hlsmap.sensors.registry import (
    ENTRY_POINT_GROUP,
    describe_sensors,
    get_sensor,
    list_sensors,
    register_sensor,
    sensor_for_collection,
    sensor_for_item,
)
from hlsmap.sensors.sentinel2 import Sentinel2L2A

__all__ = [
    "BANDS",
    "ENTRY_POINT_GROUP",
    "HLSL30",
    "HLSS30",
    "HLS_FILL",
    "HLS_SCALE",
    "MSI_BANDS",
    "OPTIONAL_BANDS",
    "QA_BAND",
    "BandSpec",
    "LandsatC2L2",
    "QASpec",
    "Sensor",
    "SensorAdapter",
    "Sentinel2L2A",
    "describe_sensors",
    "get_sensor",
    "list_sensors",
    "normalize_platform",
    "qa",
    "register_sensor",
    "sensor_for_collection",
    "sensor_for_item",
    "to_hls_int16",
]
