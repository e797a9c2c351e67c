"""Views, history and resume positions: what each person watched, and where they stopped."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Media, MediaStats, Position, View
from lvs.services.allowance import ALL, Allowance
from lvs.services.writes import WriteGate, ensure_user, insert_for, run_write

__all__ = [
    "MAX_SECONDS",
    "VIEW_DEDUPE",
    "ActivityService",
    "HistoryEntry",
    "resume_point",
    "view_threshold",
]

MAX_SECONDS = 1e7
"""The largest playback position or start time accepted, in seconds (about 115 days)."""

VIEW_DEDUPE = timedelta(hours=1)
"""A person's views of one video within this window count once."""


def view_threshold(duration: float | None) -> float:
    """Seconds of playback after which a view counts: 30 s, or half of a shorter clip."""
    if duration is None or duration <= 0:
        return 30.0
    return min(30.0, duration / 2)


def _near_end(seconds: float, duration: float | None) -> bool:
    if duration is None or duration <= 0:
        return False
    tail = max(2.0, min(30.0, duration * 0.05))
    return seconds >= duration - tail


def resume_point(seconds: float | None, duration: float | None) -> float | None:
    """Where to start: the saved position, unless it is at the very start or near the end."""
    if seconds is None or seconds < 1.0 or _near_end(seconds, duration):
        return None
    return seconds


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    media: Media
    viewed_at: datetime
    plays: int


class ActivityService:
    def __init__(self, session: AsyncSession, gate: WriteGate, allowance: Allowance = ALL) -> None:
        self.session = session
        self.gate = gate
        self.allowance = allowance  # what ``history`` lists

    # -- views ---------------------------------------------------------------------------------

    async def record_view(self, user_id: uuid.UUID, media_hash: str) -> bool:
        """Count a view unless this person already has one of this video within the hour."""
        now = datetime.now(UTC)
        counted = False

        async def work() -> None:
            nonlocal counted
            recent = await self.session.scalar(
                select(View.id)
                .where(
                    View.user_id == user_id,
                    View.media_hash == media_hash,
                    View.created_at > now - VIEW_DEDUPE,
                )
                .limit(1)
            )
            if recent is not None:
                counted = False
                return
            await ensure_user(self.session, user_id)
            self.session.add(View(user_id=user_id, media_hash=media_hash))
            insert = insert_for(self.session)
            stmt = insert(MediaStats).values(
                media_hash=media_hash, view_count=1, created_at=now, updated_at=now
            )
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["media_hash"],
                    set_={"view_count": MediaStats.view_count + 1, "updated_at": now},
                )
            )
            counted = True

        await run_write(self.session, self.gate, work)
        return counted

    async def history(
        self, user_id: uuid.UUID | None, *, limit: int = 50, offset: int = 0
    ) -> list[HistoryEntry]:
        """This person's videos, most recently watched first, with their play counts."""
        if user_id is None:
            return []
        per_video = (
            select(
                View.media_hash,
                func.max(View.created_at).label("at"),
                func.count().label("plays"),
            )
            .where(View.user_id == user_id)
            .group_by(View.media_hash)
            .subquery()
        )
        one_row = (
            select(Media.media_hash, func.min(Media.id).label("id"))
            .where(Media.missing.is_(False), self.allowance.where())
            .group_by(Media.media_hash)
            .subquery()
        )
        rows = await self.session.execute(
            select(Media, per_video.c.at, per_video.c.plays)
            .join(one_row, one_row.c.id == Media.id)
            .join(per_video, per_video.c.media_hash == Media.media_hash)
            .order_by(per_video.c.at.desc())
            .limit(limit)
            .offset(offset)
        )
        return [HistoryEntry(m, at, int(n)) for m, at, n in rows.all()]

    # -- resume positions ----------------------------------------------------------------------

    async def position(self, user_id: uuid.UUID | None, media_hash: str) -> float | None:
        if user_id is None:
            return None
        seconds = await self.session.scalar(
            select(Position.seconds).where(
                Position.user_id == user_id, Position.media_hash == media_hash
            )
        )
        return None if seconds is None else float(seconds)

    async def save_position(
        self, user_id: uuid.UUID, media_hash: str, seconds: float, duration: float | None
    ) -> float | None:
        """Remember where this person is; near the end (or at the start) forget it instead.
        Returns the stored resume point, or None when cleared."""
        keep = resume_point(seconds, duration)

        async def work() -> None:
            if keep is None:
                await self.session.execute(
                    delete(Position).where(
                        Position.user_id == user_id, Position.media_hash == media_hash
                    )
                )
                return
            now = datetime.now(UTC)
            await ensure_user(self.session, user_id)
            stmt = insert_for(self.session)(Position).values(
                user_id=user_id, media_hash=media_hash, seconds=keep, created_at=now, updated_at=now
            )
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["user_id", "media_hash"],
                    set_={"seconds": stmt.excluded.seconds, "updated_at": now},
                )
            )

        await run_write(self.session, self.gate, work)
        return keep
