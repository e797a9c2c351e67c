"""Things going wrong around a running lvs, each for real: another process holding SQLite's write
lock, Redis gone, PostgreSQL restarted, a video deleted or cut short while it streams, a library
folder unmounted, ``kill -9`` in the middle of a scan, and a full disk while writing thumbnails."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import db_query, html, require_service, run_scan
from litestar import Litestar
from litestar.testing import TestClient
from live_server import LiveServer, free_port, serve_options

import lvs.db.config as db_config
import lvs.library.thumbnails as thumbnails
import lvs.services.writes as writes
from lvs.app import create_app
from lvs.library.demo import make_clip
from lvs.settings import Settings

# -- helpers ----------------------------------------------------------------------------------


def capture_app_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Let caplog see the app's records: building an app applies Litestar's logging config,
    which replaces the root logger's handlers (caplog's among them)."""
    root = logging.getLogger()
    if caplog.handler not in root.handlers:
        root.addHandler(caplog.handler)


@pytest.fixture(scope="module")
def uvicorn_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return serve_options(tmp_path_factory.mktemp("serve-options"))


def media_row(settings: Settings, title: str) -> tuple[int, str, str]:
    ((media_id, media_hash, path),) = db_query(
        settings, "SELECT id, media_hash, path FROM media WHERE title = :t", t=title
    )
    return int(media_id), str(media_hash), str(path)


def count(settings: Settings, table: str, where: str = "1=1") -> int:
    ((n,),) = db_query(settings, f"SELECT count(*) FROM {table} WHERE {where}")
    return int(n)


def watch_form_fields(
    client: TestClient[Litestar], media_id: int, media_hash: str
) -> dict[str, str]:
    page = html(client.get(f"/media/{media_id}").text)
    form = page.select_one(f"#rating-{media_hash} form")
    assert form is not None
    return {str(i["name"]): str(i.get("value", "")) for i in form.select("input[type=hidden]")}


def no_traceback(body: str) -> None:
    for leak in ("Traceback", 'File "', "sqlalchemy", "asyncpg", "OperationalError"):
        assert leak not in body, f"error body leaks {leak!r}: {body[:500]}"


# -- SQLite locked by another process ---------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("BEGIN IMMEDIATE")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("ROLLBACK")
    print("released", flush=True)
    """
)


@contextlib.contextmanager
def sqlite_lock_held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the database's write lock for ``seconds`` (or until the block ends)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held", "the other process could not lock"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.mark.parametrize("db_url", [None])  # SQLite's write lock
@pytest.mark.parametrize("rendering", ["json", "form"])
def test_a_write_waits_out_a_short_lock_held_by_another_process(
    client: TestClient[Litestar], scanned: Settings, rendering: str
) -> None:
    media_id, media_hash, _ = media_row(scanned, "Alpha")
    fields = watch_form_fields(client, media_id, media_hash)

    with sqlite_lock_held(scanned.sqlite_path, 2.0):
        started = time.monotonic()
        if rendering == "json":
            response = client.post(f"/api/ratings/{media_hash}", json={"value": 4})
        else:
            response = client.post(
                f"/ratings/{media_hash}", data=fields | {"value": "4"}, follow_redirects=False
            )
        waited = time.monotonic() - started

    assert response.status_code == (200 if rendering == "json" else 303), response.text[:300]
    assert waited >= 1.0, "the write did not meet the lock at all"
    assert db_query(scanned, "SELECT media_hash, value FROM ratings") == [(media_hash, 4)]


@pytest.mark.parametrize("db_url", [None])
@pytest.mark.parametrize("rendering", ["json", "form"])
def test_a_lock_held_past_every_retry_is_503_and_nothing_is_written(
    scanned: Settings, monkeypatch: pytest.MonkeyPatch, rendering: str
) -> None:
    monkeypatch.setattr(db_config, "SQLITE_BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(writes, "RETRIES", 2)
    media_id, media_hash, _ = media_row(scanned, "Alpha")
    with TestClient(create_app(scanned)) as client:
        fields = watch_form_fields(client, media_id, media_hash)
        with sqlite_lock_held(scanned.sqlite_path, 60.0) as holder:
            if rendering == "json":
                response = client.post(f"/api/ratings/{media_hash}", json={"value": 4})
            else:
                response = client.post(
                    f"/ratings/{media_hash}", data=fields | {"value": "4"}, follow_redirects=False
                )
            assert holder.poll() is None, "the lock was released before the answer"

        assert response.status_code == 503, response.text[:300]
        assert re.fullmatch(r"\d+", response.headers.get("retry-after", ""))
        assert "busy" in response.text.lower()
        no_traceback(response.text)
        assert count(scanned, "ratings") == 0
        # Once the other process lets go, the same write goes through.
        again = client.post(f"/api/ratings/{media_hash}", json={"value": 4})
        assert again.status_code == 200
    assert count(scanned, "ratings") == 1


# -- Redis unreachable ------------------------------------------------------------------------


@pytest.fixture
def no_redis(scanned: Settings) -> Settings:
    """Rate limits and the summary cache pointed at a port where nothing listens."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    return replace(scanned, rate_limit_storage=url, cache_url=url)


