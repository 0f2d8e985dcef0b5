"""Consensus benchmark: throughput, and accuracy on the synthetic world.

    python bench/bench_consensus.py throughput [--size 512] [--obs 24]
    python bench/bench_consensus.py world [--world DIR] [--size 256] [--error 0.25]
    python bench/bench_consensus.py world --world DIR --predictions P.zarr [P2.zarr ...]

``throughput``: pixel-observations per second per core of ``ConsensusAccumulator.update`` for
each rule, and of ``AlertState.update`` (numpy runs these single-threaded, so the figure is per
core).

``world``: annual and season consensus accuracy, the per-observation accuracy they improve on,
detected wet/dry months and tree-loss / new-built alert precision, recall and delay, on a
synthetic world (``hlsmap.simulate``; a 2-year tropical world is simulated when ``--world`` is
not given). The per-observation predictions are either

- ``--predictions``: stores written by the inference engine (``hlsmap.predictions`` format) -
  the figures for a real model; or
- by default, SIMULATED: the world's per-date truth passed through a simulated classifier
  (``--error`` per-observation error rate, spatially clustered, confusing similar classes;
  missed clouds mostly caught by a cloud class). These figures measure the consensus rules,
  not a model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.alerts import AlertState
from hlsmap.consensus import RULES, ConsensusAccumulator
from hlsmap.periods import Period
from hlsmap.predictions import Observation

# classes a land-cover model tends to confuse (code -> likely wrong code)
CONFUSE = {1: 4, 2: 6, 3: 6, 4: 1, 5: 3, 6: 3, 7: 8, 8: 7, 9: 8}
CONFUSE_LUT = np.array([1] + [CONFUSE[c] for c in range(1, 10)])


def _rate(update: Any, n_obs: int, px: int) -> float:
    """Pixel-observations per second from the median time of one update (robust to other
    processes sharing the machine)."""
    times = []
    for i in range(n_obs):
        t0 = time.perf_counter()
        update(i)
        times.append(time.perf_counter() - t0)
    return px / float(np.median(times))


def throughput(size: int, n_obs: int) -> None:
    rng = np.random.default_rng(0)
    probs = rng.integers(0, 256, (n_obs, size, size, 10), dtype=np.uint8)
    observed = rng.random((n_obs, size, size)) > 0.05
    valid = observed & (rng.random((n_obs, size, size)) > 0.3)
    days = np.datetime64("2024-01-05") + (np.arange(n_obs) * 11).astype("timedelta64[D]")
    px = size * size
    print(f"throughput on {size}x{size} px, median of {n_obs} observations, one core:")
    setups = [(rule, [Period.year(2024)], rule) for rule in RULES]
    seasons = [
        Period.year(2024),
        Period.season("wet", (11, 4), 2024),
        Period.season("dry", (5, 10), 2024),
    ]
    setups.append(("mean_prob, year+wet+dry", seasons, "mean_prob"))
    for label, periods, rule in setups:
        acc = ConsensusAccumulator((size, size), periods, rule=rule)
        rate = _rate(lambda i, a=acc: a.update(probs[i], valid[i], observed[i], days[i]), n_obs, px)
        print(f"  consensus {label:24s} {rate / 1e6:7.1f} M px-obs/s")
    import dask
    import dask.array as da

    from hlsmap.consensus import consensus

    lazy = consensus(
        da.from_array(probs, chunks=(8, 256, 256, 10)),
        da.from_array(valid, chunks=(8, 256, 256)),
        da.from_array(observed, chunks=(8, 256, 256)),
        [Period.year(2024)],
        days,
    )["2024"]
    with dask.config.set(scheduler="synchronous"):  # one core
        t0 = time.perf_counter()
        lazy.compute()
        dt_s = time.perf_counter() - t0
    print(f"  consensus mean_prob, dask (whole graph)   {n_obs * px / dt_s / 1e6:5.1f} M px-obs/s")
    state = AlertState(rng.integers(1, 10, (size, size), dtype=np.uint8))
    rate = _rate(lambda i: state.update(probs[i], valid[i], days[i]), n_obs, px)
    print(f"  alerts (k={state.k} of n={state.n})              {rate / 1e6:7.1f} M px-obs/s")


def simulated_observations(world: Any, error: float, seed: int) -> Iterator[Observation]:
    """The world's per-date truth through a simulated classifier (NOT a model)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    for rec in sorted(world.observations, key=lambda o: o["datetime"]):
        t = np.asarray(world.truth_at(rec["key"]).values)
        shape = t.shape
        observed = t != 0
        cloud = t == 10
        flagged = (cloud & (rng.random(shape) > 0.06)) | (rng.random(shape) < 0.01)
        # half of the errors independent, half in blobs (a model errs on whole fields)
        blobs = ndimage.zoom(rng.random((shape[0] // 8 + 1, shape[1] // 8 + 1)), 8, order=1)
        wrong = (rng.random(shape) < error / 2) | (blobs[: shape[0], : shape[1]] < error / 2)
        label = np.where(t == 10, 0, t).astype(np.int64)
        confuse = CONFUSE_LUT[label]
        other = np.where(rng.random(shape) < 0.6, confuse, rng.integers(1, 10, shape))
        label = np.where(wrong & (label > 0), other, label)
        missed = cloud & ~flagged
        label = np.where(missed, np.where(rng.random(shape) < 0.7, 10, other), label)
        label = np.where(label == 0, 10, label)
        # a calibrated-looking classifier: confident when right (mean top-1 ~0.88), torn
        # between its (wrong) answer and the true class when wrong
        top = np.where(
            wrong, rng.uniform(0.35, 0.75, shape), 0.55 + 0.45 * rng.beta(4.0, 1.5, shape)
        )
        runner = np.where(wrong & (t >= 1) & (t <= 9), t, 0).astype(np.int64)
        second = np.where(runner > 0, (1 - top) * rng.uniform(0.5, 0.9, shape), 0.0)
        p = rng.dirichlet(np.ones(10), size=shape) * (1 - top - second)[..., None]
        np.put_along_axis(
            p,
            (np.maximum(runner, 1) - 1)[..., None],
            (np.take_along_axis(p, (np.maximum(runner, 1) - 1)[..., None], -1) + second[..., None]),
            axis=-1,
        )
        np.put_along_axis(p, (label - 1)[..., None], top[..., None], axis=-1)
        probs = np.rint(p * 255).astype(np.uint8)
        valid = observed & ~flagged & (label != 10)
        when = np.datetime64(rec["datetime"].replace("+00:00", ""), "ns")
        yield Observation(probs, valid, observed, when, rec["sensor"])


def store_observations(paths: list[Path]) -> Iterator[Observation]:
    from hlsmap.outputs.maps import observations, open_stores

    stores, _ = open_stores(paths)
    yield from observations(stores, sort=True, progress=True)


def tee_to_store(obs: Iterator[Observation], path: Path, geobox: Any) -> Iterator[Observation]:
    """Pass observations through while writing them to a predictions store."""
    from hlsmap.predictions import PredictionWriter

    with PredictionWriter(path, geobox) as w:
        for o in obs:
            w.append(o.probs, o.valid, o.observed, o.time, sensor=o.sensor)
            yield o


def valid_obs_count(days: list[tuple[int, np.ndarray]], start: int, end: np.ndarray) -> np.ndarray:
    """Per pixel: valid observations on days ``start..end`` (inclusive)."""
    n = np.zeros(end.shape, np.int32)
    for day, valid in days:
        n += valid & (day >= start) & (day <= end)
    return n


def evaluate(
    world: Any,
    obs: Iterator[Observation],
    seasons: dict[str, tuple[int, int]],
    rule: tuple,
    balance: str = "month",
) -> None:
    years = sorted({int(y) for y in world.years})
    shape = tuple(world.geobox.shape)
    accs = {
        y: ConsensusAccumulator(
            shape,
            [Period.year(y)] + [Period.season(n, w, y) for n, w in seasons.items()],
            balance=balance,
        )
        for y in years
    }
    hits = total = 0
    state: AlertState | None = None
    valid_days: list[tuple[int, np.ndarray]] = []
    t0 = time.perf_counter()
    n_obs = 0
    for o in obs:
        n_obs += 1
        year = int(o.time.astype("datetime64[Y]").astype(int) + 1970)
        truth = np.asarray(world.truth_at(o.time).values)
        label = np.argmax(o.probs[..., :9], axis=-1) + 1
        ok = o.valid & (truth >= 1) & (truth <= 9)
        hits += int((label[ok] == truth[ok]).sum())
        total += int(ok.sum())
        if year in accs:
            accs[year].update(o.probs, o.valid, o.observed, o.time)
        if len(years) > 1 and year == years[1]:
            if state is None:
                base = accs[years[0]].result(str(years[0]))
                state = AlertState(
                    base["class"].values,
                    k=rule[0],
                    n=rule[1],
                    min_prob=rule[2],
                    baseline_confidence=base["confidence"].values,
                    min_baseline_conf=rule[3],
                )
            state.update(o.probs, o.valid, o.time)
            valid_days.append((int(o.time.astype("datetime64[D]").astype(int)), o.valid))
    elapsed = time.perf_counter() - t0
    print(f"{n_obs} observations, {shape[0]}x{shape[1]} px, {elapsed:.0f} s incl. truth reads")
    print(f"per-observation accuracy (valid pixels): {100 * hits / max(total, 1):.1f} %")
    for y in years:
        res = accs[y].result(str(y))
        truth = np.asarray(world.truth_annual(y).values)
        m = (truth > 0) & (res["class"].values > 0)
        oa = 100 * float((res["class"].values[m] == truth[m]).mean())
        print(f"annual {y}: OA {oa:.1f} % (mapped {100 * m.mean():.1f} % of pixels)")
        for name in seasons:
            r = accs[y].result(name)["class"].values
            st = np.asarray(world.truth_season(name, y).values)
            m = (st > 0) & (r > 0)
            print(f"  season {name} {y}: OA {100 * float((r[m] == st[m]).mean()):.1f} %")
    if state is not None:
        alert_figures(world, state, years[1], valid_days)


def alert_figures(world: Any, state: AlertState, year: int, valid_days: list) -> None:
    """Pixel precision/recall of active alerts against the world's change events, and delay."""
    kinds = state.kinds()
    base_truth = np.asarray(world.truth_annual(year - 1).values)
    for kind, event_kind, code in (
        ("tree_loss", "forest_clearing", 8),
        ("new_built", "construction", 7),
    ):
        # every event whose pixels differ from the baseline year's truth: this year's, and a
        # late event of the baseline year that its annual truth does not show yet
        events = [e for e in world.events if e.kind == event_kind and e.date.year <= year]
        truth = np.zeros(state.shape, bool)
        for e in events:
            truth |= e.mask
        truth &= (base_truth == 2) if kind == "tree_loss" else (base_truth != code)
        if not truth.any():
            print(f"alerts {kind}: no {event_kind} event differs from the {year - 1} truth")
            continue
        flagged = kinds[kind]
        tp = int((flagged & truth).sum())
        precision = tp / max(int(flagged.sum()), 1)
        recall = tp / int(truth.sum())
        delays, first = [], []
        for e in (e for e in events if e.date.year == year):
            start_day = next((d for d, c in e.stages if c == code), e.date)
            start = int(np.datetime64(start_day, "D").astype(int))
            hit = e.mask & flagged
            if hit.any():
                when = state.class_date if kind == "new_built" else state.confirmed_date
                n = valid_obs_count(valid_days, start, np.where(hit, when, 0))
                delays.extend(n[hit].tolist())
                first.append(int(n[hit].min()))
        within = 100 * float(np.mean(np.asarray(delays) <= 3)) if delays else float("nan")
        print(
            f"alerts {kind}: precision {precision:.2f} recall {recall:.2f} "
            f"({tp} of {int(truth.sum())} px, {int(flagged.sum())} flagged); pixels confirmed "
            f"within 3 valid obs: {within:.0f} % (median "
            f"{np.median(delays) if delays else float('nan'):.0f}); events first detected "
            f"after {first} valid obs"
        )


def detected_seasons(world: Any, predictions: list[Path] | None) -> None:
    from hlsmap.seasons import detect_seasons

    t0 = time.perf_counter()
    found = None
    if predictions:
        from hlsmap.errors import ConfigError
        from hlsmap.outputs.maps import ConsensusConfig, _seasons, open_stores

        stores, _ = open_stores(predictions)
        try:
            found = _seasons(ConsensusConfig(predictions, Path("."), seasons=["auto"]), stores)
        except ConfigError as exc:
            print(f"(stores: {exc}; detecting from the cube instead)")
    if found is None:
        from hlsmap.cube import load_cube

        cube = load_cube(
            world.items(),
            geobox=world.geobox,
            bands=("red", "green", "nir08", "swir16"),
            chunks={"x": 512, "y": 512},
        )
        found = detect_seasons(cube)
    assert found is not None
    ok = found.windows == {k: tuple(v) for k, v in world.seasons.items()}
    print(
        f"seasons detected ({time.perf_counter() - t0:.0f} s): "
        f"{found.describe().replace(chr(10), '; ')}; world: {world.seasons} -> "
        f"{'MATCH' if ok else 'DIFFERENT'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=["throughput", "world", "all"], nargs="?", default="all")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--obs", type=int, default=24)
    ap.add_argument("--world", type=Path, default=None)
    ap.add_argument("--predictions", type=Path, nargs="*", default=None)
    ap.add_argument("--error", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--write-predictions",
        type=Path,
        default=None,
        help="also write the simulated observations as a predictions store",
    )
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--min-prob", type=float, default=0.7)
    ap.add_argument("--min-baseline-conf", type=float, default=0.7)
    ap.add_argument("--balance", choices=["month", "none"], default="month")
    args = ap.parse_args()
    if args.what in ("throughput", "all"):
        throughput(args.size or 512, args.obs)
    if args.what in ("world", "all"):
        from hlsmap.simulate import World, WorldConfig, simulate_world

        if args.world is not None and (args.world / "manifest.json").exists():
            world = World.open(args.world)
        else:
            out = args.world or Path("/tmp/hlsmap-bench-world")
            cfg = WorldConfig(
                seed=args.seed,
                size=args.size or 256,
                years=2,
                climate="tropical",
                tiles_per_side=1,
                coastal=False,
            )
            t0 = time.perf_counter()
            world = simulate_world(cfg, out)
            print(f"simulated {world!r} in {time.perf_counter() - t0:.0f} s")
        if args.predictions:
            print(
                f"predictions from {len(args.predictions)} store(s) "
                "(a model's, when written by the inference engine)"
            )
            obs = store_observations(args.predictions)
        else:
            print(
                f"SIMULATED classifier on the world's truth (error {args.error:.0%}); "
                "these figures measure the consensus rules, not a model"
            )
            obs = simulated_observations(world, args.error, args.seed)
            if args.write_predictions is not None:
                obs = tee_to_store(obs, args.write_predictions, world.geobox)
        detected_seasons(world, args.predictions)
        print(
            f"consensus balance={args.balance}; alerts rule: k={args.k} of n={args.n} at "
            f"min_prob={args.min_prob}, baseline confidence >= {args.min_baseline_conf}"
        )
        rule = (args.k, args.n, args.min_prob, args.min_baseline_conf)
        evaluate(world, obs, world.seasons, rule, args.balance)
    print(f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
