"""Looking up one video, by id (its pages, stream and thumbnail) or by fingerprint (its ratings).
A video whose file is gone, or a key that cannot name one, is ``UnknownMedia``."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from lvs.db.models import MAX_ID, MEDIA_HASH, Media
from lvs.services.allowance import Allowance
from lvs.services.errors import UnknownMedia

__all__ = ["MediaRepository", "MediaService", "first_present_id"]


class MediaRepository(SQLAlchemyAsyncRepository[Media]):
    model_type = Media


def first_present_id(media_hash: Any) -> Any:
    """SQL: ``media.id`` of the first present file with this fingerprint, so a video saved
    twice is listed once (home rows, playlists)."""
    other = aliased(Media)
    return (
        select(func.min(other.id))
        .where(other.media_hash == media_hash, other.missing.is_(False))
        .scalar_subquery()
    )


class MediaService(SQLAlchemyAsyncRepositoryService[Media, MediaRepository]):
    repository_type = MediaRepository

    async def get_present(self, media_id: int, allowance: Allowance) -> Media | None:
        """The video with this id, unless its file is gone (or it is outside ``allowance``)."""
        if not 0 < media_id <= MAX_ID:  # beyond what the database can hold: no such video
            return None
        return await self.get_one_or_none(
            Media.id == media_id, Media.missing.is_(False), allowance.where()
        )

    async def present(self, media_id: int, allowance: Allowance) -> Media:
        """The video with this id whose file is present and that ``allowance`` lets this
        person see, else ``UnknownMedia``."""
        media = await self.get_present(media_id, allowance)
        if media is None:
            raise UnknownMedia(media_id)
        return media

    async def present_by_hash(self, media_hash: str, allowance: Allowance) -> Media:
        """A present video with this fingerprint (copies share one), else ``UnknownMedia``."""
        media = None
        if MEDIA_HASH.fullmatch(media_hash):
            media = await self.repository.session.scalar(
                select(Media)
                .where(Media.media_hash == media_hash, Media.missing.is_(False), allowance.where())
                .order_by(Media.id)
                .limit(1)
            )
        if media is None:
            raise UnknownMedia(media_hash)
        return media
