"""writes: 100 users rating concurrently through the JSON API; every acknowledged write is checked
against the database afterwards."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Context, Goal, Metric, fmt, percentile, print_metrics, ready_marker
from bench.dataset import (
    SessionCodec,
    cookie_pair,
    insert_media,
    media_hashes,
    migrate,
    schema_fingerprint,
    synthetic_media,
)
from bench.loadgen import HttpConnection
from bench.servers import CpuMeter, LvsServer, Nginx

NAME = "writes"
SUMMARY = "100 users POSTing ratings concurrently (JSON API), lost-write check against the DB"

USERS = 100  # issue 10: rating POSTs at 100 users, p99 ≤ 50 ms, nothing lost
STATIC_JSON = '{"media_hash":"0000000000000000","average":4.0,"count":1,"user":4}'


def library_size(ctx: Context) -> int:
    return int(ctx.pick(1_000, 200))


def prepare(ctx: Context) -> Path:
    """A migrated template database with synthetic videos and no ratings (copied per run)."""
    rows = library_size(ctx)
    folder = ctx.cache / f"writes-{rows}"
    is_ready, mark_ready = ready_marker(folder, {"rows": rows, "schema": schema_fingerprint()})
    if not is_ready():
        print(f"preparing a database of {rows} videos in {folder} ...", flush=True)
        db = migrate(folder / "template")
        insert_media(db, synthetic_media(rows, "/srv/lvs-bench/writes", seed=3))
        mark_ready()
    return folder / "template" / "lvs.db"


@dataclass
class User:
    index: int
    cookie: str | None = None
    first_cookie: str | None = None
    login_cookie: bool = False
    error: str = ""
    sent: int = 0
    acked: dict[str, tuple[int, Any]] = field(default_factory=dict)
    """media_hash -> (last acknowledged value, the "user" field of that answer)"""
    unacked_after: set[str] = field(default_factory=set)
    """hashes with a refused (non-200) write after their last acknowledged one"""


@dataclass
class LoadResult:
    users: list[User]
    latencies_ms: list[float]
    statuses: Counter[int]
    seconds: float
    reconnects: int
    echo_mismatches: int
    """200 answers whose "user" field is not the value just written"""

    @property
    def ok_per_s(self) -> float:
        return self.statuses.get(200, 0) / self.seconds

    def statuses_text(self) -> str:
        bad = {s: n for s, n in sorted(self.statuses.items()) if s != 200}
        return ", ".join(f"{s or 'no answer'}: {n}" for s, n in bad.items()) or "none"


async def load(port: int, hashes: list[str], users: int, seconds: float, seed: int) -> LoadResult:
    """Each user: one keep-alive connection; GET /api/ratings/<hash> once, then POST
    ``{"value": v}`` (v = 1, 2, ..., 5, 1, ...) on random videos until the time is up."""
    conns = [HttpConnection("127.0.0.1", port) for _ in range(users)]
    people = [User(i) for i in range(users)]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    mismatches = 0

    async def login(user: User, conn: HttpConnection) -> None:
        resp = await conn.request("GET", f"/api/ratings/{hashes[user.index % len(hashes)]}")
        if resp.status != 200:
            raise RuntimeError(f"GET /api/ratings answered {resp.status}: {resp.body[:200]!r}")
        pair = cookie_pair(resp.headers_named("set-cookie"))
        if pair:
            user.cookie = user.first_cookie = pair
            user.login_cookie = True

    async def rate(user: User, conn: HttpConnection, deadline: float) -> None:
        nonlocal mismatches
        rng = random.Random(seed * 1000 + user.index)
        while time.perf_counter() < deadline:
            media_hash = rng.choice(hashes)
            value = user.sent % 5 + 1
            user.sent += 1
            headers = [("Content-Type", "application/json")]
            if user.cookie:
                headers.append(("Cookie", user.cookie))
            start = time.perf_counter()
            try:
                resp = await conn.request(
                    "POST", f"/api/ratings/{media_hash}", headers, b'{"value": %d}' % value
                )
            except (OSError, asyncio.IncompleteReadError) as exc:
                statuses[0] += 1  # no answer: counted as status 0, then a new connection
                user.unacked_after.add(media_hash)
                user.error = repr(exc)
                await conn.close()
                continue
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[resp.status] += 1
            pair = cookie_pair(resp.headers_named("set-cookie"))
            if pair:
                user.first_cookie = user.first_cookie or pair
                user.cookie = pair
            if resp.status == 200:
                echoed = json.loads(resp.body).get("user")
                user.acked[media_hash] = (value, echoed)
                user.unacked_after.discard(media_hash)
                mismatches += echoed != value
            else:
                user.unacked_after.add(media_hash)

    await asyncio.gather(*(login(u, c) for u, c in zip(people, conns, strict=True)))
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(rate(u, c, deadline) for u, c in zip(people, conns, strict=True)))
    elapsed = time.perf_counter() - start
    reconnects = sum(c.reconnects for c in conns)
    for conn in conns:
        await conn.close()
    return LoadResult(people, latencies, statuses, elapsed, reconnects, mismatches)


def _run_async(coro: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    """Run on uvloop when installed (the client needs all the speed it can get)."""
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coro)


@dataclass
class Check:
    verified: int = 0
    lost: int = 0
    ambiguous: int = 0
    """stored value differs, but a refused write for the same video came after the last ack"""
    unverifiable: int = 0
    identity_changes: int = 0

    def text(self) -> str:
        return (
            f"{self.verified} (user, video) pairs checked, {self.lost} lost, "
            f"{self.ambiguous} ambiguous, {self.unverifiable} unverifiable, "
            f"{self.identity_changes} identity changes"
        )


def verify(db: Path, result: LoadResult, codec: SessionCodec) -> Check:
    """For each user and video: the stored rating is the last acknowledged value."""
    check = Check()
    with sqlite3.connect(db, timeout=30) as conn:
        for user in result.users:
            uid = codec.decode(user.cookie) if user.cookie else None
            if uid is None:
                check.unverifiable += len(user.acked)
                continue
            if user.first_cookie and codec.decode(user.first_cookie) != uid:
                check.identity_changes += 1
            stored = dict(
                conn.execute(
                    "SELECT media_hash, value FROM ratings WHERE user_id = ?", (uid.bytes,)
                ).fetchall()
            )
            for media_hash, (value, _echo) in user.acked.items():
                check.verified += 1
                if stored.get(media_hash) == value:
                    continue
                if media_hash in user.unacked_after:
                    check.ambiguous += 1
                else:
                    check.lost += 1
    conn.close()
    return check


def run(ctx: Context) -> list[Goal]:
    template = prepare(ctx)
    seconds = ctx.pick(10, 3)
    codec = SessionCodec()
    print(
        f"database: {library_size(ctx)} videos, fresh copy per run; LVS_RATE_LIMIT=1000000/minute\n"
        f"load: {USERS} users, one keep-alive connection each (asyncio raw HTTP/1.1 client on "
        f'uvloop), GET /api/ratings/<hash> once, then POST {{"value": 1..5}} on random videos '
        f"for {seconds} s\n"
        f"check: each user's last acknowledged (200) value per video is the one in the database\n"
        f"reference: the same client against nginx (worker_processes {Nginx.WORKERS}) answering "
        f"a static 200 JSON: the client's own ceiling\n"
        f"rounds: {ctx.rounds}, interleaved lvs/nginx, new users each round"
    )
    ok_rate = Metric("acknowledged writes", "req/s", ref_name="nginx")
    p50 = Metric("write latency p50", "ms", ref_name="nginx")
    p99 = Metric("write latency p99", "ms", ref_name="nginx")
    cpu = Metric("server CPU", "% core", ref_name="nginx")
    lost = Metric("lost writes", "count")
    refused: Counter[int] = Counter()
    checks: list[Check] = []
    echo_mismatches = 0
    login_cookies = 0
    with ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lvs-bench-writes-")))
        shutil.copy(template, data / "lvs.db")
        hashes = media_hashes(data / "lvs.db")
        library = data / "library"
        library.mkdir()
        lvs = stack.enter_context(LvsServer(data, library, LVS_RATE_LIMIT="1000000/minute"))
        nginx = stack.enter_context(
            Nginx(
                "        location /api/ratings/ { default_type application/json; "
                f"return 200 '{STATIC_JSON}'; }}"
            )
        )
        for rnd in range(1, ctx.rounds + 1):
            with CpuMeter(lvs.pid) as lvs_cpu:
                res = _run_async(load(lvs.port, hashes, USERS, seconds, rnd))
            cpu.lvs.append(lvs_cpu.percent)
            check = verify(data / "lvs.db", res, codec)
            checks.append(check)
            refused.update({s: n for s, n in res.statuses.items() if s != 200})
            echo_mismatches += res.echo_mismatches
            login_cookies += sum(u.login_cookie for u in res.users)
            ok_rate.lvs.append(res.ok_per_s)
            p50.lvs.append(percentile(res.latencies_ms, 50))
            p99.lvs.append(percentile(res.latencies_ms, 99))
            lost.lvs.append(check.lost)
            with CpuMeter(nginx.pid) as ref_cpu:
                ref = _run_async(load(nginx.port, hashes, USERS, seconds, rnd))
            cpu.ref.append(ref_cpu.percent)
            ok_rate.ref.append(ref.ok_per_s)
            p50.ref.append(percentile(ref.latencies_ms, 50))
            p99.ref.append(percentile(ref.latencies_ms, 99))
            print(
                f"round {rnd}: lvs {fmt(res.ok_per_s)} writes/s p99 {fmt(p99.lvs[-1])} ms, "
                f"non-200: {res.statuses_text()}, reconnects {res.reconnects}; {check.text()}; "
                f"nginx {fmt(ref.ok_per_s)} req/s p99 {fmt(p99.ref[-1])} ms",
                flush=True,
            )

    print_metrics("Results (medians over rounds)", [ok_rate, p50, p99, cpu, lost])
    non_200 = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(refused.items())) or "none"
    total_lost = sum(c.lost for c in checks)
    print(f"non-200 answers from lvs, all rounds: {non_200}")
    print(f'answers whose "user" field is not the value just written: {echo_mismatches}')
    print(
        f"session cookies set by the first GET /api/ratings: {login_cookies} of "
        f"{USERS * ctx.rounds} users (reads do not mint a user: the first POST does)"
    )
    print("write check, all rounds: " + "; ".join(c.text() for c in checks))
    return [
        Goal(
            "≥ 800 acknowledged writes/s (one worker)",
            f"{fmt(ok_rate.lvs_median)} writes/s (client ceiling {fmt(ok_rate.ref_median)})",
            ok_rate.lvs_median >= 800,
        ),
        Goal("write p99 ≤ 50 ms", f"{fmt(p99.lvs_median)} ms", p99.lvs_median <= 50),
        Goal(
            "0 lost writes",
            f"{total_lost} lost, {sum(c.ambiguous for c in checks)} ambiguous, "
            f"{sum(c.unverifiable for c in checks)} unverifiable",
            total_lost == 0 and not any(c.unverifiable for c in checks),
        ),
        Goal("no refused writes (non-200)", non_200, not refused),
    ]
