"""Byte-range file responses: parse_range and the ASGI app driven directly."""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvs.web import ranges
from lvs.web.ranges import (
    MAX_RANGE_HEADER_LENGTH,
    RangeFileResponse,
    RangeNotSatisfiable,
    media_type_for,
    parse_range,
)

# --------------------------------------------------------------------------------------
# parse_range: table tests
# --------------------------------------------------------------------------------------

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-499", [(0, 499)]),
        ("bytes=500-999", [(500, 999)]),
        ("bytes=500-", [(500, 999)]),
        ("bytes=-500", [(500, 999)]),
        ("bytes=-1", [(999, 999)]),
        ("bytes=-2000", [(0, 999)]),
        ("bytes=0-0", [(0, 0)]),
        ("bytes=999-", [(999, 999)]),
        ("bytes=0-99999999999999999999999", [(0, 999)]),
        ("bytes=990-99999999999999999999999", [(990, 999)]),
        ("bytes=0-", [(0, 999)]),
        # several ranges: sorted, overlapping and adjacent ones merged
        ("bytes=0-0,-1", [(0, 0), (999, 999)]),
        ("bytes=900-999,0-9", [(0, 9), (900, 999)]),
        ("bytes=500-600,601-999", [(500, 999)]),
        ("bytes=500-700,601-999", [(500, 999)]),
        ("bytes=0-1,0-1,0-1", [(0, 1)]),
        ("bytes=0-100,10-20", [(0, 100)]),
        ("bytes=0-9,-995", [(0, 999)]),
        ("bytes=0-9,11-20", [(0, 9), (11, 20)]),
        # unsatisfiable members are dropped when another one is satisfiable
        ("bytes=2000-3000,0-1", [(0, 1)]),
        ("bytes=-0,5-6", [(5, 6)]),
        # case-insensitive unit, optional whitespace, empty list elements
        ("BYTES=0-1", [(0, 1)]),
        ("Bytes=0-1", [(0, 1)]),
        ("  bytes=0-1\t", [(0, 1)]),
        ("bytes=0-1 , 3-4", [(0, 1), (3, 4)]),
        ("bytes=0-1,,3-4,", [(0, 1), (3, 4)]),
        ("bytes=, 0-1", [(0, 1)]),
    ],
)
def test_parse_range_valid(header: str, expected: list[tuple[int, int]]) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "items=0-5",
        "byte=0-5",
        "bytes",
        "bytes:0-5",
        "bytes=",
        "bytes=,",
        "bytes= , ,",
        "bytes=abc",
        "bytes=5-1",  # last < first invalidates the whole header
        "bytes=0-1,5-1",
        "bytes=0-1,xyz",
        "bytes=-",
        "bytes=1-2-3",
        "bytes=--5",
        "bytes=+1-2",
        "bytes=1-+2",
        "bytes=-+5",
        "bytes= 1 - 2",
        "bytes=0x10-20",
        "bytes=1_0-20",
        "bytes=1.5-20",
        "bytes=\u0661-\u0662",  # Arabic-Indic digits are not DIGIT
        "bytes=\u00b2-3",  # superscript two
        "bytes=0-1;2-3",
        "bytes =0-1",
    ],
)
def test_parse_range_ignored(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", 1000),
        ("bytes=1000-2000", 1000),
        ("bytes=99999999999999999999-", 1000),
        ("bytes=-0", 1000),
        ("bytes=-0,-0", 1000),
        ("bytes=1000-,2000-3000,-0", 1000),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=-5", 0),
    ],
)
def test_parse_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_parse_range_too_many_ranges_falls_back_to_whole_file() -> None:
    sixteen = ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(16))
    assert parse_range("bytes=" + sixteen, SIZE) == [(i * 10, i * 10 + 1) for i in range(16)]
    seventeen = sixteen + ",500-501"
    assert parse_range("bytes=" + seventeen, SIZE) is None
    assert parse_range("bytes=" + seventeen, SIZE, max_ranges=17) is not None
    assert parse_range("bytes=0-1,5-6", SIZE, max_ranges=1) is None


def test_parse_range_many_overlapping_ranges_merge_to_one() -> None:
    header = "bytes=" + ",".join(["0-99"] * 100)
    assert len(header) < MAX_RANGE_HEADER_LENGTH
    assert parse_range(header, SIZE) == [(0, 99)]


def test_parse_range_hundreds_of_tiny_ranges_are_ignored() -> None:
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 400, 2))
    assert parse_range(header[:MAX_RANGE_HEADER_LENGTH], 10_000) is None


def test_parse_range_oversized_header_is_ignored_even_if_valid() -> None:
    header = "bytes=0-1" + " " * MAX_RANGE_HEADER_LENGTH
    assert parse_range(header, SIZE) is None
    assert parse_range(header.strip(), SIZE) == [(0, 1)]


