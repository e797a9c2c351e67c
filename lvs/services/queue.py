"""What plays after what: a queue is a list of videos (a playlist, a season, a show, a folder)
named in the watch page's URL, so that reloading, sharing a link or a browser without
JavaScript keep their place in it.

``?list=p12&i=3&shuffle=8123&loop=1`` reads: the fourth video of playlist 12, in the order that
seed 8123 shuffles it into, starting over after the last. Everything here is pure (no database):
the ``PlaylistService`` fetches the videos, this module says which one is next.

A list names a playlist by id (``p12``), a season (``season:<show key>:<n>``, 0 for episodes
without a season), a whole show (``show:<show key>``: what an episode plays next by default) or
a folder of the library (``folder:<path>``, its videos directly in it). A folder is only ever a
prefix of indexed paths to look up in the database; nothing named here is opened."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar
from urllib.parse import urlencode

from lvs.db.models import MAX_ID
from lvs.services.errors import InvalidInput
from lvs.services.shows import BadFolder, clean_folder

__all__ = [
    "MAX_SEED",
    "Queue",
    "QueueRef",
    "locate",
    "neighbours",
    "parse_ref",
    "play_order",
    "queue_query",
    "shown_places",
    "window",
]

MAX_SEED = 2**31 - 1
"""The largest shuffle seed (a seed is any whole number from 0 to this)."""

Kind = Literal["playlist", "season", "show", "folder"]
T = TypeVar("T")


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, field="list", label="List")


@dataclass(frozen=True, slots=True)
class QueueRef:
    """Which list: ``kind`` and its ``key`` (a playlist id, a show key, a folder path)."""

    kind: Kind
    key: str
    season: int = 0  # a season's number (0: episodes numbered without a season)

    def __str__(self) -> str:
        if self.kind == "playlist":
            return f"p{self.key}"
        if self.kind == "season":
            return f"season:{self.key}:{self.season}"
        return f"{self.kind}:{self.key}"

    @property
    def playlist_id(self) -> int:
        return int(self.key) if self.kind == "playlist" else 0

    @classmethod
    def playlist(cls, playlist_id: int) -> QueueRef:
        return cls("playlist", str(playlist_id))

    @classmethod
    def of_season(cls, show_key: str, season: int | None) -> QueueRef:
        return cls("season", show_key, season or 0)

    @classmethod
    def of_folder(cls, path: str) -> QueueRef:
        return cls("folder", path)

    @property
    def start_query(self) -> str:
        """``/play``'s query string that starts this list."""
        return "?" + urlencode({"list": str(self)})


def _show_key(raw: str) -> str:
    if not 0 < len(raw) <= 256:
        raise _bad("must name a show")
    return raw


def parse_ref(raw: str) -> QueueRef:
    """A list as the URL names it, checked (``InvalidInput`` naming ``list`` otherwise)."""
    if raw.startswith("p") and raw[1:].isascii() and raw[1:].isdigit():
        number = int(raw[1:])
        if not 0 < number <= MAX_ID:
            raise _bad("names no playlist")
        return QueueRef("playlist", str(number))
    kind, sep, rest = raw.partition(":")
    if sep and kind == "season":
        key, sep, number_text = rest.rpartition(":")
        if not sep or not (number_text.isascii() and number_text.isdigit()):
            raise _bad("must be season:<show>:<number>")
        number = int(number_text)
        if number > 32767:
            raise _bad("names no season")
        return QueueRef("season", _show_key(key), number)
    if sep and kind == "show":
        return QueueRef("show", _show_key(rest))
    if sep and kind == "folder":
        try:
            return QueueRef("folder", clean_folder(rest))
        except BadFolder as exc:
            raise _bad("must name a folder of the library") from exc
    raise _bad("must be p<id>, season:<show>:<n>, show:<show> or folder:<path>")


def play_order(n: int, seed: int | None) -> list[int]:
    """The order ``n`` videos play in: as listed, or shuffled by ``seed`` (the same seed gives
    the same order, so a reload keeps it)."""
    order = list(range(n))
    if seed is not None:
        random.Random(seed).shuffle(order)
    return order


def neighbours(n: int, i: int, loop: bool) -> tuple[int | None, int | None]:
    """``(previous, next)`` places of place ``i`` among ``n``; None at an end, unless ``loop``
    (then after the last comes the first, and before the first the last)."""
    if not 0 <= i < n:
        return None, (0 if n else None)
    before = i - 1 if i > 0 else (n - 1 if loop else None)
    after = i + 1 if i + 1 < n else (0 if loop else None)
    return before, after


def locate(ids: list[int], media_id: int, i: int | None) -> int | None:
    """Where ``media_id`` is in ``ids``: at ``i`` if the URL says so and it is still there,
    else its first place (the list changed since the link was made), else None."""
    if i is not None and 0 <= i < len(ids) and ids[i] == media_id:
        return i
    try:
        return ids.index(media_id)
    except ValueError:
        return None


def queue_query(ref: QueueRef, i: int, shuffle: int | None = None, loop: bool = False) -> str:
    """The query string of the watch page of place ``i`` of the list ``ref``."""
    params: dict[str, str | int] = {"list": str(ref), "i": i}
    if shuffle is not None:
        params["shuffle"] = shuffle
    if loop:
        params["loop"] = 1
    return "?" + urlencode(params)


@dataclass(frozen=True, slots=True)
class Queue(Generic[T]):
    """A list being played: ``size`` places in play order, which one is playing (``current``,
    None when the video is not in it: then "Next" is the first), and how the URL says so.

    Only the places a page shows are loaded (``shown``: the window around ``current``, and
    the previous and next ones), so a show of 500 episodes costs a page 25 rows, not 500."""

    ref: QueueRef
    title: str
    size: int
    shown: dict[int, T]
    current: int | None
    shuffle: int | None = None
    loop: bool = False

    @property
    def previous(self) -> int | None:
        return neighbours(self.size, -1 if self.current is None else self.current, self.loop)[0]

    @property
    def next(self) -> int | None:
        return neighbours(self.size, -1 if self.current is None else self.current, self.loop)[1]

    def query(self, i: int) -> str:
        """The query string of the watch page of place ``i`` of this queue."""
        return queue_query(self.ref, i, self.shuffle, self.loop)

    @property
    def window(self) -> list[tuple[int, T]]:
        """The places listed on the watch page, with their entries."""
        return [(k, self.shown[k]) for k in window(self.size, self.current) if k in self.shown]


def window(size: int, current: int | None) -> range:
    """The places of a list of ``size`` listed around place ``current``: two before it, twenty
    after (from the start when nothing in the list is playing)."""
    start = max(0, (current or 0) - 2)
    return range(start, min(size, start + 23))


def shown_places(size: int, current: int | None, loop: bool) -> set[int]:
    """Every place a watch page needs the video of: the window, and the previous and next."""
    places = set(window(size, current))
    around = neighbours(size, -1 if current is None else current, loop)
    places.update(p for p in around if p is not None)
    return places
