"""Agreement of a student with a teacher (issue 18 item 2) on the synthetic world, through the
local STAC API and range server. Synthetic spectra: these figures are plumbing checks (same
model -> 100%, another model -> less), never claims about real places."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from teacher_world import DEMO_MODEL, FIXTURE, ServedWorld, other_model, served_world

from hlsmap.region import Region
from hlsmap.training.teacher_eval import AgreementReport, agreement_metrics, teacher_agreement

DATES = "2024-01-01/2024-02-29"


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    with served_world(tmp_path_factory.mktemp("teval")) as w:
        yield w


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                           dashboard_address=None)  # fmt: skip
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _agree(tw: ServedWorld, student: Any, teacher: Any, client: Any, **kw: Any) -> AgreementReport:
    region = Region.from_geobox(tw.world.geobox, name="world")
    return teacher_agreement(student, teacher, tw.api, region=region, datetime=DATES,
                             client=client, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def same(tw: ServedWorld, client: Any) -> AgreementReport:
    return _agree(tw, DEMO_MODEL, DEMO_MODEL, client, work=tw.root / "same")


def test_agreement_metrics_producers_and_users() -> None:
    cm = np.zeros((9, 9), np.int64)
    cm[0, 0], cm[0, 1] = 6, 2  # teacher water: 6 water, 2 trees
    cm[1, 1] = 2  # teacher trees: 2 trees
    m = agreement_metrics(cm)
    assert m["agreement"] == pytest.approx(0.8) and m["pixels"] == 10
    assert m["per_class"]["1"]["producers"] == pytest.approx(0.75)
    assert m["per_class"]["1"]["users"] == pytest.approx(1.0)
    assert m["per_class"]["2"]["producers"] == pytest.approx(1.0)
    assert m["per_class"]["2"]["users"] == pytest.approx(0.5)
    assert m["per_class"]["3"]["producers"] is None
    assert agreement_metrics(np.zeros((9, 9), np.int64))["agreement"] is None


def test_same_model_as_teacher_agrees_fully(same: AgreementReport) -> None:
    r = same
    assert r.teacher_pixels > 500
    assert r.consensus["all"]["agreement"] == 1.0
    assert r.consensus["all"]["pixels"] == r.teacher_pixels
    assert r.consensus["all"]["unmapped"] == 0
    cm = np.asarray(r.consensus["all"]["confusion"])
    assert cm.trace() == cm.sum() == r.teacher_pixels
    # single observations and one-sensor consensus are not the all-sensor consensus
    for s in ("L30", "S30"):
        assert r.observations[s]["observations"] > 0
        assert 0.5 < r.observations[s]["agreement"] < 1.0
        assert 0.5 < r.consensus[s]["agreement"] <= 1.0
    obs = r.observations
    assert obs["all"]["observations"] == obs["L30"]["observations"] + obs["S30"]["observations"]
    assert obs["all"]["pixels"] == obs["L30"]["pixels"] + obs["S30"]["pixels"]
    assert r.sensors["teacher"]["L30"]["used"] > 0 and r.sensors["teacher"]["S30"]["used"] > 0
    doc = json.loads(json.dumps(r.as_dict()))
    assert doc["agreement"] == 1.0 and doc["consensus"]["L30"]["per_class"]["1"]["name"] == "water"
    md = r.table(markdown=True)
    assert "| consensus, all sensors | 100.0% |" in md and "per observation, L30" in md
    from rich.console import Console

    con = Console(record=True, width=120)
    con.print(r.table())
    con.print(r.class_table("L30"))
    text = con.export_text()
    assert "consensus, S30 only" in text and "producer's" in text and "water" in text


def test_teacher_from_s30_equals_students_s30_consensus(
    tw: ServedWorld, client: Any, same: AgreementReport
) -> None:
    # the student's S30-only consensus is recomputed from its saved predictions; the teacher's
    # comes from the region runner's own tiles: the same model on the same observations must
    # give the same map, pixel for pixel
    r = _agree(tw, DEMO_MODEL, DEMO_MODEL, client, teacher_sensors=["S30"])
    assert set(r.sensors["teacher"]) == {"S30"}
    assert r.settings["teacher_sensors"] == ["S30"]
    assert r.consensus["S30"]["agreement"] == 1.0
    assert r.consensus["all"]["agreement"] < 1.0
    # the student run is the same as before: its per-observation pixels too
    assert r.observations["all"]["observations"] == same.observations["all"]["observations"]


def test_a_different_student_agrees_less(tw: ServedWorld, client: Any) -> None:
    student = other_model(tw.root)
    r = _agree(tw, student, DEMO_MODEL, client)
    assert r.teacher_pixels > 500
    assert r.consensus["all"]["agreement"] < 0.9
    assert r.observations["all"]["agreement"] < 0.9
    per = r.consensus["all"]["per_class"]
    assert sum(c["teacher_pixels"] for c in per.values()) == r.teacher_pixels


def test_a_region_is_required(tw: ServedWorld) -> None:
    from hlsmap.errors import ConfigError

    with pytest.raises(ConfigError, match="held-out area"):
        teacher_agreement(DEMO_MODEL, DEMO_MODEL, tw.api, datetime=DATES)


@pytest.mark.skipif(not (FIXTURE / "forward" / "saved_model.pb").is_file(),
                    reason=f"Dynamic World fixture missing at {FIXTURE}")  # fmt: skip
def test_dynamicworld_teacher_reads_s30_at_10_m_on_the_30_m_grid(
    tw: ServedWorld, client: Any, tmp_path: Path
) -> None:
    from hlsmap.errors import ConfigError
    from hlsmap.model.dw_import import import_dynamicworld

    dw = import_dynamicworld(FIXTURE / "forward", tmp_path / "dw", FIXTURE)
    r = _agree(tw, DEMO_MODEL, dw, client)
    assert r.settings["teacher_sensors"] == ["S30"] and r.settings["resolution"] == 30.0
    assert set(r.sensors["teacher"]) == {"S30"}
    assert r.sensors["student"]["L30"]["used"] > 0
    n = tw.world.geobox.shape[0] * tw.world.geobox.shape[1]
    assert 0 < r.teacher_pixels <= n  # on the student's 30 m grid
    for s in ("all", "L30", "S30"):
        c = r.consensus[s]
        assert c["pixels"] > 0 and c["pixels"] + c["unmapped"] == r.teacher_pixels
    with pytest.raises(ConfigError, match="S30"):
        _agree(tw, DEMO_MODEL, dw, client, teacher_sensors=["L30"])


def test_cli_evaluate_teacher_writes_agreement(
    tw: ServedWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hlsmap.cli import main

    bbox = [str(v) for v in tw.world.bbox]
    args = ["evaluate", "--model", str(DEMO_MODEL), tw.api, "--teacher", str(DEMO_MODEL),
            "--bbox", *bbox, "--datetime", DATES]  # fmt: skip
    # one run (a process cluster starts per run): --model, --teacher-sensors, --json and --out
    main([*args, "--teacher-sensors", "S30", "--json", "--out", str(tmp_path / "ev")])
    doc = json.loads(capsys.readouterr().out)
    assert doc["consensus"]["S30"]["agreement"] == 1.0 and doc["teacher_pixels"] > 500
    assert doc["settings"]["teacher_sensors"] == ["S30"]
    assert json.loads((tmp_path / "ev" / "agreement.json").read_text()) == doc


def test_cli_evaluate_teacher_usage_errors(
    tw: ServedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from hlsmap.cli import main

    for extra, says in (([], "--datetime"), (["--datetime", DATES], "held-out area")):
        with pytest.raises(SystemExit) as e:
            main(["evaluate", str(DEMO_MODEL), tw.api, "--teacher", str(DEMO_MODEL), *extra])
        assert e.value.code == 2 and says in " ".join(capsys.readouterr().err.split())
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(DEMO_MODEL), "chips.zarr", "--datetime", DATES])
    assert e.value.code == 2 and "go with --teacher" in " ".join(capsys.readouterr().err.split())