def test_parse_range_pathological_input_is_handled() -> None:
    # Many dashes/digits inside the length cap: still just an ignored header.
    for junk in ("-" * 1000, "9" * 1000, "1-" * 500, ",-" * 500, "bytes=" + "9" * 1000):
        assert parse_range(junk[:MAX_RANGE_HEADER_LENGTH], SIZE) is None
    assert parse_range("bytes=0-" + "9" * 1000, SIZE) == [(0, SIZE - 1)]


# --------------------------------------------------------------------------------------
# parse_range: property test against a naive model of RFC 9110 section 14
# --------------------------------------------------------------------------------------


class _Unsatisfiable:
    pass


UNSAT = _Unsatisfiable()


def reference_parse(header: str | None, size: int, max_ranges: int) -> Any:
    """Naive model: collect every covered byte position in a set, then find runs."""
    if header is None or len(header) > MAX_RANGE_HEADER_LENGTH:
        return None
    value = header.strip(" \t")
    if "=" not in value:
        return None
    unit, range_set = value.split("=", 1)
    if unit.lower() != "bytes":
        return None
    elements = [e.strip(" \t") for e in range_set.split(",")]
    elements = [e for e in elements if e]
    if not elements:
        return None
    covered: set[int] = set()
    for element in elements:
        if m := re.fullmatch(r"([0-9]+)-([0-9]*)", element):
            first = int(m[1])
            last = int(m[2]) if m[2] else None
            if last is not None and last < first:
                return None
            stop = size if last is None else min(last + 1, size)
            covered.update(range(first, stop))
        elif m := re.fullmatch(r"-([0-9]+)", element):
            covered.update(range(max(0, size - int(m[1])), size))
        else:
            return None
    if not covered:
        return UNSAT
    runs: list[tuple[int, int]] = []
    for pos in sorted(covered):
        if runs and runs[-1][1] == pos - 1:
            runs[-1] = (runs[-1][0], pos)
        else:
            runs.append((pos, pos))
    if len(runs) > max_ranges:
        return None
    return runs


def actual_parse(header: str | None, size: int, max_ranges: int) -> Any:
    try:
        return parse_range(header, size, max_ranges=max_ranges)
    except RangeNotSatisfiable:
        return UNSAT


_number = st.one_of(st.integers(0, 320), st.integers(0, 10**25)).map(str)
_spec = st.one_of(
    st.tuples(_number, _number).map(lambda t: f"{t[0]}-{t[1]}"),
    _number.map(lambda n: f"{n}-"),
    _number.map(lambda n: f"-{n}"),
    st.text(alphabet="0123456789-, \tab=+_", max_size=8),
)
_ws = st.sampled_from(["", " ", "\t", "  "])
_header = st.one_of(
    st.none(),
    st.tuples(
        _ws,
        st.sampled_from(["bytes", "BYTES", "Bytes", "items", "byte", "", "bytes "]),
        st.sampled_from(["=", "", "=="]),
        st.lists(st.tuples(_ws, _spec, _ws), max_size=24),
        st.sampled_from([",", ", ", " ,", ",,"]),
    ).map(lambda t: t[0] + t[1] + t[2] + t[4].join(a + spec + b for a, spec, b in t[3])),
    st.text(max_size=40),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=_header, size=st.integers(0, 300), max_ranges=st.integers(1, 20))
def test_parse_range_matches_reference_model(
    header: str | None, size: int, max_ranges: int
) -> None:
    assert actual_parse(header, size, max_ranges) == reference_parse(header, size, max_ranges)


@settings(max_examples=300, deadline=None)
@given(
    header=st.text(alphabet="bytes=0123456789-, ", min_size=0, max_size=MAX_RANGE_HEADER_LENGTH),
    size=st.integers(0, 10**12),
)
def test_parse_range_results_are_clamped_sorted_and_disjoint(header: str, size: int) -> None:
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if result is None:
        return
    assert 1 <= len(result) <= 16
    for first, last in result:
        assert 0 <= first <= last < size
    for (_, prev_last), (next_first, _) in itertools.pairwise(result):
        assert next_first > prev_last + 1


# --------------------------------------------------------------------------------------
# media_type_for
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.mp4", "video/mp4"),
        ("A.MP4", "video/mp4"),
        ("b.m4v", "video/mp4"),
        ("c.mov", "video/quicktime"),
        ("d.webm", "video/webm"),
        ("e.mkv", "video/x-matroska"),
        ("f.avi", "video/x-msvideo"),
        ("g.ogv", "video/ogg"),
        ("h.vtt", "text/vtt"),
        ("i.jpg", "image/jpeg"),
        ("j.webp", "image/webp"),
        ("k.iso", "application/octet-stream"),
        ("no_extension", "application/octet-stream"),
        ("dir.mp4/file", "application/octet-stream"),
    ],
)
def test_media_type_for(name: str, expected: str) -> None:
    assert media_type_for(name) == expected
    assert media_type_for(Path("/videos") / name) == expected


# --------------------------------------------------------------------------------------
# ASGI harness
# --------------------------------------------------------------------------------------


