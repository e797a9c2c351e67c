"""Five-star ratings: one per (media_hash, user), averages for everyone, "yours" for each person.

Summaries (average and count) are read through a cache store and invalidated after every committed
write. Writes go through the app's ``RatingWriter`` (``lvs.services.rating_writes``), which commits
them in groups and answers each once it is durable, or refuses it with ``UnknownMedia`` or
``DatabaseBusy``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import MEDIA_HASH, Media, MediaStats, Rating
from lvs.services.cache import SummaryCache, own_key, totals_key
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
        """Average, count and this person's own rating of a fingerprint the caller knows is a
        present video's (the watch page's, a card's)."""
        return await self._with_own(media_hash, await self._totals(media_hash), user_id)

    @staticmethod
    async def cached(
        cache: SummaryCache, media_hash: str, user_id: uuid.UUID | None
    ) -> RatingSummary | None:
        """``summary_of_present`` when the cache holds all of it (no session needed), else None."""
        totals = await cache.get(totals_key(media_hash))
        if totals is None:
            return None
        user = None
        if user_id is not None:
            own = await cache.get(own_key(media_hash, user_id))
            if own is None:
                return None
            user = msgspec.json.decode(own, type=int | None)
        figures = msgspec.json.decode(totals, type=_Cached)
        average = (figures.total / figures.count) if figures.count else None
        return RatingSummary(media_hash, average, figures.count, user)

    async def summary_of_present(self, media_hash: str, user_id: uuid.UUID | None) -> RatingSummary:
        """The summary of a fingerprint some present video has, else ``UnknownMedia``: the JSON
        read, the hottest route, in one statement for a returning browser.

        The totals are cached only for a present video (every summary is read for one), so a
        cached entry also says the video is there; it is checked again when the entry goes (at
        the next rating of it, or after ``cache_ttl`` seconds)."""
        if not MEDIA_HASH.fullmatch(media_hash):
            raise UnknownMedia(media_hash)
        totals = await self._cached(media_hash)
        if totals is None:
            row = (
                await self.session.execute(
                    select(Media.id, MediaStats.rating_sum, MediaStats.rating_count)
                    .outerjoin(MediaStats, MediaStats.media_hash == Media.media_hash)
                    .where(Media.media_hash == media_hash, Media.missing.is_(False))
                    .limit(1)
                )
            ).one_or_none()
            if row is None:
                raise UnknownMedia(media_hash)
            totals = (int(row[1] or 0), int(row[2] or 0))
            await self.cache.set(totals_key(media_hash), msgspec.json.encode(_Cached(*totals)))
        return await self._with_own(media_hash, totals, user_id)

    async def _with_own(
        self, media_hash: str, totals: tuple[int, int], user_id: uuid.UUID | None
    ) -> RatingSummary:
        total, count = totals
        user = None if user_id is None else await self._own(media_hash, user_id)
        return RatingSummary(media_hash, (total / count) if count else None, count, user)

    async def _own(self, media_hash: str, user_id: uuid.UUID) -> int | None:
        """This person's rating of the fingerprint (None: not rated), through the cache too:
        the rating writer clears it with the totals when this person rates the video."""
        key = own_key(media_hash, user_id)
        cached = await self.cache.get(key)
        if cached is not None:
            value: int | None = msgspec.json.decode(cached, type=int | None)
            return value
        value = await self.session.scalar(
            select(Rating.value).where(Rating.media_hash == media_hash, Rating.user_id == user_id)
        )
        await self.cache.set(key, msgspec.json.encode(value))
        return value

    async def _cached(self, media_hash: str) -> tuple[int, int] | None:
        cached = await self.cache.get(totals_key(media_hash))
        if cached is None:
            return None
        value = msgspec.json.decode(cached, type=_Cached)
        return value.total, value.count

    async def _totals(self, media_hash: str) -> tuple[int, int]:
        key = totals_key(media_hash)
        cached = await self._cached(media_hash)
        if cached is not None:
            return cached
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
