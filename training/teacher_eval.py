"""Agreement of a student model with a teacher model on held-out regions and periods.

The figures a distilled model is judged by (issue 18): the teacher (for example Dynamic World:
S30 only, 10 m) is run on the observations it can read, its predictions aggregated to the
student's grid (30 m) and combined into the teacher's consensus map from clear-sky
observations; the student is run on every observation (L30 and S30). Both runs are ordinary
region runs (:func:`hlsmap.inference.runner.run_region`: tiles on Dask, resumable, the same
consensus code as the maps) that keep every observation's prediction
(``TileOptions.save_predictions``); this module only compares what they wrote:

* per-observation agreement: each student observation's class on its valid (clear) pixels
  against the teacher's consensus class, split by sensor (``L30``, ``S30``, ``all``);
* consensus agreement: the student's consensus from all its observations, from L30 alone
  and from S30 alone (recomputed from the saved predictions with
  :class:`hlsmap.consensus.ConsensusAccumulator`, the maps' own accumulator and options)
  against the teacher's consensus;
* per-class producer's agreement (the share of the teacher's pixels of a class that the student
  gives that class) and user's agreement (the share of the student's pixels of a class the
  teacher agrees with), a confusion matrix (rows teacher, columns student) and pixel counts.

Only pixels the teacher's consensus maps (a surface class) count. Agreement with a teacher is
not accuracy: it measures how well the student reproduces the teacher, errors included.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.errors import ConfigError, TileFailedError
from hlsmap.predictions import N_SURFACE

SUBSETS = ("all", "L30", "S30")
"""The student's observation subsets reported: every sensor, L30 alone, S30 alone."""


