"""Scrub previews of one video: its sprite sheet and the WebVTT index pointing into it.

Looked up by id (never a path from the request); 404 until the background job has made them.
The URLs carry ``?v=<media hash>``: with it the answer is cached for good (a changed file gets
a new hash, so a new URL), without it only briefly.
"""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import File

from lvs.db.models import Media
from lvs.library.sprites import SPRITE_NAME, preview_paths, previews_ready
from lvs.settings import Settings
from lvs.web.deps import SERVICES

__all__ = ["PreviewController", "previews_link"]

#: private: kept by the browser, never by a shared cache (the password and profiles hold).
IMMUTABLE = "private, max-age=31536000, immutable"
BRIEF = "private, max-age=60"


def previews_link(settings: Settings, media: Media) -> str | None:
    """The VTT index's URL as pages link it (templates: ``previews_url(media)``), or None
    while the previews are not made yet (one stat; a page then offers none)."""
    if not previews_ready(settings.previews_dir, media.media_hash):
        return None
    return f"/media/{media.id}/previews.vtt?v={media.media_hash}"


def _cache(v: str | None, media_hash: str) -> str:
    return IMMUTABLE if v == media_hash else BRIEF


class PreviewController(Controller):
    path = "/media/{media_id:int}"
    dependencies = SERVICES
    include_in_schema = False

    @get("/previews.vtt", name="previews_vtt")
    async def index(self, media: Media, settings: Settings, v: str | None = None) -> Response[str]:
        _, vtt = preview_paths(settings.previews_dir, media.media_hash)
        try:
            text = vtt.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundException("No scrub previews yet") from None
        # The cues name the sprite relative to this URL; pin it to this fingerprint.
        text = text.replace(f"{SPRITE_NAME}#", f"{SPRITE_NAME}?v={media.media_hash}#")
        return Response(
            text,
            media_type="text/vtt",
            headers={"cache-control": _cache(v, media.media_hash)},
        )

    @get("/previews.jpg", name="previews_jpg")
    async def sprite(self, media: Media, settings: Settings, v: str | None = None) -> File:
        sprite, _ = preview_paths(settings.previews_dir, media.media_hash)
        if not sprite.is_file():
            raise NotFoundException("No scrub previews yet")
        return File(
            sprite,
            content_disposition_type="inline",
            media_type="image/jpeg",
            headers={"cache-control": _cache(v, media.media_hash)},
        )
