"""Atomic file writes: write to a temporary name in the same folder, then rename.

An interrupted run leaves no half-written output under the final name, and a rerun simply
writes it again.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from hlsmap.errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    The temporary name keeps the suffix (drivers such as GDAL choose formats by it).
    """
    final = Path(path)
    if final.is_dir():
        raise OutputError(f"{final} is a folder; give a file name for this output")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {final.parent}: {exc}") from exc
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.tmp{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


# What our own writers leave behind when a process dies mid-write (kill -9, power loss; Ctrl-C
# normally cleans up): atomic_path's ``.NAME.1a2b3c4d.tmp.EXT``, the COG writer's
# ``.NAME.1a2b3c4d.tmp.stage.tif``, the predictions store's ``.NAME.tmp-PID`` folder and the
# config/plan writers' ``.NAME.json.tmp``. Nothing else matches: a user's files are never touched.
_TEMP_FILE = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp(\.stage)?\.[A-Za-z0-9]+$|^\..+\.json\.tmp$")
_TEMP_DIR = re.compile(r"^\..+\.zarr\.tmp-\d+$")


def remove_stale_temps(root: str | os.PathLike[str], max_depth: int = 4) -> list[Path]:
    """Delete the temporary files that interrupted writes left under ``root``.

    Only hlsmap's own temporary names are removed (see the patterns above), at most
    ``max_depth`` folders down (a run's layout is ``out/work/<year>/tiles/``). Call it only
    while holding the folder's run lock (:mod:`hlsmap.outputs.lock`): another live run's
    temporary files look the same.

    Returns:
        The removed paths.
    """
    removed: list[Path] = []
    base = Path(root)
    if not base.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(base):
        depth = len(Path(dirpath).relative_to(base).parts)
        for name in filenames:
            if _TEMP_FILE.match(name):
                with contextlib.suppress(FileNotFoundError):
                    (Path(dirpath) / name).unlink()
                    removed.append(Path(dirpath) / name)
        keep = []
        for name in dirnames:
            if _TEMP_DIR.match(name):
                shutil.rmtree(Path(dirpath) / name, ignore_errors=True)
                removed.append(Path(dirpath) / name)
            elif depth < max_depth and not name.endswith(".zarr") and not name.startswith("."):
                keep.append(name)
        dirnames[:] = keep  # never walk into stores, hidden folders or too deep
    return removed
