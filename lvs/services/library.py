"""The library as people browse it: search, sort, filter, pages, a random pick and "up next".

Everything is one SQL query built from a validated ``LibraryQuery``; per-person columns (your
rating, favorite, your plays) are fetched for the page's videos only, in one more query each.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache, lru_cache
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlencode

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    literal_column,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from lvs.db.models import (
    Favorite,
    LibraryTotals,
    Media,
    MediaStats,
    MediaTag,
    Position,
    Rating,
    Tag,
    View,
)
from lvs.services.allowance import ALL, Allowance

__all__ = [
    "RESOLUTIONS",
    "SORTS",
    "Card",
    "LibraryPage",
    "LibraryQuery",
    "LibraryService",
    "search_terms",
]

SortKey = Literal["added", "title", "duration", "rating", "mine", "views", "played"]
SORTS: dict[str, str] = {
    "added": "Date added",
    "title": "Title",
    "duration": "Duration",
    "rating": "Average rating",
    "mine": "Your rating",
    "views": "Views",
    "played": "Last played",
}
RESOLUTIONS: dict[str, tuple[str, int]] = {
    "sd": ("Any", 0),
    "hd": ("720p+", 720),
    "fhd": ("1080p+", 1080),
    "4k": ("4K", 2160),
}
_WORD = re.compile(r"\w+", re.UNICODE)
FEW_MATCHES = 5000
"""Up to this many matches, a filtered page is sorted from the matches, not from the index."""
TAG_CANDIDATES = 500
"""Up next counts shared tags over at most this many of each tag's videos."""
MAX_TAGS_COMPARED = 20
"""... and over at most this many of the video's tags."""


def search_terms(q: str) -> list[str]:
    """Words of a search, lower-cased; punctuation is a separator (so nothing needs escaping)."""
    return [w.lower() for w in _WORD.findall(q)][:12]


@dataclass(frozen=True, slots=True)
class LibraryQuery:
    """Everything a library URL can say. Parsed and validated by the web layer."""

    q: str = ""
    sort: SortKey = "added"
    desc: bool = True
    favorites: bool = False
    tag: str = ""
    rated: Literal["", "yes", "no"] = ""
    min_rating: int | None = None
    res: str = ""
    dur_min: int | None = None  # minutes
    dur_max: int | None = None
    folder: str = ""
    page: int = 1

    @property
    def sort_param(self) -> str:
        """``title``, ``title-desc``, ``added-asc``...: the sort as it appears in a URL."""
        if self.desc == default_desc(self.sort):
            return self.sort
        return f"{self.sort}-{'desc' if self.desc else 'asc'}"

    def params(self, **changes: Any) -> dict[str, str]:
        """Query parameters of this view (defaults left out), with ``changes`` applied."""
        query = replace(self, **changes) if changes else self
        out: dict[str, str] = {}
        for name in ("q", "tag", "rated", "res", "folder"):
            if value := getattr(query, name):
                out[name] = value
        if query.sort_param != "added":
            out["sort"] = query.sort_param
        if query.favorites:
            out["favorites"] = "1"
        for name in ("min_rating", "dur_min", "dur_max"):
            if (value := getattr(query, name)) is not None:
                out[name] = str(value)
        if query.page > 1:
            out["page"] = str(query.page)
        return out

    def url(self, path: str = "/library", **changes: Any) -> str:
        params = self.params(**changes)
        return f"{path}?{urlencode(params)}" if params else path

    @property
    def is_filtered(self) -> bool:
        return any(
            (
                self.q,
                self.favorites,
                self.tag,
                self.rated,
                self.min_rating,
                self.res,
                self.dur_min is not None,
                self.dur_max is not None,
                self.folder,
            )
        )


def default_desc(sort: str) -> bool:
    return sort not in {"title"}


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class Card:
    """One video as a card: the row, household figures and this person's own."""

    media: Media
    rating_avg: float | None = None
    rating_count: int = 0
    views: int = 0
    my_rating: int | None = None
    favorite: bool = False
    my_plays: int = 0
    last_played: datetime | None = None
    position: float | None = None


