"""What a profile may watch: everything, or only some top-level folders and tags (a kids'
profile). One value, applied everywhere a video is looked up or listed.

``Allowance.where()`` is a SQL predicate on ``Media``: the services add it to every query that
finds videos (the library grid, search, random, rows, up next, shows, folders, tags, history,
export), and the ``media`` dependency adds it to the lookup by id or fingerprint, so a video
outside the allowance is a 404 on every route (watch, stream, thumbnail, subtitles, previews,
conversion, ratings, the JSON API), as if it did not exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, or_, select, true

from lvs.db.models import Media, MediaTag, Tag

__all__ = ["ALL", "Allowance"]


@dataclass(frozen=True, slots=True)
class Allowance:
    """``restricted`` False: everything (``ALL``). Otherwise only videos in one of ``folders``
    (top-level folder names) or carrying one of ``tags`` (case-folded tag keys); a restricted
    profile with neither sees nothing."""

    restricted: bool = False
    folders: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def where(self, media: Any = Media) -> Any:
        """The SQL condition on ``media`` (the ``Media`` entity or an alias of it)."""
        if not self.restricted:
            return true()
        allowed: list[Any] = []
        if self.folders:
            allowed.append(media.top_folder.in_(sorted(self.folders)))
        if self.tags:
            tagged = (
                select(MediaTag.media_hash)
                .join(Tag, Tag.id == MediaTag.tag_id)
                .where(Tag.key.in_(sorted(self.tags)))
            )
            allowed.append(media.media_hash.in_(tagged))
        return or_(*allowed) if allowed else false()

    def allows_folder(self, name: str) -> bool:
        """Whether a top-level folder is listed (a folder row, a folder page)."""
        return not self.restricted or name in self.folders


ALL = Allowance()
"""Unrestricted: guests, anonymous browsers, and every profile not marked restricted."""
