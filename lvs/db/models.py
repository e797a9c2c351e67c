"""SQLAlchemy models. Per-person state is keyed by ``media_hash`` (a content fingerprint), so it
follows a video through renames and moves; ``media`` rows are keyed by path."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime

from advanced_alchemy.base import BigIntAuditBase, UUIDAuditBase
from advanced_alchemy.base import DefaultBase as Base
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

__all__ = [
    "MAX_ID",
    "MEDIA_HASH",
    "AuthSession",
    "Favorite",
    "LibraryTotals",
    "Media",
    "MediaStats",
    "MediaTag",
    "Playlist",
    "PlaylistItem",
    "Position",
    "ProfileAllowance",
    "Rating",
    "ScanStatus",
    "SkippedFile",
    "Tag",
    "User",
    "View",
]

MEDIA_HASH = re.compile(r"[0-9a-f]{16}")
"""A ``media_hash``: the content fingerprint (``lvs.library.oshash``), 16 lower-case hex digits.
Match with ``fullmatch``."""

MAX_ID = 2**63 - 1
"""The largest id a BigInteger key holds: a larger one names no row (and must not reach a query,
where PostgreSQL would refuse it with an error)."""


class Media(BigIntAuditBase):
    """One video file found in a library folder. ``created_at`` is when it was first indexed."""

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_listing", "missing", "created_at", "id"),
        Index("ix_media_by_rating", "missing", "rating_avg", "rating_count", "id"),
        Index("ix_media_by_views", "missing", "view_count", "id"),
        Index("ix_media_by_duration", "missing", "duration", "id"),
        Index("ix_media_by_title", "missing", func.lower(text("title")), "id"),
        Index("ix_media_by_folder", "missing", "rel_path"),
        Index("ix_media_by_show", "missing", "show_key", "season", "episode", "id"),
        Index("ix_media_by_top_folder", "missing", "top_folder", "rel_path"),
    )

    path: Mapped[str] = mapped_column(String(4096), unique=True)
    root: Mapped[str] = mapped_column(String(4096))
    rel_path: Mapped[str] = mapped_column(String(4096))
    title: Mapped[str] = mapped_column(String(1024))
    media_hash: Mapped[str] = mapped_column(String(16), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    video_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    audio_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    container: Mapped[str] = mapped_column(String(32))
    # Stream facts for the playback plan (lvs.playback.plan); filled by the probe, version
    # ``probe_version`` (a rescan re-probes rows an older probe made).
    video_tag: Mapped[str | None] = mapped_column(String(8), default=None)
    video_profile: Mapped[str | None] = mapped_column(String(32), default=None)
    video_level: Mapped[int | None] = mapped_column(Integer, default=None)
    pix_fmt: Mapped[str | None] = mapped_column(String(32), default=None)
    bit_depth: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    frame_rate: Mapped[float | None] = mapped_column(Float, default=None)
    rotation: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    interlaced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    audio_channels: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    audio_sample_rate: Mapped[int | None] = mapped_column(Integer, default=None)
    probe_version: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    thumbnail_error: Mapped[str | None] = mapped_column(String(512), default=None)
    missing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Copies of this fingerprint's household figures (``media_stats``), kept in step by database
    # triggers (migration 0004) so that sorting 100 000 videos by them is an index walk.
    rating_avg: Mapped[float | None] = mapped_column(Float, default=None)
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    view_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the path says (lvs.library.titles), parsed at scan time: the show, season and
    # episode of an episode (``show_key`` groups spellings of one show and is its URL), a year,
    # a date in the name, and the top-level folder (a collection; None for a file at the top).
    # ``title_version`` 0: not parsed yet (the next scan parses it, from the path alone).
    show_title: Mapped[str | None] = mapped_column(String(256), default=None)
    show_key: Mapped[str | None] = mapped_column(String(256), default=None)
    season: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    episode: Mapped[int | None] = mapped_column(Integer, default=None)
    year: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    dated_on: Mapped[date | None] = mapped_column(Date, default=None)
    top_folder: Mapped[str | None] = mapped_column(String(1024), default=None)
    title_version: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


class SkippedFile(BigIntAuditBase):
    """A file with a video extension that could not be indexed, and why."""

    __tablename__ = "skipped_files"

    path: Mapped[str] = mapped_column(String(4096), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(512))


class User(UUIDAuditBase):
    """A person. Anonymous (one per browser, from a signed cookie: ``name`` is None), or a named
    household profile that any browser can pick (``lvs.services.profiles``).

    A profile may be the household's admin (it manages profiles), may have a 4-digit PIN (its
    Argon2 hash; never the PIN) and may be ``restricted`` to the folders and tags listed in
    ``profile_allowances`` (``lvs.services.allowance``)."""

    __tablename__ = "users"

    name: Mapped[str | None] = mapped_column(String(64), default=None)
    avatar: Mapped[str | None] = mapped_column(String(16), default=None)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pin_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ProfileAllowance(BigIntAuditBase):
    """One thing a restricted profile may watch: a top-level folder (``kind`` "folder", the
    folder's name) or a tag (``kind`` "tag", the tag's case-folded key)."""

    __tablename__ = "profile_allowances"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "value", name="uq_profile_allowances_user_kind_value"),
        CheckConstraint("kind IN ('folder', 'tag')", name="kind"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(1024))


class Rating(BigIntAuditBase):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("media_hash", "user_id", name="uq_ratings_media_user"),
        CheckConstraint("value BETWEEN 1 AND 5", name="value"),
    )

    media_hash: Mapped[str] = mapped_column(String(16), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    value: Mapped[int] = mapped_column(SmallInteger)


class Favorite(BigIntAuditBase):
    __tablename__ = "favorites"
    __table_args__ = (UniqueConstraint("user_id", "media_hash", name="uq_favorites_user_media"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    media_hash: Mapped[str] = mapped_column(String(16), index=True)


class Tag(BigIntAuditBase):
    """A household tag. ``key`` is the case-folded name that makes tags unique."""

    __tablename__ = "tags"

    name: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64), unique=True)


class MediaTag(BigIntAuditBase):
    __tablename__ = "media_tags"
    __table_args__ = (UniqueConstraint("media_hash", "tag_id", name="uq_media_tags_media_tag"),)

    media_hash: Mapped[str] = mapped_column(String(16), index=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)


class View(BigIntAuditBase):
    """One counted view (playback passed the threshold, or the page was opened without JS)."""

    __tablename__ = "views"
    __table_args__ = (Index("ix_views_user_media_created", "user_id", "media_hash", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    media_hash: Mapped[str] = mapped_column(String(16), index=True)


class Position(BigIntAuditBase):
    """Where a person stopped watching (resume point), in seconds."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("user_id", "media_hash", name="uq_positions_user_media"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    media_hash: Mapped[str] = mapped_column(String(16))
    seconds: Mapped[float] = mapped_column(Float)


