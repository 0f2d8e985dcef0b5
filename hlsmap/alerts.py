"""Near-real-time change alerts against a baseline annual map.

Observations stream in, in time order. For every pixel the state keeps only its last ``n`` valid
observations (label, top-1 probability, date) in a ring buffer, so memory does not grow with the
length of the record. An observation *disagrees* when its label (argmax over the 9 surface
classes, renormalised without the cloud class) differs from the baseline and its probability is
at least ``min_prob``. A pixel is *confirmed* when the newest valid observation disagrees and at
least ``k`` of the last ``n`` disagree *with the same new class* (random misclassifications
scatter over classes; a real change goes to one); the alert then latches and records

- ``first_date``: the date of the earliest of those observations in the window (when the
  change was first seen),
- ``confirmed_date``: the date of the confirming observation,
- ``confidence``: the mean probability (percent) of those observations,
- ``alert``: the new class.

Only pixels whose baseline is *known* can alert: given the baseline map's confidence layer (the
consensus ``confidence``: the mean top-1 probability of its class), pixels below
``min_baseline_conf`` never alert. A change is a departure from what the land was, and where
the baseline itself was a coin toss - class edges, a grassland the model half-believes is forest
- the newest observations disagreeing with it says more about the baseline than about the land.
With the demo model (``bench/bench_consensus.py world --predictions``) nine in ten tree-loss
false alerts were errors of the baseline map itself, seen right by the new observations
(baseline confidence median 54% against 97% for the true clearings): at 0.7 tree-loss precision
goes from 0.28 to 0.91 and new-built from 0.49 to 0.97, recall unchanged (0.96, 0.99). Neither a
minimum mapping unit (those errors are patches of hundreds of pixels) nor a stricter k-of-n at
uncertain pixels (the model's confusion is seasonal, so it repeats for months) came close.
Forest-loss alert systems likewise alert only inside a confident forest baseline (GLAD, RADD).
The price: land that changed in the last months of the baseline year has an uncertain baseline
too, and does not alert against it (alerts run through that year catch it); pass
``min_baseline_conf=0`` (or no ``baseline_confidence``) to alert everywhere.

A confirmed alert keeps its dates, but its class follows the land: when later observations
confirm (by the same rule) yet another class that also differs from the baseline - a clearing
that becomes a building site, then built area - ``alert`` takes that class and ``class_date``
records when it was confirmed. When the land goes back to the baseline class (a flood
recedes), by the same k-of-n rule, the alert *ends*: ``ended_date`` is set and it no longer
counts in :meth:`AlertState.kinds` (a confirmation after that reopens it).

Dates are stored as days since 1970-01-01 (int32; 0 = none).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hlsmap.classes import CODES, NODATA
from hlsmap.errors import ConfigError, InvalidDateRangeError
from hlsmap.predictions import SCALE, as_numpy, as_uint8_probs, surface_fixed_point

WET_CODES = (CODES["water"], CODES["flooded_vegetation"])
ALERT_KINDS: tuple[str, ...] = (
    "tree_loss",
    "new_built",
    "cropland_gain",
    "cropland_loss",
    "water_gain",
    "water_loss",
)


def day_number(time: Any) -> int:
    """Days since 1970-01-01 of a date/time."""
    return int(np.datetime64(time, "D").astype(np.int64))


class AlertState:
    """Streaming alert state for one tile.

    Args:
        baseline: the baseline class map ``(H, W)`` (codes 1..9, 0 no data: never alerts).
        k: disagreeing observations needed among the last ``n`` valid ones.
        n: length of the window of valid observations (1..255).
        min_prob: the top-1 probability (0..1) an observation needs to count as disagreeing.
        since: observations before this date are ignored (e.g. the end of the baseline year).
        geobox: optional GeoBox for the result's coordinates.
        baseline_confidence: the baseline map's confidence ``(H, W)``: integers are percent
            (the consensus ``confidence`` layer, 0..100), floats 0..1; ``None``: every mapped
            baseline pixel counts as known.
        min_baseline_conf: the baseline confidence (0..1) a pixel needs to alert at all.

    The defaults (3 of the last 4 at 0.7, baseline confidence 0.7) are the best
    precision/recall/delay trade-off found on the synthetic world, with a simulated classifier
    and with the demo model (``bench/bench_consensus.py``).
    """

    def __init__(
        self,
        baseline: Any,
        k: int = 3,
        n: int = 4,
        min_prob: float = 0.7,
        since: Any = None,
        geobox: Any = None,
        baseline_confidence: Any = None,
        min_baseline_conf: float = 0.7,
    ) -> None:
        if not 1 <= k <= n <= 255:
            raise ConfigError(f"need 1 <= k <= n <= 255, got k={k}, n={n}")
        if not 0.0 <= min_prob <= 1.0:
            raise ConfigError(f"min_prob must be in 0..1, not {min_prob}")
        self.baseline = np.asarray(as_numpy(baseline), np.uint8)
        if self.baseline.ndim != 2:
            raise ConfigError(f"the baseline must be a 2-D class map, not {self.baseline.shape}")
        if not 0.0 <= min_baseline_conf <= 1.0:
            raise ConfigError(f"min_baseline_conf must be in 0..1, not {min_baseline_conf}")
        self.k, self.n, self.min_prob = int(k), int(n), float(min_prob)
        self.min_baseline_conf = float(min_baseline_conf)
        self.baseline_confidence = _percent_map(baseline_confidence, self.baseline.shape)
        self.since = None if since is None else day_number(since)
        self.geobox = geobox
        shape = self.baseline.shape
        self.labels = np.zeros((self.n, *shape), np.uint8)  # 0 = empty slot
        self.probs = np.zeros((self.n, *shape), np.uint8)  # percent
        self.days = np.zeros((self.n, *shape), np.int32)
        self.pos = np.zeros(shape, np.uint8)
        self.alert = np.zeros(shape, np.uint8)
        self.first_date = np.zeros(shape, np.int32)
        self.confirmed_date = np.zeros(shape, np.int32)
        self.class_date = np.zeros(shape, np.int32)
        self.ended_date = np.zeros(shape, np.int32)
        self.confidence = np.zeros(shape, np.uint8)
        self.last_day: int | None = None
        self.n_updates = 0

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return (int(self.baseline.shape[0]), int(self.baseline.shape[1]))

    @property
    def eligible(self) -> np.ndarray:
        """Pixels that can alert: mapped in the baseline, with a known (confident) class."""
        thr = int(np.ceil(self.min_baseline_conf * 100 - 1e-9))
        return (self.baseline != NODATA) & (self.baseline_confidence >= thr)

    def _disagree(self) -> np.ndarray:
        """``(n, H, W)``: which buffered observations disagree with the baseline."""
        thr = int(np.ceil(self.min_prob * 100 - 1e-9))
        return (self.labels != 0) & (self.labels != self.baseline) & (self.probs >= thr)

    def update(self, probs: Any, valid: Any, time: Any) -> int:
        """Add one observation (time order). Returns how many pixels it newly confirmed.

        (Pixels whose alert class it updated are not counted.)

        Args:
            probs: uint8 ``(H, W, 10)`` class probabilities * 255 (or float 0..1).
            valid: bool ``(H, W)``: observed and clear.
            time: the observation's date/time.
        """
        day = day_number(time)
        if self.last_day is not None and day < self.last_day:
            raise InvalidDateRangeError(
                f"observation of {np.datetime64(time, 'D')} arrived after one of "
                f"{np.datetime64(self.last_day, 'D')}; feed alerts in time order (sort first)"
            )
        p = as_uint8_probs(probs)
        if p.shape[:2] != self.shape:
            raise ConfigError(f"probabilities of shape {p.shape} do not match {self.shape}")
        self.last_day = day
        self.n_updates += 1
        if self.since is not None and day < self.since:
            return 0
        q, ok = surface_fixed_point(p)
        label = (np.argmax(q, axis=-1) + 1).astype(np.uint8)
        top = np.take_along_axis(q, (label - 1)[..., None].astype(np.intp), axis=-1)[..., 0]
        pct = ((top.astype(np.uint64) * 100 + SCALE // 2) // SCALE).astype(np.uint8)
        v = np.asarray(as_numpy(valid), bool) & ok & self.eligible
        yy, xx = np.nonzero(v)
        slot = self.pos[yy, xx]
        self.labels[slot, yy, xx] = label[yy, xx]
        self.probs[slot, yy, xx] = pct[yy, xx]
        self.days[slot, yy, xx] = day
        self.pos[yy, xx] = (slot + 1) % self.n
        return self._confirm(v, day)

    def _confirm(self, v: np.ndarray, day: int) -> int:
        thr = int(np.ceil(self.min_prob * 100 - 1e-9))
        dis = self._disagree()
        newest = ((self.pos.astype(np.intp) - 1) % self.n)[None]
        newest_label = np.take_along_axis(self.labels, newest, axis=0)
        # only a pixel whose newest valid observation (this one) disagrees can confirm now, and
        # only by observations that agree on the new class: random misclassifications scatter
        # over 8 classes, a real change goes to one
        newest_dis = v & np.take_along_axis(dis, newest, axis=0)[0]
        same = dis & (self.labels == newest_label)
        confirmed = newest_dis & (same.sum(axis=0) >= self.k)
        new = confirmed & (self.alert == 0)
        changed = (
            confirmed
            & (self.alert != 0)
            & ((self.alert != newest_label[0]) | (self.ended_date != 0))
        )
        # the land went back to the baseline class (a flood receded, a false alarm): by the
        # same k-of-n rule, the alert ends (kept, with its dates, for the record)
        back = (self.labels == self.baseline) & (self.probs >= thr)
        newest_back = v & np.take_along_axis(back, newest, axis=0)[0]
        ended = newest_back & (back.sum(axis=0) >= self.k) & (self.alert != 0)
        self.ended_date[ended & (self.ended_date == 0)] = day
        if not (new.any() or changed.any()):
            return 0
        yy, xx = np.nonzero(new | changed)
        d = same[:, yy, xx]
        probs = self.probs[:, yy, xx].astype(np.float64)
        self.confidence[yy, xx] = np.rint((probs * d).sum(0) / d.sum(0)).astype(np.uint8)
        self.alert[yy, xx] = newest_label[0, yy, xx]
        self.class_date[yy, xx] = day
        self.ended_date[yy, xx] = 0
        yy, xx = np.nonzero(new)
        d = same[:, yy, xx]
        self.first_date[yy, xx] = np.where(d, self.days[:, yy, xx], np.iinfo(np.int32).max).min(0)
        self.confirmed_date[yy, xx] = day
        return int(yy.size)

    def active(self) -> np.ndarray:
        """Confirmed alerts that have not ended."""
        return (self.alert > 0) & (self.ended_date == 0)

    def status(self) -> np.ndarray:
        """uint8 per pixel: 0 nothing, 1 candidate (some disagreement, not confirmed yet),
        2 confirmed, 3 ended (confirmed, then back to the baseline class)."""
        dis_any = self._disagree().any(axis=0)
        out = np.where(self.alert > 0, 2, np.where(dis_any, 1, 0))
        return np.where(self.ended_date > 0, 3, out).astype(np.uint8)

    def kinds(self) -> dict[str, np.ndarray]:
        """Active alerts split into named kinds (tree loss, new built area, ...).

        From a few observations a flood looks like loss of whatever it covers, so alerts to
        water or flooded vegetation count as ``water_gain`` only, never as tree or crop loss.
        """
        act = self.active()
        b, a = self.baseline, self.alert
        wet = np.isin(a, WET_CODES)
        return {
            "tree_loss": act & (b == CODES["trees"]) & (a != b) & ~wet,
            "new_built": act & (a == CODES["built"]) & (b != a),
            "cropland_gain": act & (a == CODES["crops"]) & (b != a),
            "cropland_loss": act & (b == CODES["crops"]) & (a != b) & ~wet,
            "water_gain": act & wet & ~np.isin(b, WET_CODES),
            "water_loss": act & (b == CODES["water"]) & ~wet,
        }

    def result(self) -> xr.Dataset:
        """The alert layers: ``alert`` (new class, 0 none), ``status``, ``first_date``,
        ``confirmed_date``, ``class_date``, ``ended_date`` (days since 1970-01-01, 0 none),
        ``confidence`` (percent), ``baseline``."""
        from hlsmap.consensus import layers_to_dataset

        layers = {
            "alert": self.alert.copy(),
            "status": self.status(),
            "first_date": self.first_date.copy(),
            "confirmed_date": self.confirmed_date.copy(),
            "class_date": self.class_date.copy(),
            "ended_date": self.ended_date.copy(),
            "confidence": self.confidence.copy(),
            "baseline": self.baseline.copy(),
        }
        ds = layers_to_dataset(layers, self.geobox, "alerts")
        ds.attrs.update(
            k=self.k,
            n=self.n,
            min_prob=self.min_prob,
            min_baseline_conf=self.min_baseline_conf,
            n_updates=self.n_updates,
        )
        return ds

    # -- persistence between runs -----------------------------------------------------------
    _ARRAYS = (
        "baseline",
        "baseline_confidence",
        "labels",
        "probs",
        "days",
        "pos",
        "alert",
        "first_date",
        "confirmed_date",
        "class_date",
        "ended_date",
        "confidence",
    )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the state (``.npz``, atomic) so the next run can continue the stream."""
        from hlsmap.outputs.atomic import atomic_path

        meta = np.array(
            [
                self.k,
                self.n,
                self.min_prob,
                -1 if self.since is None else self.since,
                -1 if self.last_day is None else self.last_day,
                self.n_updates,
                self.min_baseline_conf,
            ],
            np.float64,
        )
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, meta=meta, **{a: getattr(self, a) for a in self._ARRAYS})
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], geobox: Any = None) -> AlertState:
        """Load a state saved by :meth:`save`."""
        try:
            z = np.load(path)
            meta = z["meta"]
            state = cls(
                z["baseline"],
                k=int(meta[0]),
                n=int(meta[1]),
                min_prob=float(meta[2]),
                geobox=geobox,
                # states saved before baseline confidence existed: every pixel known
                min_baseline_conf=float(meta[6]) if meta.size > 6 else 0.0,
            )
            for a in cls._ARRAYS:
                if a in z.files:
                    setattr(state, a, z[a])
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"{path} is not an alert state saved by hlsmap: {exc}") from exc
        state.since = None if meta[3] < 0 else int(meta[3])
        state.last_day = None if meta[4] < 0 else int(meta[4])
        state.n_updates = int(meta[5])
        return state


def _percent_map(conf: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A confidence map as uint8 percent (integers are percent, floats 0..1); ``None``: 100."""
    if conf is None:
        return np.full(shape, 100, np.uint8)
    c = np.asarray(as_numpy(conf))
    if c.shape != shape:
        raise ConfigError(f"the baseline confidence has shape {c.shape}, the baseline {shape}")
    if c.dtype.kind == "f":
        c = np.rint(np.nan_to_num(c) * 100)
    return np.clip(c, 0, 100).astype(np.uint8)
