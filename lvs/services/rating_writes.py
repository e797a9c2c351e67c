"""Writing ratings in groups: one transaction for every rating that arrived meanwhile.

Each rating POST hands its (fingerprint, person, value) to the app's ``RatingWriter`` and waits.
A single task takes everything queued, writes it with a few set-based statements (upsert the
ratings, recompute those videos' aggregates), commits once, clears those videos' cached
summaries and only then answers every waiting request. Under load that turns fifty commits and
five hundred round trips to SQLite into one commit and a handful of statements, and a request is
never answered before its rating is durable in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from litestar.stores.base import Store
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lvs.db.models import Media, MediaStats, Rating, User
from lvs.services.cache import SummaryCache, own_key, totals_key
from lvs.services.errors import UnknownMedia
from lvs.services.writes import WriteGate, insert_for, run_write

__all__ = ["RatingWriter", "UnknownMedia", "write_ratings"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Item:
    media_hash: str
    user_id: uuid.UUID
    value: int
    done: asyncio.Future[tuple[int, int]] = field(repr=False)


async def write_ratings(
    session: AsyncSession, items: Sequence[tuple[str, uuid.UUID, int]]
) -> tuple[set[str], dict[str, tuple[int, int]]]:
    """Write ``(media_hash, user_id, value)`` ratings (later ones win) without committing.

    Returns the fingerprints that are not a present video (their ratings are not written) and
    the new ``(sum, count)`` of every written fingerprint."""
    hashes = sorted({h for h, _, _ in items})
    present = set(
        (
            await session.scalars(
                select(Media.media_hash)
                .where(Media.media_hash.in_(hashes), Media.missing.is_(False))
                .distinct()
            )
        ).all()
    )
    unknown = set(hashes) - present
    latest: dict[tuple[str, uuid.UUID], int] = {}
    for h, user, value in items:
        if h in present:
            latest[(h, user)] = value
    if not latest:
        return unknown, {}
    written = sorted(present)
    now = datetime.now(UTC)
    insert = insert_for(session)
    users = sorted({u for _, u in latest}, key=str)
    await session.execute(
        insert(User).on_conflict_do_nothing(index_elements=["id"]),
        [{"id": u, "created_at": now, "updated_at": now} for u in users],
    )
    await session.execute(
        insert(MediaStats).on_conflict_do_nothing(index_elements=["media_hash"]),
        [{"media_hash": h, "created_at": now, "updated_at": now} for h in written],
    )
    # Lock the aggregates in a fixed order: concurrent writers (PostgreSQL, several workers)
    # recompute them one after another, never from a stale snapshot, and never deadlock.
    await session.execute(
        select(MediaStats.id)
        .where(MediaStats.media_hash.in_(written))
        .order_by(MediaStats.media_hash)
        .with_for_update()
    )
    stmt = insert(Rating)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["media_hash", "user_id"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        ),
        [
            {"media_hash": h, "user_id": u, "value": v, "created_at": now, "updated_at": now}
            for (h, u), v in latest.items()
        ],
    )
    of_this = Rating.media_hash == MediaStats.media_hash
    await session.execute(
        update(MediaStats)
        .where(MediaStats.media_hash.in_(written))
        .values(
            rating_sum=select(func.coalesce(func.sum(Rating.value), 0))
            .where(of_this)
            .scalar_subquery(),
            rating_count=select(func.count()).where(of_this).scalar_subquery(),
            rating_avg=select(func.avg(Rating.value * 1.0)).where(of_this).scalar_subquery(),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    totals = {
        h: (int(s), int(c))
        for h, s, c in (
            await session.execute(
                select(MediaStats.media_hash, MediaStats.rating_sum, MediaStats.rating_count).where(
                    MediaStats.media_hash.in_(written)
                )
            )
        ).all()
    }
    return unknown, totals


class RatingWriter:
    """One per app: queues rating writes and commits them in groups (see the module doc)."""

    MAX_BATCH = 500

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        gate: WriteGate,
        cache: Store | SummaryCache,
        *,
        retries: int | None = None,
    ) -> None:
        self._sessions = sessions
        self._gate = gate
        self._cache = cache if isinstance(cache, SummaryCache) else SummaryCache(cache, ttl=1)
        self._retries = retries
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, media_hash: str, user_id: uuid.UUID, value: int) -> tuple[int, int]:
        """Write one rating; returns its video's ``(sum, count)`` once committed. Raises
        ``UnknownMedia`` or ``DatabaseBusy`` (nothing written)."""
        if self._task is None or self._task.done():
            self._start()
        assert self._queue is not None
        done: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(media_hash, user_id, value, done))
        return await done

    def _start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(self._queue), name="lvs-rating-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.done.done():
                        item.done.cancel()
                raise
            except Exception as exc:  # every waiting request learns what happened
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)

    async def _write(self, batch: list[_Item]) -> None:
        outcome: tuple[set[str], dict[str, tuple[int, int]]] = (set(), {})
        async with self._sessions() as session:

            async def work() -> None:
                nonlocal outcome
                outcome = await write_ratings(
                    session, [(i.media_hash, i.user_id, i.value) for i in batch]
                )

            await run_write(session, self._gate, work, retries=self._retries)
        unknown, totals = outcome
        await self._cache.delete(
            *(totals_key(h) for h in totals),
            *(own_key(i.media_hash, i.user_id) for i in batch if i.media_hash in totals),
        )
        for item in batch:
            if item.done.done():
                continue
            if item.media_hash in unknown:
                item.done.set_exception(UnknownMedia(item.media_hash))
            else:
                item.done.set_result(totals[item.media_hash])
