"""The Dask cluster of a region run: an existing one, or a ``LocalCluster`` sized to the machine.

Our own cluster starts its workers with glibc's malloc defaults (see
:func:`_glibc_malloc_defaults`); the caller closes what :func:`open_client` says to close,
also when the run is interrupted, so no worker process outlives the run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from hlsmap.errors import ConfigError


@contextlib.contextmanager
def _glibc_malloc_defaults() -> Iterator[None]:
    """Start worker processes inside this block without Dask's ``MALLOC_TRIM_THRESHOLD_``.

    Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 so that freed memory goes
    back to the OS at once. Setting it also turns off glibc's adaptive mmap threshold: every
    array over 128 KiB is then a fresh mmap whose pages fault in one by one, and a tile task,
    which frees and re-allocates its batch arrays every time batch, ran 1.4x slower
    (4.3 M page faults and 19 s of system time per 512 px tile; bench/bench_region.py). A tile
    task's memory is bounded by its tile anyway, so our own cluster keeps glibc's default.
    Nannies also leave the variable in their own process's environment, where later workers
    would inherit it: Dask's value found there is dropped for the block too (a value of the
    user's own is kept).
    """
    import dask

    key = "MALLOC_TRIM_THRESHOLD_"
    config_key = f"distributed.nanny.pre-spawn-environ.{key}"
    dask_value = dask.config.get(config_key, None)
    leaked = dask_value is not None and os.environ.get(key) == str(dask_value)
    saved = os.environ.pop(key) if leaked else None
    try:
        with dask.config.set({config_key: None}):
            yield
    finally:
        if saved is not None:
            os.environ[key] = saved


def open_client(
    client: Any, scheduler: str | None, n_workers: int | None, threads_per_worker: int | None
) -> tuple[Any, list[Any]]:
    """The client to use and what to close afterwards.

    Args:
        client: a ``distributed.Client``, a scheduler address, or ``None``.
        scheduler: an existing scheduler's address (used when ``client`` is ``None``).
        n_workers / threads_per_worker: the default ``LocalCluster``'s size (at least 1 each).
    """
    from distributed import Client, LocalCluster

    if client is not None:
        if isinstance(client, str):
            c = Client(client)
            return c, [c]
        return client, []
    if scheduler:
        c = Client(scheduler)
        return c, [c]
    for name, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):  # fmt: skip
            # LocalCluster waits forever for -1 workers
            raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    cores = os.cpu_count() or 1
    with _glibc_malloc_defaults():
        cluster = LocalCluster(
            n_workers=n_workers or 1,
            threads_per_worker=threads_per_worker or min(4, cores),
            processes=True,
            dashboard_address=":0",  # any free port: no clash with another cluster's 8787
        )
    try:
        c = Client(cluster)
    except BaseException:  # Ctrl-C while connecting: stop the workers just started
        cluster.close()
        raise
    return c, [c, cluster]