@dataclass
class Result:
    messages: list[dict[str, Any]]

    @property
    def start(self) -> dict[str, Any]:
        assert self.messages[0]["type"] == "http.response.start"
        return self.messages[0]

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.start["headers"])

    @property
    def headers(self) -> dict[str, str]:
        names = [k.decode().lower() for k, _ in self.raw_headers]
        assert len(names) == len(set(names)), f"duplicate headers: {names}"
        return {k.decode().lower(): v.decode() for k, v in self.raw_headers}

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "http.response.body"]

    @property
    def body(self) -> bytes:
        return b"".join(m["body"] for m in self.bodies)

    @property
    def complete(self) -> bool:
        """The response ended properly (a final body message, or pathsend)."""
        last = self.messages[-1]
        if last["type"] == "http.response.pathsend":
            return True
        return last["type"] == "http.response.body" and not last.get("more_body", False)


def never_disconnect() -> Callable[[], Awaitable[dict[str, Any]]]:
    """receive(): the request, then nothing until the test ends (client stays connected)."""
    state = {"sent": False}

    async def receive() -> dict[str, Any]:
        if not state["sent"]:
            state["sent"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


def make_scope(
    method: str = "GET",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/media/1/stream",
        "raw_path": b"/media/1/stream",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


async def call(
    app: RangeFileResponse,
    method: str = "GET",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    *,
    extensions: dict[str, Any] | None = None,
    receive: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    on_send: Callable[[dict[str, Any], list[dict[str, Any]]], Awaitable[None]] | None = None,
) -> Result:
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        ended = bool(messages) and messages[-1]["type"] != "http.response.start"
        if ended and not messages[-1].get("more_body", False):
            raise AssertionError(f"message after the response ended: {message['type']}")
        if message["type"] == "http.response.body":
            assert type(message["body"]) is bytes
        messages.append(message)
        if on_send is not None:
            await on_send(message, messages)

    await app(make_scope(method, headers, extensions), receive or never_disconnect(), send)  # type: ignore[arg-type]
    return Result(messages)


@dataclass
class ReadCounter:
    calls: int = 0
    nbytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.calls += 1
            self.nbytes += n


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> ReadCounter:
    """Count bytes the app reads from disk, whichever read path it takes."""
    counter = ReadCounter()
    real_pread, real_preadv = os.pread, os.preadv

    def pread(fd: int, n: int, offset: int) -> bytes:
        data = real_pread(fd, n, offset)
        counter.add(len(data))
        return data

    def preadv(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        n = real_preadv(fd, buffers, offset, flags)
        counter.add(n)
        return n

    monkeypatch.setattr(os, "pread", pread)
    monkeypatch.setattr(os, "preadv", preadv)
    return counter


@pytest.fixture(params=["page-cache-fast-path", "thread-only"])
def read_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test both with the RWF_NOWAIT fast path and with thread reads only."""
    if request.param == "thread-only":
        monkeypatch.setattr(ranges, "_RWF_NOWAIT", None)
    elif ranges._RWF_NOWAIT is None:
        pytest.skip("os.RWF_NOWAIT not available on this platform")
    return str(request.param)


def write_file(tmp_path: Path, size: int, name: str = "video.mp4") -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_fd_leak() -> Iterator[None]:
    before = len(os.listdir("/proc/self/fd"))
    yield
    assert len(os.listdir("/proc/self/fd")) == before


def etag_of(path: Path) -> str:
    st_ = path.stat()
    return f'"{st_.st_size:x}-{st_.st_mtime_ns:x}"'


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


# --------------------------------------------------------------------------------------
# full responses and headers
# --------------------------------------------------------------------------------------


async def test_full_get_sends_the_whole_file_with_validators(
    tmp_path: Path, read_mode: str
) -> None:
    path, data = write_file(tmp_path, 300_001)
    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=64 * 1024)
    res = await call(app)
    assert res.status == 200
    assert res.body == data
    assert res.complete
    h = res.headers
    assert h["content-length"] == str(len(data))
    assert h["content-type"] == "video/mp4"
    assert h["accept-ranges"] == "bytes"
    assert h["etag"] == etag_of(path)
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', h["etag"])
    assert h["last-modified"] == http_date(path.stat().st_mtime)
    assert "must-revalidate" in h["cache-control"]
    assert "content-range" not in h
    # chunked reads: no message is bigger than chunk_size (memory stays flat)
    assert len(res.bodies) >= 5
    assert max(len(m["body"]) for m in res.bodies) <= 64 * 1024


async def test_etag_changes_when_the_file_changes(tmp_path: Path) -> None:
    path, _ = write_file(tmp_path, 1000)
    app = RangeFileResponse(path, media_type="video/mp4")
    first = (await call(app, "HEAD")).headers["etag"]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
    second = (await call(app, "HEAD")).headers["etag"]
    path.write_bytes(b"x" * 1001)
    third = (await call(app, "HEAD")).headers["etag"]
    assert len({first, second, third}) == 3


async def test_extra_headers_are_added_but_cannot_break_framing(tmp_path: Path) -> None:
    path, data = write_file(tmp_path, 5000)
    app = RangeFileResponse(
        path,
        media_type="video/webm",
        headers={
            "Content-Disposition": 'inline; filename="v.webm"',
            "Cache-Control": "no-store",
            "Content-Length": "5",
            "Content-Type": "text/html",
        },
    )
    res = await call(app, headers={"Range": "bytes=10-19"})
    assert res.status == 206
    h = res.headers
    assert h["content-disposition"] == 'inline; filename="v.webm"'
    assert h["cache-control"] == "no-store"
    assert h["content-length"] == "10"
    assert h["content-type"] == "video/webm"
    assert res.body == data[10:20]


async def test_pathlike_and_relative_paths_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = write_file(tmp_path, 777)
    monkeypatch.chdir(tmp_path)
    res = await call(RangeFileResponse("video.mp4", media_type="video/mp4"))
    assert res.body == data
    res = await call(RangeFileResponse(path, media_type="video/mp4"))
    assert res.body == data


# --------------------------------------------------------------------------------------
# single ranges
# --------------------------------------------------------------------------------------

FILE_SIZE = 100_003


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-499", 0, 499),
        ("bytes=0-0", 0, 0),
        ("bytes=500-", 500, FILE_SIZE - 1),
        ("bytes=-500", FILE_SIZE - 500, FILE_SIZE - 1),
        ("bytes=-1", FILE_SIZE - 1, FILE_SIZE - 1),
        ("bytes=-999999", 0, FILE_SIZE - 1),
        ("bytes=0-99999999999999999999999", 0, FILE_SIZE - 1),
        ("bytes=4095-4096", 4095, 4096),  # straddles a chunk boundary
        ("bytes=4096-12287", 4096, 12287),  # exactly two chunks
        ("bytes=12345-67890", 12345, 67890),
        ("bytes=0-", 0, FILE_SIZE - 1),
        ("bytes=100002-", FILE_SIZE - 1, FILE_SIZE - 1),
        ("bytes=5-9,7-20", 5, 20),  # merged into one range -> not multipart
    ],
)
async def test_single_range_returns_206_with_exact_slice(
    tmp_path: Path, read_mode: str, header: str, first: int, last: int
) -> None:
    path, data = write_file(tmp_path, FILE_SIZE)
    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=4096)
    res = await call(app, headers={"Range": header})
    assert res.status == 206
    assert res.headers["content-range"] == f"bytes {first}-{last}/{FILE_SIZE}"
    assert res.headers["content-length"] == str(last - first + 1)
    assert res.headers["content-type"] == "video/mp4"
    assert res.headers["accept-ranges"] == "bytes"
    assert res.body == data[first : last + 1]
    assert res.complete
    assert max(len(m["body"]) for m in res.bodies) <= 4096


@pytest.mark.parametrize("header", ["bytes=100003-", "bytes=200000-300000", "bytes=-0"])
async def test_unsatisfiable_range_is_416(tmp_path: Path, header: str) -> None:
    path, _ = write_file(tmp_path, FILE_SIZE)
    res = await call(RangeFileResponse(path, media_type="video/mp4"), headers={"Range": header})
    assert res.status == 416
    assert res.headers["content-range"] == f"bytes */{FILE_SIZE}"
    assert res.headers["content-length"] == "0"
    assert res.body == b""
    assert res.complete


@pytest.mark.parametrize(
    "header",
    ["items=0-5", "bytes=5-1", "bytes=abc", "bytes=0-1,xyz", "bytes=", "0-5", "bytes=0-1;x"],
)
async def test_unknown_unit_or_bad_syntax_gets_the_whole_file(tmp_path: Path, header: str) -> None:
    path, data = write_file(tmp_path, 5000)
    res = await call(RangeFileResponse(path, media_type="video/mp4"), headers={"Range": header})
    assert res.status == 200
    assert "content-range" not in res.headers
    assert res.body == data


async def test_two_range_headers_are_ignored(tmp_path: Path) -> None:
    path, data = write_file(tmp_path, 5000)
    res = await call(
        RangeFileResponse(path, media_type="video/mp4"),
        headers=[("Range", "bytes=0-1"), ("Range", "bytes=5-6")],
    )
    assert res.status == 200
    assert res.body == data


# --------------------------------------------------------------------------------------
# multipart/byteranges
# --------------------------------------------------------------------------------------


def parse_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """Strict multipart/byteranges parser: uses Content-Range to know each part's size."""
    m = re.fullmatch(
        r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,\-./:=?]{1,70})", content_type
    )
    assert m, content_type
    delimiter = b"--" + m[1].encode()
    parts: list[tuple[dict[str, str], bytes]] = []
    pos = 0
    while True:
        if parts:
            assert body[pos : pos + 2] == b"\r\n", body[pos : pos + 40]
            pos += 2
        assert body[pos : pos + len(delimiter)] == delimiter
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            assert body[pos:] == b"--\r\n"
            return parts
        assert body[pos : pos + 2] == b"\r\n"
        pos += 2
        end = body.index(b"\r\n\r\n", pos)
        headers = {}
        for line in body[pos:end].decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        pos = end + 4
        cr = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers["content-range"])
        assert cr
        length = int(cr[2]) - int(cr[1]) + 1
        parts.append((headers, body[pos : pos + length]))
        pos += length


async def test_multiple_ranges_are_sent_as_multipart(tmp_path: Path, read_mode: str) -> None:
    path, data = write_file(tmp_path, FILE_SIZE)
    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=1000)
    res = await call(app, headers={"Range": "bytes=-5, 20-2999,0-9,50000-50000,12-15"})
    assert res.status == 206
    assert "content-range" not in res.headers
    assert res.headers["content-length"] == str(len(res.body))
    assert res.complete
    parts = parse_multipart(res.body, res.headers["content-type"])
    expected = [(0, 9), (12, 15), (20, 2999), (50000, 50000), (FILE_SIZE - 5, FILE_SIZE - 1)]
    assert len(parts) == len(expected)
    for (headers, payload), (first, last) in zip(parts, expected, strict=True):
        assert headers["content-type"] == "video/mp4"
        assert headers["content-range"] == f"bytes {first}-{last}/{FILE_SIZE}"
        assert payload == data[first : last + 1]


async def test_multipart_boundaries_differ_between_responses(tmp_path: Path) -> None:
    path, _ = write_file(tmp_path, 1000)
    app = RangeFileResponse(path, media_type="video/mp4")
    a = await call(app, headers={"Range": "bytes=0-1,5-6"})
    b = await call(app, headers={"Range": "bytes=0-1,5-6"})
    assert a.headers["content-type"] != b.headers["content-type"]


