"""One video: its watch page, its byte-range stream, thumbnail and subtitles. Files are looked
up by id in the database; no path ever comes from the request."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, Response, get, route
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import File, Template
from litestar.types import ASGIApp

from lvs.db.models import Media
from lvs.library.subtitles import SubtitleError, find_sidecars, load_vtt
from lvs.library.thumbnails import (
    THUMBNAIL_WIDTHS,
    ThumbnailError,
    make_thumbnail,
    thumbnail_path,
)
from lvs.playback.converter import Converter
from lvs.playback.plan import Plan
from lvs.services.activity import ActivityService, resume_point, view_threshold
from lvs.services.favorites import FavoriteService
from lvs.services.library import LibraryService
from lvs.services.media import MediaService
from lvs.services.playlists import PlaylistService
from lvs.services.ratings import RatingService
from lvs.services.tags import TagService
from lvs.settings import Settings
from lvs.web.accel import FileSender
from lvs.web.answers import url
from lvs.web.deps import SERVICES, allowance_of
from lvs.web.identity import picked_profile
from lvs.web.inputs import MAX_SECONDS, QueueParams, bad_request, queue_params
from lvs.web.ranges import media_type_for
from lvs.web.views import (
    FavoriteButton,
    MediaLinks,
    PlaylistAdd,
    RatingWidget,
    TagList,
    WatchView,
)

__all__ = [
    "MediaController",
    "StreamPaths",
]


class StreamPaths:
    """Where each recently streamed video's file is: a small time-limited map, one per app."""

    def __init__(self, ttl: float = 5.0, size: int = 1024) -> None:
        self._ttl = ttl
        self._size = size
        self._paths: OrderedDict[int, tuple[float, str]] = OrderedDict()

    def get(self, media_id: int) -> str | None:
        entry = self._paths.get(media_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, media_id: int, path: str) -> str:
        self._paths[media_id] = (time.monotonic() + self._ttl, path)
        self._paths.move_to_end(media_id)
        while len(self._paths) > self._size:
            self._paths.popitem(last=False)
        return path


def _thumbnail_width(size: str) -> int:
    if not size:
        return THUMBNAIL_WIDTHS[0]
    if size.isascii() and size.isdigit() and int(size) in THUMBNAIL_WIDTHS:
        return int(size)
    raise bad_request("size", f"must be one of {', '.join(map(str, THUMBNAIL_WIDTHS))}")


async def _make_thumbnail(
    request: Request[Any, Any, Any], media: Media, dest: Path, width: int
) -> bool:
    """Make the ``width`` px thumbnail of an older row now, one at a time per app (a first page
    of cards asks for a dozen at once)."""
    limiter: anyio.CapacityLimiter = request.app.state.setdefault(
        "thumbnail_limiter", anyio.CapacityLimiter(1)
    )
    source, duration = Path(media.path), media.duration

    def make() -> bool:
        try:
            make_thumbnail(source, dest, duration, width=width, larger=())
        except ThumbnailError:
            return False
        return dest.is_file()

    return await anyio.to_thread.run_sync(make, limiter=limiter)


