"""load: N clients doing the real mix (library pages, watch pages, 256 KiB stream ranges, rating
writes) for a fixed time, against three deployments one after the other: SQLite with one worker,
SQLite with several workers, PostgreSQL + Redis with several workers. Every acknowledged write is
checked in the database afterwards. The reference is the same client against nginx serving static
copies of the pages, the stream file and a static 200 for the writes: the client's own ceiling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench.common import (
    Context,
    Goal,
    Metric,
    MiB,
    fmt,
    percentile,
    print_metrics,
    print_table,
    ready_marker,
)
from bench.dataset import (
    WORDS,
    SessionCodec,
    cookie_pair,
    insert_media,
    migrate,
    schema_fingerprint,
    synthetic_media,
)
from bench.loadgen import HttpConnection
from bench.servers import CpuMeter, LvsServer, Nginx, lvs_command, lvs_env

NAME = "load"
SUMMARY = (
    "N clients doing the real mix (pages, watch, 256 KiB ranges, ratings) on SQLite 1 worker, "
    "SQLite N workers, PostgreSQL + Redis N workers; lost-write check"
)

#: The mix: each request picks its kind with these weights (percent).
MIX: tuple[tuple[str, int], ...] = (("library", 30), ("watch", 20), ("range", 30), ("write", 20))
KINDS = tuple(kind for kind, _ in MIX)
WEIGHTS = tuple(weight for _, weight in MIX)
RANGE_BYTES = 256 * 1024
ROWS = 2_000  # synthetic videos
COPIES = 4  # real files the videos' paths point at (hard links)
FILE_MIB = 16
PAGE_SIZE = 24
WORKERS = 2  # for the multi-worker configurations (this machine has 2 cores)
RATE = "1000000/minute"
REQUEST_TIMEOUT = 30.0  # seconds; an answer later than this counts as "no answer"

PG_ADMIN_URL = os.environ.get("LVS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_DATABASE = "lvs_bench_load"
REDIS_URL = os.environ.get("LVS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
T = TypeVar("T")
STATIC_JSON = '{"media_hash":"0000000000000000","average":4.0,"count":1,"user":4}'


def clients(ctx: Context) -> int:
    return int(ctx.pick(32, 8))


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    template: Path
    """a migrated SQLite database with the videos (copied for each configuration)"""
    library: Path
    files: list[Path]
    """the real files every video's path is a hard link to"""
    file_size: int


def _media_rows(library: Path, files: Sequence[Path]) -> list[dict[str, Any]]:
    """The synthetic videos, each path a (hard) link under ``library`` to one of ``files``."""
    rows = synthetic_media(ROWS, str(library), seed=5)
    stats = [f.stat() for f in files]
    for i, row in enumerate(rows):
        st = stats[i % len(stats)]
        row.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
    return rows


def prepare(ctx: Context) -> Dataset:
    folder = ctx.cache / f"load-{ROWS}"
    files_dir, library, template = folder / "files", folder / "library", folder / "template"
    files = [files_dir / f"clip-{k}.mp4" for k in range(COPIES)]
    params = {
        "rows": ROWS,
        "copies": COPIES,
        "file_mib": FILE_MIB,
        "schema": schema_fingerprint(),
        "layout": 1,
    }
    is_ready, mark_ready = ready_marker(folder, params)
    if not is_ready():
        print(
            f"preparing {ROWS} videos in {folder}: {COPIES} copies of one {FILE_MIB} MiB file of "
            f"random bytes, {ROWS} hard links to them, a migrated SQLite database ...",
            flush=True,
        )
        shutil.rmtree(folder, ignore_errors=True)
        files_dir.mkdir(parents=True)
        with files[0].open("wb") as f:
            for _ in range(FILE_MIB):
                f.write(os.urandom(MiB))
        for copy in files[1:]:
            shutil.copyfile(files[0], copy)
        rows = _media_rows(library, files)
        for i, row in enumerate(rows):
            link = Path(row["path"])
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(files[i % COPIES], link)
            except OSError:  # a file system without hard links
                link.symlink_to(files[i % COPIES])
        db = migrate(template)
        insert_media(db, rows)  # and ANALYZE
        mark_ready()
    return Dataset(template / "lvs.db", library, files, files[0].stat().st_size)


def _warm_page_cache(paths: Sequence[Path]) -> None:
    for path in paths:
        with path.open("rb", buffering=0) as f:
            while f.read(8 * MiB):
                pass