async def test_too_many_ranges_get_the_whole_file(tmp_path: Path) -> None:
    path, data = write_file(tmp_path, 10_000)
    header = "bytes=" + ",".join(f"{i * 100}-{i * 100 + 1}" for i in range(40))
    res = await call(RangeFileResponse(path, media_type="video/mp4"), headers={"Range": header})
    assert res.status == 200
    assert res.body == data


# --------------------------------------------------------------------------------------
# HEAD
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Range": "bytes=10-99"}, {"Range": "bytes=0-1,10-20"}, {"Range": "bytes=5000-"}],
)
async def test_head_has_the_same_headers_as_get_and_no_body(
    tmp_path: Path, reads: ReadCounter, headers: dict[str, str]
) -> None:
    path, _ = write_file(tmp_path, 3000)
    app = RangeFileResponse(path, media_type="video/mp4")
    head = await call(app, "HEAD", headers)
    assert reads.nbytes == 0  # HEAD never reads the file
    get = await call(app, "GET", headers)
    assert head.status == get.status
    strip_boundary = {"content-type": None}
    assert {**head.headers, **strip_boundary} == {**get.headers, **strip_boundary}
    head_type, get_type = head.headers.get("content-type", ""), get.headers.get("content-type", "")
    assert head_type.split(";")[0] == get_type.split(";")[0]
    assert head.body == b""
    assert head.complete


async def test_other_methods_are_refused(tmp_path: Path) -> None:
    path, _ = write_file(tmp_path, 10)
    res = await call(RangeFileResponse(path, media_type="video/mp4"), "POST")
    assert res.status == 405
    assert res.headers["allow"] == "GET, HEAD"


# --------------------------------------------------------------------------------------
# conditional requests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "if_none_match",
    [
        "{etag}",
        "W/{etag}",
        '"nope", {etag}',
        '"nope",W/{etag} , "x"',
        "*",
        " {etag} ",
    ],
)
async def test_if_none_match_gives_304(tmp_path: Path, method: str, if_none_match: str) -> None:
    path, _ = write_file(tmp_path, 1000)
    etag = etag_of(path)
    res = await call(
        RangeFileResponse(path, media_type="video/mp4"),
        method,
        {"If-None-Match": if_none_match.format(etag=etag), "Range": "bytes=0-1"},
    )
    assert res.status == 304
    assert res.body == b""
    assert res.headers["etag"] == etag
    assert "content-length" not in res.headers
    assert "content-range" not in res.headers


@pytest.mark.parametrize("if_none_match", ['"nope"', 'W/"nope"', "garbage", '"{bare}"', ""])
async def test_if_none_match_mismatch_sends_the_file(tmp_path: Path, if_none_match: str) -> None:
    path, data = write_file(tmp_path, 1000)
    bare = etag_of(path).strip('"') + "x"
    res = await call(
        RangeFileResponse(path, media_type="video/mp4"),
        headers={"If-None-Match": if_none_match.format(bare=bare)},
    )
    assert res.status == 200
    assert res.body == data


