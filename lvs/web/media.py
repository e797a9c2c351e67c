"""One video: its watch page, its byte-range stream and its thumbnail. Files are looked up by
id in the database; no path ever comes from the request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Controller, Request, get, route
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import File, Template
from litestar.types import ASGIApp

from lvs.db.models import Media
from lvs.library.thumbnails import thumbnail_path
from lvs.services.media import MediaService
from lvs.services.ratings import RatingService
from lvs.settings import Settings
from lvs.web.deps import provide_media_service, provide_rating_service, provide_settings
from lvs.web.identity import current_user_id
from lvs.web.ranges import RangeFileResponse, media_type_for
from lvs.web.views import RatingWidget, WatchView

__all__ = ["MediaController"]


class MediaController(Controller):
    path = "/media/{media_id:int}"
    dependencies = {
        "media_service": Provide(provide_media_service),
        "ratings": Provide(provide_rating_service, sync_to_thread=False),
        "settings": Provide(provide_settings, sync_to_thread=False),
    }

    @get("/", name="watch")
    async def watch(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        ratings: RatingService,
    ) -> Template:
        media = await _present(media_service, media_id)
        summary = await ratings.summary(media.media_hash, current_user_id(request))
        widget = RatingWidget(summary, compact=False, next_url=f"/media/{media.id}")
        view = WatchView(media=media, rating=widget)
        return Template(template_name="pages/watch.html", context={"view": view})

    @route("/stream", http_method=["GET", "HEAD"], name="stream", include_in_schema=False)
    async def stream(self, media_id: int, media_service: MediaService) -> ASGIApp:
        media = await _present(media_service, media_id)
        return RangeFileResponse(Path(media.path), media_type=media_type_for(media.path))

    @get("/thumbnail", name="thumbnail", include_in_schema=False)
    async def thumbnail(
        self, media_id: int, media_service: MediaService, settings: Settings
    ) -> File:
        media = await _present(media_service, media_id)
        path = thumbnail_path(settings.thumbs_dir, media.media_hash)
        if not media.has_thumbnail or not path.is_file():
            raise NotFoundException("No thumbnail yet")
        return File(
            path,
            content_disposition_type="inline",
            media_type="image/jpeg",
            headers={"cache-control": "public, max-age=31536000, immutable"},
        )


async def _present(media_service: MediaService, media_id: int) -> Media:
    media = await media_service.get_present(media_id)
    if media is None:
        raise NotFoundException(f"No video with id {media_id}")
    return media
