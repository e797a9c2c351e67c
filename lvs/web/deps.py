"""Dependency providers shared by the controllers."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.services.activity import ActivityService
from lvs.services.favorites import FavoriteService
from lvs.services.library import LibraryService
from lvs.services.media import MediaService
from lvs.services.ratings import RatingService
from lvs.services.tags import TagService
from lvs.settings import Settings

__all__ = ["SERVICES"]


async def provide_media_service(db_session: AsyncSession) -> AsyncGenerator[MediaService, None]:
    async with MediaService.new(session=db_session) as service:
        yield service


def provide_rating_service(
    db_session: AsyncSession, request: Request[Any, Any, Any]
) -> RatingService:
    state = request.app.state
    settings: Settings = state.settings
    return RatingService(
        db_session,
        state.summary_cache,
        state.write_gate,
        cache_ttl=settings.cache_ttl,
        writer=state.rating_writer,
    )


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def _gate(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.write_gate


def provide_library_service(db_session: AsyncSession) -> LibraryService:
    return LibraryService(db_session)


def provide_favorite_service(
    db_session: AsyncSession, request: Request[Any, Any, Any]
) -> FavoriteService:
    return FavoriteService(db_session, _gate(request))


def provide_tag_service(db_session: AsyncSession, request: Request[Any, Any, Any]) -> TagService:
    return TagService(db_session, _gate(request))


def provide_activity_service(
    db_session: AsyncSession, request: Request[Any, Any, Any]
) -> ActivityService:
    return ActivityService(db_session, _gate(request))


SERVICES = {
    "media_service": Provide(provide_media_service),
    "ratings": Provide(provide_rating_service, sync_to_thread=False),
    "library": Provide(provide_library_service, sync_to_thread=False),
    "favorites": Provide(provide_favorite_service, sync_to_thread=False),
    "tags": Provide(provide_tag_service, sync_to_thread=False),
    "activity": Provide(provide_activity_service, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}
"""Every service, provided lazily (only the ones a handler names are built)."""