async def test_if_modified_since(tmp_path: Path) -> None:
    path, data = write_file(tmp_path, 1000)
    mtime = path.stat().st_mtime
    app = RangeFileResponse(path, media_type="video/mp4")

    async def status(**headers: str) -> int:
        return (
            await call(app, headers={k.replace("_", "-"): v for k, v in headers.items()})
        ).status

    assert await status(If_Modified_Since=http_date(mtime)) == 304
    assert await status(If_Modified_Since=http_date(mtime + 3600)) == 304
    assert await status(If_Modified_Since=http_date(mtime - 3600)) == 200
    assert await status(If_Modified_Since="not a date") == 200
    assert await status(If_Modified_Since=f"{http_date(mtime)}, {http_date(mtime)}") == 200
    # RFC 850 and asctime forms are HTTP-dates too
    assert await status(If_Modified_Since="Sunday, 06-Nov-94 08:49:37 GMT") == 200
    assert await status(If_Modified_Since="Sun Nov  6 08:49:37 2094") == 304
    # If-None-Match wins over If-Modified-Since, both ways round
    assert await status(If_None_Match='"other"', If_Modified_Since=http_date(mtime)) == 200
    assert await status(If_None_Match=etag_of(path), If_Modified_Since=http_date(0)) == 304
    res = await call(app, headers={"If-Modified-Since": http_date(mtime - 3600)})
    assert res.body == data


async def test_if_match_and_if_unmodified_since_give_412(tmp_path: Path) -> None:
    path, data = write_file(tmp_path, 1000)
    etag, mtime = etag_of(path), path.stat().st_mtime
    app = RangeFileResponse(path, media_type="video/mp4")
    assert (await call(app, headers={"If-Match": '"other"'})).status == 412
    assert (await call(app, headers={"If-Match": f"W/{etag}"})).status == 412  # strong compare
    assert (await call(app, headers={"If-Unmodified-Since": http_date(mtime - 60)})).status == 412
    ok = await call(app, headers={"If-Match": f'"a", {etag}', "Range": "bytes=1-2"})
    assert (ok.status, ok.body) == (206, data[1:3])
    assert (await call(app, headers={"If-Match": "*"})).body == data
    assert (await call(app, headers={"If-Unmodified-Since": http_date(mtime)})).status == 200


@pytest.mark.parametrize(
    ("if_range", "expect_partial"),
    [
        ("{etag}", True),
        ("W/{etag}", False),  # weak tags never match If-Range
        ('"stale"', False),
        ("{date}", True),
        ("{old_date}", False),
        ("garbage", False),
        ('{etag}, "x"', False),
    ],
)
async def test_if_range(tmp_path: Path, if_range: str, expect_partial: bool) -> None:
    path, data = write_file(tmp_path, 5000)
    mtime = path.stat().st_mtime
    value = if_range.format(
        etag=etag_of(path), date=http_date(mtime), old_date=http_date(mtime - 10)
    )
    app = RangeFileResponse(path, media_type="video/mp4")
    res = await call(app, headers={"Range": "bytes=100-199", "If-Range": value})
    if expect_partial:
        assert res.status == 206
        assert res.body == data[100:200]
    else:
        assert res.status == 200
        assert res.body == data
    # a failed If-Range also suppresses a 416
    res = await call(app, headers={"Range": "bytes=9000-", "If-Range": value})
    assert res.status == (416 if expect_partial else 200)


async def test_if_range_without_range_is_ignored(tmp_path: Path) -> None:
    path, data = write_file(tmp_path, 500)
    res = await call(
        RangeFileResponse(path, media_type="video/mp4"), headers={"If-Range": '"stale"'}
    )
    assert (res.status, res.body) == (200, data)


# --------------------------------------------------------------------------------------
# zero-length, missing and odd files
# --------------------------------------------------------------------------------------


async def test_zero_length_file(tmp_path: Path) -> None:
    path, _ = write_file(tmp_path, 0)
    app = RangeFileResponse(path, media_type="video/mp4")
    res = await call(app)
    assert res.status == 200
    assert res.headers["content-length"] == "0"
    assert res.body == b""
    assert res.complete
    for header in ("bytes=0-", "bytes=-5", "bytes=0-0", "bytes=0-1,5-6"):
        res = await call(app, headers={"Range": header})
        assert res.status == 416, header
        assert res.headers["content-range"] == "bytes */0"
        assert res.body == b""


async def test_missing_file_is_404(tmp_path: Path) -> None:
    path, _ = write_file(tmp_path, 10)
    app = RangeFileResponse(path, media_type="video/mp4")
    path.unlink()  # removed after the response object was made
    res = await call(app, headers={"Range": "bytes=0-1"})
    assert res.status == 404
    assert res.body == b"Not Found"
    assert "etag" not in res.headers


async def test_directory_and_fifo_are_404(tmp_path: Path) -> None:
    assert (await call(RangeFileResponse(tmp_path, media_type="video/mp4"))).status == 404
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    # Opening a FIFO with no writer would hang a blocking open(); it must not.
    res = await asyncio.wait_for(call(RangeFileResponse(fifo, media_type="video/mp4")), 10)
    assert res.status == 404


async def test_symlink_to_a_file_is_served(tmp_path: Path) -> None:
    path, data = write_file(tmp_path, 100)
    link = tmp_path / "link.mp4"
    link.symlink_to(path)
    assert (await call(RangeFileResponse(link, media_type="video/mp4"))).body == data


