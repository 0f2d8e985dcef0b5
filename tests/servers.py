"""Real servers on 127.0.0.1 for the tests: a range-capable file server, a STAC API (rustac),
a Planetary Computer-style SAS token endpoint, and Planetary Computer's own STAC stack
(stac-fastapi-pgstac on PostgreSQL + PostGIS, :func:`pgstac_api`).

Python's ``http.server`` has no Range support and GDAL fails on it past ~135 kB, so
:class:`RangeServer` implements ``Range: bytes=...`` (206 / 416), ``HEAD``, optional bearer-token
or SAS-query authentication, and injected failures (a status code returned a given number of
times for a path) for the retry tests, and the faults of :class:`Fault` (a status for ever, a
connection reset, a body cut short, garbage bytes) for the fault-injection tests, and it records
which requests carried an ``Authorization`` header (where a bearer token went).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fault:
    """A fault injected into the answers for one path.

    Attributes:
        kind: ``"status"`` (answer ``status``), ``"reset"`` (drop the connection with a TCP
            reset before answering), ``"truncate"`` (send the headers of the full answer, then
            half the body, then close) or ``"garbage"`` (the right length of random bytes).
        status: the HTTP status of a ``"status"`` fault.
        times: how many requests get the fault (``None``: every request, for ever).
    """

    kind: str = "status"
    status: int = 404
    times: int | None = None

    def take(self) -> bool:
        """Whether this request gets the fault (and count it)."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


class RangeServer(ThreadingHTTPServer):
    """Serves ``root`` over HTTP with byte ranges, on 127.0.0.1 in a background thread.

    Attributes:
        failures: path -> [status, remaining count]: answer that status that many times.
        bearer: when set, requests need ``Authorization: Bearer <bearer>`` (else 401).
        require_sas: when set, requests need a ``sig=`` query whose ``se=`` is in the future.
        hits: request count per path (to check retries and that no pixels were read).
        faults: path -> :class:`Fault` injected into its answers.
        auth_seen: ``(path, Authorization header or None)`` of every request, in order.
    """

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root)
        self.failures: dict[str, list[int]] = {}
        self.bearer: str | None = None
        self.require_sas = False
        self.hits: Counter[str] = Counter()
        self.faults: dict[str, Fault] = {}
        self.auth_seen: list[tuple[str, str | None]] = []
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
        self.server.auth_seen.append((rel, self.headers.get("Authorization")))
        fail = self.server.failures.get(rel)
        if fail and fail[1] > 0:
            fail[1] -= 1
            return self._error(fail[0])
        fault = self.server.faults.get(rel)
        active = fault if fault is not None and fault.take() else None
        if active is not None and active.kind == "status":
            return self._error(active.status)
        if active is not None and active.kind == "reset":
            return self._reset()
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
        chunk = data[start : end + 1]
        if active is not None and active.kind == "garbage":
            chunk = random.Random(start).randbytes(len(chunk))
        if body and active is not None and active.kind == "truncate":
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            return self._reset()
        if body:
            self.wfile.write(chunk)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0), as a failing proxy does."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.shutdown(socket.SHUT_RDWR)

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


# --- pgstac: Planetary Computer's stack (stac-fastapi-pgstac on PostgreSQL + PostGIS + pgstac) ---

PGSTAC_VENV = Path(
    os.environ.get("HLSMAP_PGSTAC_VENV", Path(__file__).resolve().parents[1] / ".venv-pgstac")
)
_INSTALL_HINT = "run `bash tests/services/pgstac.sh` (as root it installs PostGIS with apt-get)"


def postgres_bin() -> Path | None:
    """The ``bin`` folder of the newest PostgreSQL under /usr/lib/postgresql that has PostGIS."""
    found = []
    for exe in Path("/usr/lib/postgresql").glob("*/bin/postgres"):
        version = exe.parent.parent.name
        if (
            version.isdigit()
            and Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()
        ):
            found.append((int(version), exe.parent))
    return max(found)[1] if found else None


def pgstac_missing() -> str | None:
    """Why :func:`pgstac_api` cannot run here (``None``: everything it needs is installed)."""
    if postgres_bin() is None:
        return f"PostgreSQL with PostGIS is not installed: {_INSTALL_HINT}"
    if not (PGSTAC_VENV / "bin" / "pypgstac").exists():
        return f"{PGSTAC_VENV} (stac-fastapi-pgstac, pypgstac, uvicorn) is missing: {_INSTALL_HINT}"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return None


def _run(cmd: list[str | Path], what: str, **kwargs: Any) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
        )


