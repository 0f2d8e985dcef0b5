"""Streaming temporal consensus: per-observation class probabilities -> period maps.

The state keeps running per-class sums and counts (per period, or finer: see *Balance*), so
memory does not grow with the number of observations. The sums are *integers*: each
observation's 9 surface-class probabilities are renormalised (the cloud class is dropped) to
fixed point ``0..65535`` in one elementwise step, and integer addition is associative, so the
state is bit-identical whatever order observations come in, whether they are split across
partial accumulators (:meth:`ConsensusAccumulator.merge`) and whether the inputs are numpy or
dask arrays; the maps are a deterministic function of the state.

Rules:
    ``mean_prob`` (default): argmax of the mean renormalised probability; confidence = the mean
    top-1 probability (percent).
    ``mode``: the most frequent per-observation label; confidence = its share of the votes.
    ``weighted_mode``: votes weighted by each observation's top-1 probability; confidence = the
    winner's share of the total weight.
Ties go to the lowest class code.

Balance (``balance="month"``, the default): every calendar month of a period counts the same,
whatever its number of clear observations - each month's sums are divided by its own valid
count before the months are added. An annual map describes the year, not its clear-sky days:
the rainy months of a tropical year have a third of the dry months' clear observations, so an
observation-weighted mean leans to the dry season's land cover (a seasonal snowfield mapped as
its summer rock, a seasonal lake as its dry bed), while land cover is the class that holds for
most of the period. On the demo world with the demo model this lifts the annual map from 96.2-96.3%
to 96.8% (``bench/bench_consensus.py world --predictions``; the errors left are systematic:
the model's own class-edge and confusable-class errors, seen in every month). ``balance="none"``
weighs every observation the same. The state keeps one set of sums per *slot*
(:mod:`hlsmap.consensus_slots`): 12 for a year with its wet and dry seasons (``"none"``: 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr

from hlsmap.classes import NODATA, NUM_CLASSES
from hlsmap.consensus_slots import BALANCES, SlotLayout, percent, period_scores
from hlsmap.errors import ConfigError
from hlsmap.periods import Period, check_unique
from hlsmap.predictions import (
    N_SURFACE,
    SCALE,
    as_numpy,
    as_uint8_probs,
    surface_fixed_point,
    top_label,
)

Rule = Literal["mean_prob", "mode", "weighted_mode"]
RULES: tuple[str, ...] = ("mean_prob", "mode", "weighted_mode")
MAX_OBS = 65535
"""Most valid observations one period can take (the uint16 ``n_valid`` layer)."""
NO_OBS = 255
"""``cloud_share`` value where a pixel was never observed."""
LAYERS: tuple[str, ...] = ("class", "confidence", "n_valid", "cloud_share", "fallback")
_DTYPES = {
    "class": np.uint8,
    "confidence": np.uint8,
    "n_valid": np.uint16,
    "cloud_share": np.uint8,
    "fallback": np.uint8,
}


class ConsensusAccumulator:
    """Running per-period per-class sums for one tile.

    Args:
        shape: ``(H, W)`` of the tile.
        periods: the periods to map (unique names).
        rule: ``"mean_prob"`` (default), ``"mode"`` or ``"weighted_mode"``.
        min_valid: valid observations a pixel needs in a period to be mapped.
        fallback: a longer period (or the name of one in ``periods``) whose result fills pixels
            of the other periods that have fewer than ``min_valid`` valid observations; ``None``
            leaves them no data (0).
        geobox: optional odc-geo GeoBox; results then carry its ``y``/``x`` coordinates.
        balance: ``"month"`` (default: every calendar month of a period weighs the same) or
            ``"none"`` (every valid observation weighs the same); see the module notes.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        periods: Sequence[Period],
        rule: str = "mean_prob",
        min_valid: int = 1,
        fallback: Period | str | None = None,
        geobox: Any = None,
        balance: str = "month",
    ) -> None:
        if rule not in RULES:
            raise ConfigError(f"unknown consensus rule {rule!r}; choose one of {', '.join(RULES)}")
        if balance not in BALANCES:
            raise ConfigError(f"unknown balance {balance!r}; choose one of {', '.join(BALANCES)}")
        if min_valid < 1:
            raise ConfigError(f"min_valid must be at least 1, not {min_valid}")
        self.periods = check_unique(periods)
        if not self.periods:
            raise ConfigError("give at least one period to map (for example the year 2024)")
        self.fallback: str | None = None
        if isinstance(fallback, Period):
            if fallback.name not in {p.name for p in self.periods}:
                self.periods.append(fallback)
            self.fallback = fallback.name
        elif isinstance(fallback, str):
            if fallback not in {p.name for p in self.periods}:
                raise ConfigError(
                    f"fallback period {fallback!r} is not one of the periods "
                    f"{[p.name for p in self.periods]}; add it or pass a Period"
                )
            self.fallback = fallback
        self.shape = (int(shape[0]), int(shape[1]))
        self.rule = rule
        self.min_valid = int(min_valid)
        self.geobox = geobox
        self.balance = balance
        self._layout = SlotLayout(self.periods, balance)
        acc_dtype = np.uint16 if rule == "mode" else np.uint32
        n = len(self._layout)
        # (np.zeros pages in lazily: slots no observation reaches cost no memory)
        self._acc = [np.zeros((*self.shape, N_SURFACE), acc_dtype) for _ in range(n)]
        self._n_valid = [np.zeros(self.shape, np.uint16) for _ in range(n)]
        self._n_obs = [np.zeros(self.shape, np.uint16) for _ in range(n)]
        self._count = {p.name: 0 for p in self.periods}
        self.n_updates = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the running state (independent of the number of observations)."""
        return sum(a.nbytes for d in (self._acc, self._n_valid, self._n_obs) for a in d)

    @property
    def n_state(self) -> int:
        """Layers of :meth:`state`."""
        return len(self._layout) * (N_SURFACE + 2)

    def _contribution(self, probs: np.ndarray, valid: np.ndarray) -> tuple[Any, np.ndarray]:
        """What one observation adds to the sums, and the pixels where it counts as valid.

        ``mean_prob``: the dense ``(H, W, 9)`` fixed-point probabilities. The modes: a sparse
        ``(flat pixel index, label, weight)`` triple, one vote per valid pixel.
        """
        if self.rule == "mean_prob":
            q, ok = surface_fixed_point(probs, mask=valid)
            return q, valid & ok
        label, top, ok = top_label(probs)
        valid = valid & ok
        idx = np.flatnonzero(valid)
        weight: Any = 1 if self.rule == "mode" else top.ravel()[idx]
        return (idx, label.ravel()[idx], weight), valid

    def update(self, probs: Any, valid: Any, observed: Any, time: Any) -> None:
        """Add one observation.

        Args:
            probs: uint8 ``(H, W, 10)`` class probabilities * 255 (or float 0..1).
            valid: bool ``(H, W)``: observed and clear (Fmask and the model's cloud class).
            observed: bool ``(H, W)``: inside the swath and not fill.
            time: the observation's date/time (anything numpy's datetime64 reads).
        """
        p = as_uint8_probs(probs)
        if p.shape != (*self.shape, NUM_CLASSES):
            raise ConfigError(
                f"probabilities have shape {p.shape}; this accumulator takes "
                f"{(*self.shape, NUM_CLASSES)} (H, W, classes)"
            )
        slot, val, obs = self._prepare(valid, observed, time)
        if slot is not None:
            contrib, val = self._contribution(p, val)
            self._add(slot, contrib, val, obs)

    def update_labels(
        self, classes: Any, confidence: Any, valid: Any, observed: Any, time: Any
    ) -> None:
        """Add one observation given as argmax class + confidence (the compact output).

        Only the ``mode`` and ``weighted_mode`` rules can use it. The weight is the model's
        top-1 probability as given (``confidence / 255``, not renormalised without the cloud
        class, which this form cannot know); class 10 (cloud) or 0 never counts as valid.

        Args:
            classes: uint8 ``(H, W)`` class codes 1..10 (0 where not observed).
            confidence: uint8 ``(H, W)`` top-1 probability * 255.
            valid, observed, time: as for :meth:`update`.
        """
        if self.rule == "mean_prob":
            raise ConfigError(
                "the mean_prob rule needs class probabilities; use update() or rule='mode'"
            )
        cls = as_numpy(classes).astype(np.intp)
        conf = as_numpy(confidence).astype(np.uint32)
        if cls.shape != self.shape or conf.shape != self.shape:
            raise ConfigError(f"classes/confidence must have shape {self.shape}")
        slot, val, obs = self._prepare(valid, observed, time)
        if slot is None:
            return
        val = val & (cls >= 1) & (cls <= N_SURFACE) & (conf > 0)
        idx = np.flatnonzero(val)
        weight: Any = 1 if self.rule == "mode" else conf.ravel()[idx] * (SCALE // 255)
        self._add(slot, (idx, cls.ravel()[idx] - 1, weight), val, obs)

    def _prepare(
        self, valid: Any, observed: Any, time: Any
    ) -> tuple[int | None, np.ndarray, np.ndarray]:
        """The slot the time falls in (``None``: no period), and the checked masks."""
        slot = self._layout.slot_of(time)
        obs = as_numpy(observed).astype(bool)
        val = as_numpy(valid).astype(bool) & obs
        if obs.shape != self.shape or val.shape != self.shape:
            raise ConfigError(f"valid/observed masks must have shape {self.shape}")
        self.n_updates += 1
        return slot, val, obs

    def _add(self, slot: int, contrib: Any, val: np.ndarray, obs: np.ndarray) -> None:
        names = [self.periods[j].name for j in self._layout.periods_of(slot)]
        for name in names:
            if self._count[name] >= MAX_OBS:
                raise ConfigError(f"period {name!r} already holds {MAX_OBS} observations; split it")
        acc = self._acc[slot]
        if self.rule == "mean_prob":
            acc += contrib
        else:
            idx, label, weight = contrib
            # each pixel appears once in idx, so fancy-indexed += is exact
            acc.reshape(-1, N_SURFACE)[idx, label] += weight
        self._n_valid[slot] += val
        self._n_obs[slot] += obs
        for name in names:
            self._count[name] += 1

    @property
    def layout(self) -> SlotLayout:
        """Where the state keeps each observation's sums (:mod:`hlsmap.consensus_slots`)."""
        return self._layout

    def state(self, slot: int | None = None) -> np.ndarray:
        """The running sums as one uint32 array ``(slots * 11, H, W)`` (:attr:`n_state`
        layers): per slot its 9 class sums, ``n_valid`` and ``n_observed`` (``slot``: that
        slot's 11 only). States add (see :meth:`from_state`)."""
        parts = []
        for j in range(len(self._layout)) if slot is None else [slot]:
            parts += [np.moveaxis(self._acc[j], -1, 0), self._n_valid[j][None]]
            parts.append(self._n_obs[j][None])
        return np.concatenate(parts).astype(np.uint32)

    @classmethod
    def from_state(
        cls, state: np.ndarray, periods: Sequence[Period], **kwargs: Any
    ) -> ConsensusAccumulator:
        """An accumulator holding a (possibly summed) :meth:`state`; same periods and options."""
        acc = cls(tuple(state.shape[1:]), periods, **kwargs)  # type: ignore[arg-type]
        per = N_SURFACE + 2
        if state.shape[0] != acc.n_state:
            raise ConfigError(f"a state of {state.shape[0]} layers does not fit these periods")
        obs = np.zeros(acc.shape, np.uint64)
        for j in range(len(acc._layout)):
            block = state[j * per : (j + 1) * per]
            obs += block[-1]
            acc._acc[j][...] = np.moveaxis(block[:N_SURFACE], 0, -1)
            acc._n_valid[j][...] = block[N_SURFACE]
            acc._n_obs[j][...] = block[N_SURFACE + 1]
        if int(obs.max(initial=0)) > MAX_OBS:
            raise ConfigError(f"a pixel holds over {MAX_OBS} observations; split the periods")
        return acc

    def merge(self, other: ConsensusAccumulator) -> ConsensusAccumulator:
        """Add another accumulator's state (same shape, periods and rule) into this one."""
        if (other.shape, other.rule, other.balance, [p.name for p in other.periods]) != (
            self.shape,
            self.rule,
            self.balance,
            [p.name for p in self.periods],
        ):
            raise ConfigError("only accumulators with the same shape, rule and periods merge")
        for j in range(len(self._layout)):
            self._acc[j] += other._acc[j]
            self._n_valid[j] += other._n_valid[j]
            self._n_obs[j] += other._n_obs[j]
        for name in self._count:
            self._count[name] += other._count[name]
        self.n_updates += other.n_updates
        return self

    def _norm(self, acc: np.ndarray, n_valid: np.ndarray) -> np.ndarray:
        """What the class sums of one group of observations add up to with full confidence."""
        if self.rule == "mean_prob":
            return n_valid.astype(np.uint64) * SCALE
        if self.rule == "mode":
            return n_valid.astype(np.uint64)
        return acc.sum(axis=-1, dtype=np.uint64)

    def _layers(self, name: str) -> dict[str, np.ndarray]:
        j = next(i for i, p in enumerate(self.periods) if p.name == name)
        score, denom, n_valid, n_obs = period_scores(
            self._layout, j, self._acc, self._n_valid, self._n_obs, self._norm
        )
        best = np.argmax(score, axis=-1)
        top = np.take_along_axis(score, best[..., None], axis=-1)[..., 0]
        mapped = (n_valid >= self.min_valid) & (denom > 0)
        classes = np.where(mapped, best + 1, NODATA).astype(np.uint8)
        confidence = percent(top, denom, mapped)
        lost = n_obs.astype(np.uint64) - n_valid
        cloud = np.where(n_obs > 0, percent(lost, n_obs.astype(np.uint64), n_obs > 0), NO_OBS)
        return {
            "class": classes,
            "confidence": confidence,
            "n_valid": n_valid.astype(np.uint16),
            "cloud_share": cloud.astype(np.uint8),
            "fallback": np.zeros(self.shape, np.uint8),
        }

    def mean_probabilities(self, period_name: str) -> np.ndarray:
        """One period's per-class scores as uint8 ``(H, W, 9)`` (x 255, 0 where not mapped).

        For ``mean_prob`` these are the mean clear-sky surface-class probabilities (month
        balanced as the map is): the soft consensus a student model learns from and the
        ``probabilities`` product. For the modes, each class's share of the votes.
        """
        if period_name not in self._count:
            raise ConfigError(
                f"no period named {period_name!r}; known: {[p.name for p in self.periods]}"
            )
        j = next(i for i, p in enumerate(self.periods) if p.name == period_name)
        score, denom, n_valid, _ = period_scores(
            self._layout, j, self._acc, self._n_valid, self._n_obs, self._norm
        )
        mapped = (n_valid >= self.min_valid) & (denom > 0)
        with np.errstate(all="ignore"):
            q = np.floor(255.0 * score / np.where(mapped, denom, 1)[..., None] + 0.5)
        return np.where(mapped[..., None], np.clip(q, 0, 255), 0).astype(np.uint8)

    def result_arrays(self, period_name: str) -> dict[str, np.ndarray]:
        """The layers of one period as numpy arrays (see :data:`LAYERS`)."""
        if period_name not in self._count:
            raise ConfigError(
                f"no period named {period_name!r}; known: {[p.name for p in self.periods]}"
            )
        out = self._layers(period_name)
        if self.fallback is not None and period_name != self.fallback:
            fb = self._layers(self.fallback)
            use = (out["class"] == NODATA) & (fb["class"] != NODATA)
            out["class"] = np.where(use, fb["class"], out["class"])
            out["confidence"] = np.where(use, fb["confidence"], out["confidence"])
            out["fallback"] = use.astype(np.uint8)
        return out

    def result(self, period_name: str) -> xr.Dataset:
        """One period's map and quality layers as an ``xarray.Dataset`` on ``(y, x)``.

        Variables: ``class`` uint8 (codes 1..9, 0 no data), ``confidence`` uint8 (0..100),
        ``n_valid`` uint16, ``cloud_share`` uint8 (percent of observed observations lost to
        cloud, 255 where never observed), ``fallback`` uint8 (1 where the fallback period
        filled the pixel).
        """
        return layers_to_dataset(self.result_arrays(period_name), self.geobox, period_name)

    def results(self) -> dict[str, xr.Dataset]:
        """Every period's result, keyed by period name."""
        return {p.name: self.result(p.name) for p in self.periods}


def layers_to_dataset(layers: dict[str, Any], geobox: Any, period_name: str) -> xr.Dataset:
    """Wrap layer arrays as a Dataset, with the GeoBox's coordinates when one is given."""
    coords: dict[str, Any] = {}
    if geobox is not None:
        from odc.geo.xr import xr_coords

        coords = {str(k): v for k, v in xr_coords(geobox).items()}
    ds = xr.Dataset(
        {k: (("y", "x"), v) for k, v in layers.items()},
        coords=coords,
        attrs={"period": period_name},
    )
    for k in ds.data_vars:
        if geobox is not None:
            ds[k].attrs["grid_mapping"] = "spatial_ref"
    return ds


# The whole-stack entry point lives in its own module (numpy streaming or per-block dask);
# imported last because it builds on the accumulator above.
from hlsmap.consensus_stack import consensus  # noqa: E402

__all__ = ["BALANCES", "RULES", "ConsensusAccumulator", "consensus", "layers_to_dataset"]