# --------------------------------------------------------------------------------------
# read paths: page-cache fast path and fallbacks
# --------------------------------------------------------------------------------------


async def test_falls_back_to_a_thread_when_data_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ranges._RWF_NOWAIT is None:
        pytest.skip("no RWF_NOWAIT")
    path, data = write_file(tmp_path, 50_000)
    real_preadv = os.preadv
    calls = {"all": 0, "would_block": 0, "partial": 0}

    def preadv(fd: int, buffers: list[memoryview], offset: int, flags: int = 0) -> int:
        # rotate: EAGAIN, then half of what was asked, then a full read
        calls["all"] += 1
        if calls["all"] % 3 == 1:
            calls["would_block"] += 1
            raise BlockingIOError(errno.EAGAIN, "would block")
        if calls["all"] % 3 == 2:
            calls["partial"] += 1
            half = len(buffers[0]) // 2
            return real_preadv(fd, [buffers[0][:half]], offset, flags)
        return real_preadv(fd, buffers, offset, flags)

    monkeypatch.setattr(os, "preadv", preadv)
    res = await call(RangeFileResponse(path, media_type="video/mp4", chunk_size=3000))
    assert res.body == data
    assert calls["would_block"] > 0
    assert calls["partial"] > 0


async def test_falls_back_when_the_filesystem_refuses_nowait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = write_file(tmp_path, 20_000)
    attempts = []

    def preadv(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        attempts.append(offset)
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "preadv", preadv)
    monkeypatch.setattr(ranges, "_RWF_NOWAIT", 8)
    res = await call(RangeFileResponse(path, media_type="video/mp4", chunk_size=1000))
    assert res.body == data
    assert len(attempts) == 1  # gave up on the fast path after the first refusal


# --------------------------------------------------------------------------------------
# client disconnects
# --------------------------------------------------------------------------------------


