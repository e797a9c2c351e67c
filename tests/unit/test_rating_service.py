"""RatingService against a real database (SQLite and PostgreSQL): upserts, averages,
concurrency, SQLite's write lock and the cache."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from conftest import db_execute, db_query
from litestar.stores.memory import MemoryStore
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import lvs.db.config as db_config
import lvs.services.cache as cache_module
import lvs.services.rating_writes as rating_writes
import lvs.services.writes as writes
from lvs.db.config import make_engine
from lvs.db.models import Rating
from lvs.services.cache import LocalStore
from lvs.services.rating_writes import RatingWriter
from lvs.services.ratings import (
    DatabaseBusy,
    RatingService,
    RatingValueError,
    WriteGate,
    parse_rating_value,
)
from lvs.settings import Settings


def media_hashes(settings: Settings) -> list[str]:
    rows = db_query(settings, "SELECT media_hash FROM media ORDER BY rel_path")
    return [h for (h,) in rows]


def rating_rows(settings: Settings) -> list[tuple[str, uuid.UUID, int]]:
    """``(media_hash, user_id, value)`` for every row of the ratings table (user ids as UUIDs on
    either backend: selected through the model's GUID type)."""
    rows = db_query(settings, select(Rating.media_hash, Rating.user_id, Rating.value))
    return [(h, user, v) for h, user, v in rows]


@dataclass
class Ratings:
    """Everything a RatingService needs, shared the way one app shares it between requests."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: MemoryStore
    gate: WriteGate
    _writer: RatingWriter | None = field(default=None, repr=False)

    @property
    def writer(self) -> RatingWriter:
        """The app's one writer (made on first use, after a test may have swapped the gate)."""
        if self._writer is None:
            self._writer = RatingWriter(self.sessions, self.gate, self.store)
        return self._writer

    def service(self, session: AsyncSession) -> RatingService:
        return RatingService(session, self.store, self.writer, cache_ttl=60)

    async def rate(self, media_hash: str, user: uuid.UUID, value: int) -> Any:
        async with self.sessions() as session:
            return await self.service(session).rate(media_hash, user, value)

    async def summary(self, media_hash: str, user: uuid.UUID | None) -> Any:
        async with self.sessions() as session:
            return await self.service(session).summary(media_hash, user)


OpenRatings = Callable[[], Ratings]


@pytest.fixture
async def open_ratings(scanned: Settings) -> AsyncIterator[OpenRatings]:
    """Builds the engine when called, so a test can patch the busy timeout first."""
    engines: list[AsyncEngine] = []
    made: list[Ratings] = []

    def factory() -> Ratings:
        engine = make_engine(scanned)
        engines.append(engine)
        made.append(
            Ratings(
                engine,
                async_sessionmaker(engine, expire_on_commit=False),
                MemoryStore(),
                WriteGate(serialise=True),
            )
        )
        return made[-1]

    yield factory
    for r in made:
        await r.writer.stop()
    for engine in engines:
        await engine.dispose()


@pytest.fixture
async def ratings(open_ratings: OpenRatings) -> Ratings:
    return open_ratings()


@pytest.fixture
def alpha(scanned: Settings) -> str:
    return media_hashes(scanned)[0]


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, 1), (4, 4), (5, 5), (4.0, 4), ("4", 4), (" 4 ", 4), ("5", 5)],
)
def test_accepted_values(raw: Any, expected: int) -> None:
    assert parse_rating_value(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [4.5, 0, 6, -1, 0.0, 6.0, "0", "6", "4.5", "-1", "abc", "", "٤", "４", None, True, False,
     [4], {"value": 4}, float("nan"), float("inf")],
)  # fmt: skip
def test_refused_values(raw: Any) -> None:
    with pytest.raises(RatingValueError):
        parse_rating_value(raw)


async def test_rate_refuses_out_of_range_values_without_writing(
    ratings: Ratings, scanned: Settings, alpha: str
) -> None:
    with pytest.raises(RatingValueError):
        await ratings.rate(alpha, uuid.uuid4(), 6)

    assert rating_rows(scanned) == []


# -- writes and summaries ---------------------------------------------------------------------


async def test_rating_again_overwrites_the_same_row(
    ratings: Ratings, scanned: Settings, alpha: str
) -> None:
    user = uuid.uuid4()

    first = await ratings.rate(alpha, user, 2)
    second = await ratings.rate(alpha, user, 5)

    assert (first.count, first.average, first.user) == (1, 2.0, 2)
    assert (second.count, second.average, second.user) == (1, 5.0, 5)
    assert [(h, v) for h, _, v in rating_rows(scanned)] == [(alpha, 5)]


async def test_two_users_share_the_average_and_keep_their_own(ratings: Ratings, alpha: str) -> None:
    ann, bob = uuid.uuid4(), uuid.uuid4()
    await ratings.rate(alpha, ann, 4)
    await ratings.rate(alpha, bob, 3)

    for_ann = await ratings.summary(alpha, ann)
    for_bob = await ratings.summary(alpha, bob)
    for_nobody = await ratings.summary(alpha, None)

    assert (for_ann.average, for_ann.count, for_ann.user) == (3.5, 2, 4)
    assert (for_bob.average, for_bob.count, for_bob.user) == (3.5, 2, 3)
    assert (for_nobody.average, for_nobody.count, for_nobody.user) == (3.5, 2, None)
    assert for_ann.average_display == "3.5"


async def test_an_unrated_video_has_no_average(ratings: Ratings, alpha: str) -> None:
    summary = await ratings.summary(alpha, uuid.uuid4())

    assert (summary.average, summary.count, summary.user) == (None, 0, None)
    assert summary.average_display == "–"


@pytest.mark.parametrize("serialise", [True, False], ids=["one-process", "no-gate"])
async def test_fifty_people_rating_at_once_are_all_counted(
    open_ratings: OpenRatings, scanned: Settings, alpha: str, serialise: bool
) -> None:
    """Each person has their own session, as each request does; without the gate the writers
    contend for SQLite's lock like separate processes would."""
    ratings = open_ratings()
    ratings.gate = WriteGate(serialise=serialise)
    values = [(i % 5) + 1 for i in range(50)]
    users = [uuid.uuid4() for _ in values]

    results = await asyncio.gather(
        *(ratings.rate(alpha, user, value) for user, value in zip(users, values, strict=True))
    )

    assert [r.user for r in results] == values
    final = await ratings.summary(alpha, None)
    assert final.count == 50
    assert final.average == pytest.approx(sum(values) / 50)  # 3.0
    rows = rating_rows(scanned)
    assert len(rows) == 50
    assert len({user for _, user, _ in rows}) == 50
    assert sorted(value for _, _, value in rows) == sorted(values)


# -- another process holding the write lock ---------------------------------------------------


class LockHolder:
    """Another process's writer: ``BEGIN IMMEDIATE`` on its own sqlite3 connection, in a thread,
    held until ``release()`` or until ``seconds`` have passed."""

    def __init__(self, settings: Settings, seconds: float | None = None) -> None:
        self.path = settings.sqlite_path
        self.seconds = seconds
        self.held = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("BEGIN IMMEDIATE")
                self.held.set()
                self.stop.wait(self.seconds)
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except BaseException as exc:
            self.error = exc
            self.held.set()

    async def __aenter__(self) -> LockHolder:
        self.thread.start()
        await asyncio.to_thread(self.held.wait, 10)
        assert self.error is None, self.error
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.to_thread(self.thread.join, 10)


