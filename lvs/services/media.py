"""Looking up one video (by id) for its pages, stream and thumbnail."""

from __future__ import annotations

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService

from lvs.db.models import Media

__all__ = ["MediaRepository", "MediaService"]


class MediaRepository(SQLAlchemyAsyncRepository[Media]):
    model_type = Media


class MediaService(SQLAlchemyAsyncRepositoryService[Media, MediaRepository]):
    repository_type = MediaRepository

    async def get_present(self, media_id: int) -> Media | None:
        """The video with this id, unless its file is gone."""
        return await self.get_one_or_none(Media.id == media_id, Media.missing.is_(False))
