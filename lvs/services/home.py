"""The home screen: a few short rows (continue watching, next up, recently added, favorites,
top rated, one per top-level folder), or a first-run note while the library is empty.

Each row is one query of at most ``size`` rows that an index answers; the household and
personal figures for every card on the screen are then fetched at once (``LibraryService.cards``).
Each row's statement is built once per process with bound parameters (``:user_id``,
``:folder``): building "next up" alone cost 3 ms a page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any, Literal

from sqlalchemy import Select, and_, bindparam, func, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Favorite, LibraryTotals, Media, Position, ScanStatus, View
from lvs.services.allowance import ALL, Allowance
from lvs.services.library import Card, LibraryService
from lvs.services.media import first_present_id

__all__ = ["ROW_SIZE", "Home", "HomeService", "Row", "RowKind", "ScanProgress"]

ROW_SIZE = 12
FOLDER_ROWS = 8
"""Folder rows on the home screen at most; the folder list (``/folders``) has them all."""
STALE_SCAN = timedelta(minutes=10)
"""A scan that has not written its progress for this long is taken as gone (killed, crashed)."""

RowKind = Literal["continue", "next-up", "recent", "favorites", "top-rated", "folder"]
ROW_TITLES: dict[str, str] = {
    "continue": "Continue watching",
    "next-up": "Next up",
    "recent": "Recently added",
    "favorites": "Your favorites",
    "top-rated": "Top rated in the household",
}


@dataclass(frozen=True, slots=True)
class Row:
    kind: RowKind
    title: str
    cards: list[Card]
    folder: str | None = None  # the folder of a folder row

    @property
    def dom_id(self) -> str:
        return f"row-{self.kind}" if self.folder is None else f"row-folder-{self.folder}"


@dataclass(frozen=True, slots=True)
class ScanProgress:
    running: bool
    files_found: int = 0
    files_done: int = 0


@dataclass(frozen=True, slots=True)
class Home:
    rows: list[Row]
    total: int  # present videos
    scan: ScanProgress
    more_folders: bool = False  # more top-level folders than rows for them
    shows: int = 0

    @property
    def first_run(self) -> bool:
        return self.total == 0


@lru_cache(maxsize=256)
def _row_statement(
    build: Callable[[], Select[Any]], allowance: Allowance, size: int
) -> Select[Any]:
    """A row's statement as it runs, for this allowance and size: built once (a statement
    made again per request pays its construction and its cache key again)."""
    return build().where(allowance.where()).limit(size)


class HomeService:
    def __init__(self, session: AsyncSession, allowance: Allowance = ALL) -> None:
        self.session = session
        self.allowance = allowance
        self.library = LibraryService(session, allowance)

    async def scan_progress(self, now: datetime | None = None) -> ScanProgress:
        row = await self.session.get(ScanStatus, 1)
        if row is None or row.started_at is None:
            return ScanProgress(running=False)
        now = now or datetime.now(UTC)
        beat = row.heartbeat_at or row.started_at
        running = row.finished_at is None and now - beat < STALE_SCAN
        return ScanProgress(running, row.files_found, row.files_done)

    async def total(self) -> int:
        """Present videos (those this person may see, for a restricted profile)."""
        if self.allowance.restricted:
            allowed = (
                select(func.count())
                .select_from(Media)
                .where(Media.missing.is_(False), self.allowance.where())
            )
            return int(await self.session.scalar(allowed) or 0)
        present = await self.session.scalar(
            select(LibraryTotals.present).where(LibraryTotals.id == 1)
        )
        return int(present or 0)

    async def home(self, user_id: uuid.UUID | None, size: int = ROW_SIZE) -> Home:
        total = await self.total()
        scan = await self.scan_progress()
        if total == 0:
            return Home(rows=[], total=0, scan=scan)
        picks: list[tuple[RowKind, str | None, Callable[[], Select[Any]]]] = []
        if user_id is not None:
            picks.append(("continue", None, self._continue))
            picks.append(("next-up", None, self._next_up))
        picks.append(("recent", None, self._recent))
        if user_id is not None:
            picks.append(("favorites", None, self._favorites))
        picks.append(("top-rated", None, self._top_rated))
        folders = await self.top_folders(limit=FOLDER_ROWS + 1)
        picks += [("folder", name, self._folder) for name in folders[:FOLDER_ROWS]]

        found: list[tuple[RowKind, str | None, list[Media]]] = []
        for kind, folder, build in picks:
            params = {"user_id": user_id, "folder": folder}
            stmt = _row_statement(build, self.allowance, size)
            media = list((await self.session.scalars(stmt, params)).all())
            if media:  # empty rows are not shown
                found.append((kind, folder, media))
        cards = await self._cards([m for _, _, media in found for m in media], user_id)
        rows = [
            Row(
                kind=kind,
                title=folder if folder is not None else ROW_TITLES[kind],
                cards=[cards[m.id] for m in media],
                folder=folder,
            )
            for kind, folder, media in found
        ]
        return Home(rows=rows, total=total, scan=scan, more_folders=len(folders) > FOLDER_ROWS)

    async def _cards(self, media: Sequence[Media], user_id: uuid.UUID | None) -> dict[int, Card]:
        unique = list({m.id: m for m in media}.values())
        return {c.media.id: c for c in await self.library.cards(unique, user_id)}

    # -- one query per row, built once (:user_id and :folder are bound when it runs) -------------

    @staticmethod
    @cache
    def _continue() -> Select[Any]:
        """Started and not finished (a position is kept only between the start and the end),
        most recently watched first."""
        return (
            select(Media)
            .join(Position, Position.media_hash == Media.media_hash)
            .where(
                Position.user_id == bindparam("user_id"),
                Media.id == first_present_id(Position.media_hash),
            )
            .order_by(Position.updated_at.desc(), Media.id)
        )

    @staticmethod
    @cache
    def _next_up() -> Select[Any]:
        """For each show this person has watched, the first episode after the one they watched
        last that they have not finished; shows watched most recently first.

        "Watched" is a counted view or a saved position; "finished" is a view without a
        position (the position is dropped near the end)."""
        activity = union_all(
            select(View.media_hash, View.created_at.label("at")).where(
                View.user_id == bindparam("user_id")
            ),
            select(Position.media_hash, Position.updated_at.label("at")).where(
                Position.user_id == bindparam("user_id")
            ),
        ).subquery("activity")
        season = func.coalesce(Media.season, 0)
        latest = (
            select(
                Media.show_key.label("show_key"),
                season.label("season"),
                Media.episode.label("episode"),
                activity.c.at.label("at"),
                func.row_number()
                .over(
                    partition_by=Media.show_key,
                    order_by=(activity.c.at.desc(), season.desc(), Media.episode.desc()),
                )
                .label("n"),
            )
            .join(activity, activity.c.media_hash == Media.media_hash)
            .where(Media.show_key.is_not(None), Media.missing.is_(False))
            .subquery("latest")
        )
        finished = and_(
            select(View.id)
            .where(View.user_id == bindparam("user_id"), View.media_hash == Media.media_hash)
            .exists(),
            ~select(Position.id)
            .where(
                Position.user_id == bindparam("user_id"), Position.media_hash == Media.media_hash
            )
            .exists(),
        )
        last = select(latest).where(latest.c.n == 1).subquery("last")
        # Per show, one walk of ix_media_by_show from the last watched episode on, stopping at
        # the first one not finished (a correlated LIMIT 1, not every later episode).
        following = (
            select(Media.id)
            .where(
                Media.missing.is_(False),
                Media.show_key == last.c.show_key,
                or_(
                    season > last.c.season,
                    and_(season == last.c.season, Media.episode > last.c.episode),
                ),
                ~finished,
            )
            .order_by(Media.season.asc().nulls_first(), Media.episode, Media.id)
            .limit(1)
            .correlate(last)
            .scalar_subquery()
        )
        picks = select(following.label("id"), last.c.at.label("at")).subquery("picks")
        return (
            select(Media).join(picks, picks.c.id == Media.id).order_by(picks.c.at.desc(), Media.id)
        )

    @staticmethod
    @cache
    def _recent() -> Select[Any]:
        return (
            select(Media)
            .where(Media.missing.is_(False))
            .order_by(Media.created_at.desc(), Media.id.desc())
        )

    @staticmethod
    @cache
    def _favorites() -> Select[Any]:
        return (
            select(Media)
            .join(Favorite, Favorite.media_hash == Media.media_hash)
            .where(
                Favorite.user_id == bindparam("user_id"),
                Media.id == first_present_id(Favorite.media_hash),
            )
            .order_by(Favorite.created_at.desc(), Media.id)
        )

    @staticmethod
    @cache
    def _top_rated() -> Select[Any]:
        """Walks ``ix_media_by_rating`` (the household figures are copied onto ``media``)."""
        return (
            select(Media)
            # The unary + keeps SQLite walking the index in order (a range on rating_count
            # made it skip-scan and sort every rated video: 120 ms at 100 000 videos).
            .where(Media.missing.is_(False), text("+media.rating_count > 0"))
            .order_by(
                Media.rating_avg.desc().nulls_last(),
                Media.rating_count.desc().nulls_last(),
                Media.id.desc(),
            )
        )

    @staticmethod
    @cache
    def _folder() -> Select[Any]:
        """A folder's videos in path order (episodes and dated files come out in order)."""
        return (
            select(Media)
            .where(Media.missing.is_(False), Media.top_folder == bindparam("folder"))
            .order_by(Media.rel_path, Media.id)
        )

    async def top_folders(self, limit: int | None = None) -> list[str]:
        """Top-level folders that hold present videos, by name: one index seek per folder (a
        recursive query that jumps from each name to the next), never a pass over every row."""
        cap = 100_000 if limit is None else limit
        if self.allowance.restricted:  # a few folders at most: the allowed ones, by name
            names = (
                select(Media.top_folder)
                .where(
                    Media.missing.is_(False),
                    Media.top_folder.is_not(None),
                    self.allowance.where(),
                )
                .distinct()
                .order_by(Media.top_folder)
                .limit(cap)
            )
            return [str(name) for name in (await self.session.scalars(names)).all()]
        sql = text(
            """
            WITH RECURSIVE folders(name, n) AS (
              SELECT (SELECT min(top_folder) FROM media
                       WHERE missing = :no AND top_folder IS NOT NULL), 1
              UNION ALL
              SELECT (SELECT min(top_folder) FROM media
                       WHERE missing = :no AND top_folder > folders.name), n + 1
                FROM folders WHERE folders.name IS NOT NULL AND n < :cap
            )
            SELECT name FROM folders WHERE name IS NOT NULL
            """
        ).bindparams(no=False, cap=cap)
        return [str(name) for name in (await self.session.scalars(sql)).all()]

    async def folder_counts(self) -> list[tuple[str, int]]:
        """Every top-level folder with its number of present videos, by name (a pass over the
        ``(missing, top_folder)`` index, no row read)."""
        counts = (
            select(Media.top_folder, func.count())
            .where(Media.missing.is_(False), Media.top_folder.is_not(None), self.allowance.where())
            .group_by(Media.top_folder)
            .order_by(Media.top_folder)
        )
        return [(str(name), int(n)) for name, n in (await self.session.execute(counts)).all()]
