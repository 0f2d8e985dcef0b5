"""The notebooks execute end to end on tiny synthetic worlds and produce sensible results.

Each ``notebooks/*.py`` (jupytext percent format) is converted to a notebook and run by
nbclient in a kernel of this interpreter, in a temporary working directory, with small
parameters passed through the ``HLSMAP_NB_*`` environment variables. The checks read what the
notebook wrote (figures, ``summary.json``) and the kernel's final variables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "hlsmap-notebook-test"
PIXEL_HA = 0.09  # one 30 m pixel


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec that runs *this* interpreter (never a python3 spec found elsewhere)."""
    base = tmp_path_factory.mktemp("jupyter")
    spec = base / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    doc = {"argv": argv, "display_name": "hlsmap test", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(doc))
    return base


def run_notebook(
    name: str,
    env: dict[str, str],
    workdir: Path,
    kernel_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    timeout: int = 600,
) -> Any:
    """Execute ``notebooks/<name>.py`` in ``workdir``; return the executed notebook."""
    import jupytext
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    # no MPLBACKEND: the kernel shows figures inline, as in Jupyter (assert_inline_figures)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


def text_output(nb: Any) -> str:
    """Everything the notebook printed."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
    return "".join(parts)


def assert_inline_figures(nb: Any, at_least: int = 1) -> None:
    """The executed notebook shows its figures inline (``image/png`` outputs), as in Jupyter."""
    images = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) >= at_least, f"{len(images)} inline figures, expected {at_least}"


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path.name} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000, f"{path.name} looks empty"


def test_seasonal_analysis(
    tmp_path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    env = {"HLSMAP_NB_SIZE": "64", "HLSMAP_NB_OUT": str(out), "HLSMAP_NB_MODEL": "truth"}
    nb = run_notebook("seasonal_analysis", env, tmp_path, kernel_dir, monkeypatch)
    assert_inline_figures(nb, 4)
    for fig in ("seasons_detected", "season_maps", "seasonal_lake", "ndvi_curves"):
        assert_png(out / f"{fig}.png")
    s = json.loads((out / "summary.json").read_text())
    # no model was asked for: the notebook must say its maps are the truth
    assert "TRUTH" in s["maps_from"] and "TRUTH" in text_output(nb)
    # the detected seasons overlap the world's true ones
    assert set(s["detected_seasons"]) == {"wet", "dry"}
    assert min(s["season_overlap"].values()) >= 0.5
    # every pixel of the 64 x 64 world is in one class of each season map
    for season in ("wet", "dry"):
        assert sum(s["areas_ha"][season].values()) == pytest.approx(64 * 64 * PIXEL_HA, rel=1e-3)
    # the lake rises and falls through the year
    lake = s["seasonal_lake"]
    assert lake["water_extent_max_ha"] > lake["water_extent_min_ha"] > 0
    assert lake["seasonal_water_any_date_ha"] > 0
    # NDVI: trees green, water below zero; crops swing more through the year than trees
    ndvi = s["ndvi_median"]
    assert ndvi["Trees"] > 0.5 > 0 > ndvi["Water"]
    amp = s["ndvi_amplitude"]
    assert amp["Crops"] > 2 * amp["Trees"]


def test_change_analysis(tmp_path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    env = {"HLSMAP_NB_SIZE": "64", "HLSMAP_NB_OUT": str(out), "HLSMAP_NB_MODEL": "truth"}
    nb = run_notebook("change_analysis", env, tmp_path, kernel_dir, monkeypatch)
    assert_inline_figures(nb, 2)
    assert_png(out / "annual_maps.png")
    assert_png(out / "alerts.png")
    s = json.loads((out / "summary.json").read_text())
    assert "TRUTH" in s["maps_from"] and "SIMULATED" in s["alerts"]["fed_with"]
    assert "SIMULATED classifier" in text_output(nb)
    matrix = json.loads((out / "transition_matrix.json").read_text())
    assert matrix["unit"] == "hectares"
    assert matrix["total"] == pytest.approx(64 * 64 * PIXEL_HA, rel=1e-3)
    # the second year's forest clearing shows as tree loss between the annual maps
    assert s["changed_ha"] > 0 and s["named_change_ha"]["tree_loss"] > 0
    assert matrix["transitions"]["trees"].get("bare", 0) > 0
    # the decided change by type, as a picture; maps from the truth find every true change
    assert_png(out / "change_types.png")
    assert s["change_type_ha"]["tree_loss"] == pytest.approx(s["named_change_ha"]["tree_loss"])
    assert s["change_scores"]["land_cover"]["precision"] == 1.0
    # ... and the alerts catch it, after the clearing date, within weeks
    a = s["alerts"]
    assert a["clearing_pixels"] > 0 and s["observations_streamed"] > 50
    assert a["recall"] >= 0.8 and a["precision"] >= 0.8
    assert 0 <= a["median_delay_days"] <= 90
    assert a["first_confirmed"] >= a["clearing_dates"][0]


def test_custom_sensor(tmp_path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    env = {"HLSMAP_NB_SIZE": "64", "HLSMAP_NB_MONTHS": "2", "HLSMAP_NB_OUT": str(out)}
    nb = run_notebook("custom_sensor", env, tmp_path, kernel_dir, monkeypatch)
    assert_inline_figures(nb)
    assert_png(out / "quicklook_sensors.png")
    assert_png(out / "truth_quicklook.png")
    s = json.loads((out / "summary.json").read_text())
    assert set(s["sensors_in_cube"]) == {"L30", "SIMSAT"}
    assert min(s["sensors_in_cube"].values()) > 0
    # the adapter undid the +1000 offset and the uint16 / 0 no-data encoding exactly
    assert set(s["max_abs_band_difference_vs_s30"].values()) == {0}
    assert s["clear_agreement_vs_s30"] == 1.0 and s["fill_agreement_vs_s30"] == 1.0
    assert s["cube_dtypes"]["red"] == "int16" and s["cube_dtypes"]["fmask"] == "uint8"
    # the notebook wrote real uint16 granules and a new collection
    items = json.loads((out / "items.json").read_text())["features"]
    assert {i["collection"] for i in items} == {"hls2-l30", "simsat-l2"}
    assert any(p.name.endswith(".SR_B3.tif") for p in (out / "simsat").rglob("*.tif"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seasonal_analysis", "change_analysis"])
def test_model_path(
    name: str, tmp_path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model branch (run_map, Predictor) with an untrained tiny U-Net: it must run end to
    end and say that its maps are untrained."""
    out = tmp_path / "out"
    env = {"HLSMAP_NB_SIZE": "64", "HLSMAP_NB_OUT": str(out), "HLSMAP_NB_MODEL": "untrained"}
    nb = run_notebook(name, env, tmp_path, kernel_dir, monkeypatch, timeout=900)
    s = json.loads((out / "summary.json").read_text())
    assert "UNTRAINED" in s["maps_from"] and "UNTRAINED" in text_output(nb)
    assert (out / "maps" / "collection.json").is_file()