# -- the client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where each kind of request goes: lvs's real URLs, or the reference's static copies."""

    port: int
    pages: int
    reference: bool = False

    def library(self, rng: random.Random) -> str:
        if self.reference:
            return "/ref/library.html"
        pick = rng.randrange(3)
        if pick == 0:
            return "/"
        if pick == 1:
            return f"/library?page={rng.randint(2, max(2, self.pages))}"
        return f"/library?q={rng.choice(WORDS)}"

    def watch(self, media_id: int) -> str:
        return "/ref/watch.html" if self.reference else f"/media/{media_id}"

    def stream(self, media_id: int) -> str:
        return "/ref/stream.mp4" if self.reference else f"/media/{media_id}/stream"


@dataclass
class Client:
    index: int
    rng: random.Random
    media_id: int
    """the video being watched: ranges are read from it; a watch page changes it"""
    cookie: str | None = None
    writes: list[tuple[str | None, str, int, bool]] = field(default_factory=list)
    """every write in order: (session cookie it was made under, media_hash, value, acknowledged)"""
    last_error: str = ""


@dataclass
class KindStats:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    """status -> count; 0 is "no answer" (connection error or timeout)"""
    bad: int = 0
    """ranges answered with something other than 206 and exactly the bytes asked for"""


@dataclass
class LoadResult:
    clients: list[Client]
    kinds: dict[str, KindStats]
    seconds: float
    client_cpu: float
    """this process's CPU over the run, % of one core"""
    reconnects: int

    def latencies(self, kind: str) -> list[float]:
        if kind == "all":
            return [ms for s in self.kinds.values() for ms in s.latencies_ms]
        return self.kinds[kind].latencies_ms

    def count(self, kind: str) -> int:
        if kind == "all":
            return sum(s.statuses.total() for s in self.kinds.values())
        return self.kinds[kind].statuses.total()

    def failures(self) -> dict[str, Counter[int]]:
        """Per kind: the answers that are not 2xx (0 = no answer)."""
        return {
            kind: Counter({st: n for st, n in s.statuses.items() if not 200 <= st < 300})
            for kind, s in self.kinds.items()
        }

    def acked_writes(self) -> int:
        return self.kinds["write"].statuses.get(200, 0)


