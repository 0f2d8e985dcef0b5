"""The progress bar of a region run: tiles, observations and pixel-observations per second."""

from __future__ import annotations

import time
from typing import Any

from hlsmap.inference.tasks import TileReport


class RunProgress:
    """A rich progress bar fed with tile reports (a no-op when disabled).

    Args:
        total: tiles in the run.
        enabled: draw the bar (on stderr).
    """

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.observations = 0
        self.pixel_observations = 0
        self._start = time.perf_counter()
        self._bar: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            from hlsmap.cli.app import console

            self._bar = Progress(
                TextColumn("tiles"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task("tiles", total=total, stats="")
            self._bar.start()

    def _refresh(self) -> None:
        if self._bar is None:
            return
        rate = self.pixel_observations / max(time.perf_counter() - self._start, 1e-9)
        stats = f"{self.observations} obs · {rate:,.0f} px-obs/s"
        if self.skipped:
            stats += f" · {self.skipped} already done"
        if self.failed:
            stats += f" · [red]{self.failed} failed[/]"
        self._bar.update(self._task, completed=self.done + self.failed, stats=stats)

    def advance(self, report: TileReport) -> None:
        """One tile finished."""
        self.done += 1
        self.observations += report.n_observations
        self.pixel_observations += report.pixel_observations
        self._refresh()

    def advance_skipped(self, count: int) -> None:
        """Tiles found done from an earlier run."""
        self.done += count
        self.skipped += count
        self._refresh()

    def advance_failed(self) -> None:
        """One tile failed for good."""
        self.failed += 1
        self._refresh()

    def close(self) -> None:
        """Stop drawing."""
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