@dataclass(frozen=True, slots=True)
class LibraryPage:
    cards: list[Card]
    query: LibraryQuery
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


PERSONAL_SORTS = frozenset({"mine", "played"})
"""Sorts by the person's own figures (their statement names the person)."""


@lru_cache(maxsize=64)
def _listing(allowance: Allowance, sort: SortKey, desc: bool) -> Select[Any]:
    """A page of the unfiltered library's ids in a shared order (``:size`` from ``:offset``),
    built once per order and allowance."""
    ids = select(Media.id).where(Media.missing.is_(False), allowance.where())
    ordered = LibraryService._ordered(ids, LibraryQuery(sort=sort, desc=desc), None)
    return ordered.limit(bindparam("size")).offset(bindparam("offset"))


@cache
def _present_total() -> Select[Any]:
    """How many videos are present (kept exact by triggers: no count of 100 000 rows)."""
    return select(LibraryTotals.present).where(LibraryTotals.id == 1)


@cache
def _media_by_id() -> Select[Any]:
    """The ``Media`` rows of ``:ids``, built once."""
    return select(Media).where(Media.id.in_(bindparam("ids", expanding=True)))


@cache
def _figures(*, personal: bool) -> Select[Any]:
    """The figures of the cards of ``:hashes`` (and, ``personal``, of person ``:user_id``):
    built once, so a page pays neither its construction nor its cache key."""
    hashes: BindParameter[Any] = bindparam("hashes", expanding=True)
    user_id: BindParameter[Any] = bindparam("user_id")
    wanted = (
        select(Media.media_hash)
        .where(Media.media_hash.in_(hashes))
        .group_by(Media.media_hash)
        .subquery("wanted")
    )
    columns: list[Any] = [
        wanted.c.media_hash,
        MediaStats.rating_avg,
        MediaStats.rating_count,
        MediaStats.view_count,
    ]
    stmt = select(*columns).outerjoin(MediaStats, MediaStats.media_hash == wanted.c.media_hash)
    if not personal:
        return stmt
    plays = (
        select(View.media_hash, func.count().label("n"), func.max(View.created_at).label("at"))
        .where(View.user_id == user_id, View.media_hash.in_(hashes))
        .group_by(View.media_hash)
        .subquery("plays")
    )
    return (
        stmt.add_columns(Rating.value, Favorite.id, plays.c.n, plays.c.at, Position.seconds)
        .outerjoin(
            Rating, and_(Rating.media_hash == wanted.c.media_hash, Rating.user_id == user_id)
        )
        .outerjoin(
            Favorite,
            and_(Favorite.media_hash == wanted.c.media_hash, Favorite.user_id == user_id),
        )
        .outerjoin(
            Position,
            and_(Position.media_hash == wanted.c.media_hash, Position.user_id == user_id),
        )
        .outerjoin(plays, plays.c.media_hash == wanted.c.media_hash)
    )


