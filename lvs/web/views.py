"""Typed template contexts: each page or partial gets one small dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from lvs.db.models import Media
from lvs.services.media import PageOf
from lvs.services.ratings import RatingSummary

__all__ = ["LibraryView", "RatingWidget", "WatchView"]


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
class LibraryView:
    page: PageOf
    ratings: dict[str, RatingSummary]
    url: str  # this page's URL, where the star forms come back to
    scanning_hint: bool  # the library is empty: say that videos appear as they are indexed

    def widget(self, media: Media) -> RatingWidget:
        summary = self.ratings.get(media.media_hash) or RatingSummary(
            media.media_hash, None, 0, None
        )
        return RatingWidget(summary, compact=True, next_url=f"{self.url}#card-{media.id}")


@dataclass(frozen=True, slots=True)
class WatchView:
    media: Media
    rating: RatingWidget
