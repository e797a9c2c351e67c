"""Shows and seasons (grouped by what the file names say, ``lvs.library.titles``), and folders
browsed as collections. Everything is read from the database: no path from a request is ever
opened, a folder is only a prefix of the indexed ``rel_path``s."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from lvs.db.models import Media
from lvs.library.titles import parse_path
from lvs.services.allowance import ALL, Allowance
from lvs.services.library import Card, LibraryService

__all__ = [
    "BadFolder",
    "Episode",
    "FolderPage",
    "Season",
    "Show",
    "ShowSummary",
    "ShowsService",
    "clean_folder",
]


class BadFolder(ValueError):
    """A folder path that cannot name a library folder (``..``, absolute, control characters)."""


def clean_folder(raw: str) -> str:
    """A folder as given in a URL, checked: relative, ``/``-separated, no ``.``/``..``/empty
    segments, no backslashes or control characters. Raises ``BadFolder``."""
    if not raw or len(raw) > 1024:
        raise BadFolder("folder: must be 1 to 1024 characters")
    if raw.startswith("/") or "\\" in raw or any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise BadFolder("folder: must be a relative path of the library")
    parts = raw.rstrip("/").split("/")
    if any(p in {"", ".", ".."} for p in parts):
        raise BadFolder("folder: must not contain empty, '.' or '..' parts")
    return "/".join(parts)


@dataclass(frozen=True, slots=True)
class ShowSummary:
    key: str
    title: str
    episodes: int
    seasons: int
    first: Card | None  # its first episode, for the picture


@dataclass(frozen=True, slots=True)
class Episode:
    card: Card

    @property
    def label(self) -> str:
        m = self.card.media
        if m.season is not None:
            return f"S{m.season:02d}E{m.episode or 0:02d}"
        return f"Episode {m.episode}"

    @property
    def name(self) -> str:
        """The episode's own title where the file name has one, else the file's title."""
        parsed = parse_path(PurePosixPath(self.card.media.rel_path).as_posix())
        return parsed.episode_title or self.card.media.title

    @property
    def finished(self) -> bool:
        return self.card.my_plays > 0 and self.card.position is None


@dataclass(frozen=True, slots=True)
class Season:
    number: int | None  # None: episodes numbered without a season
    episodes: list[Episode]

    @property
    def title(self) -> str:
        return "Episodes" if self.number is None else f"Season {self.number}"


@dataclass(frozen=True, slots=True)
class Show:
    key: str
    title: str
    seasons: list[Season]
    play_next: Episode | None

    @property
    def episodes(self) -> int:
        return sum(len(s.episodes) for s in self.seasons)


@dataclass(frozen=True, slots=True)
class FolderPage:
    path: str
    subfolders: list[tuple[str, int]]  # (name, videos under it)
    cards: list[Card]
    number: int
    size: int
    total: int  # videos directly in this folder

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parents(self) -> list[tuple[str, str]]:
        """``(name, path)`` of each folder above this one, outermost first."""
        parts = self.path.split("/")[:-1]
        return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _pick_next(episodes: list[Episode]) -> Episode | None:
    """What "Play" starts: the episode this person is in the middle of, if it is the one they
    watched last; else the first unfinished one after the one they watched last; else the first
    one they have not finished; else the first."""
    if not episodes:
        return None
    watched = [(e.card.last_played, i) for i, e in enumerate(episodes) if e.card.last_played]
    in_progress = [i for i, e in enumerate(episodes) if e.card.position is not None]
    if watched:
        _, last = max(watched)
        if last in in_progress:
            return episodes[last]
        for e in episodes[last + 1 :]:
            if not e.finished:
                return e
    for e in episodes:
        if not e.finished:
            return e
    return episodes[0]


class ShowsService:
    def __init__(self, session: AsyncSession, allowance: Allowance = ALL) -> None:
        self.session = session
        self.allowance = allowance
        self.library = LibraryService(session, allowance)

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def shows(self, user_id: uuid.UUID | None) -> list[ShowSummary]:
        """Every show, by key, with its number of episodes and seasons and its first episode:
        counted from ``ix_media_by_show`` alone, each first episode one seek of that index."""
        season = func.coalesce(Media.season, 0)
        other = aliased(Media)
        first = (
            select(other.id)
            .where(
                other.missing.is_(False),
                other.show_key == Media.show_key,
                self.allowance.where(other),
            )
            .order_by(other.season.asc().nulls_first(), other.episode, other.id)
            .limit(1)
            .scalar_subquery()
        )
        stmt = (
            select(Media.show_key, func.count(), func.count(season.distinct()), first)
            .where(Media.missing.is_(False), Media.show_key.is_not(None), self.allowance.where())
            .group_by(Media.show_key)
            .order_by(Media.show_key)
        )
        rows = (await self.session.execute(stmt)).all()
        if not rows:
            return []
        media = {
            m.id: m
            for m in (
                await self.session.scalars(select(Media).where(Media.id.in_([r[3] for r in rows])))
            ).all()
        }
        cards = {c.media.id: c for c in await self.library.cards(list(media.values()), user_id)}
        return [
            ShowSummary(
                key=str(key),
                title=str(media[first_id].show_title or key) if first_id in media else str(key),
                episodes=int(n),
                seasons=int(seasons),
                first=cards.get(first_id),
            )
            for key, n, seasons, first_id in rows
        ]

    async def show(self, key: str, user_id: uuid.UUID | None) -> Show | None:
        """A show's episodes by season and number, with this person's progress."""
        stmt = (
            select(Media)
            .where(Media.missing.is_(False), Media.show_key == key, self.allowance.where())
            .order_by(func.coalesce(Media.season, 0), Media.episode, Media.id)
        )
        media = list((await self.session.scalars(stmt)).all())
        if not media:
            return None
        episodes = [Episode(c) for c in await self.library.cards(media, user_id)]
        seasons: list[Season] = []
        for e in episodes:
            number = e.card.media.season
            if not seasons or seasons[-1].number != number:
                seasons.append(Season(number, []))
            seasons[-1].episodes.append(e)
        title = min(m.show_title or key for m in media)
        return Show(key=key, title=title, seasons=seasons, play_next=_pick_next(episodes))

    # -- folders -------------------------------------------------------------------------------

    def _under(self, prefix: str) -> Any:
        """``rel_path`` starts with ``prefix`` (ending in ``/``), as a range of the folder index:
        '0' follows '/'."""
        return and_(Media.rel_path >= prefix, Media.rel_path < prefix[:-1] + "0")

    def _slash_in(self, column: Any) -> Any:
        if self._dialect == "sqlite":
            return func.instr(column, "/")
        return func.strpos(column, "/")

    def directly_in(self, path: str) -> Any:
        """A video is directly in the folder ``path`` (already ``clean_folder``-ed), not in a
        folder below it."""
        prefix = path + "/"
        rest = func.substr(Media.rel_path, len(prefix) + 1)
        return and_(self._under(prefix), self._slash_in(rest) == 0)

    async def folder(
        self, path: str, user_id: uuid.UUID | None, page: int, size: int
    ) -> FolderPage | None:
        """The folder ``path`` (already ``clean_folder``-ed): its subfolders and the videos
        directly in it, a page at a time. None when no present video is under it."""
        prefix = path + "/"
        rest = func.substr(Media.rel_path, len(prefix) + 1)
        slash = self._slash_in(rest)
        allowed = self.allowance.where()
        base: Select[Any] = select(Media.id).where(
            Media.missing.is_(False), self._under(prefix), allowed
        )
        child = func.substr(rest, 1, slash - 1)
        subfolders = [
            (str(name), int(n))
            for name, n in (
                await self.session.execute(
                    select(child, func.count())
                    .where(Media.missing.is_(False), self._under(prefix), slash > 0, allowed)
                    .group_by(child)
                    .order_by(child)
                )
            ).all()
        ]
        direct = base.where(slash == 0)
        total = int(
            await self.session.scalar(select(func.count()).select_from(direct.subquery())) or 0
        )
        if total == 0 and not subfolders:
            return None
        number = max(1, page)
        media = list(
            (
                await self.session.scalars(
                    select(Media)
                    .where(Media.id.in_(direct))
                    .order_by(Media.rel_path, Media.id)
                    .limit(size)
                    .offset((number - 1) * size)
                )
            ).all()
        )
        cards = await self.library.cards(media, user_id)
        return FolderPage(path, subfolders, cards, number, size, total)
