"""The sensor adapter contract: band and QA specs, the Protocol, and a base class.

An adapter describes one STAC product (its collection ids, assets, dtypes, scaling, nodata and
QA layer) and converts its raw pixels into the harmonized HLS form the rest of hlsmap uses:
int16 reflectance at scale 0.0001 with fill -9999, and a uint8 Fmask with HLS v2.0 bit
semantics (255 = fill). Adapters only *describe* data: odc-stac does the reading, configured by
:meth:`SensorAdapter.odc_stac_config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from hlsmap.sensors import qa as _qa

#: The harmonized band set, in the U-Net's channel order (STAC common names): what every
#: built-in sensor offers, and what a cube holds unless asked for other bands.
BANDS: tuple[str, ...] = ("blue", "green", "red", "nir08", "swir16", "swir22")
#: Sentinel-2 MSI bands that Landsat OLI lacks (so S30 and S2L2A offer them, L30 and LC2L2
#: do not), by STAC 1.1 ``eo`` common name: red edge B05 (705 nm), B06 (740 nm), B07 (783 nm)
#: and the *broad* NIR B08 (``nir``; the narrow B8A stays ``nir08``). Dynamic World reads them.
MSI_BANDS: tuple[str, ...] = ("rededge071", "rededge075", "rededge078", "nir")
#: Bands an adapter may offer beyond :data:`BANDS`; a cube reads one only when asked for it.
OPTIONAL_BANDS: tuple[str, ...] = ("coastal", *MSI_BANDS)

#: Harmonized reflectance encoding (HLS v2.0): int16, reflectance = value * 0.0001.
HLS_SCALE = 0.0001
HLS_FILL = -9999
#: Variable name of the QA layer in the cube (an odc-stac alias of each adapter's QA asset).
QA_BAND = "fmask"

_INT16_MIN, _INT16_MAX = np.iinfo(np.int16).min, np.iinfo(np.int16).max


@dataclass(frozen=True)
class BandSpec:
    """How one harmonized band is stored in a product.

    Attributes:
        asset: STAC asset key holding the band (e.g. ``"B8A"``; never guessed from
            ``common_name``).
        dtype: Stored data type (numpy name).
        nodata: Stored fill value.
        scale: Multiply the stored value by this to get surface reflectance ...
        offset: ... then add this.
    """

    asset: str
    dtype: str = "int16"
    nodata: float = HLS_FILL
    scale: float = HLS_SCALE
    offset: float = 0.0


@dataclass(frozen=True)
class QASpec:
    """The product's quality layer.

    Attributes:
        asset: STAC asset key of the QA layer.
        dtype: Stored data type.
        nodata: Stored fill value (after odc-stac fills areas outside the footprint with it,
            :meth:`SensorAdapter.to_fmask` turns it into Fmask fill, 255).
        kind: Encoding: ``"fmask"`` (HLS v2.0), ``"scl"`` (Sentinel-2 scene classification)
            or ``"qa_pixel"`` (Landsat Collection 2).
    """

    asset: str
    dtype: str = "uint8"
    nodata: float = _qa.FMASK_FILL
    kind: str = "fmask"


@runtime_checkable
class SensorAdapter(Protocol):
    """What hlsmap needs to know about a sensor product (see :class:`Sensor` for a base class).

    Attributes:
        name: Short id, the value of the cube's ``sensor`` coordinate (``"L30"``).
        title: Human-readable description.
        collections: STAC collection id per provider (``{"pc": ..., "nasa": ...}``).
        bands: Common band name -> :class:`BandSpec`.
        qa: The QA layer.
        resolution: Native ground sampling distance in metres (finest harmonized band).
    """

    name: str
    title: str
    collections: Mapping[str, str]
    bands: Mapping[str, BandSpec]
    qa: QASpec
    resolution: float

    def odc_stac_config(self) -> dict[str, Any]:
        """Return the ``stac_cfg=`` dict for ``odc.stac.load`` for this sensor's collections."""
        ...

    def harmonize(self, band: str, raw: Any, item_properties: Mapping[str, Any]) -> np.ndarray:
        """Convert raw values of ``band`` to HLS int16 reflectance (scale 0.0001, fill -9999)."""
        ...

    def to_fmask(self, qa_raw: Any) -> np.ndarray:
        """Translate the raw QA layer into HLS v2.0 Fmask bits (uint8, 255 fill)."""
        ...

    def platform(self, item: Any) -> str:
        """Return the platform of a STAC item, normalized (``"Landsat 8"``, ``"Sentinel-2A"``)."""
        ...


