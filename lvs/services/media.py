"""Browsing the library: listing pages of videos and looking one up."""

from __future__ import annotations

from dataclasses import dataclass

from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService

from lvs.db.models import Media

__all__ = ["MediaService", "PageOf"]


@dataclass(frozen=True, slots=True)
class PageOf:
    items: list[Media]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


class MediaRepository(SQLAlchemyAsyncRepository[Media]):
    model_type = Media


class MediaService(SQLAlchemyAsyncRepositoryService[Media, MediaRepository]):
    repository_type = MediaRepository

    async def library_page(self, number: int, size: int) -> PageOf:
        """Present videos, newest first."""
        number = max(1, number)
        items, total = await self.list_and_count(
            Media.missing.is_(False),
            OrderBy(field_name="created_at", sort_order="desc"),
            OrderBy(field_name="id", sort_order="desc"),
            LimitOffset(limit=size, offset=(number - 1) * size),
        )
        return PageOf(items=list(items), number=number, size=size, total=total)

    async def get_present(self, media_id: int) -> Media | None:
        """The video with this id, unless its file is gone."""
        return await self.get_one_or_none(Media.id == media_id, Media.missing.is_(False))
