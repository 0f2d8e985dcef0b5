"""Known models: fetched through a real HTTP server (pinned paths + sha256), converted, cached.

The repository's files are served from ``../shared/fixtures/dynamicworld`` laid out as on the
public repository (``model/forward/...``, ``LICENSE``, ``NOTICE``), so the download path is the
one that reads GitHub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hlsmap.errors import ModelError, RemoteError

from servers import free_port, range_server

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "dynamicworld"
HLSMAP = Path(sys.executable).with_name("hlsmap")
pytestmark = pytest.mark.skipif(
    not (FIXTURE / "forward" / "saved_model.pb").is_file(),
    reason=f"Dynamic World fixture missing at {FIXTURE}",
)


def _repository(root: Path) -> Path:
    """A copy of the repository's layout holding the fixture's files."""
    (root / "model").mkdir(parents=True)
    shutil.copytree(FIXTURE / "forward", root / "model" / "forward")
    for name in ("LICENSE", "NOTICE"):
        shutil.copy(FIXTURE / name, root / name)
    return root


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HLSMAP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HLSMAP_DYNAMICWORLD_URL", raising=False)
    yield tmp_path / "cache"


def _env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HLSMAP_DYNAMICWORLD_URL"}
    return {**env, "HLSMAP_CACHE_DIR": str(cache), **extra}


def test_fetch_downloads_checks_converts_and_caches(tmp_path: Path, cache: Path) -> None:
    from hlsmap.model import load_model
    from hlsmap.model.zoo import cached_path, ensure_model, is_cached

    repo = _repository(tmp_path / "repo")
    assert not is_cached("dynamicworld")
    with range_server(repo) as srv:
        path = ensure_model("dynamicworld", url=srv.url + "/", progress=False)
        hits = sum(srv.hits.values())
        assert ensure_model("dynamicworld", url=srv.url + "/") == path  # cached: no request
        assert sum(srv.hits.values()) == hits
    assert path == cached_path("dynamicworld") and is_cached("dynamicworld")
    names = {p.name for p in path.iterdir()}
    assert {"weights.npz", "model.json", "LICENSE", "NOTICE", "CONVERTED.txt"} <= names
    assert (path / "NOTICE").read_bytes() == (FIXTURE / "NOTICE").read_bytes()
    assert "converted by hlsmap" in (path / "CONVERTED.txt").read_text()
    doc = json.loads((path / "model.json").read_text())
    prov = doc["provenance"]
    assert prov["converted_from"]["commit"].startswith("0dd288f")
    assert prov["license"] == "Apache-2.0" and "Sci Data 9, 251" in prov["citation"]
    assert "Dynamic World Project" in prov["notice"]
    assert doc["architecture"]["name"] == "dynamicworld" and doc["input"]["resolution"] == 10.0
    assert [c["code"] for c in doc["classes"]] == list(range(1, 10))
    # the name resolves to the cached copy everywhere a model path is taken
    net, meta = load_model("dynamicworld")
    assert meta.bands[3:7] == ("rededge071", "rededge075", "rededge078", "nir")
    out = np.asarray(net(np.zeros((1, 8, 8, 9), np.float32)))
    assert out.shape == (1, 8, 8, 10) and np.all(out[..., 9] < -1e3)  # no cloud class


def test_a_file_that_is_not_the_release_is_refused(tmp_path: Path, cache: Path) -> None:
    from hlsmap.model.zoo import ensure_model, is_cached

    repo = _repository(tmp_path / "repo")
    idx = repo / "model" / "forward" / "variables" / "variables.index"
    data = bytearray(idx.read_bytes())
    data[100] ^= 0xFF
    idx.write_bytes(bytes(data))
    with range_server(repo) as srv, pytest.raises(ModelError, match="not the known"):
        ensure_model("dynamicworld", url=srv.url, progress=False)
    assert not is_cached("dynamicworld")


def test_offline_fails_in_one_line_naming_the_import_command(cache: Path) -> None:
    from hlsmap.model.zoo import ensure_model

    url = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    with pytest.raises(RemoteError) as err:
        ensure_model("dynamicworld", url=url, progress=False)
    assert "hlsmap models fetch dynamicworld --from DIR" in str(err.value)
    # through the installed console script: exit 2, one line, no traceback
    res = subprocess.run(
        [str(HLSMAP), "map", "--model", "dynamicworld", "--year", "2024", "--tile", "T13SDA",
         "--out", str(cache.parent / "o")],
        capture_output=True, text=True, timeout=120,
        env=_env(cache, HLSMAP_DYNAMICWORLD_URL=url),
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "--from DIR" in res.stderr and "Traceback" not in res.stderr


def test_fetch_from_a_local_copy_and_list(tmp_path: Path, cache: Path) -> None:
    repo = _repository(tmp_path / "repo")
    env = _env(cache)
    res = subprocess.run([str(HLSMAP), "models", "--json"], capture_output=True, text=True,
                         env=env, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    assert row["name"] == "dynamicworld" and row["cached"] is False
    assert row["license"] == "Apache-2.0"
    res = subprocess.run(
        [str(HLSMAP), "models", "fetch", "dynamicworld", "--from", str(repo / "model" / "forward")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip(), "model.json").is_file()
    res = subprocess.run([str(HLSMAP), "models", "--json"], capture_output=True, text=True,
                         env=env, timeout=60)  # fmt: skip
    assert json.loads(res.stdout)[0]["cached"] is True


def test_import_command_and_its_errors(tmp_path: Path, cache: Path) -> None:
    repo = _repository(tmp_path / "repo")
    out = tmp_path / "dw"
    res = subprocess.run(
        [str(HLSMAP), "models", "import", "dynamicworld", str(repo / "model" / "forward"),
         str(out)],
        capture_output=True, text=True, env=_env(cache), timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (out / "weights.npz").is_file() and (out / "LICENSE").is_file()
    # not a SavedModel folder; an unknown model name
    for args in (["dynamicworld", str(tmp_path), str(tmp_path / "x")],
                 ["prithvi", str(repo), str(tmp_path / "y")]):  # fmt: skip
        res = subprocess.run([str(HLSMAP), "models", "import", *args], capture_output=True,
                             text=True, env=_env(cache), timeout=60)  # fmt: skip
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.count("error:") == 1  # one message (rich wraps it at 80 columns)
    # legal files missing beside the SavedModel
    bare = tmp_path / "bare"
    shutil.copytree(FIXTURE / "forward", bare / "a" / "b" / "c" / "forward")
    with pytest.raises(ModelError, match="must travel with the converted weights"):
        from hlsmap.model.zoo import ensure_model

        ensure_model("dynamicworld", source=bare / "a" / "b" / "c" / "forward")
