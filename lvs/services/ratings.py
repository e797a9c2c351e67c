"""Five-star ratings: one per (media_hash, user), averages for everyone, "yours" for each person.

Summaries (average and count) are read through a cache store and invalidated after every committed
write. Writes go through the app's ``RatingWriter`` (``lvs.services.rating_writes``), which commits
them in groups and answers each once it is durable, or refuses it with ``UnknownMedia`` or
``DatabaseBusy``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import MediaStats, Rating
from lvs.services.cache import SummaryCache
from lvs.services.errors import DatabaseBusy, InvalidInput, UnknownMedia
from lvs.services.rating_writes import RatingWriter
from lvs.services.writes import WriteGate

__all__ = [
    "DatabaseBusy",
    "RatingService",
    "RatingSummary",
    "RatingValueError",
    "UnknownMedia",
    "WriteGate",
    "parse_rating_value",
]


class RatingValueError(InvalidInput):
    """The submitted rating is not a whole number from 1 to 5; the message says why."""

    field = "value"
    label = "Rating"


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


class RatingService:
    """Ratings for one request: a session, the summary cache and the app's rating writer."""

    def __init__(
        self,
        session: AsyncSession,
        cache: Store | SummaryCache,
        writer: RatingWriter,
        *,
        cache_ttl: int,
    ) -> None:
        self.session = session
        # The app's shared cache (what it knows about the store), or a store for this service.
        self.cache = cache if isinstance(cache, SummaryCache) else SummaryCache(cache, cache_ttl)
        self.writer = writer

    # -- reads ---------------------------------------------------------------------------------

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
            select(Rating.media_hash, Rating.value)
            .where(Rating.user_id == user_id, Rating.media_hash.in_(hashes))
            .subquery()
            if user_id is not None
            else None
        )
        stmt = select(MediaStats.media_hash, MediaStats.rating_sum, MediaStats.rating_count).where(
            MediaStats.media_hash.in_(hashes)
        )
        totals = {h: (t, c) for h, t, c in (await self.session.execute(stmt)).all()}
        own: dict[str, int] = {}
        if mine is not None:
            own = {h: v for h, v in (await self.session.execute(select(mine))).all()}
        result: dict[str, RatingSummary] = {}
        for h in hashes:
            total, count = totals.get(h, (0, 0))
            result[h] = RatingSummary(h, total / count if count else None, count, own.get(h))
        return result

    async def _totals(self, media_hash: str) -> tuple[int, int]:
        key = f"rating:{media_hash}"
        cached = await self.cache.get(key)
        if cached is not None:
            value = msgspec.json.decode(cached, type=_Cached)
            return value.total, value.count
        row = (
            await self.session.execute(
                select(MediaStats.rating_sum, MediaStats.rating_count).where(
                    MediaStats.media_hash == media_hash
                )
            )
        ).one_or_none()
        total, count = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        await self.cache.set(key, msgspec.json.encode(_Cached(total, count)))
        return total, count

    # -- writes --------------------------------------------------------------------------------

    async def rate(self, media_hash: str, user_id: uuid.UUID, value: int) -> RatingSummary:
        """Store ``value`` as this user's rating (overwriting theirs) and return the summary
        as committed. Raises ``UnknownMedia`` (nothing written) or ``DatabaseBusy``."""
        if not 1 <= value <= 5:
            raise RatingValueError("must be between 1 and 5")
        # End this request's read transaction first: its pooled connection goes back to the
        # pool for the writer, instead of being held while the request waits.
        await self.session.rollback()
        total, count = await self.writer.submit(media_hash, user_id, value)
        return RatingSummary(media_hash, total / count if count else None, count, value)
