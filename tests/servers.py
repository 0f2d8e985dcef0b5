"""Real servers on 127.0.0.1 for the tests: a range-capable file server, a STAC API (rustac) and
a Planetary Computer-style SAS token endpoint.

Python's ``http.server`` has no Range support and GDAL fails on it past ~135 kB, so
:class:`RangeServer` implements ``Range: bytes=...`` (206 / 416), ``HEAD``, optional bearer-token
or SAS-query authentication, and injected failures (a status code returned a given number of
times for a path) for the retry tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RangeServer(ThreadingHTTPServer):
    """Serves ``root`` over HTTP with byte ranges, on 127.0.0.1 in a background thread.

    Attributes:
        failures: path -> [status, remaining count]: answer that status that many times.
        bearer: when set, requests need ``Authorization: Bearer <bearer>`` (else 401).
        require_sas: when set, requests need a ``sig=`` query whose ``se=`` is in the future.
        hits: request count per path (to check retries and that no pixels were read).
    """

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root)
        self.failures: dict[str, list[int]] = {}
        self.bearer: str | None = None
        self.require_sas = False
        self.hits: Counter[str] = Counter()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> RangeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: RangeServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        url = urlparse(self.path)
        rel = unquote(url.path).lstrip("/")
        self.server.hits[rel] += 1
        fail = self.server.failures.get(rel)
        if fail and fail[1] > 0:
            fail[1] -= 1
            return self._error(fail[0])
        if self.server.bearer is not None:
            if self.headers.get("Authorization") != f"Bearer {self.server.bearer}":
                return self._error(401)
        if self.server.require_sas:
            q = parse_qs(url.query)
            expiry = q.get("se", [""])[0]
            if "sig" not in q or not expiry or datetime.fromisoformat(expiry) < datetime.now(UTC):
                return self._error(403)
        path = (self.server.root / rel).resolve()
        if not path.is_file() or self.server.root.resolve() not in path.parents:
            return self._error(404)
        data = path.read_bytes()
        size = len(data)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = _RANGE.match(rng.strip())
            if not m:
                return self._error(416)
            a, b = m.groups()
            if a == "":  # suffix range: the last b bytes
                start, end = max(0, size - int(b)), size - 1
            else:
                start, end = int(a), min(int(b) if b else size - 1, size - 1)
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        ctype = "application/json" if path.suffix == ".json" else "image/tiff"
        self.send_header("Content-Type", ctype)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if body:
            self.wfile.write(data[start : end + 1])

    def _error(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def range_server(root: Path) -> Iterator[RangeServer]:
    """Serve ``root`` for the duration of the block."""
    server = RangeServer(root).start()
    try:
        yield server
    finally:
        server.stop()


def rustac_binary() -> str:
    """The ``rustac`` CLI installed beside this interpreter (the test extra)."""
    exe = Path(sys.executable).parent / "rustac"
    found = str(exe) if exe.exists() else shutil.which("rustac")
    if not found:
        raise RuntimeError("rustac is not installed: run `make test` (it installs the test extra)")
    return found


@contextmanager
def stac_api(*hrefs: Path | str, timeout: float = 20.0) -> Iterator[str]:
    """Run ``rustac serve`` on 127.0.0.1 with collections/item collections loaded; yield its URL.

    rustac's in-memory backend implements STAC API item search (without the query/filter
    extensions, like NASA CMR-STAC), which is what the client-side filtering must cope with.
    """
    port = free_port()
    addr = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [rustac_binary(), "serve", "--addr", addr, *[str(h) for h in hrefs]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "RUST_LOG": "error"},
    )
    url = f"http://{addr}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"rustac serve exited: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("rustac serve did not start in time")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


class TokenServer(ThreadingHTTPServer):
    """A Planetary Computer-style SAS token endpoint: ``GET /{account}/{container}``.

    Answers ``{"token": "st=..&se=..&sp=rl&sig=..", "msft:expiry": "..."}`` with tokens valid for
    ``ttl`` seconds; ``requests`` counts how many tokens were handed out.
    """

    daemon_threads = True

    def __init__(self, ttl: float = 3600.0) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.ttl = ttl
        self.requests: Counter[str] = Counter()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _TokenHandler(BaseHTTPRequestHandler):
    server: TokenServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        key = urlparse(self.path).path.strip("/")
        self.server.requests[key] += 1
        now = datetime.now(UTC)
        expiry = now + timedelta(seconds=self.server.ttl)
        n = self.server.requests[key]
        token = (
            f"st={now.isoformat(timespec='seconds').replace('+00:00', 'Z')}"
            f"&se={expiry.isoformat(timespec='seconds').replace('+00:00', 'Z')}&sp=rl&sig=t{n}"
        )
        body = json.dumps({"token": token, "msft:expiry": expiry.isoformat()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