def test_without_redis_pages_and_writes_still_work(
    no_redis: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    media_id, media_hash, _ = media_row(no_redis, "Alpha")
    with TestClient(create_app(no_redis)) as client:
        capture_app_logs(caplog)
        pages = {url: client.get(url) for url in ("/", f"/media/{media_id}", "/tags", "/history")}
        summary = client.get(f"/api/ratings/{media_hash}")
        fields = watch_form_fields(client, media_id, media_hash)
        form = client.post(
            f"/ratings/{media_hash}", data=fields | {"value": "3"}, follow_redirects=False
        )
        api = client.post(f"/api/ratings/{media_hash}", json={"value": 5})
        favorite = client.put(f"/api/media/{media_id}/favorite", json={"favorite": True})
        tag = client.post(f"/api/media/{media_id}/tags", json={"name": "offline"})
        after = client.get(f"/api/ratings/{media_hash}")

    for url, response in pages.items():
        assert response.status_code == 200, (url, response.text[:300])
    assert summary.status_code == 200
    assert form.status_code == 303
    assert api.status_code == 200, api.text
    assert favorite.status_code == 200 and tag.status_code == 200
    assert after.json() == {"media_hash": media_hash, "average": 5.0, "count": 1, "user": 5}
    assert db_query(no_redis, "SELECT value FROM ratings") == [(5,)]
    # Both fail open, loudly.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("rate limit storage unavailable" in m for m in warnings), warnings
    assert any("summary cache unavailable" in m for m in warnings), warnings


# -- PostgreSQL restarted mid-run -------------------------------------------------------------


def pg_cluster(database_url: str | None) -> tuple[str, str]:
    """The local cluster serving ``database_url`` (version, name), to restart it."""
    host = urlsplit(database_url or "").hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        require_service("postgresql", f"the test server ({host}) is not a local cluster")
    versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        require_service("postgresql", "no local cluster to restart (pg_ctlcluster)")
    return versions[-1], "main"


def pg_ready() -> bool:
    return (
        subprocess.run(
            ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-t", "2"],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def restart_pg(version: str, cluster: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_for_pg(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pg_ready():
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not come back")
        time.sleep(0.2)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_postgresql_restart_fails_cleanly_then_recovers(
    scanned: Settings, uvicorn_options: dict[str, Any]
) -> None:
    """Over a real uvicorn, several clients keep asking while PostgreSQL restarts: each answer is
    a success, or a clean error page/JSON; once it is back, the first requests succeed."""
    version, cluster = pg_cluster(scanned.database_url)
    media_id, media_hash, _ = media_row(scanned, "Alpha")
    during: list[tuple[str, int, str, str]] = []
    errors: list[BaseException] = []
    restarted = threading.Event()

    def restart() -> None:
        try:
            restart_pg(version, cluster)
        except BaseException as exc:  # reported below; PostgreSQL is restored in finally
            errors.append(exc)
        finally:
            restarted.set()

    def keep_asking(base: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while not restarted.is_set():
                for url in ("/api/media", "/", f"/media/{media_id}"):
                    try:
                        r = http.get(url)
                    except httpx.TransportError as exc:
                        during.append((url, 0, "", repr(exc)))
                        continue
                    during.append((url, r.status_code, r.headers.get("content-type", ""), r.text))

    try:
        with (
            LiveServer(create_app(scanned), uvicorn_options) as live,
            httpx.Client(base_url=live.url, timeout=60) as http,
        ):
            # Before: the pool holds live connections.
            assert http.get("/").status_code == 200
            assert http.get("/api/media").status_code == 200
            askers = [threading.Thread(target=keep_asking, args=(live.url,)) for _ in range(4)]
            for t in askers:
                t.start()
            time.sleep(0.3)
            restarter = threading.Thread(target=restart)
            restarter.start()
            restarter.join(150)
            for t in askers:
                t.join(120)
            assert not errors, errors
            wait_for_pg()

            # After: the very first requests succeed (stale pooled connections are replaced).
            library = http.get("/api/media")
            page = http.get("/")
            written = http.post(f"/api/ratings/{media_hash}", json={"value": 2})
    finally:
        if not pg_ready():
            restart_pg(version, cluster)
            wait_for_pg()

    assert during, "no request was made while PostgreSQL restarted"
    assert library.status_code == 200 and library.json()["total"] == 3
    assert page.status_code == 200
    assert written.status_code == 200, written.text
    assert db_query(scanned, "SELECT value FROM ratings") == [(2,)]
    problems: Counter[tuple[str, int, str, str]] = Counter()
    for url, status, content_type, body in during:
        if status == 200:
            continue
        expected = "application/json" if url.startswith("/api/") else "text/html"
        clean = 500 <= status < 600 and content_type.startswith(expected)
        if not clean or "Traceback" in body:
            problems[(url, status, content_type, body[:80])] += 1
    assert not problems, f"{problems.total()} of {len(during)} answers not clean: {problems}"


class StartingPostgres:
    """A TCP server that answers every PostgreSQL connection the way a server that is still
    starting up (or shutting down) does: FATAL 57P03 "the database system is starting up"."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                length = int.from_bytes(conn.recv(4), "big")
                message = conn.recv(length - 4)
                if message[:4] == (80877103).to_bytes(4, "big"):  # SSLRequest: no SSL here
                    conn.sendall(b"N")
                    length = int.from_bytes(conn.recv(4), "big")
                    conn.recv(length - 4)
                fields = b"".join(
                    code + text + b"\0"
                    for code, text in (
                        (b"S", b"FATAL"),
                        (b"V", b"FATAL"),
                        (b"C", b"57P03"),
                        (b"M", b"the database system is starting up"),
                    )
                )
                body = fields + b"\0"
                conn.sendall(b"E" + (len(body) + 4).to_bytes(4, "big") + body)

    def __enter__(self) -> StartingPostgres:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.mark.parametrize("db_url", [None])  # the library is scanned on SQLite, then ...
@pytest.mark.parametrize("database", ["refusing connections", "starting up"])
def test_with_postgresql_unavailable_every_answer_is_a_clean_error(
    scanned: Settings, database: str
) -> None:
    """The deterministic twin of the restart above: ... the app is pointed at a PostgreSQL that
    refuses connections, or that answers each one "the database system is starting up"."""
    media_id, media_hash, _ = media_row(scanned, "Alpha")
    requests = [
        ("GET", "/", "text/html"),
        ("GET", f"/media/{media_id}", "text/html"),
        ("GET", f"/media/{media_id}/stream", "text/html"),
        ("GET", "/tags", "text/html"),
        ("GET", "/history", "text/html"),
        ("GET", "/api/media", "application/json"),
        ("GET", f"/api/media/{media_id}", "application/json"),
        ("GET", f"/api/ratings/{media_hash}", "application/json"),
        ("POST", f"/api/ratings/{media_hash}", "application/json"),
        ("PUT", f"/api/media/{media_id}/favorite", "application/json"),
    ]
    answers = {}
    with contextlib.ExitStack() as stack:
        if database == "starting up":
            port = stack.enter_context(StartingPostgres()).port
        else:
            port = free_port()
        down = replace(scanned, database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x")
        client = stack.enter_context(TestClient(create_app(down), raise_server_exceptions=False))
        for method, url, expected in requests:
            r = client.request(method, url, json={"value": 4, "favorite": True})
            kind = r.headers.get("content-type", "")
            clean = 500 <= r.status_code < 600 and kind.startswith(expected)
            answers[f"{method} {url}"] = (r.status_code, kind, r.text[:60])
            if clean:
                no_traceback(r.text)
                del answers[f"{method} {url}"]

    assert answers == {}, "not a clean 5xx page/JSON"


# -- a video deleted or cut short while it streams --------------------------------------------

BIG = 64 * 1024 * 1024


@pytest.mark.parametrize("db_url", [None])
@pytest.mark.parametrize("fault", ["truncated", "deleted"])
def test_a_video_that_changes_while_it_streams(
    scanned: Settings,
    fault: str,
    caplog: pytest.LogCaptureFixture,
    uvicorn_options: dict[str, Any],
) -> None:
    media_id, _, path = media_row(scanned, "Alpha")
    other_id, _, other_path = media_row(scanned, "Bravo")
    with open(path, "r+b") as f:  # a long video: far more than the socket buffers hold
        f.truncate(BIG)

    with LiveServer(create_app(scanned), uvicorn_options) as live, httpx.Client(timeout=30) as http:
        capture_app_logs(caplog)
        received = 0
        cut = False
        with http.stream("GET", f"{live.url}/media/{media_id}/stream") as response:
            assert response.status_code == 200
            assert int(response.headers["content-length"]) == BIG
            chunks = response.iter_raw(64 * 1024)
            received += len(next(chunks))
            # Meanwhile the server still answers others.
            with httpx.Client(timeout=10) as other:
                assert other.get(f"{live.url}/api/media").status_code == 200
            if fault == "truncated":
                os.truncate(path, 1024 * 1024)
            else:
                os.unlink(path)
            try:
                for chunk in chunks:
                    received += len(chunk)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                cut = True

        if fault == "truncated":
            assert cut, "a response cut short must not look complete to the client"
            assert received < BIG
        else:
            # POSIX: an open file outlives its name, so the stream may well finish.
            assert cut or received == BIG
        # The server is fine, and serves the other video whole.
        whole = http.get(f"{live.url}/media/{other_id}/stream")
        assert whole.status_code == 200
        assert whole.content == Path(other_path).read_bytes()
        assert http.get(f"{live.url}/").status_code == 200
        later = http.get(f"{live.url}/media/{media_id}/stream")
        if fault == "deleted":
            assert later.status_code == 404
        else:
            assert later.status_code == 200
            assert len(later.content) == 1024 * 1024
    if fault == "truncated":
        assert any("shrank while being sent" in r.getMessage() for r in caplog.records)


# -- a library folder unmounted ---------------------------------------------------------------


@pytest.fixture
def longer(library: Path) -> Path:
    """A clip long enough to keep a resume position (short clips count as watched)."""
    return make_clip(library / "Delta.mp4", seconds=8.0, width=64, height=64, audio=False, hue=60)


def test_an_unmounted_folder_keeps_everyones_data_and_comes_back(
    settings: Settings, library: Path, longer: Path
) -> None:
    run_scan(settings)
    media_id, media_hash, _ = media_row(settings, "Delta")
    with TestClient(create_app(settings)) as client:
        assert client.post(f"/api/ratings/{media_hash}", json={"value": 4}).status_code == 200
        assert client.put(f"/api/media/{media_id}/favorite", json={"favorite": True}).is_success
        assert client.put(f"/api/media/{media_id}/position", json={"seconds": 3.5}).is_success
        assert client.post(f"/api/media/{media_id}/tags", json={"name": "kept"}).is_success
        assert client.post(f"/api/media/{media_id}/views", json={}).is_success
        before = client.get(f"/api/media/{media_id}").json()
        rows_before = {t: count(settings, t) for t in TABLES}
        assert before["rating"]["user"] == 4 and before["favorite"] and before["position"] == 3.5

        away = library.with_name("library-unmounted")
        library.rename(away)
        try:
            gone = run_scan(settings)
            while_gone = {
                "one": client.get(f"/api/media/{media_id}").status_code,
                "list": client.get("/api/media").json()["total"],
                "page": client.get("/").status_code,
            }
            rows_while_gone = {t: count(settings, t) for t in TABLES}
            missing = count(settings, "media", "missing = true")
        finally:
            away.rename(library)
        back = run_scan(settings)
        after = client.get(f"/api/media/{media_id}").json()
        rating = client.get(f"/api/ratings/{media_hash}").json()

    assert gone.missing_roots == [str(library)]
    assert gone.missing == 4 and missing == 4
    assert while_gone == {"one": 404, "list": 0, "page": 200}
    assert rows_while_gone == rows_before, "per-person data must survive an unmounted folder"
    assert (back.new, back.unchanged, back.moved, back.missing) == (0, 4, 0, 0)
    assert count(settings, "media", "missing = true") == 0
    assert after == before
    assert rating == {"media_hash": media_hash, "average": 4.0, "count": 1, "user": 4}


TABLES = ("media", "ratings", "favorites", "positions", "media_tags", "tags", "views")


# -- kill -9 during a scan --------------------------------------------------------------------

CLIPS = 40

SLOW_SCAN = textwrap.dedent(
    """
    # `lvs scan`, slowed down so that a test can kill it between two commits: small index
    # batches, and a pause per file and per thumbnail.
    import time
    import lvs.services.scanner as scanner

    scanner.BATCH = 4
    analyse, make_thumbnail = scanner._analyse, scanner.make_thumbnail

    def slow_analyse(found):
        time.sleep(0.15)
        return analyse(found)

    def slow_thumbnail(*args, **kwargs):
        time.sleep(0.15)
        return make_thumbnail(*args, **kwargs)

    scanner._analyse, scanner.make_thumbnail = slow_analyse, slow_thumbnail
    from lvs.cli import main
    main(["scan", "--quiet"], prog_name="lvs")
    """
)


@pytest.fixture(scope="module")
def many_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many")
    for i in range(CLIPS):
        folder = root / f"set{i % 4}"
        make_clip(
            folder / f"clip{i:02d}.mp4", seconds=0.3, width=64, height=64, audio=False, hue=i * 9
        )
    return root


def scan_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LVS_")}
    env.update(
        {
            "LVS_LIBRARY": os.pathsep.join(str(p) for p in settings.library),
            "LVS_DATA_DIR": str(settings.data_dir),
            "LVS_DB_PATH": str(settings.sqlite_path),
        }
    )
    if settings.database_url:
        env["LVS_DATABASE_URL"] = settings.database_url
    return env


@pytest.mark.parametrize("phase", ["indexing", "thumbnails"])
def test_kill_9_during_a_scan_then_a_rescan_indexes_each_file_once(
    settings: Settings, tmp_path: Path, many_clips: Path, phase: str
) -> None:
    root = tmp_path / "many"
    shutil.copytree(many_clips, root)
    many = replace(settings, library=(root,))
    env = scan_env(many)
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCAN],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the scan ended before it could be killed: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the scan made no progress"
            indexed = count(many, "media")
            if phase == "indexing" and 0 < indexed < CLIPS:
                break
            if phase == "thumbnails" and indexed == CLIPS:
                thumbs = count(many, "media", "has_thumbnail = true")
                if 0 < thumbs < CLIPS:
                    break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    committed = count(many, "media")
    thumbs_before = count(many, "media", "has_thumbnail = true")
    assert 0 < committed <= CLIPS
    if phase == "indexing":
        assert committed < CLIPS

    rescan = subprocess.run(
        [sys.executable, "-m", "lvs", "scan"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert rescan.returncode == 0, rescan.stderr
    (summary,) = [line for line in rescan.stdout.splitlines() if line.startswith("Scanned ")]
    assert summary == (
        f"Scanned {CLIPS} files: {CLIPS - committed} new, {committed} unchanged, "
        "0 updated, 0 moved, 0 skipped, 0 missing"
    )
    ((rows, paths, hashes),) = db_query(
        many, "SELECT count(*), count(DISTINCT path), count(DISTINCT media_hash) FROM media"
    )
    assert (rows, paths, hashes) == (CLIPS, CLIPS, CLIPS)
    on_disk = sorted(str(p) for p in root.rglob("*.mp4"))
    assert sorted(p for (p,) in db_query(many, "SELECT path FROM media")) == on_disk
    assert count(many, "media", "missing = true") == 0
    assert count(many, "skipped_files") == 0
    assert count(many, "media", "has_thumbnail = true") == CLIPS >= thumbs_before
    ((totals,),) = db_query(many, "SELECT present FROM library_totals")
    assert totals == CLIPS


# -- disk full while writing thumbnails -------------------------------------------------------


def disk_full_save(self: Any, fp: Any, *args: Any, **kwargs: Any) -> None:
    """``Image.save`` on a full disk: the first bytes go out, then ENOSPC."""
    fp.write(b"\xff\xd8\xff\xe0 half a JPEG")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_writing_thumbnails(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(thumbnails.Image.Image, "save", disk_full_save)

    report = run_scan(settings)

    assert report.new == 3
    assert report.thumbnails == 0
    assert len(report.thumbnail_failures) == 3
    for _path, reason in report.thumbnail_failures:
        assert "No space left on device" in reason, reason
    rows = db_query(settings, "SELECT id, has_thumbnail, thumbnail_error FROM media")
    assert len(rows) == 3
    # A full disk is our side's trouble, not the video's: nothing is recorded against the video,
    # so the next scan tries again (see test_thumbnails_are_made_once_the_disk_has_room_again).
    assert all(not has and error is None for _, has, error in rows)
    leftovers = [p for p in settings.thumbs_dir.rglob("*") if p.is_file()]
    assert leftovers == [], "no half-written or temporary thumbnail may stay behind"

    with TestClient(create_app(settings)) as client:
        library = client.get("/library")
        assert library.status_code == 200
        images = html(library.text).select("li.card img.thumb")
        assert len(images) == 3
        for img in images:
            assert "placeholder" in img.get("class", [])
            assert client.get(str(img["src"])).status_code == 200
        for media_id, _, _ in rows:
            watch = client.get(f"/media/{media_id}")
            assert watch.status_code == 200
            video = html(watch.text).select_one("video#player")
            assert video is not None and not video.get("poster")
            assert client.get(f"/media/{media_id}/thumbnail").status_code == 404


def test_thumbnails_are_made_once_the_disk_has_room_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as full:
        full.setattr(thumbnails.Image.Image, "save", disk_full_save)
        run_scan(settings)
    assert count(settings, "media", "has_thumbnail = true") == 0

    again = run_scan(settings)  # space freed: a write error is not a property of the video

    assert again.thumbnails == 3, again.thumbnail_failures
    assert count(settings, "media", "has_thumbnail = true") == 3