def _wait_for(
    check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, what: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            why = f"exited ({proc.returncode})" if proc.poll() is not None else "did not start"
            raise RuntimeError(f"{what} {why}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post_json(url: str, doc: object) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"POST {url}: {exc.code} {exc.read().decode()[:2000]}") from exc


def pgstac_load(url: str, *hrefs: Path | str) -> None:
    """Load collection and item / ItemCollection files into a :func:`pgstac_api` server.

    Through the API's Transactions extension (``POST /collections``, then one bulk
    ``POST /collections/{id}/items`` per collection), which, unlike ``pypgstac load``, takes
    fractional-second datetimes. Collections go first, whatever the order given.
    """
    docs = [json.loads(Path(h).read_text()) for h in hrefs]
    items: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        if doc.get("type") == "Collection":
            _post_json(f"{url}/collections", doc)
            continue
        for f in doc.get("features", [doc]):
            # the file's own links point at files; the API makes its own
            items.setdefault(str(f["collection"]), []).append({**f, "links": []})
    for cid, features in items.items():
        body = {"type": "FeatureCollection", "features": features}
        _post_json(f"{url}/collections/{cid}/items", body)


@contextmanager
def pgstac_api(*hrefs: Path | str, timeout: float = 60.0) -> Iterator[str]:
    """Run Planetary Computer's STAC stack on 127.0.0.1, load ``hrefs``, yield the API's URL.

    A throwaway PostgreSQL cluster (a temporary folder, a free port, password auth, no fsync)
    with PostGIS and ``pypgstac migrate``'s schema, served by stac-fastapi-pgstac under uvicorn
    from ``.venv-pgstac``. Unlike rustac it implements the query and CQL2 filter extensions (and
    Transactions, which loads the items: see :func:`pgstac_load`). PostgreSQL refuses to run as
    root; as root it runs as the ``postgres`` user. Check :func:`pgstac_missing` first: this
    raises ``RuntimeError``, with the failing server's log, when something does not start.
    """
    import secrets
    import signal
    import tempfile
    from contextlib import ExitStack

    missing = pgstac_missing()
    pgbin = postgres_bin()
    if missing or pgbin is None:
        raise RuntimeError(missing)
    root = os.geteuid() == 0
    # as root, in /tmp rather than pytest's root-only folders: the postgres user must enter it
    tmp = Path(tempfile.mkdtemp(prefix="hlsmap-pgstac-", dir="/tmp" if root else None))
    as_db: dict[str, Any] = {}  # the subprocess arguments that run a command as the DB's user
    if root:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
        as_db = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    password = secrets.token_hex(16)
    db_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(db_port),
        "PGUSER": "postgres",
        "PGPASSWORD": password,
        "PGDATABASE": "pgstac",
    }
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        pwfile = tmp / "password"
        pwfile.write_text(password)
        if as_db:
            os.chown(pwfile, as_db["user"], as_db["group"])
        initdb: list[str | Path] = [
            pgbin / "initdb",
            "-D",
            tmp / "data",
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
        ]
        initdb += ["--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"]
        _run(initdb, "initdb", cwd=tmp, **as_db)

        db_log = tmp / "postgres.log"
        options = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        postgres: list[str | Path] = [pgbin / "postgres", "-D", tmp / "data", "-k", tmp]
        postgres += ["-h", "127.0.0.1", "-p", str(db_port)]
        postgres += [arg for o in options for arg in ("-c", o)]
        db: subprocess.Popen[bytes] = subprocess.Popen(
            postgres,
            stdout=subprocess.DEVNULL,
            stderr=stack.enter_context(db_log.open("wb")),
            cwd=tmp,
            **as_db,
        )
        stack.callback(_stop, db, signal.SIGINT)  # PostgreSQL's fast shutdown
        isready: list[str | Path] = [pgbin / "pg_isready", "-q", "-d", "postgres"]
        _wait_for(
            lambda: subprocess.run(isready, env=env).returncode == 0,
            db,
            db_log,
            "postgres",
            timeout,
        )
        psql: list[str | Path] = [pgbin / "psql", "-qX", "-v", "ON_ERROR_STOP=1"]
        _run([*psql, "-d", "postgres", "-c", "CREATE DATABASE pgstac"], "createdb", env=env)
        _run([*psql, "-c", "CREATE EXTENSION postgis"], "CREATE EXTENSION postgis", env=env)
        _run([PGSTAC_VENV / "bin" / "pypgstac", "migrate"], "pypgstac migrate", env=env)

        api_log = tmp / "api.log"
        api_env = {
            **env,
            "ENABLE_TRANSACTIONS_EXTENSIONS": "true",
            "STAC_FASTAPI_TITLE": "hlsmap test pgstac",
            "STAC_FASTAPI_DESCRIPTION": "stac-fastapi-pgstac for the hlsmap tests",
            "STAC_FASTAPI_LANDING_ID": "hlsmap-test",
            "STAC_FASTAPI_VERSION": "test",
        }
        uvicorn: list[str | Path] = [PGSTAC_VENV / "bin" / "python", "-m", "uvicorn"]
        uvicorn += ["stac_fastapi.pgstac.app:create_app", "--factory", "--log-level", "warning"]
        uvicorn += ["--host", "127.0.0.1", "--port", str(api_port)]
        api = subprocess.Popen(
            uvicorn,
            stdout=subprocess.DEVNULL,
            stderr=stack.enter_context(api_log.open("wb")),
            cwd=tmp,  # stac-fastapi reads a .env from its working folder: none there
            env=api_env,
        )
        stack.callback(_stop, api, signal.SIGTERM)
        url = f"http://127.0.0.1:{api_port}"
        _wait_for(lambda: _http_ok(url + "/"), api, api_log, "stac-fastapi-pgstac", timeout)
        pgstac_load(url, *hrefs)
        yield url


@contextmanager
def served_world(world: Any, root: Path) -> Iterator[tuple[Any, str]]:
    """Serve a simulated world under ``root / "w"``: its granules through :func:`range_server`
    (rooted at ``root``) and its collections and items through :func:`stac_api`.

    Yields ``(http, api)``: the range server and the STAC API's URL.
    """
    import pystac

    with range_server(root) as http:
        ic = root / "items.json"
        pystac.ItemCollection(world.items(base_url=f"{http.url}/w")).save_object(dest_href=str(ic))
        cols = []
        for col in world.collections():
            p = root / f"{col.id}.json"
            col.save_object(dest_href=str(p), include_self_link=False)
            cols.append(p)
        with stac_api(*cols, ic) as api:
            yield http, api