async def test_disconnect_stops_reading_early(
    tmp_path: Path, reads: ReadCounter, read_mode: str, no_fd_leak: None
) -> None:
    size = 8 * 1024 * 1024
    path, data = write_file(tmp_path, size)
    gone = asyncio.Event()
    state = {"requested": False}

    async def receive() -> dict[str, Any]:
        if not state["requested"]:
            state["requested"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def on_send(message: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        if message["type"] == "http.response.body":
            gone.set()  # the client hangs up after the first chunk

    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=16 * 1024)
    res = await call(app, receive=receive, on_send=on_send)
    assert res.status == 200
    assert not res.complete
    assert len(res.body) <= 4 * 16 * 1024
    assert res.body == data[: len(res.body)]
    assert reads.nbytes <= 4 * 16 * 1024
    assert reads.nbytes < size // 100


@pytest.mark.parametrize("failure", ["oserror", "uvicorn", "runtime"])
async def test_send_failing_mid_stream_ends_quietly(
    tmp_path: Path,
    reads: ReadCounter,
    caplog: pytest.LogCaptureFixture,
    no_fd_leak: None,
    failure: str,
) -> None:
    from uvicorn.protocols.utils import ClientDisconnected

    size = 4 * 1024 * 1024
    path, _ = write_file(tmp_path, size)
    exc = {
        "oserror": ConnectionResetError(errno.ECONNRESET, "reset"),
        "uvicorn": ClientDisconnected(),
        "runtime": RuntimeError("Unexpected ASGI message after disconnect"),
    }[failure]

    async def on_send(message: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        if sum(m["type"] == "http.response.body" for m in messages) == 3:
            raise exc

    caplog.set_level(logging.DEBUG, logger="lvs.web.ranges")
    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=16 * 1024)
    res = await call(app, on_send=on_send)  # does not raise
    assert len(res.bodies) == 3
    assert reads.nbytes <= 3 * 16 * 1024
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_disconnect_during_multipart_stops_early(tmp_path: Path, reads: ReadCounter) -> None:
    size = 4 * 1024 * 1024
    path, _ = write_file(tmp_path, size)
    gone = asyncio.Event()
    state = {"requested": False}

    async def receive() -> dict[str, Any]:
        if not state["requested"]:
            state["requested"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def on_send(message: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        if len(messages) == 3:
            gone.set()

    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=16 * 1024)
    res = await call(
        app, headers={"Range": "bytes=0-1999999,3000000-"}, receive=receive, on_send=on_send
    )
    assert res.status == 206
    assert not res.complete
    assert reads.nbytes <= 4 * 16 * 1024


async def test_cancelled_while_a_thread_read_is_pending_closes_the_fd_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = write_file(tmp_path, 1024 * 1024)
    monkeypatch.setattr(ranges, "_RWF_NOWAIT", None)
    started, release = threading.Event(), threading.Event()
    real_pread = os.pread

    def slow_pread(fd: int, n: int, offset: int) -> bytes:
        started.set()
        release.wait(10)
        return real_pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", slow_pread)
    before = open_fds()
    task = asyncio.create_task(call(RangeFileResponse(path, media_type="video/mp4")))
    await asyncio.to_thread(started.wait, 10)
    opened = open_fds() - before
    assert len(opened) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the worker thread is still inside pread(): its fd must still be open
    assert opened <= open_fds()
    release.set()
    for _ in range(200):
        if not (opened & open_fds()):
            break
        await asyncio.sleep(0.01)
    assert not (opened & open_fds())


# --------------------------------------------------------------------------------------
# file truncated while streaming
# --------------------------------------------------------------------------------------


async def test_truncated_during_streaming_ends_cleanly(
    tmp_path: Path, read_mode: str, caplog: pytest.LogCaptureFixture, no_fd_leak: None
) -> None:
    size, chunk, new_size = 1024 * 1024, 64 * 1024, 200 * 1024
    path, data = write_file(tmp_path, size)

    async def on_send(message: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        if message["type"] == "http.response.body" and len(messages) == 2:
            os.truncate(path, new_size)

    caplog.set_level(logging.INFO, logger="lvs.web.ranges")
    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=chunk)
    res = await call(app, on_send=on_send)
    assert res.status == 200
    assert res.headers["content-length"] == str(size)
    # only real file bytes, exactly up to the new end, then the response is cut off
    assert res.body == data[:new_size]
    assert not res.complete
    assert any("shrank" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


async def test_truncated_inside_a_range_ends_cleanly(tmp_path: Path) -> None:
    path, _ = write_file(tmp_path, 100_000)

    async def on_send(message: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        if len(messages) == 1:
            os.truncate(path, 0)

    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=1000)
    res = await call(app, headers={"Range": "bytes=5000-9999"}, on_send=on_send)
    assert res.status == 206
    assert res.body == b""
    assert not res.complete


async def test_read_error_ends_the_response_without_raising(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path, _ = write_file(tmp_path, 100_000)
    monkeypatch.setattr(ranges, "_RWF_NOWAIT", None)

    def broken_pread(fd: int, n: int, offset: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "pread", broken_pread)
    res = await call(RangeFileResponse(path, media_type="video/mp4"))
    assert res.status == 200
    assert res.body == b""
    assert not res.complete
    assert any("Input/output error" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------------------
# http.response.pathsend
# --------------------------------------------------------------------------------------


async def test_pathsend_is_used_for_full_gets_when_offered(
    tmp_path: Path, reads: ReadCounter
) -> None:
    path, _ = write_file(tmp_path, 100_000)
    app = RangeFileResponse(path, media_type="video/mp4")
    res = await call(app, extensions={"http.response.pathsend": {}})
    assert [m["type"] for m in res.messages] == ["http.response.start", "http.response.pathsend"]
    assert res.messages[1]["path"] == str(path)
    assert os.path.isabs(res.messages[1]["path"])
    assert res.status == 200
    assert res.headers["content-length"] == "100000"
    assert res.headers["etag"] == etag_of(path)
    assert reads.nbytes == 0


async def test_pathsend_not_used_for_ranges_head_or_without_extension(
    tmp_path: Path,
) -> None:
    path, data = write_file(tmp_path, 10_000)
    app = RangeFileResponse(path, media_type="video/mp4")
    ext: dict[str, Any] = {"http.response.pathsend": {}}
    ranged = await call(app, headers={"Range": "bytes=10-19"}, extensions=ext)
    assert ranged.body == data[10:20]
    head = await call(app, "HEAD", extensions=ext)
    assert [m["type"] for m in head.messages] == ["http.response.start", "http.response.body"]
    plain = await call(app, extensions={"http.response.trailers": {}})
    assert plain.body == data
    not_modified = await call(app, headers={"If-None-Match": "*"}, extensions=ext)
    assert not_modified.status == 304
    assert all(m["type"] != "http.response.pathsend" for m in not_modified.messages)


# --------------------------------------------------------------------------------------
# file descriptors
# --------------------------------------------------------------------------------------


async def test_no_file_descriptor_is_leaked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = write_file(tmp_path, 200_000)
    zero, _ = write_file(tmp_path, 0, "zero.mp4")
    app = RangeFileResponse(path, media_type="video/mp4", chunk_size=8192)
    etag = etag_of(path)
    before = open_fds()

    async def explode(message: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        if len(messages) == 3:
            raise OSError("gone")

    for _ in range(3):
        await call(app)
        await call(app, "HEAD")
        await call(app, headers={"Range": "bytes=0-10,100-20000"})
        await call(app, headers={"Range": "bytes=999999-"})
        await call(app, headers={"If-None-Match": etag})
        await call(app, headers={"If-Match": '"x"'})
        await call(app, extensions={"http.response.pathsend": {}})
        await call(app, on_send=explode)
        await call(RangeFileResponse(zero, media_type="video/mp4"))
        await call(RangeFileResponse(tmp_path / "missing.mp4", media_type="video/mp4"))
        await call(RangeFileResponse(tmp_path, media_type="video/mp4"))
    assert open_fds() == before
