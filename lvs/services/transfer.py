"""Export and import of everyone's data (``lvs export`` / ``lvs import``), so that moving to a new
machine loses nothing.

Playlists travel too (``playlists``: each person's, by name, with its videos' fingerprints in
order); an export without that section (from an older lvs) imports as before. A playlist merges
into the person's playlist of the same name: the videos it lacks are added at its end.

Household profiles travel too: a ``profiles`` section (optional, so older files still import)
holds each named profile's avatar, admin flag, PIN hash (Argon2; never the PIN), restriction and
allowed folders and tags. Import sets them on a profile only when it names that user there, and
never overwrites a profile this database already has.

The export is one JSON-able dict (format ``lvs-export``, version 1). Everything per person is keyed
by ``media_hash``, so it lands on the right videos wherever the files now live. Import checks the
whole file first and refuses it (``TransferError``) before writing anything; then it merges in one
transaction: missing rows are added, ratings and positions keep whichever side is newer, and the
household aggregates (``media_stats``) are recomputed for every video it touched. Importing the
same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import (
    MEDIA_HASH,
    Favorite,
    Media,
    MediaStats,
    MediaTag,
    Playlist,
    PlaylistItem,
    Position,
    ProfileAllowance,
    Rating,
    Tag,
    User,
    View,
)
from lvs.services.activity import MAX_SECONDS
from lvs.services.errors import InvalidInput
from lvs.services.playlists import MAX_ITEMS, normalise_name
from lvs.services.profiles import AVATARS
from lvs.services.ratings import RatingValueError, parse_rating_value
from lvs.services.tags import TagError, normalise_tag
from lvs.services.writes import insert_for

__all__ = [
    "FORMAT",
    "VERSION",
    "Counts",
    "ImportReport",
    "TransferError",
    "export_data",
    "import_data",
    "ratings_csv",
]

FORMAT = "lvs-export"
VERSION = 1
_SECTIONS = ("users", "ratings", "favorites", "tags", "media_tags", "views", "positions")
_T = TypeVar("_T")


class TransferError(ValueError):
    """The file is not an export this version can import; the message says where and why."""


# -- export --------------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


async def _export_profiles(session: AsyncSession) -> list[dict[str, Any]]:
    named = (
        await session.scalars(select(User).where(User.name.is_not(None)).order_by(User.id))
    ).all()
    allowed = (
        await session.execute(
            select(
                ProfileAllowance.user_id, ProfileAllowance.kind, ProfileAllowance.value
            ).order_by(ProfileAllowance.user_id, ProfileAllowance.kind, ProfileAllowance.value)
        )
    ).all()
    lists: dict[uuid.UUID, dict[str, list[str]]] = {}
    for user_id, kind, value in allowed:
        lists.setdefault(user_id, {"folder": [], "tag": []})[kind].append(value)
    return [
        {
            "id": str(u.id),
            "avatar": u.avatar,
            "is_admin": bool(u.is_admin),
            "pin_hash": u.pin_hash,
            "restricted": bool(u.restricted),
            "folders": lists.get(u.id, {}).get("folder", []),
            "tags": lists.get(u.id, {}).get("tag", []),
        }
        for u in named
    ]


async def export_data(session: AsyncSession) -> dict[str, Any]:
    """Everything per person and per household, as a JSON-able dict (deterministic order)."""
    users = (await session.execute(select(User.id, User.name).order_by(User.id))).all()
    ratings = await session.execute(
        select(Rating.media_hash, Rating.user_id, Rating.value, Rating.updated_at).order_by(
            Rating.media_hash, Rating.user_id
        )
    )
    favorites = await session.execute(
        select(Favorite.media_hash, Favorite.user_id, Favorite.created_at).order_by(
            Favorite.media_hash, Favorite.user_id
        )
    )
    tags = await session.scalars(select(Tag.name).order_by(Tag.key))
    media_tags = await session.execute(
        select(MediaTag.media_hash, Tag.name)
        .join(Tag, Tag.id == MediaTag.tag_id)
        .order_by(MediaTag.media_hash, Tag.key)
    )
    views = await session.execute(
        select(View.media_hash, View.user_id, View.created_at).order_by(
            View.created_at, View.media_hash, View.user_id
        )
    )
    positions = await session.execute(
        select(
            Position.media_hash, Position.user_id, Position.seconds, Position.updated_at
        ).order_by(Position.media_hash, Position.user_id)
    )
    playlists = await _export_playlists(session)
    # One row per fingerprint, for people reading the file: a present copy when there is one.
    media_rows = await session.execute(
        select(Media.media_hash, Media.title, Media.rel_path).order_by(
            Media.media_hash, Media.missing, Media.id
        )
    )
    media: dict[str, dict[str, str]] = {}
    for h, title, rel_path in media_rows.all():
        media.setdefault(h, {"media_hash": h, "title": title, "rel_path": rel_path})
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _iso(datetime.now(UTC)),
        "users": [{"id": str(i), "name": name} for i, name in users],
        "ratings": [
            {"media_hash": h, "user_id": str(u), "value": int(v), "updated_at": _iso(at)}
            for h, u, v, at in ratings.all()
        ],
        "favorites": [
            {"media_hash": h, "user_id": str(u), "created_at": _iso(at)}
            for h, u, at in favorites.all()
        ],
        "tags": [{"name": name} for name in tags.all()],
        "media_tags": [{"media_hash": h, "tag": name} for h, name in media_tags.all()],
        "views": [
            {"media_hash": h, "user_id": str(u), "viewed_at": _iso(at)} for h, u, at in views.all()
        ],
        "positions": [
            {"media_hash": h, "user_id": str(u), "seconds": float(s), "updated_at": _iso(at)}
            for h, u, s, at in positions.all()
        ],
        "playlists": playlists,
        "media": list(media.values()),
        "profiles": await _export_profiles(session),
    }


async def _export_playlists(session: AsyncSession) -> list[dict[str, Any]]:
    """Each playlist: its person, name, loop, when it was made, and its videos in order."""
    lists = (
        await session.execute(
            select(
                Playlist.id, Playlist.user_id, Playlist.name, Playlist.loop, Playlist.created_at
            ).order_by(Playlist.user_id, Playlist.name, Playlist.id)
        )
    ).all()
    items: dict[int, list[str]] = {}
    rows = await session.execute(
        select(PlaylistItem.playlist_id, PlaylistItem.media_hash).order_by(
            PlaylistItem.playlist_id, PlaylistItem.position, PlaylistItem.id
        )
    )
    for playlist_id, media_hash in rows.all():
        items.setdefault(playlist_id, []).append(media_hash)
    return [
        {
            "user_id": str(u),
            "name": name,
            "loop": bool(loop),
            "created_at": _iso(at),
            "items": items.get(i, []),
        }
        for i, u, name, loop, at in lists
    ]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def ratings_csv(data: dict[str, Any]) -> str:
    """The export's ratings as CSV: ``media_hash,user_id,value,updated_at,title`` (title empty
    when the export does not know the video). Titles that a spreadsheet would run as a formula
    get a leading apostrophe."""
    titles = {m["media_hash"]: m.get("title") or "" for m in data.get("media") or []}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["media_hash", "user_id", "value", "updated_at", "title"])
    for r in data["ratings"]:
        title = titles.get(r["media_hash"], "")
        if title.startswith(_FORMULA_START):
            title = "'" + title
        writer.writerow([r["media_hash"], r["user_id"], r["value"], r["updated_at"], title])
    return out.getvalue()


# -- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ProfileFields:
    avatar: str | None
    is_admin: bool
    pin_hash: str | None
    restricted: bool
    folders: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Parsed:
    users: dict[uuid.UUID, str | None]
    ratings: dict[tuple[str, uuid.UUID], tuple[int, datetime]]
    favorites: dict[tuple[str, uuid.UUID], datetime]
    tags: dict[str, str]  # key -> name
    media_tags: set[tuple[str, str]]  # (media_hash, tag key)
    views: set[tuple[str, uuid.UUID, datetime]]
    positions: dict[tuple[str, uuid.UUID], tuple[float, datetime]]
    playlists: dict[tuple[uuid.UUID, str], _PlaylistIn] = field(default_factory=dict)
    profiles: dict[uuid.UUID, _ProfileFields] = field(default_factory=dict)


@dataclass(slots=True)
class _PlaylistIn:
    loop: bool
    created_at: datetime
    items: list[str]  # fingerprints, in order, each once


class _Reader:
    """Reads one item of a section, raising TransferError that names ``section[i].key``."""

    def __init__(self, where: str, item: object) -> None:
        if not isinstance(item, dict):
            raise TransferError(f"{where}: must be an object")
        self.where = where
        self.item = item

    def fail(self, key: str, why: str) -> TransferError:
        return TransferError(f"{self.where}.{key}: {why}")

    def get(self, key: str) -> Any:
        if key not in self.item:
            raise self.fail(key, "is missing")
        return self.item[key]

    def media_hash(self, key: str = "media_hash") -> str:
        value = self.get(key)
        if not isinstance(value, str) or not MEDIA_HASH.fullmatch(value.lower()):
            raise self.fail(key, "must be 16 hexadecimal digits")
        return value.lower()

    def uuid(self, key: str) -> uuid.UUID:
        value = self.get(key)
        try:
            if isinstance(value, str):
                return uuid.UUID(value)
        except ValueError:
            pass
        raise self.fail(key, "must be a UUID")

    def when(self, key: str) -> datetime:
        value = self.get(key)
        try:
            at = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            at = None
        if at is None:
            raise self.fail(key, "must be an ISO 8601 date and time")
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)

    def parsed(self, key: str, parse: Callable[[Any], _T], errors: type[Exception]) -> _T:
        try:
            return parse(self.get(key))
        except errors as exc:
            raise self.fail(key, str(exc)) from None


def _seconds(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError("must be a number of seconds")
    value = float(raw)
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"must be a number of seconds from 0 to {MAX_SECONDS:.0f}")
    return value


def _playlist_name(raw: Any) -> str:
    try:
        return normalise_name(raw)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def _loop(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError("must be true or false")
    return raw


def _playlists(data: dict[str, Any]) -> dict[tuple[uuid.UUID, str], _PlaylistIn]:
    """The optional ``playlists`` section; two of one person's with the same name are one."""
    found: dict[tuple[uuid.UUID, str], _PlaylistIn] = {}
    if data.get("playlists") is None:
        return found
    for r in _items(data, "playlists"):
        key = (r.uuid("user_id"), r.parsed("name", _playlist_name, ValueError))
        loop, made = r.parsed("loop", _loop, ValueError), r.when("created_at")
        hashes = r.get("items")
        if not isinstance(hashes, list) or len(hashes) > MAX_ITEMS:
            raise r.fail("items", f"must be a list of at most {MAX_ITEMS} fingerprints")
        checked: list[str] = []
        for n, h in enumerate(hashes):
            if not isinstance(h, str) or not MEDIA_HASH.fullmatch(h.lower()):
                raise r.fail(f"items[{n}]", "must be 16 hexadecimal digits")
            checked.append(h.lower())
        into = found.setdefault(key, _PlaylistIn(loop, made, []))
        into.created_at = min(into.created_at, made)
        into.items.extend(h for h in dict.fromkeys(checked) if h not in into.items)
    return found


