"""The mapped layout's trap: a package missing from pyproject's list is absent from the wheel
while the editable install still imports it. Build the wheel, unpack it into a fresh folder and
import every module of the source tree from there, with the editable finder out of sight."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {
    "hlsmap": "hlsmap",
    "sensors": "hlsmap.sensors",
    "training": "hlsmap.training",
    "inference": "hlsmap.inference",
}


def _source_modules() -> list[str]:
    names = []
    for top, pkg in MAPPING.items():
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT / top).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if parts and parts[-1] == "__main__":
                continue
            names.append(".".join([pkg, *parts]))
    return names


def test_wheel_contains_every_module(tmp_path: Path) -> None:
    # Build from a copy: setuptools' build/ cache in the tree would keep removed packages.
    src = tmp_path / "src"
    keep = ("pyproject.toml", "README.md", *MAPPING)
    for name in keep:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=src,
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("hlsmap-*.whl"))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        + [str(wheel)],
        check=True,
        capture_output=True,
    )
    # `python -S` skips site.py, so no .pth file runs and the editable install's import hook is
    # never installed; the dependencies stay importable from site-packages added as a plain path.
    # the parent's path minus the source tree (and its editable-install hook: see above)
    path = [str(target)] + [
        p
        for p in sys.path
        if p and Path(p).resolve() != ROOT and not p.startswith(str(ROOT / "tests"))
    ]
    modules = _source_modules()
    code = (
        "import importlib, sys\n"
        f"sys.path[:] = {path!r}\n"
        f"for m in {modules!r}:\n"
        "    mod = importlib.import_module(m)\n"
        f"    assert mod.__file__.startswith({str(target)!r}), (m, mod.__file__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (target / "hlsmap" / "py.typed").exists()
    # the demo maps with the shipped weights: they must travel in the wheel
    assert (target / "hlsmap" / "data" / "demo-model" / "model.json").exists()
    assert (target / "hlsmap" / "data" / "demo-model" / "weights.npz").exists()