@dataclass(frozen=True)
class AgreementReport:
    """What :func:`teacher_agreement` measured (JSON-ready through :meth:`as_dict`).

    Attributes:
        student, teacher: the two models (paths or known names).
        period: the compared period (``"2024"``, ``"2024-01-01_2024-06-30"``).
        regions: the regions compared (names).
        observations: per sensor subset (``all``, ``L30``, ``S30``): ``agreement`` (share of
            compared pixel-observations where the student's class equals the teacher's
            consensus; ``None`` with no pixel), ``pixels`` (pixel-observations compared),
            ``observations`` (tile-observations of that subset), ``confusion`` (9 x 9).
        consensus: per subset: the metrics of the student's consensus from that subset's
            observations against the teacher's consensus (``agreement``, ``kappa``, ``pixels``,
            ``per_class`` with ``producers``/``users`` agreement, ``confusion``); ``None``
            pixels where the subset maps nothing; ``unmapped``: teacher-mapped pixels where
            that consensus has no class (no valid observation of the subset), not compared.
        teacher_pixels: pixels the teacher's consensus maps (the comparison's footprint).
        sensors: per run (``teacher``, ``student``), granules per sensor used and skipped.
        settings: the consensus options both runs used.
    """

    student: str
    teacher: str
    period: str
    regions: tuple[str, ...]
    observations: dict[str, dict[str, Any]]
    consensus: dict[str, dict[str, Any]]
    teacher_pixels: int
    sensors: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def agreement(self) -> float | None:
        """The headline: the student's all-sensor consensus agreement with the teacher's."""
        return self.consensus["all"]["agreement"]  # type: ignore[no-any-return]

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        return {
            "student": self.student, "teacher": self.teacher, "period": self.period,
            "regions": list(self.regions), "agreement": self.agreement,
            "observations": self.observations, "consensus": self.consensus,
            "teacher_pixels": self.teacher_pixels, "sensors": self.sensors,
            "settings": self.settings,
        }  # fmt: skip

    def table(self, markdown: bool = False) -> Any:
        """The figures as a ``rich`` table, or a Markdown table string (``markdown=True``)."""
        rows = [("consensus, all sensors", self.consensus["all"])]
        rows += [(f"consensus, {s} only", self.consensus[s]) for s in SUBSETS[1:]]
        rows += [(f"per observation, {s}", self.observations[s]) for s in SUBSETS]
        cells = [(name, _pct(r["agreement"]), f"{r['pixels']:,}") for name, r in rows]
        title = (f"agreement of {self.student} with teacher {self.teacher}, {self.period}"
                 f" ({self.teacher_pixels:,} teacher-mapped pixels)")  # fmt: skip
        if markdown:
            lines = [f"**{title}**", "", "| figure | agreement | pixels |", "|---|---:|---:|"]
            lines += [f"| {a} | {b} | {c} |" for a, b, c in cells]
            return "\n".join(lines)
        from rich.table import Table

        table = Table(title=title)
        for col in ("figure", "agreement", "pixels"):
            table.add_column(col, justify="left" if col == "figure" else "right")
        for row in cells:
            table.add_row(*row)
        return table

    def class_table(self, subset: str = "all") -> Any:
        """Per-class producer's/user's agreement of one consensus subset (a ``rich`` table)."""
        from rich.table import Table

        table = Table(title=f"per class, consensus of {subset} (reference: the teacher)")
        for col in ("class", "producer's", "user's", "teacher px", "student px"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for c in self.consensus[subset]["per_class"].values():
            if c["teacher_pixels"] or c["student_pixels"]:
                table.add_row(c["name"], _pct(c["producers"]), _pct(c["users"]),
                              f"{c['teacher_pixels']:,}", f"{c['student_pixels']:,}")  # fmt: skip
        return table


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def agreement_metrics(cm: np.ndarray) -> dict[str, Any]:
    """Agreement figures of a confusion matrix ``cm[teacher - 1, student - 1]`` (9 x 9).

    Producer's agreement of a class is its diagonal over the teacher's pixels of it (row sum),
    user's agreement over the student's (column sum); ``None`` where that sum is 0.
    """
    from hlsmap.classes import BY_CODE
    from hlsmap.training.metrics import metrics_from_confusion

    m = metrics_from_confusion(cm)
    cm = np.asarray(cm, np.int64)
    per_class = {}
    for code, c in m["per_class"].items():
        i = int(code) - 1
        per_class[code] = {
            "name": BY_CODE[i + 1].name if i + 1 in BY_CODE else code,
            "producers": c["recall"], "users": c["precision"],
            "teacher_pixels": int(cm[i].sum()), "student_pixels": int(cm[:, i].sum()),
        }  # fmt: skip
    total = int(cm.sum())
    return {
        "agreement": m["overall_accuracy"] if total else None,
        "kappa": m["kappa"] if total and np.isfinite(m["kappa"]) else None,
        "pixels": total,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


class _Tally:
    """Running confusion matrices (teacher consensus vs student), per figure and subset."""

    def __init__(self) -> None:
        self.obs = {s: np.zeros((N_SURFACE, N_SURFACE), np.int64) for s in SUBSETS}
        self.n_obs = dict.fromkeys(SUBSETS, 0)
        self.cons = {s: np.zeros((N_SURFACE, N_SURFACE), np.int64) for s in SUBSETS}
        self.unmapped = dict.fromkeys(SUBSETS, 0)
        self.teacher_pixels = 0

    def add_observation(self, teacher: np.ndarray, probs: np.ndarray, valid: np.ndarray,
                        sensor: str) -> None:  # fmt: skip
        from hlsmap.training.metrics import confusion_matrix

        # the student's class among the surface classes (consensus drops the cloud class the
        # same way); pixels it (or Fmask) calls cloud are not valid and do not count
        student = np.argmax(probs[..., :N_SURFACE], axis=-1).astype(np.uint8) + 1
        cm = confusion_matrix(teacher, student, N_SURFACE, mask=valid)
        for s in ("all", sensor):
            if s in self.obs:
                self.obs[s] += cm
                self.n_obs[s] += 1

    def add_consensus(self, teacher: np.ndarray, student: np.ndarray, subset: str) -> None:
        from hlsmap.training.metrics import confusion_matrix

        self.cons[subset] += confusion_matrix(teacher, student, N_SURFACE)
        # teacher-mapped pixels the student's consensus leaves without a class (no valid
        # observation of that subset there): counted, not compared
        self.unmapped[subset] += int(
            ((teacher > 0) & ~((student >= 1) & (student <= N_SURFACE))).sum()
        )


def _region_of(region: Any) -> Any:
    """A :class:`hlsmap.region.Region` from a Region, a bbox, an MGRS tile id or a GeoJSON."""
    from hlsmap.region import Region

    if isinstance(region, Region):
        return region
    if isinstance(region, list | tuple) and len(region) == 4:
        return Region.from_bbox(tuple(float(v) for v in region))  # type: ignore[arg-type]
    if isinstance(region, str | os.PathLike):
        p = Path(region)
        if p.suffix.lower() in (".json", ".geojson") or p.is_file():
            return Region.from_geojson(p)
        return Region.from_tile(str(region))
    raise ConfigError(
        f"cannot read region {region!r}: give a Region, a bbox (W, S, E, N), an MGRS tile id"
        " or a GeoJSON file"
    )


def _run_ok(result: Any, who: str) -> None:
    if result.failed:
        missing = ", ".join(str(k) for k in sorted(result.failed))
        raise TileFailedError(
            f"the {who} run left tile(s) {missing} unfinished, so its agreement would miss them;"
            f" rerun with the same work folder to retry only those ({result.out_dir}/run.log)"
        )


def _compare_region(
    items: list[Any], geobox: Any, student: str, teacher: str, teacher_items: list[Any],
    period: Any, work: Path, config: Any, client: Any, progress: bool, tally: _Tally,
) -> dict[str, Any]:  # fmt: skip
    """Run both models over one region and add its pixels to ``tally``; returns the per-run
    sensor usage."""
    from hlsmap.consensus import ConsensusAccumulator
    from hlsmap.inference.runner import run_region
    from hlsmap.inference.tasks import predictions_path, read_tile_file
    from hlsmap.predictions import iter_observations, open_predictions

    kw = {"config": config, "client": client, "progress": progress, "mosaic": False}
    t_run = run_region(teacher_items, geobox, teacher, work / "teacher", [period], **kw)
    _run_ok(t_run, "teacher")
    s_run = run_region(items, geobox, student, work / "student", [period], **kw)
    _run_ok(s_run, "student")
    o = config.options
    by_index = {t.index: t for t in t_run.tasks}
    for task in s_run.tasks:
        t_layers, _ = read_tile_file(by_index[task.index].out_path)
        ref = t_layers[period.name]["class"]
        ref = np.where((ref >= 1) & (ref <= N_SURFACE), ref, 0).astype(np.uint8)
        tally.teacher_pixels += int((ref > 0).sum())
        s_layers, _ = read_tile_file(task.out_path)
        tally.add_consensus(ref, s_layers[period.name]["class"], "all")
        shape = (int(task.geobox.shape[0]), int(task.geobox.shape[1]))
        subsets = {s: ConsensusAccumulator(shape, [period], rule=o.rule, min_valid=o.min_valid,
                                           balance=o.balance) for s in SUBSETS[1:]}  # fmt: skip
        store = predictions_path(task.out_path)
        if store.is_dir():  # a tile without any observation writes no store
            ds = open_predictions(store)
            for obs in iter_observations(ds, sort=False):
                if not period.contains(obs.time):
                    continue
                tally.add_observation(ref, obs.probs, obs.valid, obs.sensor or "")
                if obs.sensor in subsets:
                    subsets[obs.sensor].update(obs.probs, obs.valid, obs.observed, obs.time)
            ds.close()
        for s, acc in subsets.items():
            tally.add_consensus(ref, acc.result_arrays(period.name)["class"], s)
    return {"teacher": t_run.sensors, "student": s_run.sensors}


def _sum_usage(into: dict[str, dict[str, Any]], usage: dict[str, dict[str, Any]]) -> None:
    for run, sensors in usage.items():
        for sensor, info in sensors.items():
            cur = into.setdefault(run, {}).setdefault(sensor, {"used": 0, "skipped": 0})
            cur["used"] += int(info["used"])
            cur["skipped"] += int(info["skipped"])
            if "reason" in info:
                cur["reason"] = info["reason"]


def teacher_agreement(
    student: str | os.PathLike[str],
    teacher: str | os.PathLike[str],
    source: str,
    *,
    region: Any = None,
    tiles: Sequence[str] | None = None,
    datetime: str,
    sensors: Sequence[str] = ("L30", "S30"),
    teacher_sensors: Sequence[str] | None = None,
    max_cloud: float | None = None,
    resolution: float | None = None,
    work: str | os.PathLike[str] | None = None,
    config: Any = None,
    client: Any = None,
    progress: bool = False,
) -> AgreementReport:
    """Measure how well ``student`` agrees with ``teacher`` over held-out regions and a period.

    Args:
        student: the student model (a model folder or a known name); it reads every
            observation of ``sensors`` it can.
        teacher: the teacher model (a folder, or ``"dynamicworld"``); it reads the
            observations of ``teacher_sensors`` that its input contract allows.
        source: the STAC source (``pc``, ``nasa``, an API URL, a catalog file).
        region: one region: a :class:`hlsmap.region.Region`, a bbox, an MGRS tile id or a
            GeoJSON file.
        tiles: MGRS tile ids, each compared on its own grid and summed (instead of or with
            ``region``).
        datetime: the period (``"2024"``, ``"2024-01-01/2024-06-30"``); also the search window.
        sensors: the sensors searched (and read by the student).
        teacher_sensors: the sensors the teacher may use (default: all of ``sensors`` that
            its bands allow: S30 for Dynamic World).
        max_cloud: skip granules above this cloud cover (percent).
        resolution: the comparison grid in metres (default: the student's, 30 m for the
            U-Net); a teacher trained at a finer resolution is aggregated to it by mode.
        work: folder for the two region runs (``<region>/teacher``, ``<region>/student``);
            given, a rerun resumes them; default: a temporary folder removed at the end.
        config: a :class:`hlsmap.inference.runner.RunConfig` for both runs (its consensus
            options are the comparison's); ``save_predictions`` is forced on.
        client: a Dask client or scheduler address for both runs.
        progress: show the runs' progress bars.

    Raises:
        ConfigError: no region given, or the teacher cannot read any of ``teacher_sensors``.
        EmptySearchError: the source has no observation there and then.
        TileFailedError: a run left tiles unfinished (rerun with the same ``work``).
    """
    from hlsmap.inference.cluster import open_client
    from hlsmap.inference.contract import usable_sensors
    from hlsmap.inference.runner import RunConfig, with_options
    from hlsmap.model import read_metadata
    from hlsmap.periods import parse_period
    from hlsmap.search import search
    from hlsmap.sensors import sensor_for_collection

    regions = ([_region_of(region)] if region is not None else []) + [
        _region_of(str(t)) for t in tiles or ()
    ]
    if not regions:
        raise ConfigError("give the held-out area: region=(bbox, tile or GeoJSON) or tiles=[...]")
    period = parse_period(datetime)
    s_meta, t_meta = read_metadata(student), read_metadata(teacher)  # fail before any search
    usable_sensors(s_meta, sensors, model=f"student {student}")
    t_sensors = usable_sensors(t_meta, teacher_sensors or sensors, model=f"teacher {teacher}")
    res = float(resolution if resolution is not None else s_meta.resolution)
    config = with_options(config or RunConfig(), save_predictions=True)
    tally, usage = _Tally(), {}  # type: ignore[var-annotated]
    # one cluster for every run (a process cluster takes seconds to start)
    client, to_close = open_client(client, config.scheduler, config.n_workers,
                                   config.threads_per_worker)  # fmt: skip
    with contextlib.ExitStack() as stack:
        for obj in reversed(to_close):
            stack.callback(obj.close)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hlsmap-teval-"))
        root = Path(work) if work is not None else Path(tmp)
        for n, reg in enumerate(regions):
            items = search(source, region=reg, datetime=datetime, sensors=tuple(sensors),
                           max_cloud=max_cloud)  # fmt: skip
            t_items = [
                i for i in items if sensor_for_collection(i.collection_id or "").name in t_sensors
            ]
            name = f"{n:02d}-{reg.name}" if len(regions) > 1 else reg.name
            got = _compare_region(items, reg.geobox(resolution=res), str(student), str(teacher),
                                  t_items, period, root / name, config, client, progress,
                                  tally)  # fmt: skip
            _sum_usage(usage, got)
    obs = {}
    for s in SUBSETS:
        m = agreement_metrics(tally.obs[s])
        obs[s] = {"agreement": m["agreement"], "pixels": m["pixels"],
                  "observations": tally.n_obs[s], "confusion": m["confusion"]}  # fmt: skip
    o = config.options
    return AgreementReport(
        student=str(student), teacher=str(teacher), period=period.name,
        regions=tuple(r.name for r in regions), observations=obs,
        consensus={s: {**agreement_metrics(tally.cons[s]), "unmapped": tally.unmapped[s]}
                   for s in SUBSETS},  # fmt: skip
        teacher_pixels=tally.teacher_pixels, sensors=usage,
        settings={"rule": o.rule, "min_valid": o.min_valid, "balance": o.balance,
                  "resolution": res, "teacher_sensors": list(t_sensors)},
    )  # fmt: skip