@lru_cache(maxsize=128)
def _related(tags: int, where: str, limit: int, allowance: Allowance) -> Select[Any]:
    """Up next's one statement (see ``LibraryService.related``) for a video with ``tags`` tags
    in a folder found by ``where`` ("top": the top folder; "range": SQLite's range of the
    folder index, ``:low``/``:high``; "like": ``:pattern``), built once per shape and profile
    allowance. Bound when it runs: ``:id``, ``:hash``, ``:root``, ``:tag0``…

    Videos sharing a tag are counted over at most TAG_CANDIDATES of each tag's videos (one
    index range per tag): a household's tags are smaller than that, and a tag on 10 000 videos
    no longer costs a count over all of them (6 ms of a watch page at 100 000)."""
    media_hash: BindParameter[Any] = bindparam("hash")
    per_tag = [
        select(MediaTag.media_hash)
        .where(MediaTag.tag_id == bindparam(f"tag{k}"), MediaTag.media_hash != media_hash)
        .limit(TAG_CANDIDATES)  # the first ones the tag's index gives: no sort
        .subquery()
        for k in range(tags)
    ]
    tagged: Any = (
        union_all(*(select(t.c.media_hash) for t in per_tag)).subquery("tagged")
        if per_tag
        else select(literal("").label("media_hash")).where(false()).subquery("tagged")
    )
    shared_tags = (
        select(tagged.c.media_hash, func.count().label("n"))
        .group_by(tagged.c.media_hash)
        .cte("shared_tags")
    )
    others = and_(
        Media.missing.is_(False),
        Media.id != bindparam("id"),
        Media.media_hash != media_hash,
        allowance.where(),
    )
    title = func.lower(Media.title)
    by_tags = (
        select(Media.id, shared_tags.c.n.label("n"), title.label("t"))
        .join(shared_tags, shared_tags.c.media_hash == Media.media_hash)
        .where(others)
        .order_by(shared_tags.c.n.desc(), title)
        .limit(limit)
        .subquery("by_tags")
    )
    in_folder: Any
    if where == "top":
        in_folder = ~Media.rel_path.contains("/")
    elif where == "range":
        in_folder = and_(Media.rel_path >= bindparam("low"), Media.rel_path < bindparam("high"))
    else:
        in_folder = Media.rel_path.like(bindparam("pattern"), escape="\\")
    by_folder = (
        select(Media.id, literal(0).label("n"), title.label("t"))
        .where(
            others,
            Media.root == bindparam("root"),
            in_folder,
            Media.media_hash.not_in(select(shared_tags.c.media_hash)),
        )
        .order_by(title)
        .limit(limit)
        .subquery("by_folder")
    )
    picks = union_all(select(by_tags), select(by_folder)).subquery("picks")
    return (
        select(Media)
        .join(picks, picks.c.id == Media.id)
        .order_by(picks.c.n.desc(), picks.c.t)
        .limit(limit)
    )


