"""One bad granule costs one observation: find the granules a failed read cannot get past, drop
them, read the rest.

A tile reads a time batch of many granules in one :func:`hlsmap.cube.load_cube` call, and one
granule that cannot be read (404, a server error after GDAL's retries, a dropped connection, a
truncated or garbage COG, an item without a band or without Fmask, a wrong ``proj:epsg``) used
to fail the whole call, so the tile, so the region. :class:`GranuleGuard` keeps the fast path
(one call per batch) and, only when that call fails, reads the batch's items one by one to find
the culprits: those that still fail after ``retries`` rounds (with backoff) are dropped and
recorded; the batch is read again without them.

A failure that no single item reproduces (a transient one) is re-raised for the tile's own
retries. So is one where *every* item fails while nothing of the tile has been read yet: that is
the source (a server down, no authorization), not a granule, and skipping would hide it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hlsmap.access import forget_failed_reads
from hlsmap.errors import (
    CorruptRasterError,
    InconsistentItemError,
    MissingAssetError,
    RemoteError,
)
from hlsmap.redact import redact

log = logging.getLogger("hlsmap.inference")

GRANULE_ERRORS: tuple[type[BaseException], ...] = (
    CorruptRasterError,
    RemoteError,
    MissingAssetError,
    InconsistentItemError,
    OSError,
)
"""Failures one granule can cause, and that cost only that granule's observation."""

T = TypeVar("T")


def _key(item: Any) -> tuple[str, str]:
    return (item.collection_id or "", item.id)


def _hrefs(item: Any) -> list[str]:
    return [a.get_absolute_href() or a.href for a in item.assets.values()]


@dataclass
class GranuleGuard:
    """The granules of one tile that could not be read, and why.

    Attributes:
        retries: rounds of re-reading a failing granule before it is dropped.
        retry_wait: seconds before the first round (doubles each round).
        dropped: one ``{"item", "collection", "reason"}`` per dropped granule (reasons name the
            file and the cause, URLs redacted): the tile report's list, appended to.
        where: what the log lines name (the tile).
    """

    retries: int = 2
    retry_wait: float = 1.0
    dropped: list[dict[str, str]] = field(default_factory=list)
    where: str = ""
    _bad: set[tuple[str, str]] = field(default_factory=set)
    _read_ok: bool = False

    def read(
        self,
        read: Callable[[list[Any]], T],
        items: Sequence[Any],
        probe: Callable[[Any], object],
    ) -> T | None:
        """``read(items)`` without the granules found bad; ``None`` when none is left.

        Args:
            read: reads a list of items (the fast path: the whole batch at once).
            items: the batch.
            probe: reads one item as fully as ``read`` would (every layer it needs).

        Raises:
            The read's error when no single granule is to blame (see the module docstring).
        """
        recovered_once = False
        while True:
            keep = [i for i in items if _key(i) not in self._bad]
            if not keep:
                return None
            try:
                out = read(keep)
            except GRANULE_ERRORS as exc:
                culprits, recovered = self._culprits(keep, probe)
                if recovered and not recovered_once:
                    recovered_once = True  # a transient fault that its retries got past
                    continue
                if not culprits:
                    raise exc from None
                for item, reason in culprits:
                    self._drop(item, reason)
                continue
            self._read_ok = True
            return out

    def _culprits(
        self, items: list[Any], probe: Callable[[Any], object]
    ) -> tuple[list[tuple[Any, str]], bool]:
        """``(granules that still fail after the retries, with why; whether every granule
        that failed read after a retry)``."""
        failing: dict[tuple[str, str], tuple[Any, BaseException]] = {}
        for item in items:
            try:
                probe(item)
                self._read_ok = True
            except GRANULE_ERRORS as exc:
                failing[_key(item)] = (item, exc)
        if not failing or (len(failing) == len(items) and not self._read_ok):
            return [], False
        for attempt in range(self.retries):  # transient faults of one granule get their retries
            time.sleep(self.retry_wait * 2**attempt)
            forget_failed_reads(h for item, _ in failing.values() for h in _hrefs(item))
            for key, (item, _) in list(failing.items()):
                try:
                    probe(item)
                except GRANULE_ERRORS as exc:
                    failing[key] = (item, exc)
                else:
                    del failing[key]
            if not failing:
                return [], True  # all were transient: the batch is read again
        return [(i, redact(f"{type(e).__name__}: {e}")) for i, e in failing.values()], False

    def _drop(self, item: Any, reason: str) -> None:
        self._bad.add(_key(item))
        self.dropped.append(
            {"item": item.id, "collection": item.collection_id or "", "reason": reason}
        )
        log.warning("tile %s: skipping granule %s (unreadable): %s", self.where, item.id, reason)


def dropped_summary(dropped: Sequence[dict[str, str]], limit: int = 3) -> str:
    """``"<n> granule(s): id (reason); ..."`` for messages (the first ``limit``)."""
    listed = "; ".join(f"{d['item']} ({d['reason']})" for d in dropped[:limit])
    more = f"; and {len(dropped) - limit} more" if len(dropped) > limit else ""
    return f"{len(dropped)} granule(s): {listed}{more}"
