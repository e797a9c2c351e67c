"""CPU per request, in this process: the app called directly as ASGI, one request at a time.

No server, no client library, no sockets: ``time.process_time()`` around N sequential requests
counts the app's own CPU (every thread of this process, so SQLite's worker threads too), which a
busy, shared machine disturbs far less than a req/s figure. Used by the pages case; also runs on
its own:

    python -m bench.inprocess DATA_DIR [URL ...]      # e.g. ~/.cache/lvs-bench/pages-100000/data
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import BENCH_SECRET

__all__ = ["Browser", "Figure", "measure_pages"]


@dataclass
class Browser:
    """Cookies as a browser keeps them: whatever the app set, sent back."""

    cookies: dict[str, str] = field(default_factory=dict)

    def header(self) -> list[tuple[bytes, bytes]]:
        if not self.cookies:
            return []
        value = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return [(b"cookie", value.encode())]

    def keep(self, headers: list[tuple[bytes, bytes]]) -> list[str]:
        """Take the response's ``Set-Cookie``s; returns their names."""
        names = []
        for key, value in headers:
            if key.lower() == b"set-cookie":
                name, _, rest = value.decode().split(";", 1)[0].partition("=")
                self.cookies[name] = rest
                names.append(name)
        return names


@dataclass
class Figure:
    url: str
    browser: str
    cpu_ms: list[float]
    wall_ms: list[float]
    size: int
    set_cookies: list[str]

    @property
    def cpu(self) -> float:
        """The least disturbed round (a shared machine only ever adds CPU time)."""
        return min(self.cpu_ms)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ms)


async def _call(app: Any, path: str, browser: Browser) -> tuple[int, list[Any], bytes]:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *browser.header()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    answer: dict[str, Any] = {"status": 0, "headers": [], "body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], message["headers"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]


async def _lifespan(app: Any) -> Any:
    to_app: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, to_app.get, from_app.put)
    )
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"app did not start: {started}")

    async def stop() -> None:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task

    return stop


async def _measure(
    data_dir: Path, urls: list[str], session_cookie: str | None, requests: int, rounds: int
) -> list[Figure]:
    from lvs.app import create_app
    from lvs.settings import Settings

    settings = Settings.from_env(
        {
            "LVS_DATA_DIR": str(data_dir),
            "LVS_LIBRARY": str(data_dir),
            "LVS_SECRET_KEY": BENCH_SECRET,
            "LVS_LOG_LEVEL": "warning",
            "LVS_PAGE_SIZE": "24",
        }
    )
    app = create_app(settings)
    stop = await _lifespan(app)
    try:
        returning = Browser()
        if session_cookie:
            name, _, value = session_cookie.partition("=")
            returning.cookies[name] = value
        for _ in range(2):  # its first visit (a CSRF cookie, perhaps a session) is behind it
            returning.keep((await _call(app, "/", returning))[1])
        figures: dict[tuple[str, str], Figure] = {}
        for _ in range(rounds):
            for url in urls:
                for kind in ("returning", "first-time"):
                    browser = returning if kind == "returning" else Browser()
                    for _ in range(3):  # warm
                        status, headers, body = await _call(app, url, browser)
                    if status != 200:
                        raise RuntimeError(f"GET {url} answered {status}: {body[:300]!r}")
                    cpu, wall = time.process_time(), time.perf_counter()
                    for _ in range(requests):
                        status, headers, body = await _call(app, url, browser)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    figure = figures.setdefault(
                        (url, kind), Figure(url, kind, [], [], len(body), [])
                    )
                    figure.cpu_ms.append(1000 * cpu / requests)
                    figure.wall_ms.append(1000 * wall / requests)
                    figure.set_cookies = Browser().keep(headers)
        return list(figures.values())
    finally:
        await stop()


def measure_pages(
    data_dir: Path,
    urls: list[str],
    session_cookie: str | None = None,
    requests: int = 200,
    rounds: int = 3,
) -> list[Figure]:
    """CPU (and wall) ms per request for each URL, for a returning browser (the session cookie
    given, plus whatever its first visit was sent) and a first-time one (no cookies), over
    ``rounds`` runs of ``requests`` sequential requests each."""
    return asyncio.run(_measure(data_dir, urls, session_cookie, requests, rounds))


def print_figures(figures: list[Figure]) -> None:
    print(
        f"{'URL':34} {'browser':10} {'CPU ms/req':>10} {'median':>7}  {'rounds':24} "
        f"{'bytes':>7}  Set-Cookie"
    )
    for f in figures:
        rounds = " ".join(f"{v:.2f}" for v in f.cpu_ms)
        cookies = ", ".join(f.set_cookies) or "none"
        print(
            f"{f.url:34} {f.browser:10} {f.cpu:10.2f} {f.cpu_median:7.2f}  {rounds:24} "
            f"{f.size:7}  {cookies}"
        )


def main(argv: list[str]) -> None:
    from bench.dataset import SessionCodec, first_user

    data_dir = Path(argv[0]).expanduser()
    urls = argv[1:] or ["/"]
    try:
        cookie: str | None = SessionCodec().encode(first_user(data_dir / "lvs.db"))
    except Exception:  # no rating users in this database: a browser with no session yet
        cookie = None
    rounds = int(os.environ.get("LVS_BENCH_ROUNDS", "5"))
    print_figures(measure_pages(data_dir, urls, cookie, rounds=rounds))


if __name__ == "__main__":
    main(sys.argv[1:])
