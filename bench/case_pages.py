"""pages: server-rendered pages of a big library (the grid, the home rows, a watch page, a rating
summary), against the framework floor: a bare Litestar handler answering the same bytes through
the same server (uvicorn, one worker, lvs's HTTP protocol)."""

from __future__ import annotations

import http.client
import math
import sqlite3
from contextlib import ExitStack
from pathlib import Path

from bench.common import Context, Goal, Metric, fmt, fmt_ratio, print_metrics, ready_marker
from bench.dataset import (
    SessionCodec,
    first_user,
    insert_activity,
    insert_media,
    insert_ratings,
    insert_tags,
    migrate,
    schema_fingerprint,
    synthetic_media,
)
from bench.inprocess import measure_pages, print_figures
from bench.loadgen import run_wrk
from bench.servers import CpuMeter, FloorServer, LvsServer

NAME = "pages"
SUMMARY = (
    "pages of a 100 000-video library (wrk -c8), against a bare Litestar handler answering the "
    "same bytes (the framework floor)"
)

PAGE_SIZE = 24
CONNECTIONS = 8
RATING_USERS = 5
RATING_FRACTION = 0.2

#: The URLs measured, as (name, path). ``{deep}`` is page 1000, or the last page when a --quick
#: library has fewer; ``{middle}`` the video in the middle of the library, ``{hash}`` its
#: fingerprint. The first two are compared (deep page p99 / page 1 p99). Add search, tag filter
#: or sort URLs as one line each, e.g. ("search 'river'", "/library?q=river").
PAGES: list[tuple[str, str]] = [
    ("library page 1", "/library"),
    ("library page {deep}", "/library?page={deep}"),
    ("search 'river'", "/library?q=river"),
    ("sort by rating", "/library?sort=rating"),
    ("tag filter", "/library?tag={tag}"),
    ("home (rows)", "/"),
    ("watch page", "/media/{middle}"),
    ("rating summary", "/api/ratings/{hash}"),
]

#: Issue 10's goals (one worker, -c8, a returning browser): (page, least req/s, most p99 ms).
GOALS: dict[str, tuple[float, float | None]] = {
    "library page 1": (600, 30),
    "watch page": (800, None),
    "rating summary": (3000, None),
}


TAG = "river"  # one of the synthetic household tags (dataset.insert_tags picks from WORDS)


def library_size(ctx: Context) -> int:
    return int(ctx.pick(100_000, 10_000))


def prepare(ctx: Context) -> tuple[Path, Path]:
    """A migrated database with ``library_size`` synthetic videos and ratings by 5 users:
    ``(data_dir, library_dir)``. Shared with the startup case; lvs only reads it."""
    rows = library_size(ctx)
    folder = ctx.cache / f"pages-{rows}"
    data, library = folder / "data", folder / "library"
    params = {
        "rows": rows,
        "users": RATING_USERS,
        "fraction": RATING_FRACTION,
        "schema": schema_fingerprint(),
        "layout": 3,  # 2: with household tags; 3: shows, seasons and one person's activity
    }
    is_ready, mark_ready = ready_marker(folder, params)
    if not is_ready():
        print(f"preparing a database of {rows} videos in {data} ...", flush=True)
        library.mkdir(parents=True, exist_ok=True)
        db = migrate(data)
        media = synthetic_media(rows, "/srv/lvs-bench/library")
        insert_media(db, media)
        insert_ratings(db, [m["media_hash"] for m in media], RATING_USERS, RATING_FRACTION)
        insert_tags(db, [m["media_hash"] for m in media])
        insert_activity(db, first_user(db), media)
        mark_ready()
    return data, library


def _fetch(port: int, path: str, cookie: str) -> tuple[bytes, str]:
    """The body and content type lvs answers ``path`` with (the floor answers the same)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path} answered {resp.status}: {body[:300]!r}")
        return body, resp.getheader("content-type", "text/html").split(";")[0]
    finally:
        conn.close()


def _middle(data: Path, rows: int) -> tuple[int, str]:
    """The id and fingerprint of the video in the middle of the library."""
    middle = rows // 2
    with sqlite3.connect(data / "lvs.db") as db:
        (media_hash,) = db.execute(
            "SELECT media_hash FROM media WHERE id = ?", (middle,)
        ).fetchone()
    db.close()
    return middle, str(media_hash)


def _returning(port: int, cookie: str) -> str:
    """``cookie`` plus the other cookies a first visit sets (the CSRF cookie): a returning
    browser sends them all back, so the server has nothing to set."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/", headers={"Cookie": cookie})
        resp = conn.getresponse()
        resp.read()
        pairs = [
            v.split(";", 1)[0].strip() for k, v in resp.getheaders() if k.lower() == "set-cookie"
        ]
    finally:
        conn.close()
    extra = [p for p in pairs if not p.startswith(SessionCodec.KEY + "=")]
    return "; ".join([cookie, *extra])


