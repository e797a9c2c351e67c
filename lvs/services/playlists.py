"""Playlists: a person's ordered lists of videos, and every queue the watch page plays through.

A playlist belongs to one user (a browser, or a household profile), exactly as favorites do;
another person's playlist is ``UnknownPlaylist`` (404), never "forbidden", so ids reveal
nothing. Items name videos by fingerprint, so they follow renames; an item whose video is gone
(missing, or never indexed here) is skipped where the list is read, not an error.

Every query that lists the videos of a playlist or a queue is in ``_entries``: the one place a
profile's restrictions apply to them."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import MAX_ID, Media, Playlist, PlaylistItem
from lvs.services.allowance import ALL, Allowance
from lvs.services.errors import InvalidInput, UnknownPlaylist
from lvs.services.media import first_present_id
from lvs.services.queue import MAX_SEED, Queue, QueueRef, locate, play_order, shown_places
from lvs.services.shows import ShowsService
from lvs.services.writes import WriteGate, ensure_user, insert_for, run_write

__all__ = [
    "MAX_ITEMS",
    "MAX_NAME",
    "MAX_PLAYLISTS",
    "Entry",
    "PlaylistService",
    "PlaylistSummary",
    "normalise_name",
]

MAX_NAME = 100
MAX_PLAYLISTS = 500
"""Playlists per person at most (a runaway script cannot fill the database)."""
MAX_ITEMS = 5000
"""Videos per playlist at most."""

_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise_name(raw: object) -> str:
    """A playlist's name: text, white space collapsed, 1 to ``MAX_NAME`` characters."""
    if not isinstance(raw, str) or _CONTROL.search(raw.replace("\t", " ")):
        raise InvalidInput("must be text without control characters", field="name", label="Name")
    name = _SPACE.sub(" ", raw).strip()
    if not 0 < len(name) <= MAX_NAME:
        raise InvalidInput(
            f"must be 1 to {MAX_NAME} characters", field="name", label="Name", value=raw[:200]
        )
    return name


@dataclass(frozen=True, slots=True)
class PlaylistSummary:
    id: int
    name: str
    loop: bool
    items: int  # items listed (some may be of videos that are gone)


@dataclass(frozen=True, slots=True)
class Entry:
    """One video of a list: the present ``media`` row, and its playlist item (None in a
    season, show or folder)."""

    media: Media
    item_id: int | None = None


