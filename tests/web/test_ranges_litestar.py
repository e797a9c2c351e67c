"""RangeFileResponse mounted in a Litestar app: TestClient and a real uvicorn server."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, route
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from lvs.web.ranges import RangeFileResponse, media_type_for

BIG = 50 * 1024 * 1024


def build_app(library: dict[int, Path]) -> Litestar:
    """The production handler pattern: one @route for GET and HEAD returning an ASGI app."""

    @route("/media/{media_id:int}/stream", http_method=["GET", "HEAD"])
    async def stream(media_id: int) -> ASGIApp:
        path = library.get(media_id)
        if path is None:
            raise NotFoundException()
        return RangeFileResponse(path, media_type=media_type_for(path), chunk_size=64 * 1024)

    return Litestar([stream])


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = os.urandom(BIG)
    path = tmp_path_factory.mktemp("videos") / "big.mp4"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def small_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(300_000)
    path = tmp_path / "clip.webm"
    path.write_bytes(data)
    return path, data


# --------------------------------------------------------------------------------------
# litestar.testing.TestClient
# --------------------------------------------------------------------------------------


def test_litestar_route_serves_ranges(small_file: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = small_file
    app = build_app({1: path, 2: tmp_path / "deleted.mp4"})
    with TestClient(app) as client:
        full = client.get("/media/1/stream")
        assert full.status_code == 200
        assert full.content == data
        assert full.headers["content-type"] == "video/webm"
        assert full.headers["accept-ranges"] == "bytes"

        part = client.get("/media/1/stream", headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        assert part.content == data[1000:2000]

        tail = client.get("/media/1/stream", headers={"Range": "bytes=-100"})
        assert tail.status_code == 206
        assert tail.content == data[-100:]

        head = client.head("/media/1/stream", headers={"Range": "bytes=0-9"})
        assert head.status_code == 206
        assert head.headers["content-length"] == "10"
        assert head.headers["content-range"] == f"bytes 0-9/{len(data)}"
        assert head.content == b""

        unsat = client.get("/media/1/stream", headers={"Range": f"bytes={len(data)}-"})
        assert unsat.status_code == 416
        assert unsat.headers["content-range"] == f"bytes */{len(data)}"

        cached = client.get("/media/1/stream", headers={"If-None-Match": full.headers["etag"]})
        assert cached.status_code == 304

        assert client.get("/media/2/stream").status_code == 404  # file gone from disk
        assert client.get("/media/3/stream").status_code == 404  # unknown id
        assert client.post("/media/1/stream").status_code == 405


# --------------------------------------------------------------------------------------
# a real uvicorn server
# --------------------------------------------------------------------------------------


@dataclass
class DiskReads:
    nbytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.nbytes += n


@pytest.fixture
def disk_reads(monkeypatch: pytest.MonkeyPatch) -> DiskReads:
    """Count bytes read from disk by wrapping os.pread / os.preadv (test-only)."""
    reads = DiskReads()
    real_pread, real_preadv = os.pread, os.preadv

    def pread(fd: int, n: int, offset: int) -> bytes:
        data = real_pread(fd, n, offset)
        reads.add(len(data))
        return data

    def preadv(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        n = real_preadv(fd, buffers, offset, flags)
        reads.add(n)
        return n

    monkeypatch.setattr(os, "pread", pread)
    monkeypatch.setattr(os, "preadv", preadv)
    return reads


class RequestsDone:
    """ASGI wrapper that signals when the app has returned for a request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.finished = threading.Semaphore(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == ScopeType.HTTP:
                self.finished.release()


@contextmanager
def run_uvicorn(app: ASGIApp, log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if uv.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert uv.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def server(big_file: tuple[Path, bytes]) -> Iterator[tuple[str, RequestsDone]]:
    app = RequestsDone(build_app({1: big_file[0]}))
    with run_uvicorn(app) as base:
        yield base, app


def test_uvicorn_streams_a_range(
    server: tuple[str, RequestsDone], big_file: tuple[Path, bytes]
) -> None:
    base, _ = server
    _, data = big_file
    first, last = 10_000_001, 13_500_000
    with httpx.Client(base_url=base, timeout=30) as client:
        res = client.get("/media/1/stream", headers={"Range": f"bytes={first}-{last}"})
        assert res.status_code == 206
        assert res.headers["content-range"] == f"bytes {first}-{last}/{BIG}"
        assert res.content == data[first : last + 1]

        multi = client.get("/media/1/stream", headers={"Range": "bytes=0-99,-100"})
        assert multi.status_code == 206
        assert multi.headers["content-type"].startswith("multipart/byteranges; boundary=")
        assert int(multi.headers["content-length"]) == len(multi.content)
        assert data[:100] in multi.content
        assert data[-100:] in multi.content

        head = client.head("/media/1/stream")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(BIG)
        assert head.content == b""


def test_uvicorn_client_disconnect_stops_disk_reads(
    server: tuple[str, RequestsDone], disk_reads: DiskReads
) -> None:
    base, app = server
    received = 0
    with (
        httpx.Client(base_url=base, timeout=30) as client,
        client.stream("GET", "/media/1/stream") as res,
    ):
        assert res.status_code == 200
        assert res.headers["content-length"] == str(BIG)
        for chunk in res.iter_raw():
            received += len(chunk)
            if received >= 1024 * 1024:
                break  # leaving the block closes the connection mid-download
    assert app.finished.acquire(timeout=30), "the server kept streaming after the disconnect"
    assert received < BIG
    # socket buffers may hold some MiB; the server must not have read the whole file
    assert disk_reads.nbytes < BIG // 2, f"read {disk_reads.nbytes} of {BIG} bytes"


def test_uvicorn_truncated_file_gives_the_client_an_incomplete_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(4 * 1024 * 1024)
    path = tmp_path / "shrinking.mp4"
    path.write_bytes(data)
    real_pread, real_preadv = os.pread, os.preadv
    state = {"reads": 0}

    def shrink_after_first_read() -> None:
        state["reads"] += 1
        if state["reads"] == 2:
            os.truncate(path, 1024 * 1024)

    def pread(fd: int, n: int, offset: int) -> bytes:
        shrink_after_first_read()
        return real_pread(fd, n, offset)

    def preadv(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        shrink_after_first_read()
        return real_preadv(fd, buffers, offset, flags)

    monkeypatch.setattr(os, "pread", pread)
    monkeypatch.setattr(os, "preadv", preadv)

    received = bytearray()
    headers: dict[str, str] = {}

    def download(url: str) -> None:
        with httpx.Client(timeout=30) as client, client.stream("GET", url) as res:
            headers.update(res.headers)
            for chunk in res.iter_raw():
                received.extend(chunk)

    # uvicorn logs "returned without completing response" at error level: expected here
    with (
        run_uvicorn(build_app({1: path}), log_level="critical") as base,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        download(f"{base}/media/1/stream")
    assert headers["content-length"] == str(len(data))
    # what did arrive is the real start of the file, nothing made up
    assert len(received) == 1024 * 1024
    assert bytes(received) == data[: len(received)]
