"""One run per output folder: a lock file holding the owner's process id and host.

Two runs into the same ``--out`` would both compute every tile and overwrite each other's
files. :func:`out_lock` creates ``OUT/.hlsmap.lock`` exclusively (``O_CREAT | O_EXCL``, atomic
on local and NFS v3+ filesystems) and removes it when the run ends, however it ends short of
``kill -9``. A lock whose process is gone (same host, pid not alive) is stale: it is taken
over, with a log line. A lock of another host cannot be checked from here and is honoured.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from hlsmap.errors import OutputError

log = logging.getLogger("hlsmap")

LOCK_NAME = ".hlsmap.lock"


class RunLockedError(OutputError):
    """Another live run writes to the same output folder."""


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _read(path: Path) -> dict[str, object]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # half-written by a process killed between create and write: stale
    return doc if isinstance(doc, dict) else {}


def _try_create(path: Path, doc: dict[str, object]) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(doc) + "\n")
    return True


@contextlib.contextmanager
def out_lock(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the run lock of ``out_dir`` for the duration of the block.

    Re-entrant within one process: a nested lock of the same folder by the same process
    (``hlsmap map`` locks its folder, the region runner its ``work/<year>``) is a no-op.

    Raises:
        RunLockedError: another live run holds the lock (its pid and host are in the message).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    host = socket.gethostname()
    me = {"pid": os.getpid(), "host": host, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                      time.gmtime())}  # fmt: skip
    held = _read(path) if path.exists() else {}
    if held.get("pid") == me["pid"] and held.get("host") == host:
        yield path  # this process holds it already
        return
    for _ in range(3):  # a competing takeover can win the race; look again
        if _try_create(path, me):
            break
        held = _read(path)
        pid = held.get("pid")
        same_host = held.get("host") == host
        if isinstance(pid, int) and (not same_host or _alive(pid)):
            where = f"process {pid} on {held.get('host')}"
            raise RunLockedError(
                f"another hlsmap run ({where}, started {held.get('started', '?')}) is writing to "
                f"{out}; wait for it to finish or give another --out (if that run is gone, "
                f"delete {path})"
            )
        log.warning("taking over the stale lock of %s (process %s is gone)", out, pid)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        raise RunLockedError(f"could not take the lock {path}; another run keeps taking it")
    try:
        yield path
    finally:
        if _read(path).get("pid") == me["pid"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