class Playlist(BigIntAuditBase):
    """A person's ordered list of videos. ``loop``: playing it starts over after the last."""

    __tablename__ = "playlists"
    __table_args__ = (Index("ix_playlists_user_name", "user_id", "name"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    loop: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PlaylistItem(BigIntAuditBase):
    """One video in a playlist, by fingerprint (so it follows renames), at ``position``
    (ascending; gaps are fine). A video is in a playlist at most once."""

    __tablename__ = "playlist_items"
    __table_args__ = (
        UniqueConstraint("playlist_id", "media_hash", name="uq_playlist_items_playlist_media"),
        Index("ix_playlist_items_order", "playlist_id", "position", "id"),
    )

    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"))
    media_hash: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)


class MediaStats(BigIntAuditBase):
    """Household aggregates per fingerprint, kept up to date by the services that write ratings
    and views. Database triggers copy them onto ``media`` (migration 0004), whose indexes the
    library sorts by; this table needs none of its own."""

    __tablename__ = "media_stats"

    media_hash: Mapped[str] = mapped_column(String(16), unique=True)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_avg: Mapped[float | None] = mapped_column(Float, default=None)
    view_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LibraryTotals(Base):
    """One row: how many present videos the library has, kept exact by database triggers
    (migration 0004), so the library's first page never counts 100 000 rows."""

    __tablename__ = "library_totals"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    present: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class AuthSession(Base):
    """One logged-in browser (LVS_PASSWORD). The cookie carries a random token; this row holds
    its SHA-256, so logout and "sign out everywhere" can end a session even though the cookie
    itself lives in the browser. ``password_tag`` names the password the login was made with: a
    changed LVS_PASSWORD leaves every older row unusable."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_tag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class ScanStatus(Base):
    """One row: the scan now running (or the last one), kept up to date by the scanning
    process so that every web worker can show that a scan runs and how far it got."""

    __tablename__ = "scan_status"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    files_found: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    files_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
