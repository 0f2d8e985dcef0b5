"""Atomic file writes: write to a temporary name in the same folder, then rename.

An interrupted run leaves no half-written output under the final name, and a rerun simply
writes it again.
"""

from __future__ import annotations

import contextlib
import os
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
