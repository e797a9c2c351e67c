"""Redis faults that need a Redis of one's own: two real workers behind one password, a Redis
frozen with SIGSTOP (hung, not down), and a Redis partitioned and healed.

Each test starts a private ``redis-server`` on a free port in a temporary folder and freezes or
stops only that one (never the machine's shared Redis)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from conftest import require_service
from helpers import log_in, media_ids
from live_server import LiveServer, free_port, serve_options

from lvs.app import create_app
from lvs.settings import Settings

pytestmark = pytest.mark.redis

TIMEOUT = 1.0  # LVS_REDIS_TIMEOUT in these tests
LVS_SERVE = [sys.executable, "-m", "lvs", "serve", "--no-scan"]
BOUND = 5 * TIMEOUT  # the longest any request may take while Redis hangs (generous)


@dataclass
class PrivateRedis:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        require_service("redis", "no redis-server binary to start a private Redis")
    assert binary is not None
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrivateRedis(proc, port)
    try:
        client = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the private redis-server did not start")
                time.sleep(0.05)
        client.close()
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.thaw()
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def uvicorn_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return serve_options(tmp_path_factory.mktemp("serve-options"))


@pytest.fixture
def on_redis(scanned: Settings, private_redis: PrivateRedis) -> Settings:
    return replace(
        scanned,
        cache_url=private_redis.url,
        rate_limit_storage=private_redis.url,
        redis_timeout=TIMEOUT,
    )


def browser(server: LiveServer) -> httpx.Client:
    """A browser whose every request must be answered within BOUND (else httpx raises)."""
    return httpx.Client(base_url=server.url, timeout=BOUND)


# -- one password, two real workers ------------------------------------------------------------


def test_a_login_holds_on_every_request_with_two_real_workers(
    tmp_path: Path, library: Path, private_redis: PrivateRedis
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LVS_")}
    env.update(
        LVS_DATA_DIR=str(tmp_path / "serve-data"),
        LVS_PASSWORD="two workers, one login",
        LVS_CACHE_URL=private_redis.url,
        LVS_RATE_LIMIT_STORAGE=private_redis.url,
        LVS_LOG_LEVEL="warning",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*LVS_SERVE, "-l", str(library), "--workers", "2", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"lvs serve did not come up:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        # A new connection for every request, so that both workers take turns answering.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, timeout=30, limits=no_reuse) as client:
            assert log_in(client, "two workers, one login").status_code == 303

            statuses = [client.get("/api/media").status_code for _ in range(24)]
            pages = [client.get("/", follow_redirects=False).status_code for _ in range(8)]

        assert statuses == [200] * 24
        assert pages == [200] * 8
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# -- a frozen Redis ------------------------------------------------------------------------------


def test_a_frozen_redis_costs_seconds_and_loses_nothing(
    on_redis: Settings, private_redis: PrivateRedis, uvicorn_options: dict[str, Any]
) -> None:
    media_id, media_hash = media_ids(on_redis)["Alpha"]
    with LiveServer(create_app(on_redis), uvicorn_options) as server, browser(server) as http:
        assert http.get(f"/api/ratings/{media_hash}").json()["count"] == 0  # now cached
        private_redis.freeze()
        try:
            # Every request is answered (httpx raises past BOUND): writes are let through by
            # the limiter, summaries come from the database.
            rated = http.post(f"/api/ratings/{media_hash}", json={"value": 4})
            assert rated.status_code == 200, rated.text
            assert rated.json()["count"] == 1
            favorite = http.put(f"/api/media/{media_id}/favorite", json={"favorite": True})
            assert favorite.status_code == 200
            assert (
                http.post(f"/api/media/{media_id}/tags", json={"name": "frozen"}).status_code == 200
            )
            summary = http.get(f"/api/ratings/{media_hash}").json()
            assert (summary["count"], summary["average"], summary["user"]) == (1, 4.0, 4)
            assert http.get("/").status_code == 200
            assert http.get(f"/media/{media_id}").status_code == 200
            again = http.post(f"/api/ratings/{media_hash}", json={"value": 5})
            assert again.status_code == 200
        finally:
            private_redis.thaw()

        card = http.get(f"/api/media/{media_id}").json()
        assert (card["rating"]["user"], card["favorite"]) == (5, True)
        assert http.get(f"/api/media/{media_id}/tags").json()[0]["name"] == "frozen"
        assert http.get(f"/api/ratings/{media_hash}").json()["average"] == 5.0


# -- a partition that heals --------------------------------------------------------------------


def test_summaries_are_right_within_seconds_of_a_partition_healing(
    on_redis: Settings, private_redis: PrivateRedis, uvicorn_options: dict[str, Any]
) -> None:
    """Two instances on one Redis: the one that wrote during the partition invalidates the
    summary as soon as Redis is back, so the other stops serving its cached copy."""
    _, media_hash = media_ids(on_redis)["Alpha"]
    with (
        LiveServer(create_app(on_redis), uvicorn_options) as a,
        LiveServer(create_app(on_redis), uvicorn_options) as b,
        browser(a) as writer,
        browser(b) as reader,
    ):
        assert writer.post(f"/api/ratings/{media_hash}", json={"value": 1}).status_code == 200
        assert reader.get(f"/api/ratings/{media_hash}").json()["count"] == 1  # cached by B

        private_redis.freeze()  # partitioned: Redis hangs for everyone
        try:
            second = httpx.post(
                f"{a.url}/api/ratings/{media_hash}", json={"value": 5}, timeout=BOUND
            )
            assert second.status_code == 200
            assert second.json()["count"] == 2
        finally:
            private_redis.thaw()  # healed

        # The writer knows its invalidation is pending: it answers from the database at once.
        assert writer.get(f"/api/ratings/{media_hash}").json()["count"] == 2
        # The other instance is right within seconds (on a stale cache it would be wrong for
        # LVS_CACHE_TTL, an hour).
        deadline = time.monotonic() + 15
        while (seen := reader.get(f"/api/ratings/{media_hash}").json())["count"] != 2:
            assert time.monotonic() < deadline, f"still stale after healing: {seen}"
            time.sleep(0.2)
        assert seen["average"] == 3.0