def run(ctx: Context) -> list[Goal]:
    data, library = prepare(ctx)
    rows = library_size(ctx)
    deep = min(1000, math.ceil(rows / PAGE_SIZE))
    tag = TAG
    middle, media_hash = _middle(data, rows)
    fill = {"deep": deep, "tag": tag, "middle": middle, "hash": media_hash}
    pages = [(name.format(**fill), path.format(**fill)) for name, path in PAGES]
    seconds = ctx.pick(10, 3)
    cookie = SessionCodec().encode(first_user(data / "lvs.db"))
    print(
        f"database: {rows} videos, {PAGE_SIZE} per page, ratings by {RATING_USERS} users "
        f"(~{RATING_FRACTION:.0%} of the videos each); requests carry the session cookie of a "
        f"user who has ratings and the CSRF cookie of its first visit (a returning browser), no "
        f"Accept-Encoding (identity bodies)\n"
        f"load: wrk -t2 -c{CONNECTIONS} --latency, {seconds} s per URL and server\n"
        "reference: the framework floor, a bare Litestar app answering a saved copy of each "
        "page (fetched from lvs once) through the same server: uvicorn, one worker, lvs's h11 "
        "protocol\n"
        f"rounds: {ctx.rounds}, interleaved lvs/floor"
    )
    goals = [_cpu_per_request(ctx, data, rows, pages[0][1], cookie)]
    metrics: list[tuple[Metric, Metric, Metric, Metric]] = []
    errors: list[str] = []
    with ExitStack() as stack:
        lvs = stack.enter_context(LvsServer(data, library, LVS_PAGE_SIZE=str(PAGE_SIZE)))
        cookie = _returning(lvs.port, cookie)
        saved: dict[str, tuple[bytes, str]] = {}
        for name, path in pages:
            body, media_type = _fetch(lvs.port, path, cookie)
            saved[path] = (body, media_type)
            print(f"{name}: {path} -> {len(body)} bytes of {media_type}")
        floor = stack.enter_context(FloorServer(saved))
        targets = []
        for name, path in pages:
            if _fetch(floor.port, path, cookie)[0] != saved[path][0]:
                raise RuntimeError(f"the floor does not answer {path} with lvs's bytes")
            targets.append((name, lvs.url(path), floor.url(path)))
            metrics.append(
                (
                    Metric(f"{name}", "req/s", ref_name="floor"),
                    Metric(f"{name} p50", "ms", ref_name="floor"),
                    Metric(f"{name} p99", "ms", ref_name="floor"),
                    Metric(f"{name} server CPU", "% core", ref_name="floor"),
                )
            )
        for rnd in range(1, ctx.rounds + 1):
            line = []
            for (name, lvs_url, ref_url), (rps, p50, p99, cpu) in zip(
                targets, metrics, strict=True
            ):
                for side, url, pid in (("lvs", lvs_url, lvs.pid), ("ref", ref_url, floor.pid)):
                    with CpuMeter(pid) as meter:
                        res = run_wrk(
                            url,
                            connections=CONNECTIONS,
                            threads=2,
                            seconds=seconds,
                            headers={"Cookie": cookie},
                        )
                    getattr(cpu, side).append(meter.percent)
                    if res.error_count:
                        errors.append(f"round {rnd} {name} {side}: {res.errors_text()}")
                    getattr(rps, side).append(res.rps)
                    getattr(p50, side).append(res.p50_ms)
                    getattr(p99, side).append(res.p99_ms)
                line.append(
                    f"{name} {fmt(rps.lvs[-1])}/{fmt(rps.ref[-1])} req/s "
                    f"p99 {fmt(p99.lvs[-1])}/{fmt(p99.ref[-1])} ms"
                )
            print(f"round {rnd} (lvs/floor): " + "; ".join(line), flush=True)

    flat = [m for group in metrics for m in group]
    print_metrics("Results (medians over rounds)", flat)
    print(f"non-2xx / socket errors: {'; '.join(errors) or 'none'}")
    for (name, _, _), (rps, _, p99, _) in zip(targets, metrics, strict=True):
        beside = (
            f"{fmt(rps.lvs_median)} req/s, p99 {fmt(p99.lvs_median)} ms; floor "
            f"{fmt(rps.ref_median)} req/s ({fmt_ratio(rps.ratio)})"
        )
        least, most = GOALS.get(name, (0, 50))
        wanted = [f"≥ {fmt(least)} req/s"] if least else []
        wanted += [f"p99 ≤ {fmt(most)} ms"] if most is not None else []
        met = rps.lvs_median >= least and (most is None or p99.lvs_median <= most)
        goals.append(Goal(f"{name}: {' and '.join(wanted)}", beside, met))
    if len(metrics) >= 2:
        first, deep_page = metrics[0][2], metrics[1][2]
        ratio = deep_page.lvs_median / first.lvs_median
        print(f"{pages[1][0]} p99 / {pages[0][0]} p99 (lvs): {ratio:.2f}")
        goals.append(
            Goal(
                f"{pages[1][0]} ≤ 2× page 1 (p99)",
                f"{ratio:.2f}× ({fmt(deep_page.lvs_median)} vs {fmt(first.lvs_median)} ms)",
                ratio <= 2,
            )
        )
    goals.append(Goal("no errors", "; ".join(errors) or "none", not errors))
    return goals


def _cpu_per_request(ctx: Context, data: Path, rows: int, page: str, cookie: str) -> Goal:
    """In-process CPU per request (bench.inprocess): page 1, a watch page and a rating summary,
    for a returning browser (the rating user's session cookie and the CSRF cookie of its first
    visit) and a first-time one (no cookies)."""
    middle, media_hash = _middle(data, rows)
    urls = [page, f"/media/{middle}", f"/api/ratings/{media_hash}"]
    requests = ctx.pick(200, 50)
    print(
        f"\nin-process CPU per request: the app called as ASGI in this process, {requests} "
        f"sequential requests per round, {ctx.rounds} rounds (CPU ms/req: the least disturbed "
        "round; median beside it)"
    )
    figures = measure_pages(data, urls, cookie, requests=requests, rounds=ctx.rounds)
    print_figures(figures)
    cost = {(f.url, f.browser): f.cpu for f in figures}
    ratio = cost[(page, "first-time")] / cost[(page, "returning")]
    return Goal(
        "library page 1, first-time browser ≤ 1.3× a returning one (CPU per request)",
        f"{ratio:.2f}× ({cost[(page, 'first-time')]:.2f} vs {cost[(page, 'returning')]:.2f} ms)",
        ratio <= 1.3,
    )
