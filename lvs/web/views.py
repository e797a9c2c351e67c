"""Typed template contexts: each page or partial gets one small dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from lvs.db.models import Media, Playlist, Tag
from lvs.library.subtitles import Sidecar
from lvs.playback.plan import Plan
from lvs.services.activity import HistoryEntry
from lvs.services.home import Home, Row
from lvs.services.library import Card, LibraryPage
from lvs.services.playlists import Entry, PlaylistSummary
from lvs.services.queue import Queue, QueueRef, queue_query
from lvs.services.ratings import RatingSummary
from lvs.services.shows import FolderPage, Show, ShowSummary
from lvs.services.tags import TagCount

HLS_TYPE = "application/vnd.apple.mpegurl"

__all__ = [
    "FavoriteButton",
    "FolderView",
    "FoldersView",
    "HistoryView",
    "HomeView",
    "LibraryView",
    "MediaLinks",
    "PlaylistAdd",
    "PlaylistView",
    "PlaylistsView",
    "RatingWidget",
    "RowLink",
    "ShowView",
    "ShowsView",
    "TagList",
    "TagsView",
    "WatchView",
]


@dataclass(frozen=True, slots=True)
class RatingWidget:
    """The star form: compact on cards, full on the watch page."""

    summary: RatingSummary
    compact: bool = False
    next_url: str = "/"
    error: str | None = None

    @property
    def dom_id(self) -> str:
        return f"rating-{self.summary.media_hash}"


@dataclass(frozen=True, slots=True)
class FavoriteButton:
    media_id: int
    media_hash: str
    favorite: bool
    next_url: str = "/"
    compact: bool = False

    @property
    def dom_id(self) -> str:
        return f"favorite-{self.media_id}{'-c' if self.compact else ''}"


@dataclass(frozen=True, slots=True)
class TagList:
    media_id: int
    tags: list[Tag]
    error: str | None = None
    value: str = ""


def card_widgets(card: Card, next_url: str) -> tuple[RatingWidget, FavoriteButton]:
    m = card.media
    summary = RatingSummary(m.media_hash, card.rating_avg, card.rating_count, card.my_rating)
    anchor = f"{next_url}#card-{m.id}"
    return (
        RatingWidget(summary, compact=True, next_url=anchor),
        FavoriteButton(m.id, m.media_hash, card.favorite, next_url=anchor, compact=True),
    )


@dataclass(frozen=True, slots=True)
class LibraryView:
    page: LibraryPage
    sorts: dict[str, str]
    resolutions: dict[str, tuple[str, int]]

    @property
    def url(self) -> str:
        return self.page.query.url()

    @property
    def heading(self) -> str:
        """What this grid shows, as its ``<h1>`` says (updated with the grid by htmx)."""
        q = self.page.query
        if q.favorites:
            return "Favorites"
        if q.tag:
            return f"Tagged “{q.tag}”"
        if q.q:
            return f"Results for “{q.q}”"
        return "Library"

    @property
    def title(self) -> str:
        """The ``<title>``: shorter than the heading."""
        q = self.page.query
        if q.favorites:
            return "Favorites"
        if q.tag:
            return f"Tag: {q.tag}"
        if q.q:
            return f"Search: {q.q}"
        return "Library"

    @property
    def scanning_hint(self) -> bool:
        """Nothing indexed yet (not merely nothing matching): videos appear as they are found."""
        return self.page.total == 0 and not self.page.query.is_filtered

    def widgets(self, card: Card) -> tuple[RatingWidget, FavoriteButton]:
        return card_widgets(card, self.url)


@dataclass(frozen=True, slots=True)
class TagsView:
    tags: list[TagCount]


@dataclass(frozen=True, slots=True)
class HistoryView:
    entries: list[HistoryEntry]
    cards: list[Card]
    page: int
    has_next: bool
    url: str = "/history"

    def widgets(self, card: Card) -> tuple[RatingWidget, FavoriteButton]:
        return card_widgets(card, self.url if self.page == 1 else f"/history?page={self.page}")


@dataclass(frozen=True, slots=True)
class MediaLinks:
    """Where one video's pages and streams are (from the routes' names, by the controller)."""

    watch: str
    stream: str
    hls: str
    progressive: str


@dataclass(frozen=True, slots=True)
class PlaylistAdd:
    """ "Add to playlist" on the watch page: a choice of this person's playlists, or a new one."""

    media_id: int
    media_hash: str
    playlists: list[PlaylistSummary]
    next_url: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class PlaylistsView:
    playlists: list[PlaylistSummary]


