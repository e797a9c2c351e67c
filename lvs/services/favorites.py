"""Favorites: a heart per person per video (keyed by fingerprint)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Favorite
from lvs.services.writes import WriteGate, ensure_user, insert_for, run_write

__all__ = ["FavoriteService"]


class FavoriteService:
    def __init__(self, session: AsyncSession, gate: WriteGate) -> None:
        self.session = session
        self.gate = gate

    async def is_favorite(self, user_id: uuid.UUID | None, media_hash: str) -> bool:
        if user_id is None:
            return False
        found = await self.session.scalar(
            select(Favorite.id).where(
                Favorite.user_id == user_id, Favorite.media_hash == media_hash
            )
        )
        return found is not None

    async def set(self, user_id: uuid.UUID, media_hash: str, favorite: bool) -> bool:
        """Mark or unmark (idempotent: setting what is already set changes nothing)."""

        async def work() -> None:
            if favorite:
                now = datetime.now(UTC)
                await ensure_user(self.session, user_id)
                await self.session.execute(
                    insert_for(self.session)(Favorite)
                    .values(user_id=user_id, media_hash=media_hash, created_at=now, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["user_id", "media_hash"])
                )
            else:
                await self.session.execute(
                    delete(Favorite).where(
                        Favorite.user_id == user_id, Favorite.media_hash == media_hash
                    )
                )

        await run_write(self.session, self.gate, work)
        return favorite