def count_attempts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records every attempt the rating writer makes at its write statements."""
    calls: list[int] = []
    real = rating_writes.write_ratings

    async def counted(*args: Any) -> Any:
        calls.append(1)
        return await real(*args)

    monkeypatch.setattr(rating_writes, "write_ratings", counted)
    return calls


@pytest.mark.parametrize("db_url", [None])  # SQLite's write lock and busy timeout
async def test_a_write_waits_out_a_short_lock_and_lands_once(
    open_ratings: OpenRatings,
    scanned: Settings,
    alpha: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db_config, "SQLITE_BUSY_TIMEOUT_MS", 200)
    ratings = open_ratings()
    attempts = count_attempts(monkeypatch)
    user = uuid.uuid4()

    async with LockHolder(scanned, seconds=1.5):
        summary = await ratings.rate(alpha, user, 4)

    assert len(attempts) > 1, "the lock was never hit: the test did not exercise the retries"
    assert (summary.count, summary.user) == (1, 4)
    assert [(h, v) for h, _, v in rating_rows(scanned)] == [(alpha, 4)]


@pytest.mark.parametrize("db_url", [None])  # SQLite's write lock and busy timeout
async def test_a_lock_held_past_every_retry_is_database_busy_and_writes_nothing(
    open_ratings: OpenRatings,
    scanned: Settings,
    alpha: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db_config, "SQLITE_BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(writes, "RETRIES", 3)
    ratings = open_ratings()
    attempts = count_attempts(monkeypatch)

    async with LockHolder(scanned):  # held until the write has given up
        with pytest.raises(DatabaseBusy) as busy:
            await ratings.rate(alpha, uuid.uuid4(), 4)

    assert len(attempts) == 3
    assert busy.value.retry_after >= 1
    assert rating_rows(scanned) == []
    # Once the lock is gone the same service works again: nothing was left half-done.
    summary = await ratings.rate(alpha, uuid.uuid4(), 2)
    assert (summary.count, summary.average) == (1, 2.0)


# -- the summary cache ------------------------------------------------------------------------


def cached_totals(raw: bytes | None) -> Any:
    return None if raw is None else msgspec.json.decode(raw)


async def test_a_read_fills_the_cache_and_a_write_invalidates_it(
    ratings: Ratings, scanned: Settings, alpha: str
) -> None:
    key = f"rating:{alpha}"
    assert await ratings.store.get(key) is None

    await ratings.summary(alpha, None)
    before = await ratings.store.get(key)
    assert before is not None, "a summary read did not populate the ratings store"
    assert cached_totals(before) in ([0, 0], {"total": 0, "count": 0})

    await ratings.rate(alpha, uuid.uuid4(), 4)

    after = await ratings.store.get(key)
    assert after != before, "the write left the pre-write summary in the cache"
    fresh = await ratings.summary(alpha, None)
    assert (fresh.count, fresh.average) == (1, 4.0)


async def test_reads_come_from_the_cache_until_it_is_cleared(
    ratings: Ratings, scanned: Settings, alpha: str
) -> None:
    """A rating written behind the service's back (another process without a shared cache) is
    not seen until this cache is invalidated: proof that reads really use the store."""
    await ratings.summary(alpha, None)  # cached: no ratings
    db_execute(
        scanned,
        "INSERT INTO media_stats (media_hash, rating_sum, rating_count, rating_avg, "
        "view_count, created_at, updated_at) VALUES (:hash, 5, 1, 5.0, 0, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) "
        "ON CONFLICT(media_hash) DO UPDATE SET rating_sum=5, rating_count=1, rating_avg=5.0",
        hash=alpha,
    )

    stale = await ratings.summary(alpha, None)
    assert stale.count == 0

    await ratings.store.delete_all()
    assert (await ratings.summary(alpha, None)).count == 1


async def test_the_in_process_store_forgets_an_entry_when_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    store = LocalStore()
    await store.set("summary", b"1", expires_in=10)
    await store.set("forever", "2")

    assert await store.get("summary") == b"1"
    assert await store.expires_in("summary") == 10
    now[0] += 9.5
    assert await store.get("summary", renew_for=10) == b"1"  # renewed: 10 s from now
    now[0] += 9.5
    assert await store.get("summary") == b"1"
    now[0] += 1
    assert await store.get("summary") is None
    assert await store.get("forever") == b"2"
    await store.delete("forever")
    assert not await store.exists("forever")
