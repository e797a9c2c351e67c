"""SQLAlchemy models. Per-person state is keyed by ``media_hash`` (a content fingerprint), so it
follows a video through renames and moves; ``media`` rows are keyed by path."""

from __future__ import annotations

import uuid
from datetime import datetime

from advanced_alchemy.base import BigIntAuditBase, UUIDAuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

__all__ = ["Media", "Rating", "SkippedFile", "User"]


class Media(BigIntAuditBase):
    """One video file found in a library folder. ``created_at`` is when it was first indexed."""

    __tablename__ = "media"
    __table_args__ = (Index("ix_media_listing", "missing", "created_at", "id"),)

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
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    thumbnail_error: Mapped[str | None] = mapped_column(String(512), default=None)
    missing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    seen_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class SkippedFile(BigIntAuditBase):
    """A file with a video extension that could not be indexed, and why."""

    __tablename__ = "skipped_files"

    path: Mapped[str] = mapped_column(String(4096), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(512))


class User(UUIDAuditBase):
    """A person. Anonymous (one per browser, from a signed cookie) until named profiles exist."""

    __tablename__ = "users"

    name: Mapped[str | None] = mapped_column(String(64), default=None)


class Rating(BigIntAuditBase):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("media_hash", "user_id", name="uq_ratings_media_user"),
        CheckConstraint("value BETWEEN 1 AND 5", name="value"),
    )

    media_hash: Mapped[str] = mapped_column(String(16), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    value: Mapped[int] = mapped_column(SmallInteger)