def _props(item: Any) -> Mapping[str, Any]:
    """Properties of a pystac Item, an item dict, or a properties mapping."""
    if hasattr(item, "properties"):
        return item.properties  # type: ignore[no-any-return]
    if isinstance(item, Mapping):
        inner = item.get("properties")
        return inner if isinstance(inner, Mapping) else item
    return {}


def _item_id(item: Any) -> str:
    if hasattr(item, "id"):
        return str(item.id)
    if isinstance(item, Mapping):
        return str(item.get("id", ""))
    return ""


def normalize_platform(value: str) -> str:
    """Spell a STAC ``platform`` value the way hlsmap's ``platform`` coordinate does.

    ``"LANDSAT-8"``, ``"landsat-8"`` and ``"Landsat 8"`` give ``"Landsat 8"``;
    ``"sentinel-2a"`` and ``"SENTINEL-2A"`` give ``"Sentinel-2A"``; anything else is returned
    stripped.

    Args:
        value: A platform string as found in STAC items or CMR metadata.

    Returns:
        The normalized platform name.
    """
    text = value.strip()
    low = text.lower().replace("_", "-").replace(" ", "-")
    if low.startswith("landsat-"):
        return f"Landsat {low.removeprefix('landsat-')}"
    if low.startswith("sentinel-"):
        rest = low.removeprefix("sentinel-")
        return f"Sentinel-{rest[:-1]}{rest[-1:].upper()}" if rest[-1:].isalpha() else text
    return text


def to_hls_int16(
    raw: Any, *, nodata: float | None, scale: float, offset: float, extra_offset: float = 0.0
) -> np.ndarray:
    """Rescale stored values to HLS int16 reflectance: round, clip to int16, -9999 fill.

    Works on numpy arrays and on NEP-18 duck arrays such as dask arrays (stays lazy).

    Args:
        raw: Stored values.
        nodata: Stored fill value (``None`` when the product has none); NaN is fill too.
        scale: Stored value -> reflectance multiplier.
        offset: Reflectance offset added after scaling.
        extra_offset: Offset in stored units added before scaling (the Sentinel-2 BOA offset).

    Returns:
        int16 array of reflectance / 0.0001 with :data:`HLS_FILL` where ``raw`` was fill
        (``raw`` itself when it already is that: int16, HLS scale, -9999 or no nodata).
    """
    if not hasattr(raw, "__array_function__"):
        raw = np.asarray(raw)
    has_nodata = nodata is not None and not np.isnan(nodata)
    if (
        raw.dtype == np.int16
        and scale == HLS_SCALE
        and offset == 0
        and extra_offset == 0
        and (not has_nodata or nodata == HLS_FILL)
    ):
        # HLS itself: the stored values are the result (``raw`` comes back, not a copy); a
        # pass over every band of every observation fewer (4% of a region run's reads)
        return raw  # type: ignore[no-any-return]
    if raw.dtype.kind in "iu" and scale == HLS_SCALE and offset == 0 and extra_offset % 1 == 0:
        # Already HLS-scaled integers (HLS, Sentinel-2 L2A): integer arithmetic, no rounding.
        shifted = raw.astype(np.int32) + np.int32(extra_offset)
        ints = np.clip(shifted, _INT16_MIN, _INT16_MAX).astype(np.int16)
        return np.where(raw == nodata, np.int16(HLS_FILL), ints) if has_nodata else ints  # type: ignore[no-any-return]
    values = raw.astype(np.float64)
    fill = np.isnan(values)
    if has_nodata:
        fill = fill | (raw == nodata)
    refl = ((values + extra_offset) * scale + offset) / HLS_SCALE
    refl = np.clip(np.rint(np.where(fill, 0.0, refl)), _INT16_MIN, _INT16_MAX)
    return np.where(fill, np.int16(HLS_FILL), refl.astype(np.int16))  # type: ignore[no-any-return]


