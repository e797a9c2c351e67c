"""Five-star ratings: one per (media_hash, user), averages for everyone, "yours" for each person.

Summaries (average and count) are read through a cache store and invalidated after every committed
write. Writes are one upsert statement (SQLite and PostgreSQL alike), committed here so that a
failed commit is reported; on SQLite they are serialised in-process and retried with bounded,
jittered backoff when another process holds the write lock, then refused with ``DatabaseBusy``.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.stores.base import Store
from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Media, Rating, User

__all__ = [
    "DatabaseBusy",
    "RatingService",
    "RatingSummary",
    "RatingValueError",
    "WriteGate",
    "parse_rating_value",
]

HASH_RE = re.compile(r"^[0-9a-f]{16}$")


class RatingValueError(ValueError):
    """The submitted rating is not a whole number from 1 to 5; the message says why."""


class DatabaseBusy(Exception):
    """The database stayed locked through every retry; try again after ``retry_after`` s."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("the database is busy")
        self.retry_after = retry_after


def parse_rating_value(raw: Any) -> int:
    """A whole number 1–5. ``4``, ``4.0`` and ``"4"`` count as 4; anything else is refused."""
    if raw is None:
        raise RatingValueError("is required")
    if isinstance(raw, bool):
        raise RatingValueError("must be a whole number from 1 to 5, not true/false")
    if isinstance(raw, str):
        text = raw.strip()
        if not text.isascii() or not text.isdigit():
            raise RatingValueError("must be a whole number from 1 to 5")
        value = int(text)
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        if not raw.is_integer():
            raise RatingValueError("must be a whole number from 1 to 5, not a fraction")
        value = int(raw)
    else:
        raise RatingValueError("must be a whole number from 1 to 5")
    if not 1 <= value <= 5:
        raise RatingValueError("must be between 1 and 5")
    return value


@dataclass(frozen=True, slots=True)
class RatingSummary:
    media_hash: str
    average: float | None
    count: int
    user: int | None

    @property
    def average_display(self) -> str:
        return "–" if self.average is None else f"{self.average:.1f}"


class _Cached(msgspec.Struct, array_like=True):
    total: int
    count: int


class WriteGate:
    """Serialises rating writes within one process when the database is SQLite (one writer at a
    time is all SQLite allows; queueing here is cheaper than lock contention). One per app."""

    def __init__(self, serialise: bool) -> None:
        self._lock: asyncio.Lock | None = asyncio.Lock() if serialise else None

    async def __aenter__(self) -> None:
        if self._lock is not None:
            await self._lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "database is locked" in text or "database is busy" in text or "sqlite_busy" in text


class RatingService:
    """Ratings for one request: a session, the summary cache and the app's write gate."""

    RETRIES = 6
    BASE_DELAY = 0.05

    def __init__(
        self, session: AsyncSession, cache: Store, gate: WriteGate, *, cache_ttl: int
    ) -> None:
        self.session = session
        self.cache = cache
        self.gate = gate
        self.cache_ttl = cache_ttl

    # -- reads ---------------------------------------------------------------------------------

    async def media_exists(self, media_hash: str) -> bool:
        """Whether a present video has this fingerprint (unknown hashes are 404s)."""
        if not HASH_RE.match(media_hash):
            return False
        found = await self.session.scalar(
            select(Media.id)
            .where(Media.media_hash == media_hash, Media.missing.is_(False))
            .limit(1)
        )
        return found is not None

    async def summary(self, media_hash: str, user_id: uuid.UUID | None) -> RatingSummary:
        total, count = await self._totals(media_hash)
        user = None
        if user_id is not None:
            user = await self.session.scalar(
                select(Rating.value).where(
                    Rating.media_hash == media_hash, Rating.user_id == user_id
                )
            )
        return RatingSummary(
            media_hash=media_hash,
            average=(total / count) if count else None,
            count=count,
            user=user,
        )

    async def summaries(
        self, media_hashes: Iterable[str], user_id: uuid.UUID | None
    ) -> dict[str, RatingSummary]:
        """Summaries for a page of cards, in one query (straight from the database)."""
        hashes = sorted(set(media_hashes))
        if not hashes:
            return {}
        mine = (
            func.max(case((Rating.user_id == user_id, Rating.value)))
            if user_id is not None
            else func.max(None)
        )
        rows = await self.session.execute(
            select(Rating.media_hash, func.sum(Rating.value), func.count(), mine)
            .where(Rating.media_hash.in_(hashes))
            .group_by(Rating.media_hash)
        )
        found = {
            h: RatingSummary(h, total / count if count else None, count, user)
            for h, total, count, user in rows.all()
        }
        return {h: found.get(h, RatingSummary(h, None, 0, None)) for h in hashes}

    async def _totals(self, media_hash: str) -> tuple[int, int]:
        key = f"rating:{media_hash}"
        cached = await self.cache.get(key)
        if cached is not None:
            value = msgspec.json.decode(cached, type=_Cached)
            return value.total, value.count
        total, count = (
            await self.session.execute(
                select(func.coalesce(func.sum(Rating.value), 0), func.count()).where(
                    Rating.media_hash == media_hash
                )
            )
        ).one()
        await self.cache.set(
            key, msgspec.json.encode(_Cached(int(total), int(count))), expires_in=self.cache_ttl
        )
        return int(total), int(count)

    # -- writes --------------------------------------------------------------------------------

    async def rate(self, media_hash: str, user_id: uuid.UUID, value: int) -> RatingSummary:
        """Store ``value`` as this user's rating (overwriting theirs) and return the summary."""
        if not 1 <= value <= 5:
            raise RatingValueError("must be between 1 and 5")
        async with self.gate:
            await self._write_with_retry(media_hash, user_id, value)
        await self.cache.delete(f"rating:{media_hash}")
        return await self.summary(media_hash, user_id)

    async def _write_with_retry(self, media_hash: str, user_id: uuid.UUID, value: int) -> None:
        for attempt in range(self.RETRIES):
            try:
                await self._upsert(media_hash, user_id, value)
                await self.session.commit()
                return
            except OperationalError as exc:
                await self.session.rollback()
                if not _is_lock_error(exc):
                    raise
                delay = self.BASE_DELAY * (2**attempt)
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise DatabaseBusy(retry_after=2)

    async def _upsert(self, media_hash: str, user_id: uuid.UUID, value: int) -> None:
        now = datetime.now(UTC)
        dialect = self.session.get_bind().dialect.name
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self.session.execute(
            insert(User)
            .values(id=user_id, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        stmt = insert(Rating).values(
            media_hash=media_hash, user_id=user_id, value=value, created_at=now, updated_at=now
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["media_hash", "user_id"],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
        )
