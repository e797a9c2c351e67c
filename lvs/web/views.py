"""Typed template contexts: each page or partial gets one small dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from lvs.db.models import Media
from lvs.services.media import PageOf

__all__ = ["LibraryView", "WatchView"]


@dataclass(frozen=True, slots=True)
class LibraryView:
    page: PageOf
    scanning_hint: bool  # the library is empty: say that videos appear as they are indexed


@dataclass(frozen=True, slots=True)
class WatchView:
    media: Media
