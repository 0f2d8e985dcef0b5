"""Signed URLs stay secret: a failing signed href is named without its query string in errors,
logs, ``run.log`` and the console of a real ``hlsmap predict`` process."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fault_world import ReadsWorld, bbox_of_region, region_geobox, write_items

from hlsmap.cube import load_cube
from hlsmap.errors import RemoteError
from hlsmap.redact import redact, redact_url

import servers

SECRET = "c2VjcmV0LXNpZ25hdHVyZQ"
SAS = f"?st=2026-01-01T00%3A00%3A00Z&se=2099-01-01T00%3A00%3A00Z&sp=rl&sig={SECRET}%3D"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (f"https://a.blob.core.windows.net/c/x.tif{SAS}", "https://a.blob.core.windows.net/c/x.tif?REDACTED"),
        ("https://user:pa55@host.example/x.tif", "https://REDACTED@host.example/x.tif"),
        (f"'/vsicurl/http://127.0.0.1:8000/x.tif{SAS}' not recognized",
         "'/vsicurl/http://127.0.0.1:8000/x.tif?REDACTED' not recognized"),
        (f"HTTP 404 on sp=rl&sig={SECRET} (token)", "HTTP 404 on sp=REDACTED&sig=REDACTED (token)"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer REDACTED"),
        ("/data/granules/x.tif: not a TIFF", "/data/granules/x.tif: not a TIFF"),
        ("https://host.example/x.tif", "https://host.example/x.tif"),
    ],
)  # fmt: skip
def test_redact(text: str, want: str) -> None:
    assert redact(text) == want


def test_redact_url_keeps_the_file() -> None:
    assert redact_url(f"https://h.example/a/b.tif{SAS}") == "https://h.example/a/b.tif?REDACTED"


def test_a_failing_signed_href_is_named_without_its_signature(
    reads_world: ReadsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    with servers.range_server(reads_world.root) as http:
        items = reads_world.served(http, query=SAS)
        bad = items[1].assets["Fmask"].href
        http.faults[reads_world.rel(http, bad)] = servers.Fault("status", 404)
        with caplog.at_level(logging.DEBUG), pytest.raises(RemoteError) as err:
            load_cube(items, geobox=region_geobox(), reader="odc")
    msg = str(err.value)
    assert bad.split("?")[0] + "?REDACTED" in msg and "404" in msg
    assert SECRET not in msg and SECRET not in repr(err.value.__cause__)
    assert SECRET not in caplog.text


def _predict(out: Path, source: Path, model: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "hlsmap", "predict", str(out), "--model", str(model),
           "--year", "2024", "--source", str(source), *bbox_of_region(), "--tile-size", "48",
           "--halo", "8", "--overlap", "8", "--retries", "1", "--no-progress", "--workers", "1",
           "--threads", "1", *extra]  # fmt: skip
    env = {**os.environ, "HLSMAP_EARTHDATA_HOSTS": ""}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _served_source(reads_world: ReadsWorld, http: servers.RangeServer, tmp_path: Path):
    items = reads_world.served(http, query=SAS)
    bad = items[1]
    http.faults[reads_world.rel(http, bad.assets["B04"].href)] = servers.Fault("status", 404)
    return write_items(items, tmp_path / "items.json"), bad


def test_predict_skips_a_bad_signed_granule_and_never_prints_its_signature(
    reads_world: ReadsWorld, tmp_path: Path
) -> None:
    """A real ``hlsmap predict`` process: one granule (signed href) is gone from the server.
    Exit 0, the granule named in run.log as skipped, with a redacted URL; the SAS signature
    appears nowhere, console or run.log."""
    with servers.range_server(reads_world.root) as http:
        source, bad = _served_source(reads_world, http, tmp_path)
        run = _predict(tmp_path / "out", source, reads_world.model)
    console = run.stdout + run.stderr
    assert run.returncode == 0, console[-3000:]
    log = (tmp_path / "out" / "run.log").read_text()
    assert f'"item": "{bad.id}"' in log and ".B04.tif?REDACTED" in log
    assert '"dropped_granules": 1' in log  # the run's summary event
    assert "were skipped" in console
    assert SECRET not in console and SECRET not in log


def test_predict_strict_fails_naming_the_granule_without_its_signature(
    reads_world: ReadsWorld, tmp_path: Path
) -> None:
    with servers.range_server(reads_world.root) as http:
        source, bad = _served_source(reads_world, http, tmp_path)
        run = _predict(tmp_path / "out", source, reads_world.model, "--strict")
    console = run.stdout + run.stderr
    assert run.returncode == 2, console[-3000:]
    assert f"{bad.id}.B04.tif?REDACTED" in console
    assert SECRET not in console and SECRET not in (tmp_path / "out" / "run.log").read_text()
