"""Dependency providers shared by the controllers."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.services.media import MediaService
from lvs.services.ratings import RatingService
from lvs.settings import Settings

__all__ = ["provide_media_service", "provide_rating_service", "provide_settings"]


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
        request.app.stores.get("ratings"),
        state.write_gate,
        cache_ttl=settings.cache_ttl,
    )


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings
