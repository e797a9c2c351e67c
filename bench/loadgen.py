"""Load generators: wrk (with a Lua ``done`` hook that prints JSON), curl for a full download,
a blocking keep-alive client for time-to-first-byte and a small asyncio HTTP/1.1 client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "HttpConnection",
    "HttpResponse",
    "Sampler",
    "WrkResult",
    "curl_download",
    "run_wrk",
    "ttfb_samples",
]

_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,' ..
    '"mean_us":%.1f,"max_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1_000_000 if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def errors_text(self) -> str:
        bad = {k: v for k, v in self.errors.items() if v}
        return ", ".join(f"{k} {v}" for k, v in bad.items()) or "none"


def run_wrk(
    url: str,
    *,
    connections: int,
    threads: int,
    seconds: float,
    lua: str = "",
    headers: Mapping[str, str] | None = None,
) -> WrkResult:
    """Run wrk with ``--latency`` and ``lua`` (request/init hooks) plus a JSON-printing ``done``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="lvs-bench-") as script:
        script.write(lua + "\n" + _WRK_DONE)
        script.flush()
        cmd = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            script.name,
        ]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=seconds + 60)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            d = json.loads(line.removeprefix("BENCH_JSON "))
            return WrkResult(
                requests=int(d["requests"]),
                seconds=d["duration_us"] / 1e6,
                bytes=int(d["bytes"]),
                errors={k: int(d[k]) for k in ("connect", "read", "write", "status", "timeout")},
                p50_ms=d["p50_us"] / 1000,
                p90_ms=d["p90_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
                mean_ms=d["mean_us"] / 1000,
                max_ms=d["max_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result (exit {proc.returncode}):\n{out}\n{err}")


class Sampler:
    """Calls ``probe()`` every ``interval`` seconds in a thread while inside the ``with``."""

    def __init__(self, probe: Callable[[], float], interval: float = 0.2) -> None:
        self.probe = probe
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.probe())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def curl_download(url: str) -> tuple[float, int]:
    """Download ``url`` to nowhere with curl: ``(bytes per second, bytes)``; non-200 raises."""
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{speed_download} %{size_download} %{http_code}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout.split()
    if out[2] != "200":
        raise RuntimeError(f"GET {url} answered {out[2]}")
    return float(out[0]), int(out[1])


def ttfb_samples(port: int, path: str, first: int, last: int, count: int) -> list[float]:
    """Time to first body byte (ms) of ``Range: bytes=first-last`` ``count`` times, on one
    keep-alive connection: from sending the request to receiving the first byte of the body."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nRange: bytes={first}-{last}\r\n\r\n"
    ).encode()
    want = last - first + 1
    sink = bytearray(1 << 20)
    samples: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter_ns()
            sock.sendall(request)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                buf += chunk
            head, _, body = buf.partition(b"\r\n\r\n")
            while not body:
                body = sock.recv(65536)
                if not body:
                    raise ConnectionError("server closed the connection")
            samples.append((time.perf_counter_ns() - start) / 1e6)
            status = head.split(b" ", 2)[1]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")[1:]
                if line.lower().startswith(b"content-length:")
            )
            if status != b"206" or length != want:
                raise RuntimeError(f"expected 206 with {want} bytes, got {status!r} {length}")
            remaining = length - len(body)
            while remaining > 0:
                n = sock.recv_into(sink, min(remaining, len(sink)))
                if n == 0:
                    raise ConnectionError("server closed the connection mid-body")
                remaining -= n
    return samples


# -- a small asyncio HTTP/1.1 client -------------------------------------------------------------


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def headers_named(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it between requests.

    Deliberately tiny (Content-Length bodies only): httpx costs too much CPU per request to load
    a server on a 2-core machine."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.reader, self.writer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> HttpResponse:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            if self.writer is None:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            self.writer.write(raw)
            try:
                status_line = await self.reader.readline()
            except ConnectionError:
                status_line = b""
            if status_line:
                return await self._read_rest(status_line)
            # Closed before answering (idle keep-alive timeout): once more on a new connection.
            await self.close()
            if attempt == 0:
                self.reconnects += 1
        raise ConnectionError(f"{method} {path}: the server closed the connection twice")

    async def _read_rest(self, status_line: bytes) -> HttpResponse:
        assert self.reader is not None
        parts = status_line.split(b" ", 2)
        resp = HttpResponse(status=int(parts[1]))
        length = 0
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            resp.headers.append((name, value))
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.lower() == "close":
                close = True
            elif name == "transfer-encoding":
                raise RuntimeError("chunked bodies are not supported by this client")
        if length:
            resp.body = await self.reader.readexactly(length)
        if close:
            await self.close()
        return resp