async def load(
    target: Target,
    media: Sequence[tuple[int, str]],
    count: int,
    seconds: float,
    seed: int,
    file_size: int,
) -> LoadResult:
    """``count`` clients, one keep-alive connection each, one request at a time, each request's
    kind drawn from MIX, until ``seconds`` have passed."""
    kinds = {kind: KindStats() for kind in KINDS}
    people = []
    for i in range(count):
        rng = random.Random(seed * 100_003 + i)
        people.append(Client(i, rng, rng.choice(media)[0]))
    conns = [HttpConnection("127.0.0.1", target.port) for _ in people]

    async def run_client(c: Client, conn: HttpConnection, deadline: float) -> None:
        rng = c.rng
        while time.perf_counter() < deadline:
            kind = rng.choices(KINDS, WEIGHTS)[0]
            method, body, media_hash, value = "GET", b"", "", 0
            headers: list[tuple[str, str]] = []
            if c.cookie:
                headers.append(("Cookie", c.cookie))
            if kind == "library":
                path = target.library(rng)
            elif kind == "watch":
                c.media_id = rng.choice(media)[0]
                path = target.watch(c.media_id)
            elif kind == "range":
                first = rng.randrange(file_size - RANGE_BYTES + 1)
                headers.append(("Range", f"bytes={first}-{first + RANGE_BYTES - 1}"))
                path = target.stream(c.media_id)
            else:
                media_hash = rng.choice(media)[1]
                value = len(c.writes) % 5 + 1
                method, body = "POST", b'{"value": %d}' % value
                headers.append(("Content-Type", "application/json"))
                path = f"/api/ratings/{media_hash}"
            stats = kinds[kind]
            start = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    resp = await conn.request(method, path, headers, body)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                stats.statuses[0] += 1
                c.last_error = f"{kind} {path}: {exc!r}"
                if kind == "write":
                    c.writes.append((c.cookie, media_hash, value, False))
                await conn.close()
                continue
            stats.latencies_ms.append((time.perf_counter() - start) * 1000)
            stats.statuses[resp.status] += 1
            pair = cookie_pair(resp.headers_named("set-cookie"))
            if pair:  # like a browser: keep whatever session cookie the server sends
                c.cookie = pair
            if kind == "range" and (resp.status != 206 or len(resp.body) != RANGE_BYTES):
                stats.bad += 1
            elif kind == "write":  # (c.cookie now names the user the server wrote for)
                c.writes.append((c.cookie, media_hash, value, resp.status == 200))

    cpu_before = _self_cpu()
    start = time.perf_counter()
    deadline = start + seconds
    try:
        await asyncio.gather(
            *(run_client(c, n, deadline) for c, n in zip(people, conns, strict=True))
        )
    finally:
        for conn in conns:
            await conn.close()
    elapsed = time.perf_counter() - start
    cpu = 100 * (_self_cpu() - cpu_before) / elapsed
    return LoadResult(people, kinds, elapsed, cpu, sum(n.reconnects for n in conns))


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed (the client needs all the speed it can get)."""
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coro)


# -- the write check -----------------------------------------------------------------------------

#: Given user ids, each user's stored ratings: {user: {media_hash: value}}.
StoredRatings = Callable[[list[uuid.UUID]], dict[uuid.UUID, dict[str, int]]]


@dataclass
class Check:
    acked: int = 0
    """acknowledged (200) writes"""
    verified: int = 0
    """(user, video) pairs whose last acknowledged value was looked up"""
    lost: int = 0
    ambiguous: int = 0
    """stored value differs, but a refused or unanswered write to the same video came after"""
    unverifiable: int = 0
    identity_changes: int = 0
    """clients whose acknowledged writes were made under more than one session cookie"""

    def text(self) -> str:
        return (
            f"{self.acked} acked writes, {self.verified} (user, video) checked: {self.lost} lost, "
            f"{self.ambiguous} ambiguous, {self.unverifiable} unverifiable, "
            f"{self.identity_changes} identity changes"
        )


def verify(result: LoadResult, stored: StoredRatings, codec: SessionCodec) -> Check:
    """For each client, user and video: the stored rating is the last value acknowledged.

    The server re-signs the session cookie on every answer, so writes are grouped by the user
    id inside the cookie, in the order the client made them."""
    check = Check(acked=result.acked_writes())
    uids = {
        cookie: codec.decode(cookie)
        for c in result.clients
        for cookie, _, _, _ in c.writes
        if cookie is not None
    }
    found = stored(sorted({uid for uid in uids.values() if uid is not None}))
    for c in result.clients:
        # (uid, media_hash) -> (last acknowledged value, a refused write came after it)
        last: dict[tuple[uuid.UUID | None, str], tuple[int, bool]] = {}
        for cookie, media_hash, value, acked in c.writes:
            key = (uids.get(cookie) if cookie else None, media_hash)
            if acked:
                last[key] = (value, False)
            elif key in last:
                last[key] = (last[key][0], True)
        check.identity_changes += len({uid for uid, _ in last if uid is not None}) > 1
        for (uid, media_hash), (value, refused_after) in last.items():
            if uid is None:
                check.unverifiable += 1
                continue
            check.verified += 1
            if found.get(uid, {}).get(media_hash) == value:
                continue
            if refused_after:
                check.ambiguous += 1
            else:
                check.lost += 1
    return check


def sqlite_ratings(db: Path) -> StoredRatings:
    def fetch(uids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        found: dict[uuid.UUID, dict[str, int]] = {}
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
            for uid in uids:
                rows = conn.execute(
                    "SELECT media_hash, value FROM ratings WHERE user_id = ?", (uid.bytes,)
                ).fetchall()
                found[uid] = {h: int(v) for h, v in rows}
        return found

    return fetch


# -- PostgreSQL and Redis ------------------------------------------------------------------------


def _pg_url(database: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"


async def _pg_execute(dsn: str, *statements: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _pg_fill(dsn: str, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert the videos (the app's column types), ANALYZE; ``(id, media_hash)`` of each."""
    import asyncpg

    def value(column: str, raw: Any) -> Any:
        if column in {"created_at", "updated_at"}:
            return datetime.fromisoformat(raw).replace(tzinfo=UTC)
        if column in {"has_thumbnail", "missing"}:
            return bool(raw)
        return raw

    columns = list(rows[0])
    sql = (
        f"INSERT INTO media ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})"
    )
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.executemany(sql, [[value(c, r[c]) for c in columns] for r in rows])
        await conn.execute("ANALYZE")
        found = await conn.fetch("SELECT id, media_hash FROM media ORDER BY id")
    finally:
        await conn.close()
    return [(int(r["id"]), str(r["media_hash"])) for r in found]


