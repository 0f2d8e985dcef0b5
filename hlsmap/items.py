"""STAC item dicts -> ``pystac.Item`` objects, safely from many threads at once.

Tile tasks run several to a worker process, each in its own thread, and each starts by turning
its item dicts into ``pystac.Item`` objects. ``pystac.Item.from_dict`` is not safe to call from
several threads in a fresh process: its first call registers pystac's extension hooks lazily
(``EXTENSION_HOOKS._discover`` marks discovery done, *then* fills the hook dict from entry
points), so a second thread iterating that dict meanwhile fails with ``RuntimeError: dictionary
changed size during iteration`` and the tile fails. Parsing under one lock serializes exactly
that step; it costs microseconds per item next to reading the item's rasters.

The input dicts are never mutated (``preserve_dict``: pystac works on a deep copy), so the same
dicts can be shared by tasks that run at the same time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pystac

_PARSE_LOCK = threading.Lock()


def items_from_dicts(dicts: Iterable[dict[str, Any]]) -> list[pystac.Item]:
    """``pystac.Item`` objects of STAC item dicts, callable from any number of threads.

    Args:
        dicts: STAC item dicts (not modified).

    Returns:
        One item per dict, in order.
    """
    import pystac

    with _PARSE_LOCK:
        return [pystac.Item.from_dict(d, preserve_dict=True) for d in dicts]