@dataclass(frozen=True, slots=True)
class PlaylistView:
    playlist: Playlist
    entries: list[Entry]

    @property
    def duration(self) -> float:
        return sum(e.media.duration or 0 for e in self.entries)

    @property
    def ref(self) -> QueueRef:
        return QueueRef.playlist(self.playlist.id)

    def query(self, i: int) -> str:
        """The watch page's query that plays this playlist from place ``i``."""
        return queue_query(QueueRef.playlist(self.playlist.id), i, loop=self.playlist.loop)


@dataclass(frozen=True, slots=True)
class WatchView:
    media: Media
    links: MediaLinks
    rating: RatingWidget
    favorite: FavoriteButton
    tags: TagList
    start_at: float | None  # seconds: ?t= or the resume point
    resumed: bool  # start_at comes from the saved position
    view_threshold: float
    subtitles: list[Sidecar] = field(default_factory=list)
    related: list[Card] = field(default_factory=list)
    plan: Plan | None = None  # how the video plays (None: as it is)
    busy_for: int | None = None  # seconds until a conversion slot frees, when all are taken
    queue: Queue[Entry] | None = None  # the list this video plays in (a playlist, a season...)
    add: PlaylistAdd | None = None

    @property
    def next_in_queue(self) -> tuple[str, Media] | None:
        """The query and video of what plays next in the queue, if anything."""
        q = self.queue
        if q is None or q.next is None:
            return None
        entry = q.shown.get(q.next)
        return None if entry is None else (q.query(q.next), entry.media)

    @property
    def previous_in_queue(self) -> tuple[str, Media] | None:
        q = self.queue
        if q is None or q.previous is None:
            return None
        entry = q.shown.get(q.previous)
        return None if entry is None else (q.query(q.previous), entry.media)

    @property
    def sources(self) -> list[tuple[str, str, str]]:
        """``(src, type, kind)`` for each ``<source>``, best first: the original where this
        browser may play it (the browser skips a type it cannot play), then the converted HLS,
        then one progressive MP4 for browsers with neither HLS nor scripts."""
        fragment = f"#t={self.start_at:.1f}" if self.start_at else ""
        stream = self.links.stream + fragment
        plan = self.plan
        if plan is None or not plan.converts:
            return [(stream, plan.direct_type if plan and plan.direct_type else "", "direct")]
        found = [(stream, plan.direct_type, "direct")] if plan.direct_type else []
        found.append((self.links.hls + fragment, HLS_TYPE, "hls"))
        found.append((self.links.progressive, "video/mp4", "progressive"))
        return found

    @property
    def folder(self) -> str:
        parts = self.media.rel_path.split("/")
        return parts[0] if len(parts) > 1 else ""

    def widgets(self, card: Card) -> tuple[RatingWidget, FavoriteButton]:
        return card_widgets(card, self.links.watch)


# -- home, shows, folders ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowLink:
    row: Row
    dom_id: str
    see_all: str  # the row's full, paginated grid


@dataclass(frozen=True, slots=True)
class HomeView:
    home: Home
    rows: list[RowLink]
    url: str  # the home page's own URL
    folders_url: str
    shows_url: str
    #: first run only: "watching" (a watcher runs: copied videos appear on their own), "off"
    #: (LVS_WATCH=0) or "none" (no watcher running); None on a library with videos
    watching: str | None = None
    status_url: str = ""

    def widgets(self, card: Card) -> tuple[RatingWidget, FavoriteButton]:
        return card_widgets(card, self.url)


@dataclass(frozen=True, slots=True)
class ShowsView:
    shows: list[ShowSummary]
    url: str

    def widgets(self, card: Card) -> tuple[RatingWidget, FavoriteButton]:
        return card_widgets(card, self.url)


@dataclass(frozen=True, slots=True)
class ShowView:
    show: Show
    url: str

    def season_queue(self, number: int | None) -> QueueRef:
        """The list that plays season ``number`` (None: episodes without a season)."""
        return QueueRef.of_season(self.show.key, number)

    def widgets(self, card: Card) -> tuple[RatingWidget, FavoriteButton]:
        return card_widgets(card, self.url)


@dataclass(frozen=True, slots=True)
class FolderView:
    folder: FolderPage
    url: str  # this page of the folder
    folders_url: str  # the list of top-level folders

    @property
    def queue(self) -> QueueRef:
        """The list that plays this folder's own videos."""
        return QueueRef.of_folder(self.folder.path)

    def widgets(self, card: Card) -> tuple[RatingWidget, FavoriteButton]:
        return card_widgets(card, self.url)


@dataclass(frozen=True, slots=True)
class FoldersView:
    folders: list[tuple[str, int]]  # (name, videos under it)
    url: str