class PlaylistService:
    def __init__(self, session: AsyncSession, gate: WriteGate, allowance: Allowance = ALL) -> None:
        self.session = session
        self.gate = gate
        self.allowance = allowance  # what this profile may watch (a kids' profile: some folders)

    # -- reading --------------------------------------------------------------------------------

    async def lists(self, user_id: uuid.UUID | None) -> list[PlaylistSummary]:
        """This person's playlists, by name."""
        if user_id is None:
            return []
        count = (
            select(func.count(PlaylistItem.id))
            .where(PlaylistItem.playlist_id == Playlist.id)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(Playlist.id, Playlist.name, Playlist.loop, count)
            .where(Playlist.user_id == user_id)
            .order_by(func.lower(Playlist.name), Playlist.id)
        )
        return [PlaylistSummary(int(i), str(n), bool(lp), int(c)) for i, n, lp, c in rows.all()]

    async def owned(self, user_id: uuid.UUID | None, playlist_id: int) -> Playlist:
        """This person's playlist ``playlist_id``, else ``UnknownPlaylist``."""
        found = None
        if user_id is not None and 0 < playlist_id <= MAX_ID:
            found = await self.session.scalar(
                select(Playlist).where(Playlist.id == playlist_id, Playlist.user_id == user_id)
            )
        if found is None:
            raise UnknownPlaylist()
        return found

    async def entries(self, user_id: uuid.UUID | None, playlist_id: int) -> list[Entry]:
        """The present videos of this person's playlist, in order."""
        await self.owned(user_id, playlist_id)
        return await self._entries(QueueRef.playlist(playlist_id))

    async def _entries(self, ref: QueueRef) -> list[Entry]:
        """The present videos of a list, in its order."""
        rows = await self.session.execute(self._listed(ref, Media))
        return [Entry(m, None if item is None else int(item)) for m, item in rows.all()]

    def _listed(self, ref: QueueRef, what: Any) -> Any:
        """``what`` (the ``Media`` row, or only its id) and the playlist item of each present
        video of a list, in its order: the one query for every list."""
        stmt: Any
        if ref.kind == "playlist":
            stmt = (
                select(what, PlaylistItem.id)
                .join(PlaylistItem, Media.id == first_present_id(PlaylistItem.media_hash))
                .where(PlaylistItem.playlist_id == ref.playlist_id)
                .order_by(PlaylistItem.position, PlaylistItem.id)
            )
        elif ref.kind == "folder":
            stmt = (
                select(what, null())
                .where(ShowsService(self.session).directly_in(ref.key))
                .order_by(Media.rel_path, Media.id)
            )
        else:
            stmt = select(what, null()).where(Media.show_key == ref.key)
            if ref.kind == "season":
                stmt = stmt.where(func.coalesce(Media.season, 0) == ref.season)
            stmt = stmt.order_by(func.coalesce(Media.season, 0), Media.episode, Media.id)
        # Present videos this profile may watch: the rest are skipped as if they did not exist.
        return stmt.where(Media.missing.is_(False), self.allowance.where())

    async def queue(
        self,
        user_id: uuid.UUID | None,
        ref: QueueRef,
        media_id: int | None = None,
        i: int | None = None,
        shuffle: int | None = None,
        loop: bool = False,
    ) -> Queue[Entry]:
        """The list ``ref`` in play order, with ``media_id`` (at place ``i``) playing.
        ``UnknownPlaylist`` for another person's playlist, or a season/show/folder with nothing
        to play."""
        if ref.kind == "playlist":
            title = (await self.owned(user_id, ref.playlist_id)).name
        listed = (await self.session.execute(self._listed(ref, Media.id))).all()
        if ref.kind != "playlist" and not listed:
            raise UnknownPlaylist("Nothing to play in this list")
        ids = [(int(m), None if item is None else int(item)) for m, item in listed]
        ids = [ids[k] for k in play_order(len(ids), shuffle)]
        current = None
        if media_id is not None:
            current = locate([m for m, _ in ids], media_id, i)
        places = shown_places(len(ids), current, loop)
        wanted = {ids[p][0] for p in places}
        rows = await self.session.scalars(select(Media).where(Media.id.in_(wanted)))
        media = {m.id: m for m in rows.all()}
        # (A video gone between the two reads is left out of what is shown.)
        shown = {p: Entry(media[ids[p][0]], ids[p][1]) for p in places if ids[p][0] in media}
        if ref.kind != "playlist":
            title = self._title(ref, shown[min(shown)].media if shown else None)
        return Queue(ref, title, len(ids), shown, current, shuffle, loop)

    async def start(
        self, user_id: uuid.UUID | None, ref: QueueRef, shuffle: bool, loop: bool
    ) -> Queue[Entry]:
        """A list from its first video: shuffled by a new seed if asked (the watch page's URL
        keeps it), looping if asked or if the playlist is set to. ``InvalidInput`` for an empty
        playlist."""
        if ref.kind == "playlist":
            loop = loop or (await self.owned(user_id, ref.playlist_id)).loop
        seed = random.randint(0, MAX_SEED) if shuffle else None
        started = await self.queue(user_id, ref, shuffle=seed, loop=loop)
        if not started.size or 0 not in started.shown:
            raise InvalidInput("is empty: add videos to it first", field="list", label="List")
        return replace(started, current=0)

    async def for_watch(
        self,
        user_id: uuid.UUID | None,
        media: Media,
        ref: QueueRef | None,
        i: int | None = None,
        shuffle: int | None = None,
        loop: bool = False,
    ) -> Queue[Entry] | None:
        """The queue a watch page plays in: the one its URL names; else, for an episode, its
        show in episode order (the next episode plays next by default); else none."""
        if ref is not None:
            return await self.queue(user_id, ref, media.id, i, shuffle, loop)
        if not media.show_key:
            return None
        show = await self.queue(user_id, QueueRef("show", media.show_key), media.id)
        return show if show.size > 1 and show.current is not None else None

    @staticmethod
    def _title(ref: QueueRef, one: Media | None) -> str:
        """A list's heading: a folder's name, or its show's title (read off any of its videos),
        with the season."""
        if ref.kind == "folder":
            return ref.key.rsplit("/", 1)[-1]
        show = (one.show_title if one is not None else None) or ref.key
        if ref.kind == "season":
            return f"{show} · Season {ref.season}" if ref.season else f"{show} · Episodes"
        return show

    # -- writing --------------------------------------------------------------------------------

    async def create(self, user_id: uuid.UUID, name: object) -> Playlist:
        clean = normalise_name(name)
        made: list[Playlist] = []

        async def work() -> None:
            made.clear()
            await ensure_user(self.session, user_id)
            have = await self.session.scalar(
                select(func.count(Playlist.id)).where(Playlist.user_id == user_id)
            )
            if (have or 0) >= MAX_PLAYLISTS:
                raise InvalidInput(
                    f"is full: at most {MAX_PLAYLISTS} playlists each", field="name", label="Name"
                )
            playlist = Playlist(user_id=user_id, name=clean, loop=False)
            self.session.add(playlist)
            await self.session.flush()
            made.append(playlist)

        await run_write(self.session, self.gate, work)
        return made[0]

    async def rename(self, user_id: uuid.UUID, playlist_id: int, name: object) -> Playlist:
        clean = normalise_name(name)
        playlist = await self.owned(user_id, playlist_id)

        async def work() -> None:
            await self.session.execute(
                update(Playlist)
                .where(Playlist.id == playlist.id)
                .values(name=clean, updated_at=datetime.now(UTC))
            )

        await run_write(self.session, self.gate, work)
        await self.session.refresh(playlist)
        return playlist

    async def set_loop(self, user_id: uuid.UUID, playlist_id: int, loop: bool) -> Playlist:
        playlist = await self.owned(user_id, playlist_id)

        async def work() -> None:
            await self.session.execute(
                update(Playlist)
                .where(Playlist.id == playlist.id)
                .values(loop=loop, updated_at=datetime.now(UTC))
            )

        await run_write(self.session, self.gate, work)
        await self.session.refresh(playlist)
        return playlist

    async def delete(self, user_id: uuid.UUID, playlist_id: int) -> str:
        """Delete a playlist (and its items); its name, for the message."""
        playlist = await self.owned(user_id, playlist_id)
        name = playlist.name

        async def work() -> None:
            await self.session.execute(
                delete(PlaylistItem).where(PlaylistItem.playlist_id == playlist_id)
            )
            await self.session.execute(delete(Playlist).where(Playlist.id == playlist_id))

        await run_write(self.session, self.gate, work)
        return name

    async def add(self, user_id: uuid.UUID, playlist_id: int, media_hash: str) -> bool:
        """Append a video (by fingerprint) to the end; False when it is already in the list."""
        await self.owned(user_id, playlist_id)
        added: list[bool] = []

        async def work() -> None:
            added.clear()
            last, count = (
                await self.session.execute(
                    select(func.max(PlaylistItem.position), func.count(PlaylistItem.id)).where(
                        PlaylistItem.playlist_id == playlist_id
                    )
                )
            ).one()
            if count >= MAX_ITEMS:
                raise InvalidInput(
                    f"is full: at most {MAX_ITEMS} videos", field="playlist", label="Playlist"
                )
            now = datetime.now(UTC)
            result = await self.session.execute(
                insert_for(self.session)(PlaylistItem)
                .values(
                    playlist_id=playlist_id,
                    media_hash=media_hash,
                    position=(last or 0) + 1,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["playlist_id", "media_hash"])
            )
            added.append(bool(getattr(result, "rowcount", 1)))

        await run_write(self.session, self.gate, work)
        return added[0]

    async def add_to(
        self, user_id: uuid.UUID, playlist_id: int | None, name: object, media_hash: str
    ) -> tuple[Playlist, bool]:
        """ "Add to playlist": to this person's playlist ``playlist_id``, or to a new one called
        ``name`` (None). The playlist, and whether the video was not in it already."""
        if playlist_id is None:
            target = await self.create(user_id, name)
        else:
            target = await self.owned(user_id, playlist_id)
        return target, await self.add(user_id, target.id, media_hash)

    async def _item(self, playlist_id: int, item_id: int) -> PlaylistItem:
        item = None
        if 0 < item_id <= MAX_ID:
            item = await self.session.scalar(
                select(PlaylistItem).where(
                    PlaylistItem.id == item_id, PlaylistItem.playlist_id == playlist_id
                )
            )
        if item is None:
            raise UnknownPlaylist("No such item in this playlist")
        return item

    async def remove(self, user_id: uuid.UUID, playlist_id: int, item_id: int) -> None:
        await self.owned(user_id, playlist_id)
        item = await self._item(playlist_id, item_id)

        async def work() -> None:
            await self.session.execute(delete(PlaylistItem).where(PlaylistItem.id == item.id))

        await run_write(self.session, self.gate, work)

    async def move(self, user_id: uuid.UUID, playlist_id: int, item_id: int, up: bool) -> bool:
        """Swap an item with the one before (``up``) or after it; False at that end already."""
        await self.owned(user_id, playlist_id)
        item = await self._item(playlist_id, item_id)
        here = (item.position, item.id)
        if up:
            where, order = _before(here), (PlaylistItem.position.desc(), PlaylistItem.id.desc())
        else:
            where, order = _after(here), (PlaylistItem.position.asc(), PlaylistItem.id.asc())
        other = await self.session.scalar(
            select(PlaylistItem)
            .where(PlaylistItem.playlist_id == playlist_id, where)
            .order_by(*order)
            .limit(1)
        )
        if other is None:
            return False
        # Swap places; two items at the same place (added at the same moment) are told apart
        # by id, so the moved one steps one place past the other instead.
        mine, theirs = item.position, other.position
        if mine == theirs:
            mine, theirs = theirs + (-1 if up else 1), mine
        else:
            mine, theirs = theirs, mine
        moved, swapped = item.id, other.id

        async def work() -> None:
            now = datetime.now(UTC)
            for row_id, position in ((moved, mine), (swapped, theirs)):
                await self.session.execute(
                    update(PlaylistItem)
                    .where(PlaylistItem.id == row_id)
                    .values(position=position, updated_at=now)
                )

        await run_write(self.session, self.gate, work)
        return True


def _before(here: tuple[int, int]) -> Any:
    position, item_id = here
    return (PlaylistItem.position < position) | and_(
        PlaylistItem.position == position, PlaylistItem.id < item_id
    )


def _after(here: tuple[int, int]) -> Any:
    position, item_id = here
    return (PlaylistItem.position > position) | and_(
        PlaylistItem.position == position, PlaylistItem.id > item_id
    )