class Sensor:
    """Base class that implements the :class:`SensorAdapter` contract from class attributes.

    A subclass sets ``name``, ``title``, ``collections``, ``bands``, ``qa`` and ``resolution``
    and gets the odc-stac config, a linear ``harmonize`` (``bands[band].scale/offset``), QA
    translation chosen by ``qa.kind`` and ``platform`` from the item's ``platform`` property.
    Override a method only where the product needs more (see ``sentinel2.py``).
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    collections: ClassVar[Mapping[str, str]]
    bands: ClassVar[Mapping[str, BandSpec]]
    qa: ClassVar[QASpec] = QASpec(asset="Fmask")
    resolution: ClassVar[float] = 30.0
    #: Platform reported when an item carries no ``platform`` property.
    default_platform: ClassVar[str] = "unknown"

    def __repr__(self) -> str:
        return f"<sensor {self.name}: {', '.join(self.collections.values())}>"

    def odc_stac_config(self) -> dict[str, Any]:
        """Return the ``stac_cfg=`` dict for ``odc.stac.load``.

        One entry per collection id (all providers), each with ``assets`` (``data_type`` and
        ``nodata`` for every band asset and the QA asset) and ``aliases`` from common band name
        (and ``"fmask"``) to asset key, so ``odc.stac.load(..., bands=[*BANDS, "fmask"])``
        reads the right assets whatever the item's ``eo:bands`` say.
        """
        assets: dict[str, dict[str, Any]] = {}
        aliases: dict[str, str] = {}
        for common, spec in self.bands.items():
            assets[spec.asset] = {"data_type": spec.dtype, "nodata": spec.nodata, "unit": "1"}
            if common != spec.asset:  # a self-alias adds nothing (landsat-c2-l2)
                aliases[common] = spec.asset
        assets[self.qa.asset] = {"data_type": self.qa.dtype, "nodata": self.qa.nodata}
        aliases[QA_BAND] = self.qa.asset
        entry = {"assets": assets, "aliases": aliases}
        return {cid: _deep_copy(entry) for cid in dict.fromkeys(self.collections.values())}

    def _spec(self, band: str) -> BandSpec:
        try:
            return self.bands[band]
        except KeyError:
            from hlsmap.errors import ConfigError

            raise ConfigError(
                f"sensor {self.name} has no band {band!r}; it has {', '.join(self.bands)}. "
                "Ask for one of those (common STAC names)."
            ) from None

    def harmonize(self, band: str, raw: Any, item_properties: Mapping[str, Any]) -> np.ndarray:
        """Apply the band's scale/offset and return HLS int16 reflectance (-9999 fill).

        Args:
            band: Common band name (``"nir08"``).
            raw: Values as stored (as odc-stac loads them with :meth:`odc_stac_config`).
            item_properties: The STAC item's properties (unused here; products whose scaling
                depends on the item override this method).

        Returns:
            int16 array, reflectance * 10000, -9999 where ``raw`` is fill.
        """
        spec = self._spec(band)
        return to_hls_int16(raw, nodata=spec.nodata, scale=spec.scale, offset=spec.offset)

    def to_fmask(self, qa_raw: Any) -> np.ndarray:
        """Translate the QA layer to HLS v2.0 Fmask bits according to ``qa.kind``."""
        return _qa.translate(self.qa.kind, qa_raw, nodata=self.qa.nodata)

    def platform(self, item: Any) -> str:
        """Normalized ``platform`` property of a STAC item (pystac Item or dict)."""
        value = _props(item).get("platform")
        if isinstance(value, list | tuple) and value:
            value = value[0]
        if isinstance(value, str) and value.strip():
            return normalize_platform(value)
        return self.default_platform


def _deep_copy(entry: dict[str, Any]) -> dict[str, Any]:
    # Each collection gets its own dicts, so a caller editing one entry cannot change another.
    return {
        k: {kk: dict(vv) if isinstance(vv, dict) else vv for kk, vv in v.items()}
        for k, v in entry.items()
    }
