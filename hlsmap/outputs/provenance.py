"""Where a product came from, for its STAC: software, model, source granules, licence, providers.

:class:`Provenance` is what a run knows about its inputs; :mod:`hlsmap.outputs.stac` writes it
on every item (``processing:software``, ``hlsmap:model_*``, ``hlsmap:source_granules`` and
``derived_from`` links, ``license``) and collection (``providers``, ``license``). The offline
STAC schemas here hold no processing or MLM extension, so these are plain properties under the
names those extensions use where they have one (``processing:software``) and ``hlsmap:``
otherwise; nothing records a machine path (local hrefs of source items are left out, only their
ids are kept).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pystac

DEFAULT_LICENSE = "CC-BY-4.0"
"""Licence of hlsmap's products unless the run says otherwise (HLS itself is open data)."""


def software() -> dict[str, str]:
    """``processing:software``: ``{"hlsmap": version}``."""
    from hlsmap import __version__

    return {"hlsmap": __version__}


@dataclass(frozen=True)
class Granule:
    """A source observation: STAC item id, its datetime and its public URL (if it has one)."""

    id: str
    datetime: np.datetime64
    href: str | None = None


def granules(items: Iterable[pystac.Item]) -> tuple[Granule, ...]:
    """The source granules of ``items`` (sorted by time, then id).

    An item's self href is kept only when it is an http(s) URL (a STAC API, a published
    catalog): a local path names a machine, not a source anyone else can read.
    """
    out = []
    for item in items:
        when = item.datetime or item.common_metadata.start_datetime
        href = item.get_self_href()
        public = href if href and urlsplit(href).scheme in ("http", "https") else None
        day = np.datetime64(when.replace(tzinfo=None), "s") if when else np.datetime64("NaT")
        out.append(Granule(item.id, day, public))
    return tuple(sorted(out, key=lambda g: (str(g.datetime), g.id)))


def model_info(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``hlsmap:model_*`` properties of a saved model: name, version, licence, architecture.

    The name is the provenance's ``name`` (or the folder's name), the version its ``version``
    (or ``sha256:`` and the first 16 hex digits of the weights' hash, so two different models
    never share a version), the licence its ``license`` (``"proprietary"`` when unknown, as
    STAC spells an unstated licence).
    """
    from hlsmap.model import read_metadata

    p = Path(model_dir)
    meta = read_metadata(p)
    prov = meta.provenance or {}
    version = prov.get("version")
    if not version:
        h = hashlib.sha256()
        for f in sorted(p.glob("weights*")):
            h.update(f.read_bytes())
        version = "sha256:" + h.hexdigest()[:16]
    return {
        "hlsmap:model_name": str(prov.get("name") or p.resolve().name),
        "hlsmap:model_version": str(version),
        "hlsmap:model_license": str(prov.get("license") or "proprietary"),
        "hlsmap:model_architecture": meta.architecture,
        "hlsmap:model_bands": list(meta.bands),
        "hlsmap:model_resolution": float(meta.resolution),
    }


def source_providers(source: str | None) -> list[pystac.Provider]:
    """Providers of the input data for a search source (``pc``, ``nasa``, a STAC API URL)."""
    roles = [pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR]
    if source == "nasa":
        roles.append(pystac.ProviderRole.HOST)
    lpdaac = pystac.Provider(
        "NASA LP DAAC",
        "Harmonized Landsat Sentinel-2 (HLS) v2.0 surface reflectance",
        roles=roles,
        url="https://lpdaac.usgs.gov/",
    )
    if source == "nasa":
        return [lpdaac]
    if source == "pc":
        host = pystac.Provider(
            "Microsoft Planetary Computer",
            roles=[pystac.ProviderRole.HOST],
            url="https://planetarycomputer.microsoft.com/",
        )
        return [lpdaac, host]
    parts = urlsplit(source or "")
    if parts.scheme in ("http", "https") and not _loopback(parts.hostname):
        return [pystac.Provider(parts.hostname or parts.netloc, roles=[pystac.ProviderRole.HOST],
                                url=f"{parts.scheme}://{parts.netloc}/")]  # fmt: skip
    return []


def _loopback(host: str | None) -> bool:
    """A host on this machine only (a local test or mirror API): no provider to credit."""
    import ipaddress

    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def hlsmap_provider() -> pystac.Provider:
    """hlsmap as the processor of every product."""
    return pystac.Provider(
        "hlsmap",
        "Land cover from HLS time series: a U-Net on every observation, temporal consensus",
        roles=[pystac.ProviderRole.PROCESSOR],
    )


@dataclass(frozen=True)
class Provenance:
    """What a run records on its products (see the module docstring).

    Attributes:
        license: SPDX id (or ``"other"`` / ``"proprietary"``) of the products.
        model: :func:`model_info` of the model, or ``{}``.
        sources: the source granules (``None``: not known, e.g. maps made from predictions
            stores, which keep no granule ids).
        providers: the data providers (:func:`source_providers`); hlsmap is added as the
            processor.
        created: when the products were made (UTC; default: now).
    """

    license: str = DEFAULT_LICENSE
    model: dict[str, Any] = field(default_factory=dict)
    sources: tuple[Granule, ...] | None = None
    providers: tuple[pystac.Provider, ...] = ()
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def within(self, first: Any, last: Any, months: Iterable[int] | None = None) -> Provenance:
        """The same provenance with only the granules of the days ``first..last`` (and of
        ``months``, when given): a period's own sources."""
        if self.sources is None:
            return self
        a, b = np.datetime64(first, "D"), np.datetime64(last, "D")
        ms = None if months is None else set(months)
        kept = []
        for g in self.sources:
            day = g.datetime.astype("datetime64[D]")
            month = int(day.astype("datetime64[M]").astype(np.int64) % 12) + 1
            if a <= day <= b and (ms is None or month in ms):
                kept.append(g)
        return replace(self, sources=tuple(kept))

    def properties(self) -> dict[str, Any]:
        """Item properties (``created`` is set through pystac's common metadata)."""
        props: dict[str, Any] = {"processing:software": software(), **self.model}
        if self.sources is not None:
            props["hlsmap:source_granules"] = [g.id for g in self.sources]
        return props

    def links(self) -> list[pystac.Link]:
        """``derived_from`` links to the source items that have a public URL."""
        return [
            pystac.Link("derived_from", g.href, media_type=pystac.MediaType.GEOJSON)
            for g in self.sources or ()
            if g.href
        ]

    def all_providers(self) -> list[pystac.Provider]:
        """The data providers, then hlsmap as processor."""
        return [*self.providers, hlsmap_provider()]