class MediaController(Controller):
    path = "/media/{media_id:int}"
    dependencies = SERVICES

    @get("/", name="watch", dependencies=queue_params())
    async def watch(
        self,
        request: Request[Any, Any, Any],
        media: Media,
        person: uuid.UUID,
        ratings: RatingService,
        favorites: FavoriteService,
        tags: TagService,
        activity: ActivityService,
        library: LibraryService,
        playlists: PlaylistService,
        queue: QueueParams,
        plan: Plan,
        t: Annotated[
            float | None, Parameter(ge=0, le=MAX_SECONDS, description="Start time in seconds")
        ] = None,
    ) -> Template:
        user_id = person
        here = url(request, "watch", media_id=media.id)
        saved = resume_point(await activity.position(user_id, media.media_hash), media.duration)
        start_at = t if t is not None else saved
        busy_for = None
        if plan.converts:
            converter: Converter = request.app.state.converter
            converter.warm()  # the player's first segment will find the processes ready
            busy_for = await converter.busy_for(request.app.state.limiter.client(request))
        view = WatchView(
            media=media,
            links=MediaLinks(
                watch=here,
                stream=url(request, "stream", media_id=media.id),
                hls=url(request, "hls_playlist", media_id=media.id),
                progressive=url(request, "progressive", media_id=media.id),
            ),
            rating=RatingWidget(await ratings.summary(media.media_hash, user_id), next_url=here),
            favorite=FavoriteButton(
                media.id,
                media.media_hash,
                await favorites.is_favorite(user_id, media.media_hash),
                next_url=here,
            ),
            tags=TagList(media.id, await tags.for_media(media.media_hash)),
            start_at=start_at or None,
            resumed=t is None and saved is not None,
            view_threshold=view_threshold(media.duration),
            subtitles=find_sidecars(Path(media.path)),
            related=await library.related(media, user_id),
            plan=plan,
            busy_for=busy_for,
            queue=await playlists.for_watch(
                user_id, media, queue.ref, queue.i, queue.shuffle, queue.loop
            ),
            add=PlaylistAdd(
                media.id,
                media.media_hash,
                await playlists.lists(user_id),
                next_url=here + (f"?{request.url.query}" if request.url.query else ""),
            ),
        )
        return Template(template_name="pages/watch.html", context={"view": view})

    @route("/stream", http_method=["GET", "HEAD"], name="stream", include_in_schema=False)
    async def stream(self, request: Request[Any, Any, Any], media_id: int) -> ASGIApp:
        # A player seeking fires range request after range request: remember where the file
        # is for a few seconds instead of asking the database each time. A file that moved or
        # vanished meanwhile answers 404 from the response itself (it opens by path).
        # A browser on a profile is checked every time: its allowance may have changed.
        paths: StreamPaths = request.app.state.stream_paths
        path = paths.get(media_id) if picked_profile(request) is None else None
        if path is None:  # (a session only when needed: this is the hottest route)
            async with request.app.state.sessions() as session:
                allowance = await allowance_of(request, session)
                media = await MediaService(session=session).present(media_id, allowance)
            path = paths.put(media_id, media.path)
        files: FileSender = request.app.state.files  # behind nginx: X-Accel-Redirect
        return files(request.scope, path, media_type=media_type_for(path))

    @get("/thumbnail", name="thumbnail", include_in_schema=False)
    async def thumbnail(
        self, request: Request[Any, Any, Any], media: Media, settings: Settings, size: str = ""
    ) -> File:
        """The thumbnail, 320 px wide or ``?size=640`` (made on first request for a video
        scanned before there were two sizes; the 320 px one, briefly cached, if that fails)."""
        width = _thumbnail_width(size)
        small = thumbnail_path(settings.thumbs_dir, media.media_hash)
        if not media.has_thumbnail or not small.is_file():
            raise NotFoundException("No thumbnail yet")
        path = thumbnail_path(settings.thumbs_dir, media.media_hash, width)
        # private: the browser keeps it for good (the URL names the fingerprint), but no shared
        # cache hands it to someone who has not passed LVS_PASSWORD or whose profile may not see it
        cache = "private, max-age=31536000, immutable"
        if not path.is_file() and not await _make_thumbnail(request, media, path, width):
            path, cache = small, "private, max-age=300"
        return File(
            path,
            content_disposition_type="inline",
            media_type="image/jpeg",
            headers={"cache-control": cache},
        )

    @get("/subtitles/{index:int}", name="subtitles", include_in_schema=False)
    async def subtitles(self, media: Media, index: int) -> Response[str]:
        """The index-th sidecar subtitle file of this video, as WebVTT."""
        sidecars = find_sidecars(Path(media.path))
        if not 0 <= index < len(sidecars):
            raise NotFoundException("No such subtitles")
        try:
            body = load_vtt(sidecars[index])
        except (SubtitleError, OSError) as exc:
            raise NotFoundException("Subtitles unreadable") from exc
        return Response(
            body,
            media_type="text/vtt",  # Litestar adds "; charset=utf-8"
            headers={"cache-control": "private, max-age=60"},
        )
