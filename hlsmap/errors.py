"""Exceptions raised by hlsmap.

Every exception subclasses both :class:`HlsmapError` (so callers can catch everything hlsmap
raises) and the builtin that describes the kind of mistake (so ``except ValueError`` keeps
working). Messages say what was wrong *and* what to do about it; the CLI prints them without a
traceback (``--debug`` shows it).
"""

from __future__ import annotations


class HlsmapError(Exception):
    """Base class of every error hlsmap raises on purpose."""


class UnknownSensorError(HlsmapError, KeyError):
    """A sensor name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0]) if self.args else ""


class UnknownCollectionError(HlsmapError, KeyError):
    """A STAC collection that no registered sensor adapter reads."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingAssetError(HlsmapError, KeyError):
    """A STAC item lacks an asset that its sensor adapter needs."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InconsistentItemError(HlsmapError, ValueError):
    """A STAC item whose metadata contradicts itself (its ``proj:epsg`` puts it elsewhere than
    its footprint)."""


class EmptySearchError(HlsmapError, LookupError):
    """A search found no items."""


class InvalidRegionError(HlsmapError, ValueError):
    """A bbox, GeoJSON geometry or tile id that is malformed or does not overlap the data."""


class InvalidDateRangeError(HlsmapError, ValueError):
    """A date range that cannot be parsed or whose start is after its end."""


class RemoteError(HlsmapError, OSError):
    """A server kept failing (HTTP 4xx/5xx, connection errors) after retries."""


class CorruptRasterError(HlsmapError, OSError):
    """A raster (COG) that is truncated, corrupt or unreadable."""


class ModelError(HlsmapError, ValueError):
    """A model directory that is missing, corrupt, foreign or from an incompatible version."""


class ConfigError(HlsmapError, ValueError):
    """An invalid option or configuration value."""


class OutputError(HlsmapError, OSError):
    """An output location that cannot be written (for example a file where a folder is needed)."""


class TileFailedError(HlsmapError, RuntimeError):
    """A tile of a region run whose inputs kept failing to read after retries."""


class ChipSetError(HlsmapError, ValueError):
    """A training chip set that is missing, foreign, empty or from a newer version."""
