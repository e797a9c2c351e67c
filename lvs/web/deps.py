"""Dependency providers shared by the controllers."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.services.media import MediaService
from lvs.settings import Settings

__all__ = ["provide_media_service", "provide_settings"]


async def provide_media_service(db_session: AsyncSession) -> AsyncGenerator[MediaService, None]:
    async with MediaService.new(session=db_session) as service:
        yield service


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings
