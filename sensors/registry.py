"""The sensor registry: built-in adapters, code registrations and ``hlsmap.sensors`` plugins.

Third-party packages add adapters through the entry-point group ``hlsmap.sensors``; an entry
point may name an adapter instance, an adapter class (instantiated without arguments) or a
function returning one adapter or a list of them. Plugins load lazily, on the first registry
access, and a broken one gives a warning instead of breaking hlsmap.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from hlsmap.errors import ConfigError, UnknownCollectionError, UnknownSensorError
from hlsmap.sensors.base import SensorAdapter

ENTRY_POINT_GROUP = "hlsmap.sensors"
_T = TypeVar("_T")


def _builtins() -> list[SensorAdapter]:
    from hlsmap.sensors.hls import HLSL30, HLSS30
    from hlsmap.sensors.landsat import LandsatC2L2
    from hlsmap.sensors.sentinel2 import Sentinel2L2A
    from hlsmap.sensors.sentinel2_l1c import Sentinel2L1C

    return [HLSL30(), HLSS30(), Sentinel2L2A(), LandsatC2L2(), Sentinel2L1C()]


def _check(adapter: Any) -> SensorAdapter:
    """Instantiate a class if given one, and make sure the result is a usable adapter."""
    if isinstance(adapter, type):
        adapter = adapter()
    if not isinstance(adapter, SensorAdapter):
        raise ConfigError(
            f"{adapter!r} is not a sensor adapter: it needs name, title, collections, bands, "
            "qa, resolution, odc_stac_config(), harmonize(), to_fmask() and platform(). "
            "Subclass hlsmap.sensors.Sensor to get most of them."
        )
    if not isinstance(adapter.name, str) or not adapter.name:
        raise ConfigError(f"sensor adapter {adapter!r} needs a non-empty string name.")
    return adapter


class SensorRegistry:
    """Sensors by name, with case-insensitive lookup and lazy entry-point loading."""

    def __init__(self, adapters: Iterable[SensorAdapter] = (), *, plugins: bool = True) -> None:
        self._by_name: dict[str, SensorAdapter] = {}
        for adapter in adapters:
            self.register(adapter)
        self._plugins_loaded = not plugins

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True  # first, so a plugin that uses the registry cannot loop
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
                if (
                    callable(obj)
                    and not isinstance(obj, type)
                    and not isinstance(obj, SensorAdapter)
                ):
                    obj = obj()
                found = obj if isinstance(obj, list | tuple) else [obj]
                for adapter in found:
                    self.register(adapter)
            except Exception as exc:  # a plugin must never break hlsmap
                warnings.warn(
                    f"hlsmap: skipped sensor plugin {ep.name!r} ({ep.value}) from entry-point "
                    f"group {ENTRY_POINT_GROUP!r}: {type(exc).__name__}: {exc}. Fix or "
                    "uninstall the package that provides it.",
                    RuntimeWarning,
                    stacklevel=4,
                )

    def register(self, adapter: Any, overwrite: bool = False) -> SensorAdapter:
        """Add an adapter; see :func:`register_sensor`."""
        adapter = _check(adapter)
        key = adapter.name.lower()
        if key in self._by_name and not overwrite:
            raise ConfigError(
                f"a sensor named {adapter.name!r} is already registered "
                f"({self._by_name[key]!r}); pick another name or pass overwrite=True."
            )
        owners = {
            cid: other.name
            for other in self._by_name.values()
            if other.name.lower() != key
            for cid in other.collections.values()
        }
        clash = sorted(c for c in adapter.collections.values() if c in owners)
        if clash and not overwrite:
            raise ConfigError(
                f"sensor {adapter.name!r} claims collection(s) {', '.join(clash)} already read "
                f"by {', '.join(sorted({owners[c] for c in clash}))}; pass overwrite=True to "
                "take them over."
            )
        for cid in clash:  # overwrite: the newcomer owns the collection from now on
            other = self._by_name[owners[cid].lower()]
            del self._by_name[other.name.lower()]
        self._by_name[key] = adapter
        return adapter

    def get(self, name: str | SensorAdapter) -> SensorAdapter:
        """Look an adapter up by name (case-insensitive); adapters pass through."""
        if not isinstance(name, str):
            return _check(name)
        self._load_plugins()
        try:
            return self._by_name[name.strip().lower()]
        except KeyError:
            raise UnknownSensorError(
                f"unknown sensor {name!r}; known sensors: {', '.join(self.names())}. "
                "Add one with hlsmap.sensors.register_sensor() or a package entry point in "
                f"group {ENTRY_POINT_GROUP!r}."
            ) from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        self._load_plugins()
        return [adapter.name for adapter in self._by_name.values()]

    def for_collection(self, collection_id: str) -> SensorAdapter:
        """The adapter that reads a STAC collection id (any provider)."""
        self._load_plugins()
        for adapter in self._by_name.values():
            if collection_id in adapter.collections.values():
                return adapter
        known = sorted(c for a in self._by_name.values() for c in a.collections.values())
        raise UnknownCollectionError(
            f"no sensor adapter reads STAC collection {collection_id!r}; known collections: "
            f"{', '.join(known)}. Search one of those, or register an adapter for it."
        )


_REGISTRY: SensorRegistry | None = None


def registry() -> SensorRegistry:
    """The process-wide registry (built-ins added on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = SensorRegistry(_builtins())
    return _REGISTRY


def register_sensor(adapter: _T, overwrite: bool = False) -> _T:
    """Register a sensor adapter (an instance, or a class instantiated without arguments).

    Usable as a class decorator: it returns its argument.

    Args:
        adapter: The adapter or adapter class.
        overwrite: Replace an adapter of the same name, or one claiming the same collections.

    Returns:
        ``adapter`` unchanged.

    Raises:
        hlsmap.errors.ConfigError: If it is not an adapter, or its name or collections are
            taken and ``overwrite`` is false.
    """
    registry().register(adapter, overwrite=overwrite)
    return adapter


def get_sensor(name: str | SensorAdapter) -> SensorAdapter:
    """Return the adapter registered under ``name`` (case-insensitive).

    Raises:
        hlsmap.errors.UnknownSensorError: Listing the known sensors.
    """
    return registry().get(name)


def list_sensors() -> list[str]:
    """Names of all registered sensors (built-ins first, then plugins and registrations)."""
    return registry().names()


def sensor_for_collection(collection_id: str) -> SensorAdapter:
    """Return the adapter that reads a STAC collection (``"hls2-l30"``, ``"HLSS30_2.0"``, ...).

    Raises:
        hlsmap.errors.UnknownCollectionError: Listing the known collection ids.
    """
    return registry().for_collection(collection_id)


def sensor_for_item(item: Any) -> SensorAdapter:
    """Return the adapter for a STAC item (pystac Item or dict) from its collection id."""
    cid = getattr(item, "collection_id", None)
    if cid is None and isinstance(item, dict):
        cid = item.get("collection")
    return sensor_for_collection(str(cid))


def describe_sensors() -> list[dict[str, Any]]:
    """One plain-data summary per registered sensor (what ``hlsmap sensors`` prints).

    Returns:
        Dicts with ``name``, ``title``, ``collections`` (provider -> id), ``bands``
        (common name -> asset), ``qa`` (``{"asset", "kind"}``) and ``resolution`` (metres).
    """
    out = []
    for name in list_sensors():
        a = get_sensor(name)
        out.append(
            {
                "name": a.name,
                "title": a.title,
                "collections": dict(a.collections),
                "bands": {band: spec.asset for band, spec in a.bands.items()},
                "qa": {"asset": a.qa.asset, "kind": a.qa.kind},
                "resolution": float(a.resolution),
            }
        )
    return out