def pg_ratings(dsn: str) -> StoredRatings:
    async def fetch_async(uids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        import asyncpg

        found: dict[uuid.UUID, dict[str, int]] = {uid: {} for uid in uids}
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT user_id, media_hash, value FROM ratings WHERE user_id = ANY($1::uuid[])",
                uids,
            )
        finally:
            await conn.close()
        for r in rows:
            found.setdefault(uuid.UUID(str(r["user_id"])), {})[str(r["media_hash"])] = int(
                r["value"]
            )
        return found

    def fetch(uids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        return asyncio.run(fetch_async(uids))

    return fetch


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def _unavailable(needs: Sequence[str]) -> str:
    """Why a configuration cannot run here ('' when it can)."""
    if "redis" in needs:
        try:
            _flush_redis()
        except Exception as exc:
            return f"Redis at {REDIS_URL} unreachable ({exc})"
    if "postgresql" in needs:
        try:
            asyncio.run(_pg_execute(PG_ADMIN_URL, "SELECT 1"))
        except Exception as exc:
            return f"PostgreSQL at {PG_ADMIN_URL} unreachable ({exc!r})"
    return ""


# -- the configurations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    key: str
    title: str
    workers: int
    postgresql: bool = False
    redis: bool = False

    @property
    def label(self) -> str:
        return f"({self.key}) {self.title}"


CONFIGS = (
    Config("a", "SQLite, 1 worker", 1),
    Config("b", f"SQLite, {WORKERS} workers, Redis", WORKERS, redis=True),
    Config("c", f"PostgreSQL + Redis, {WORKERS} workers", WORKERS, postgresql=True, redis=True),
)


@dataclass
class Deployment:
    server: LvsServer
    media: list[tuple[int, str]]
    stored: StoredRatings


def deploy(stack: ExitStack, config: Config, data: Dataset, tmp: Path) -> Deployment:
    """Start ``config``'s lvs (its own database); ``stack`` stops it, flushes Redis and drops
    the PostgreSQL database, in that order, whatever happens."""
    data_dir = tmp / f"config-{config.key}"
    data_dir.mkdir()
    env = {"LVS_RATE_LIMIT": RATE, "LVS_WRITE_RATE_LIMIT": RATE, "LVS_PAGE_SIZE": str(PAGE_SIZE)}
    args = ["--workers", str(config.workers)] if config.workers > 1 else []
    if config.postgresql:
        stack.callback(
            lambda: asyncio.run(
                _pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            )
        )
        asyncio.run(
            _pg_execute(
                PG_ADMIN_URL,
                f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)',
                f'CREATE DATABASE "{PG_DATABASE}"',
            )
        )
        env["LVS_DATABASE_URL"] = _pg_url(PG_DATABASE).replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )
        done = subprocess.run(
            [*lvs_command(), "db", "upgrade", "--no-prompt"],
            env=lvs_env(data_dir, data.library, **env),
            cwd=data_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"lvs db upgrade failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        dsn = _pg_url(PG_DATABASE)
        media = asyncio.run(_pg_fill(dsn, _media_rows(data.library, data.files)))
        stored = pg_ratings(dsn)
    else:
        db = data_dir / "lvs.db"
        shutil.copy(data.template, db)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            media = [(int(i), str(h)) for i, h in conn.execute("SELECT id, media_hash FROM media")]
        stored = sqlite_ratings(db)
    if config.redis:
        env["LVS_CACHE_URL"] = REDIS_URL
        env["LVS_RATE_LIMIT_STORAGE"] = REDIS_URL
        stack.callback(_flush_redis)
        _flush_redis()
    server = stack.enter_context(LvsServer(data_dir, data.library, args=args, **env))
    return Deployment(server, media, stored)


# -- figures -------------------------------------------------------------------------------------

ALL = ("all", *KINDS)


def figures(res: LoadResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind in ALL:
        out[f"{kind} req/s"] = res.count(kind) / res.seconds if res.seconds else 0.0
        latencies = res.latencies(kind)
        out[f"{kind} p50"] = percentile(latencies, 50)
        out[f"{kind} p99"] = percentile(latencies, 99)
    return out


def new_metrics() -> dict[str, Metric]:
    metrics: dict[str, Metric] = {}
    for kind in ALL:
        label = "all requests" if kind == "all" else kind
        metrics[f"{kind} req/s"] = Metric(label, "req/s", ref_name="nginx")
    for kind in ALL:
        label = "all requests" if kind == "all" else kind
        metrics[f"{kind} p50"] = Metric(f"{label} p50", "ms", ref_name="nginx")
        metrics[f"{kind} p99"] = Metric(f"{label} p99", "ms", ref_name="nginx")
    metrics["server cpu"] = Metric("server CPU", "% core", ref_name="nginx")
    metrics["client cpu"] = Metric("client CPU", "% core", ref_name="nginx")
    metrics["acked"] = Metric("acknowledged writes", "req/s", ref_name="nginx")
    metrics["lost"] = Metric("lost writes", "count")
    return metrics


def record(metrics: dict[str, Metric], side: str, res: LoadResult, server_cpu: float) -> None:
    values = figures(res)
    values["server cpu"] = server_cpu
    values["client cpu"] = res.client_cpu
    values["acked"] = res.acked_writes() / res.seconds if res.seconds else 0.0
    for key, value in values.items():
        getattr(metrics[key], side).append(value)


def failures_text(failures: dict[str, Counter[int]], bad_ranges: int = 0) -> str:
    parts = []
    for kind in KINDS:
        bad = failures.get(kind)
        if bad:
            text = ", ".join(f"{st or 'no answer'}: {n}" for st, n in sorted(bad.items()))
            parts.append(f"{kind} {text}")
    if bad_ranges:
        parts.append(f"{bad_ranges} ranges not 206 with {RANGE_BYTES} bytes")
    return "; ".join(parts) or "none"


def round_line(label: str, rnd: int, res: LoadResult, extra: str = "") -> str:
    f = figures(res)
    kinds = ", ".join(f"{kind} {fmt(f[f'{kind} req/s'])}" for kind in KINDS)
    bad = sum(s.bad for s in res.kinds.values())
    errors = [c.last_error for c in res.clients if c.last_error]
    example = f" (e.g. {errors[0]})" if errors else ""
    return (
        f"{label} round {rnd}: {fmt(f['all req/s'])} req/s ({kinds}), p50 {fmt(f['all p50'])} "
        f"p99 {fmt(f['all p99'])} ms, non-2xx: {failures_text(res.failures(), bad)}{example}, "
        f"reconnects {res.reconnects}, client CPU {fmt(res.client_cpu)}%{extra}"
    )


@dataclass
class Outcome:
    """Everything one configuration produced, over its rounds."""

    config: Config
    metrics: dict[str, Metric] = field(default_factory=new_metrics)
    failures: dict[str, Counter[int]] = field(
        default_factory=lambda: {kind: Counter() for kind in KINDS}
    )
    bad_ranges: int = 0
    checks: list[Check] = field(default_factory=list)
    skipped: str = ""
    crashed: str = ""
    log_errors: Counter[str] = field(default_factory=Counter)

    def add(self, res: LoadResult) -> None:
        for kind, bad in res.failures().items():
            self.failures[kind].update(bad)
        self.bad_ranges += sum(s.bad for s in res.kinds.values())


def run_config(
    ctx: Context, config: Config, data: Dataset, tmp: Path, ref_dir: Path, codec: SessionCodec
) -> Outcome:
    out = Outcome(config)
    needs = [n for n, on in (("postgresql", config.postgresql), ("redis", config.redis)) if on]
    if why := _unavailable(needs):
        out.skipped = why
        print(f"{config.label}: skipped: {why}", flush=True)
        return out
    count, seconds = clients(ctx), ctx.pick(20, 5)
    with ExitStack() as stack:
        started = time.perf_counter()
        dep = deploy(stack, config, data, tmp)
        print(
            f"{config.label}: lvs serve {' '.join(dep.server.args) or '(one worker)'} ready "
            f"after {time.perf_counter() - started:.1f} s (data, migration and start)",
            flush=True,
        )
        pages = -(-len(dep.media) // PAGE_SIZE)
        target = Target(dep.server.port, pages)
        if not (ref_dir / "library.html").exists():  # the reference's static copies
            _save(dep.server.port, "/", ref_dir / "library.html")
            _save(dep.server.port, f"/media/{dep.media[0][0]}", ref_dir / "watch.html")
        # warm-up (every worker, templates, caches), not counted
        _run_async(load(target, dep.media, count, ctx.pick(2, 1), 0, data.file_size))
        for rnd in range(1, ctx.rounds + 1):
            with CpuMeter(dep.server.pid) as meter:
                res = _run_async(load(target, dep.media, count, seconds, rnd, data.file_size))
            check = verify(res, dep.stored, codec)
            out.checks.append(check)
            out.add(res)
            record(out.metrics, "lvs", res, meter.percent)
            out.metrics["lost"].lvs.append(check.lost)
            print(
                round_line(config.label, rnd, res, f", server CPU {fmt(meter.percent)}%")
                + f"; {check.text()}",
                flush=True,
            )
    # (the server is stopped) keep its log, and show what went wrong in it
    logs = ctx.cache / f"load-{ROWS}" / "logs"
    logs.mkdir(exist_ok=True)
    kept = shutil.copy(dep.server.log, logs / f"{config.key}-serve.log")
    out.log_errors = log_errors(Path(kept))
    if out.log_errors:
        print(f"{config.label}: errors in the server log ({kept}), most frequent first:")
        for line, n in out.log_errors.most_common(8):
            print(f"  {n} × {line}")
    return out


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b")


def log_errors(log: Path) -> Counter[str]:
    """The final line of every traceback and every ERROR/CRITICAL line in a server log."""
    found: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if _EXCEPTION_LINE.match(line) or line.startswith(("ERROR", "CRITICAL")):
            found[line.strip()[:240]] += 1
    return found


def _save(port: int, path: str, dest: Path) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"GET {path} answered {resp.status}: {body[:300]!r}")
    dest.write_bytes(body)


def run_reference(
    ctx: Context, data: Dataset, ref_dir: Path, metrics: dict[str, Metric]
) -> dict[str, Counter[int]]:
    count, seconds = clients(ctx), ctx.pick(20, 5)
    failures: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS}
    locations = (
        f"        location = /ref/stream.mp4 {{ alias {Nginx.quote(data.files[0])}; }}\n"
        f"        location /ref/ {{ alias {Nginx.quote(str(ref_dir) + '/')}; }}\n"
        "        location /api/ratings/ { default_type application/json; "
        f"return 200 '{STATIC_JSON}'; }}"
    )
    media = [(i + 1, f"{i:016x}") for i in range(ROWS)]
    with Nginx(locations) as nginx:
        target = Target(nginx.port, 1, reference=True)
        _run_async(load(target, media, count, ctx.pick(2, 1), 0, data.file_size))
        for rnd in range(1, ctx.rounds + 1):
            with CpuMeter(nginx.pid) as meter:
                res = _run_async(load(target, media, count, seconds, rnd, data.file_size))
            record(metrics, "ref", res, meter.percent)
            for kind, bad in res.failures().items():
                failures[kind].update(bad)
            print(round_line("reference (nginx)", rnd, res, f", nginx CPU {fmt(meter.percent)}%"))
    return failures


def run(ctx: Context) -> list[Goal]:
    data = prepare(ctx)
    count, seconds = clients(ctx), ctx.pick(20, 5)
    mix = ", ".join(f"{w}% {k}" for k, w in MIX)
    print(
        f"data: {ROWS} synthetic videos, their paths hard links to {COPIES} copies of one "
        f"{FILE_MIB} MiB file of random bytes (in the page cache); {PAGE_SIZE} per page\n"
        f"load: {count} clients, one keep-alive connection each (asyncio raw HTTP/1.1 client on "
        f"uvloop), one request at a time, for {seconds} s per round after a short warm-up; "
        f"mix {mix}\n"
        f"  library: / or /?page=K or /?q=word (a third each); watch: /media/{{id}} (random "
        f"video, which the client then streams); range: {RANGE_BYTES // 1024} KiB at a random "
        f'offset of that video\'s /stream; write: POST /api/ratings/{{hash}} {{"value": v}}, '
        f"v = 1..5 in turn, random video\n"
        f"  each client keeps the lvs_session cookie the server sets (its first POST or watch "
        f"page names a user) and sends it on every request; no Accept-Encoding\n"
        f"lvs: LVS_RATE_LIMIT=LVS_WRITE_RATE_LIMIT={RATE}, one configuration after the other:\n"
        + "".join(f"  {c.label}\n" for c in CONFIGS)
        + f"  Redis {REDIS_URL} (flushed before and after), PostgreSQL database {PG_DATABASE} "
        f"(created, migrated by `lvs db upgrade`, filled with asyncpg, ANALYZE; dropped after)\n"
        f"check: per client and (user, video), the last acknowledged (200) value is the one in "
        f"the database\n"
        f"reference: the same client against nginx (worker_processes {Nginx.WORKERS}) serving "
        f"static copies of one library page and one watch page, the stream file, and a static 200 "
        f"JSON for the POST: the client's ceiling\n"
        f"rounds: {ctx.rounds} per configuration, new clients (new users) each round"
    )
    _warm_page_cache(data.files)
    codec = SessionCodec()
    outcomes: list[Outcome] = []
    ref_metrics = new_metrics()
    with tempfile.TemporaryDirectory(prefix="lvs-bench-load-") as raw_tmp:
        tmp = Path(raw_tmp)
        ref_dir = tmp / "ref"
        ref_dir.mkdir()
        for config in CONFIGS:
            print(flush=True)
            try:
                outcomes.append(run_config(ctx, config, data, tmp, ref_dir, codec))
            except Exception as exc:
                import traceback

                traceback.print_exc()
                outcomes.append(Outcome(config, crashed=repr(exc)))
        print()
        if not (ref_dir / "library.html").exists():
            raise RuntimeError("no lvs configuration ran: no pages for the reference")
        ref_failures = run_reference(ctx, data, ref_dir, ref_metrics)

    for out in outcomes:
        if out.skipped or out.crashed:
            continue
        for key, metric in out.metrics.items():
            metric.ref = ref_metrics[key].ref
        print_metrics(
            f"{out.config.label} (medians over rounds; ref: nginx)", list(out.metrics.values())
        )
        print(f"non-2xx / no answer, all rounds: {failures_text(out.failures, out.bad_ranges)}")
        print("write check, all rounds: " + "; ".join(c.text() for c in out.checks))

    print()
    print("Summary (medians over rounds)")
    rows = []
    for out in outcomes:
        m = out.metrics
        if out.skipped or out.crashed:
            rows.append([out.config.label, *["–"] * 7])
            continue
        rows.append(
            [
                out.config.label,
                fmt(m["all req/s"].lvs_median),
                fmt(m["all p50"].lvs_median),
                fmt(m["all p99"].lvs_median),
                fmt(m["acked"].lvs_median),
                str(sum(c.lost for c in out.checks)),
                str(sum(sum(f.values()) for f in out.failures.values()) + out.bad_ranges),
                fmt(m["server cpu"].lvs_median),
            ]
        )
    rows.append(
        [
            "reference: nginx, static",
            fmt(ref_metrics["all req/s"].ref_median),
            fmt(ref_metrics["all p50"].ref_median),
            fmt(ref_metrics["all p99"].ref_median),
            fmt(ref_metrics["acked"].ref_median),
            "–",
            str(sum(sum(f.values()) for f in ref_failures.values())),
            fmt(ref_metrics["server cpu"].ref_median),
        ]
    )
    print_table(
        [
            "configuration",
            "req/s",
            "p50 ms",
            "p99 ms",
            "writes/s",
            "lost",
            "non-2xx",
            "server CPU %",
        ],
        rows,
    )
    for out in outcomes:
        if out.skipped or out.crashed:
            print(f"{out.config.label}: {out.skipped or 'crashed: ' + out.crashed}")

    goals = []
    for out in outcomes:
        label = out.config.label
        if out.skipped or out.crashed:
            goals.append(Goal(f"{label}: ran", out.skipped or out.crashed, False))
            continue
        lost = sum(c.lost for c in out.checks)
        unverifiable = sum(c.unverifiable for c in out.checks)
        goals.append(
            Goal(
                f"{label}: 0 lost writes",
                f"{lost} lost, {sum(c.ambiguous for c in out.checks)} ambiguous, "
                f"{unverifiable} unverifiable of {sum(c.acked for c in out.checks)} acked",
                lost == 0 and unverifiable == 0,
            )
        )
        text = failures_text(out.failures, out.bad_ranges)
        goals.append(Goal(f"{label}: no non-2xx, no failed request", text, text == "none"))
    return goals
