"""Cubes on disk: write a cube to Zarr atomically, with a progress bar, and read it back.

A Zarr store is a folder, so "atomic" means: write everything into a temporary folder beside the
destination, then swap it in with renames. An interrupted write leaves the destination as it was
(absent or the previous complete store), never half-written.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hlsmap.errors import OutputError

if TYPE_CHECKING:
    import xarray as xr


class RichDaskProgress:
    """A dask callback that drives a rich progress bar (tasks done, tasks/s)."""

    def __init__(self, description: str = "reading") -> None:
        from dask.callbacks import Callback
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from hlsmap.cli.app import console

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._progress.add_task(description, total=None)
        outer = self

        class _CB(Callback):  # type: ignore[misc]
            def _start_state(self, dsk: Any, state: Any) -> None:
                total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
                outer._progress.update(outer._task, total=total)

            def _posttask(self, *args: Any) -> None:
                outer._progress.advance(outer._task)

        self._callback = _CB()

    def __enter__(self) -> RichDaskProgress:
        self._progress.start()
        self._callback.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._callback.__exit__(*exc)
        self._progress.stop()


def write_zarr(cube: xr.Dataset, path: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """Write ``cube`` (lazy or eager) to a Zarr store at ``path``, atomically.

    Object-typed coordinates (``sensor``, ``platform``) are stored as fixed strings, and the
    GeoBox survives through the ``spatial_ref`` coordinate (``xr.open_zarr(path).odc.geobox``).

    Returns:
        The path written.
    """
    from hlsmap.cube import read_errors

    final = Path(path)
    if final.exists() and not final.is_dir():
        raise OutputError(f"{final} is a file; give a folder name for the Zarr store")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    ds = cube.copy()
    for name in ("sensor", "platform"):
        if name in ds.coords and ds[name].dtype == object:
            ds = ds.assign_coords({name: ds[name].astype(str)})
    for var in ds.variables.values():
        var.encoding.pop("chunks", None)
        var.encoding.pop("preferred_chunks", None)
    try:
        with read_errors(), warnings.catch_warnings():
            # fixed-length strings and consolidated metadata are not in the Zarr v3 spec yet;
            # xarray and zarr-python read them back, which is what this store is for
            warnings.simplefilter("ignore", UserWarning)
            if progress:
                with RichDaskProgress(f"writing {final.name}"):
                    ds.to_zarr(tmp, mode="w", consolidated=True)
            else:
                ds.to_zarr(tmp, mode="w", consolidated=True)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{int(time.time())}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def open_cube(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a cube written by :func:`write_zarr` (lazy)."""
    import odc.geo.xr  # noqa: F401  (registers the .odc accessor)
    import xarray as xr

    p = Path(path)
    if not p.is_dir():
        raise OutputError(f"{p} is not a Zarr store written by `hlsmap cube`")
    return xr.open_zarr(p, consolidated=True)
