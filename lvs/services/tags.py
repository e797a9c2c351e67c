"""Household tags: shared by everyone, attached to fingerprints, unique case-insensitively."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import MAX_ID, Media, MediaTag, Tag
from lvs.services.allowance import ALL, Allowance
from lvs.services.errors import InvalidInput
from lvs.services.writes import WriteGate, insert_for, run_write

__all__ = ["MAX_TAG_LENGTH", "TagCount", "TagError", "TagService", "normalise_tag"]

MAX_TAG_LENGTH = 40


class TagError(InvalidInput):
    """The tag name cannot be used; the message says why."""

    field = "name"
    label = "Tag"


def normalise_tag(raw: object) -> str:
    """Trim, collapse inner white space, refuse empty, over-long or control-character names."""
    if not isinstance(raw, str):
        raise TagError("must be text")
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise TagError("must not be empty", value=raw)
    if len(name) > MAX_TAG_LENGTH:
        raise TagError(f"must be at most {MAX_TAG_LENGTH} characters", value=raw)
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise TagError("must not contain control characters", value=raw)
    return name


@dataclass(frozen=True, slots=True)
class TagCount:
    id: int
    name: str
    count: int


class TagService:
    def __init__(self, session: AsyncSession, gate: WriteGate, allowance: Allowance = ALL) -> None:
        self.session = session
        self.gate = gate
        self.allowance = allowance  # what ``counts`` counts

    async def for_media(self, media_hash: str) -> list[Tag]:
        rows = await self.session.scalars(
            select(Tag)
            .join(MediaTag, MediaTag.tag_id == Tag.id)
            .where(MediaTag.media_hash == media_hash)
            .order_by(Tag.key)
        )
        return list(rows.all())

    async def add(self, media_hash: str, raw_name: object) -> Tag:
        """Attach a tag (created on first use; an existing tag keeps its first spelling)."""
        name = normalise_tag(raw_name)
        key = name.casefold()
        insert = insert_for(self.session)

        async def work() -> None:
            now = datetime.now(UTC)
            await self.session.execute(
                insert(Tag)
                .values(name=name, key=key, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            tag_id = await self.session.scalar(select(Tag.id).where(Tag.key == key))
            await self.session.execute(
                insert(MediaTag)
                .values(media_hash=media_hash, tag_id=tag_id, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["media_hash", "tag_id"])
            )

        await run_write(self.session, self.gate, work)
        tag = await self.session.scalar(select(Tag).where(Tag.key == key))
        assert tag is not None
        return tag

    async def remove(self, media_hash: str, tag_id: int) -> bool:
        """Detach a tag; a tag no video uses any more disappears."""
        removed = False
        if not 0 < tag_id <= MAX_ID:
            return False

        async def work() -> None:
            nonlocal removed
            result = await self.session.execute(
                delete(MediaTag).where(MediaTag.media_hash == media_hash, MediaTag.tag_id == tag_id)
            )
            removed = bool(getattr(result, "rowcount", 0))
            still_used = await self.session.scalar(
                select(MediaTag.id).where(MediaTag.tag_id == tag_id).limit(1)
            )
            if still_used is None:
                await self.session.execute(delete(Tag).where(Tag.id == tag_id))

        await run_write(self.session, self.gate, work)
        return removed

    async def counts(self) -> list[TagCount]:
        """Every tag with the number of present videos carrying it, by name."""
        present = (
            select(Media.media_hash)
            .where(Media.missing.is_(False), self.allowance.where())
            .distinct()
            .subquery()
        )
        stmt = (
            select(Tag.id, Tag.name, func.count(present.c.media_hash))
            .join(MediaTag, MediaTag.tag_id == Tag.id)
            .outerjoin(present, present.c.media_hash == MediaTag.media_hash)
            .group_by(Tag.id, Tag.name)
            .order_by(func.lower(Tag.name))
        )
        if self.allowance.restricted:  # a tag on nothing it may see is not shown at all
            stmt = stmt.having(func.count(present.c.media_hash) > 0)
        rows = await self.session.execute(stmt)
        return [TagCount(i, n, int(c)) for i, n, c in rows.all()]