def _name(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > 64:
        raise ValueError("must be text of at most 64 characters, or null")
    return raw


def _flag(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError("must be true or false")
    return raw


def _avatar(raw: Any) -> str | None:
    if raw is not None and raw not in AVATARS:
        raise ValueError(f"must be one of {', '.join(AVATARS)}, or null")
    return raw  # type: ignore[no-any-return]


def _pin_hash(raw: Any) -> str | None:
    if raw is not None and (
        not isinstance(raw, str) or not raw.startswith("$argon2") or len(raw) > 256
    ):
        raise ValueError("must be an Argon2 hash, or null")
    return raw


def _names(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) and 0 < len(v) <= 1024 for v in raw):
        raise ValueError("must be a list of names")
    return tuple(raw)


def _profile(r: _Reader) -> _ProfileFields:
    return _ProfileFields(
        avatar=r.parsed("avatar", _avatar, ValueError),
        is_admin=r.parsed("is_admin", _flag, ValueError),
        pin_hash=r.parsed("pin_hash", _pin_hash, ValueError),
        restricted=r.parsed("restricted", _flag, ValueError),
        folders=r.parsed("folders", _names, ValueError),
        tags=tuple(t.casefold() for t in r.parsed("tags", _names, ValueError)),
    )


def _items(data: dict[str, Any], section: str) -> Iterable[_Reader]:
    items = data[section]
    if not isinstance(items, list):
        raise TransferError(f"{section}: must be a list")
    return (_Reader(f"{section}[{i}]", item) for i, item in enumerate(items))


def _newer(
    into: dict[tuple[str, uuid.UUID], tuple[_T, datetime]],
    key: tuple[str, uuid.UUID],
    value: tuple[_T, datetime],
) -> None:
    if key not in into or into[key][1] < value[1]:
        into[key] = value


def _validate(data: object) -> _Parsed:
    if not isinstance(data, dict):
        raise TransferError("not an lvs export: the file must hold a JSON object")
    if data.get("format") != FORMAT:
        raise TransferError(f"not an lvs export: format is {data.get('format')!r}, not {FORMAT!r}")
    version = data.get("version")
    if isinstance(version, bool) or version != VERSION:
        raise TransferError(f"unsupported export version {version!r}; this lvs reads {VERSION}")
    for section in _SECTIONS:
        if section not in data:
            raise TransferError(f"{section}: is missing")
    if data.get("media") is not None and not isinstance(data["media"], list):
        raise TransferError("media: must be a list")

    users: dict[uuid.UUID, str | None] = {}
    for r in _items(data, "users"):
        users[r.uuid("id")] = r.parsed("name", _name, ValueError)
    ratings: dict[tuple[str, uuid.UUID], tuple[int, datetime]] = {}
    for r in _items(data, "ratings"):
        value = r.parsed("value", parse_rating_value, RatingValueError)
        _newer(ratings, (r.media_hash(), r.uuid("user_id")), (value, r.when("updated_at")))
    favorites: dict[tuple[str, uuid.UUID], datetime] = {}
    for r in _items(data, "favorites"):
        key, at = (r.media_hash(), r.uuid("user_id")), r.when("created_at")
        favorites[key] = min(at, favorites.get(key, at))
    tags: dict[str, str] = {}
    for r in _items(data, "tags"):
        name = r.parsed("name", normalise_tag, TagError)
        tags.setdefault(name.casefold(), name)
    media_tags: set[tuple[str, str]] = set()
    for r in _items(data, "media_tags"):
        media_hash, name = r.media_hash(), r.parsed("tag", normalise_tag, TagError)
        tags.setdefault(name.casefold(), name)
        media_tags.add((media_hash, name.casefold()))
    views = {
        (r.media_hash(), r.uuid("user_id"), r.when("viewed_at")) for r in _items(data, "views")
    }
    positions: dict[tuple[str, uuid.UUID], tuple[float, datetime]] = {}
    for r in _items(data, "positions"):
        seconds = r.parsed("seconds", _seconds, ValueError)
        _newer(positions, (r.media_hash(), r.uuid("user_id")), (seconds, r.when("updated_at")))
    playlists = _playlists(data)
    # People referred to but not listed are created without a name.
    referenced = {u for _, u in ratings} | {u for _, u in favorites} | {u for _, u in positions}
    referenced |= {u for u, _ in playlists}
    for user_id in referenced | {u for _, u, _ in views}:
        users.setdefault(user_id, None)
    profiles: dict[uuid.UUID, _ProfileFields] = {}
    if data.get("profiles") is not None:  # (files from before profiles have none)
        for r in _items(data, "profiles"):
            user_id = r.uuid("id")
            if not users.get(user_id):
                raise r.fail("id", "must be a user with a name in users")
            profiles[user_id] = _profile(r)
    return _Parsed(
        users, ratings, favorites, tags, media_tags, views, positions, playlists, profiles
    )


# -- import --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"


@dataclass(slots=True)
class ImportReport:
    """What an import did, per kind of row. ``changed`` is False when it wrote nothing."""

    users: Counts = field(default_factory=Counts)
    ratings: Counts = field(default_factory=Counts)
    favorites: Counts = field(default_factory=Counts)
    tags: Counts = field(default_factory=Counts)
    media_tags: Counts = field(default_factory=Counts)
    views: Counts = field(default_factory=Counts)
    positions: Counts = field(default_factory=Counts)
    playlists: Counts = field(default_factory=Counts)
    """Playlists made, given videos they lacked (updated), or already complete."""
    media_stats: int = 0
    """How many videos' aggregates were recomputed."""

    @property
    def changed(self) -> bool:
        return any(
            c.new or c.updated
            for c in (getattr(self, f.name) for f in fields(self))
            if isinstance(c, Counts)
        )

    def __str__(self) -> str:
        parts = [
            f"{f.name.replace('_', ' ')} {getattr(self, f.name)}"
            for f in fields(self)
            if f.name != "media_stats"
        ]
        return "; ".join(parts) + f"; stats recomputed for {self.media_stats} videos"


_CHUNK = 500


def _chunks(values: Iterable[_T]) -> Iterable[list[_T]]:
    items = list(values)
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


async def import_data(session: AsyncSession, data: object) -> ImportReport:
    """Merge an export into this database (validated first, then one transaction, committed).

    Users, favorites, tags, tag links and views are added when missing; ratings and positions
    are inserted, or replaced when the file's copy is newer. Raises ``TransferError`` before
    writing anything when the file is malformed."""
    parsed = _validate(data)
    report = ImportReport()
    try:
        merge = _Merge(session, parsed)
        await merge.run(report)
        report.media_stats = len(merge.touched)
        await _recompute_stats(session, merge.touched)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return report


class _Merge:
    """One import's writes, section by section, on one session (one transaction)."""

    def __init__(self, session: AsyncSession, parsed: _Parsed) -> None:
        self.session = session
        self.p = parsed
        self.insert = insert_for(session)
        self.now = datetime.now(UTC)
        self.user_ids = list(parsed.users)
        self.touched: set[str] = set()
        """Videos whose ratings or views changed: their media_stats are recomputed."""

    async def run(self, report: ImportReport) -> None:
        report.users = await self.users()
        report.ratings = await self.ratings()
        report.favorites = await self.favorites()
        report.tags, tag_ids = await self.tags()
        report.media_tags = await self.media_tags(tag_ids)
        report.views = await self.views()
        report.positions = await self.positions()
        report.playlists = await self.playlists()

    async def _rows_of(self, *cols: Any, user_col: Any) -> list[Any]:
        """Existing rows of the people in the file (a household has few people)."""
        found: list[Any] = []
        for chunk in _chunks(self.user_ids):
            result = await self.session.execute(select(*cols).where(user_col.in_(chunk)))
            found.extend(result.all())
        return found

    async def users(self) -> Counts:
        have = {i: n for i, n in await self._rows_of(User.id, User.name, user_col=User.id)}
        new = [
            {"id": i, "name": n, "created_at": self.now, "updated_at": self.now}
            for i, n in self.p.users.items()
            if i not in have
        ]
        if new:
            stmt = self.insert(User).on_conflict_do_nothing(index_elements=["id"])
            await self.session.execute(stmt, new)
        # Fill in a name this database does not have yet; never overwrite one.
        named = [(i, n) for i, n in self.p.users.items() if n and i in have and not have[i]]
        for user_id, name in named:
            await self.session.execute(
                update(User)
                .where(User.id == user_id, User.name.is_(None))
                .values(name=name, updated_at=self.now)
            )
        # A profile's settings come with its name: set where this import named the user.
        for user_id in [i for i in self.p.users if i not in have] + [i for i, _ in named]:
            await self._profile(user_id)
        return Counts(len(new), len(named), len(self.p.users) - len(new) - len(named))

    async def _profile(self, user_id: uuid.UUID) -> None:
        found = self.p.profiles.get(user_id)
        if found is None:
            return
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                avatar=found.avatar,
                is_admin=found.is_admin,
                pin_hash=found.pin_hash,
                restricted=found.restricted,
                updated_at=self.now,
            )
        )
        allowed = [("folder", v) for v in found.folders] + [("tag", v) for v in found.tags]
        if allowed:
            await self.session.execute(
                self.insert(ProfileAllowance).on_conflict_do_nothing(),
                [
                    {
                        "user_id": user_id,
                        "kind": kind,
                        "value": value,
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                    for kind, value in sorted(set(allowed))
                ],
            )

    async def ratings(self) -> Counts:
        have = {
            (h, u): (v, at)
            for h, u, v, at in await self._rows_of(
                Rating.media_hash,
                Rating.user_id,
                Rating.value,
                Rating.updated_at,
                user_col=Rating.user_id,
            )
        }
        counts, rows = Counts(), []
        for (h, u), (value, at) in self.p.ratings.items():
            old = have.get((h, u))
            if old is None:
                counts.new += 1
            elif old[1] < at and old[0] != value:
                counts.updated += 1
            else:
                counts.unchanged += 1  # ours is newer, or says the same
                continue
            self.touched.add(h)
            rows.append(
                {"media_hash": h, "user_id": u, "value": value, "created_at": at, "updated_at": at}
            )
        if rows:
            stmt = self.insert(Rating)
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["media_hash", "user_id"],
                    set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
                    where=Rating.updated_at < stmt.excluded.updated_at,
                ),
                rows,
            )
        return counts

    async def favorites(self) -> Counts:
        have = set(
            await self._rows_of(Favorite.media_hash, Favorite.user_id, user_col=Favorite.user_id)
        )
        rows = [
            {"media_hash": h, "user_id": u, "created_at": at, "updated_at": at}
            for (h, u), at in self.p.favorites.items()
            if (h, u) not in have
        ]
        if rows:
            stmt = self.insert(Favorite).on_conflict_do_nothing(
                index_elements=["user_id", "media_hash"]
            )
            await self.session.execute(stmt, rows)
        return Counts(len(rows), 0, len(self.p.favorites) - len(rows))

    async def _tag_ids(self, keys: Iterable[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for chunk in _chunks(keys):
            result = await self.session.execute(select(Tag.key, Tag.id).where(Tag.key.in_(chunk)))
            ids.update({k: i for k, i in result.all()})
        return ids

    async def tags(self) -> tuple[Counts, dict[str, int]]:
        """Tags by case-folded key (an existing tag keeps its spelling); returns key → id."""
        ids = await self._tag_ids(self.p.tags)
        rows = [
            {"name": name, "key": key, "created_at": self.now, "updated_at": self.now}
            for key, name in self.p.tags.items()
            if key not in ids
        ]
        if rows:
            stmt = self.insert(Tag).on_conflict_do_nothing(index_elements=["key"])
            await self.session.execute(stmt, rows)
            ids.update(await self._tag_ids(k for k in self.p.tags if k not in ids))
        return Counts(len(rows), 0, len(self.p.tags) - len(rows)), ids

    async def media_tags(self, tag_ids: dict[str, int]) -> Counts:
        have: set[tuple[str, int]] = set()
        for chunk in _chunks(sorted(set(tag_ids.values()))):
            result = await self.session.execute(
                select(MediaTag.media_hash, MediaTag.tag_id).where(MediaTag.tag_id.in_(chunk))
            )
            have.update((h, t) for h, t in result.all())
        rows = [
            {
                "media_hash": h,
                "tag_id": tag_ids[key],
                "created_at": self.now,
                "updated_at": self.now,
            }
            for h, key in sorted(self.p.media_tags)
            if (h, tag_ids[key]) not in have
        ]
        if rows:
            stmt = self.insert(MediaTag).on_conflict_do_nothing(
                index_elements=["media_hash", "tag_id"]
            )
            await self.session.execute(stmt, rows)
        return Counts(len(rows), 0, len(self.p.media_tags) - len(rows))

    async def views(self) -> Counts:
        """Views not already recorded for the same person, video and moment."""
        have = {
            (h, u, at.astimezone(UTC))
            for h, u, at in await self._rows_of(
                View.media_hash, View.user_id, View.created_at, user_col=View.user_id
            )
        }
        rows = [
            {"media_hash": h, "user_id": u, "created_at": at, "updated_at": at}
            for h, u, at in sorted(self.p.views, key=lambda v: (v[2], v[0], str(v[1])))
            if (h, u, at) not in have
        ]
        if rows:
            await self.session.execute(self.insert(View), rows)
            self.touched.update(h for h, u, at in self.p.views if (h, u, at) not in have)
        return Counts(len(rows), 0, len(self.p.views) - len(rows))

    async def positions(self) -> Counts:
        have = {
            (h, u): (s, at)
            for h, u, s, at in await self._rows_of(
                Position.media_hash,
                Position.user_id,
                Position.seconds,
                Position.updated_at,
                user_col=Position.user_id,
            )
        }
        counts, rows = Counts(), []
        for (h, u), (seconds, at) in self.p.positions.items():
            old = have.get((h, u))
            if old is None:
                counts.new += 1
            elif old[1] < at and old[0] != seconds:
                counts.updated += 1
            else:
                counts.unchanged += 1
                continue
            rows.append(
                {
                    "media_hash": h,
                    "user_id": u,
                    "seconds": seconds,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        if rows:
            stmt = self.insert(Position)
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["user_id", "media_hash"],
                    set_={"seconds": stmt.excluded.seconds, "updated_at": stmt.excluded.updated_at},
                    where=Position.updated_at < stmt.excluded.updated_at,
                ),
                rows,
            )
        return counts

    async def playlists(self) -> Counts:
        """Each playlist into the person's playlist of that name (the first, if they have
        several): made when missing, else given the videos it lacks, at its end."""
        have: dict[tuple[uuid.UUID, str], int] = {}
        for i, u, name in sorted(
            await self._rows_of(
                Playlist.id, Playlist.user_id, Playlist.name, user_col=Playlist.user_id
            )
        ):
            have.setdefault((u, name), i)
        counts = Counts()
        for (user_id, name), wanted in self.p.playlists.items():
            playlist_id = have.get((user_id, name))
            known: set[str] = set()
            last = 0
            if playlist_id is None:
                made = Playlist(
                    user_id=user_id,
                    name=name,
                    loop=wanted.loop,
                    created_at=wanted.created_at,
                    updated_at=wanted.created_at,
                )
                self.session.add(made)
                await self.session.flush()
                playlist_id = made.id
            else:
                rows = await self.session.execute(
                    select(PlaylistItem.media_hash, PlaylistItem.position).where(
                        PlaylistItem.playlist_id == playlist_id
                    )
                )
                for h, position in rows.all():
                    known.add(h)
                    last = max(last, position)
            missing = [h for h in wanted.items if h not in known][: MAX_ITEMS - len(known)]
            if (user_id, name) not in have:
                counts.new += 1
            elif missing:
                counts.updated += 1
            else:
                counts.unchanged += 1
            if missing:
                await self.session.execute(
                    self.insert(PlaylistItem).on_conflict_do_nothing(
                        index_elements=["playlist_id", "media_hash"]
                    ),
                    [
                        {
                            "playlist_id": playlist_id,
                            "media_hash": h,
                            "position": last + n,
                            "created_at": self.now,
                            "updated_at": self.now,
                        }
                        for n, h in enumerate(missing, start=1)
                    ],
                )
        return counts


async def _recompute_stats(session: AsyncSession, media_hashes: set[str]) -> None:
    """Rebuild rating sum/count/average and view count from the rows, for these videos."""
    if not media_hashes:
        return
    now = datetime.now(UTC)
    insert = insert_for(session)
    await session.execute(
        insert(MediaStats).on_conflict_do_nothing(index_elements=["media_hash"]),
        [{"media_hash": h, "created_at": now, "updated_at": now} for h in sorted(media_hashes)],
    )
    r_sum = (
        select(func.coalesce(func.sum(Rating.value), 0))
        .where(Rating.media_hash == MediaStats.media_hash)
        .scalar_subquery()
    )
    r_count = (
        select(func.count()).where(Rating.media_hash == MediaStats.media_hash).scalar_subquery()
    )
    v_count = select(func.count()).where(View.media_hash == MediaStats.media_hash).scalar_subquery()
    for chunk in _chunks(sorted(media_hashes)):
        await session.execute(
            update(MediaStats)
            .where(MediaStats.media_hash.in_(chunk))
            .values(
                rating_sum=r_sum,
                rating_count=r_count,
                rating_avg=case((r_count > 0, r_sum * 1.0 / r_count), else_=None),
                view_count=v_count,
                updated_at=now,
            )
        )