class LibraryService:
    def __init__(self, session: AsyncSession, allowance: Allowance = ALL) -> None:
        self.session = session
        self.allowance = allowance

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # -- the filtered set ----------------------------------------------------------------------

    def _filtered(
        self, query: LibraryQuery, user_id: uuid.UUID | None, *, present: Any = None
    ) -> Select[Any]:
        stmt = select(Media.id).where(
            Media.missing.is_(False) if present is None else present, self.allowance.where()
        )
        terms = search_terms(query.q)
        if terms:
            stmt = self._search(stmt, terms)
        if query.favorites:
            if user_id is None:
                stmt = stmt.where(false())
            else:
                stmt = stmt.where(
                    Media.media_hash.in_(
                        select(Favorite.media_hash).where(Favorite.user_id == user_id)
                    )
                )
        if query.tag:
            stmt = stmt.where(
                Media.media_hash.in_(
                    select(MediaTag.media_hash)
                    .join(Tag, Tag.id == MediaTag.tag_id)
                    .where(Tag.key == query.tag.casefold())
                )
            )
        if query.rated:
            mine = select(Rating.media_hash).where(Rating.user_id == user_id)
            if user_id is None:
                stmt = stmt.where(false() if query.rated == "yes" else true())
            elif query.rated == "yes":
                stmt = stmt.where(Media.media_hash.in_(mine))
            else:
                stmt = stmt.where(Media.media_hash.not_in(mine))
        if query.min_rating:
            stmt = stmt.where(Media.rating_avg >= query.min_rating)
        if query.res and query.res in RESOLUTIONS and RESOLUTIONS[query.res][1]:
            stmt = stmt.where(Media.height >= RESOLUTIONS[query.res][1])
        if query.dur_min is not None:
            stmt = stmt.where(Media.duration >= query.dur_min * 60)
        if query.dur_max is not None:
            stmt = stmt.where(Media.duration <= query.dur_max * 60)
        if query.folder:
            # rel_path in ["folder/", "folder0"): '0' follows '/', so this is "starts with
            # folder/", as a range that the (missing, rel_path) index answers.
            prefix = query.folder.strip("/") + "/"
            stmt = stmt.where(Media.rel_path >= prefix, Media.rel_path < prefix[:-1] + "0")
        return stmt

    @staticmethod
    def _fts_match(terms: Sequence[str]) -> Any:
        """Every word, as a prefix (FTS5 query syntax; words are \\w+ so need no escaping)."""
        match = " ".join(f'"{t}"*' for t in terms)
        return text("media_fts MATCH :match").bindparams(match=match)

    def _search(self, stmt: Select[Any], terms: Sequence[str]) -> Select[Any]:
        if self._dialect == "sqlite":
            return stmt.where(
                Media.id.in_(
                    select(literal_column("rowid"))
                    .select_from(text("media_fts"))
                    .where(self._fts_match(terms))
                )
            )
        tags_of = (
            select(func.string_agg(Tag.name, " "))
            .join(MediaTag, MediaTag.tag_id == Tag.id)
            .where(MediaTag.media_hash == Media.media_hash)
            .scalar_subquery()
        )
        haystack = func.concat_ws(" ", Media.title, Media.rel_path, func.coalesce(tags_of, ""))
        for term in terms:  # a word that starts with the term, as FTS5 prefix queries match
            stmt = stmt.where(haystack.op("~*")(r"\m" + re.escape(term)))
        return stmt

    @staticmethod
    def _ordered(ids: Select[Any], query: LibraryQuery, user_id: uuid.UUID | None) -> Select[Any]:
        """``ids`` ordered for this query: still a select of ``media.id`` alone, so SQLite can
        answer the default order from the listing index without touching the rows."""
        stmt = ids
        desc = query.desc
        order: list[Any] = []

        def by(col: Any) -> Any:
            return col.desc().nulls_last() if desc else col.asc().nulls_last()

        # Each sort walks one index of ``media`` (see the model's indexes): the figures it sorts
        # by are copies kept in step by triggers, and the tie-break is the id.
        if query.sort == "title":
            order.append(by(func.lower(Media.title)))
        elif query.sort == "duration":
            order.append(by(Media.duration))
        elif query.sort == "rating":
            order += [by(Media.rating_avg), by(Media.rating_count)]
        elif query.sort == "views":
            order.append(by(Media.view_count))
        elif query.sort == "mine" and user_id is not None:
            stmt = stmt.outerjoin(
                Rating, and_(Rating.media_hash == Media.media_hash, Rating.user_id == user_id)
            )
            order.append(by(Rating.value))
        elif query.sort == "played" and user_id is not None:
            last = (
                select(View.media_hash, func.max(View.created_at).label("at"))
                .where(View.user_id == user_id)
                .group_by(View.media_hash)
                .subquery()
            )
            stmt = stmt.outerjoin(last, last.c.media_hash == Media.media_hash)
            order.append(by(last.c.at))
        if query.sort in {"added", "mine", "played"}:
            order.append(Media.created_at.desc() if desc else Media.created_at.asc())
        order.append(Media.id.desc() if desc else Media.id.asc())
        return stmt.order_by(*order)

    # -- pages ---------------------------------------------------------------------------------

    async def page(self, query: LibraryQuery, user_id: uuid.UUID | None, size: int) -> LibraryPage:
        ids = self._filtered(query, user_id)
        membership = bool(query.q or query.tag or query.favorites or query.rated == "yes")
        # The same set, found from the filters' own indexes (search hits, a tag's videos, your
        # favorites) instead of by walking media's 100 000-entry listing index: the unary +
        # keeps SQLite's planner off that index. Cheaper whenever the matches are few (and only
        # used then: without such a filter there is nothing to find it from).
        by_matches = (
            self._filtered(query, user_id, present=text("+media.missing = 0"))
            if membership
            else ids
        )
        if (
            not query.is_filtered and not self.allowance.restricted
        ):  # kept exact by triggers: no need to count 100 000 rows
            counted = _present_total()
        elif membership and self._dialect == "sqlite":
            counted = select(func.count()).select_from(by_matches.subquery())
        else:
            counted = select(func.count()).select_from(ids.subquery())
        total = int(await self.session.scalar(counted) or 0)
        number = max(1, query.page)
        offset = (number - 1) * size
        few = membership and total <= FEW_MATCHES and self._dialect == "sqlite"
        window = {"size": size, "offset": offset}
        if not query.is_filtered and query.sort not in PERSONAL_SORTS:
            stmt = _listing(self.allowance, query.sort, query.desc)  # the usual page: built once
        else:
            stmt = self._ordered(by_matches if few else ids, query, user_id)
            stmt = stmt.limit(bindparam("size")).offset(bindparam("offset"))
        page_ids = list((await self.session.scalars(stmt, window)).all())
        found = await self.session.scalars(_media_by_id(), {"ids": page_ids})
        rows = {m.id: m for m in found.all()}
        media = [rows[i] for i in page_ids if i in rows]  # back in the order the database chose
        cards = await self.cards(media, user_id)
        return LibraryPage(cards=cards, query=query, number=number, size=size, total=total)

    async def cards(self, media: Sequence[Media], user_id: uuid.UUID | None) -> list[Card]:
        """Household and personal figures for these videos, in one query of indexed joins."""
        hashes = sorted({m.media_hash for m in media})
        if not hashes:
            return []
        stmt = _figures(personal=user_id is not None)
        params = {"hashes": hashes, "user_id": user_id}
        figures = {row[0]: row for row in (await self.session.execute(stmt, params)).all()}
        cards = []
        for m in media:
            row = figures.get(m.media_hash)
            if row is None:
                cards.append(Card(media=m))
                continue
            personal = row[4:] if user_id is not None else (None, None, None, None, None)
            mine, fav, n, at, seconds = personal
            cards.append(
                Card(
                    media=m,
                    rating_avg=row[1],
                    rating_count=int(row[2] or 0),
                    views=int(row[3] or 0),
                    my_rating=mine,
                    favorite=fav is not None,
                    my_plays=int(n or 0),
                    last_played=at,
                    position=None if seconds is None else float(seconds),
                )
            )
        return cards

    async def random_id(self, query: LibraryQuery, user_id: uuid.UUID | None) -> int | None:
        """A random video matching the filters (None when nothing matches)."""
        ids = self._filtered(query, user_id).subquery()
        total = int(await self.session.scalar(select(func.count()).select_from(ids)) or 0)
        if total == 0:
            return None
        offset = secrets.randbelow(total)
        return await self.session.scalar(
            select(ids.c.id).order_by(ids.c.id).limit(1).offset(offset)
        )

    async def related(self, media: Media, user_id: uuid.UUID | None, limit: int = 8) -> list[Card]:
        """Up next: videos sharing tags with this one (most shared first), then videos from the
        same folder, each by title.

        Each kind is its own ``limit``-row pick that an index answers (a tag's videos; the
        folder's range of ``rel_path``, or the title index for the top folder), so a video in a
        library of 100 000 costs a few hundred rows, not a pass over every row."""
        folder = str(PurePosixPath(media.rel_path).parent)
        tag_ids = list(
            (
                await self.session.scalars(
                    select(MediaTag.tag_id).where(MediaTag.media_hash == media.media_hash)
                )
            ).all()
        )[:MAX_TAGS_COMPARED]
        params: dict[str, Any] = {"id": media.id, "hash": media.media_hash, "root": media.root}
        params |= {f"tag{k}": tag_id for k, tag_id in enumerate(tag_ids)}
        if folder == ".":
            where = "top"
        elif self._dialect == "sqlite":  # "starts with folder/" as a range of the folder index
            where = "range"
            params |= {"low": folder + "/", "high": folder + "0"}
        else:
            where = "like"
            params["pattern"] = f"{_like_escape(folder)}/%"
        stmt = _related(len(tag_ids), where, limit, self.allowance)
        related = list((await self.session.scalars(stmt, params)).all())
        return await self.cards(related, user_id)
