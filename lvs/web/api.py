"""The JSON API: another rendering of the same services the HTML pages use.

Writes require ``Content-Type: application/json`` (a cross-site page cannot send that without a
CORS preflight, and lvs allows none), so they need no CSRF token; the caller is identified by the
same session cookie as the browser."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.exceptions import HTTPException, NotFoundException

from lvs.db.models import Media
from lvs.services.activity import ActivityService
from lvs.services.favorites import FavoriteService
from lvs.services.library import Card, LibraryQuery, LibraryService
from lvs.services.media import MediaService
from lvs.services.tags import TagError, TagService
from lvs.settings import Settings
from lvs.web.deps import SERVICES
from lvs.web.household import check_write_limit, parse_seconds
from lvs.web.identity import current_user_id, peek_user_id
from lvs.web.jsonio import bad_request, json_body
from lvs.web.media import present_media
from lvs.web.query import provide_library_query

__all__ = ["MediaApiController"]


def media_json(m: Media) -> dict[str, Any]:
    return {
        "id": m.id,
        "media_hash": m.media_hash,
        "title": m.title,
        "path": m.rel_path,
        "duration": m.duration,
        "width": m.width,
        "height": m.height,
        "video_codec": m.video_codec,
        "audio_codec": m.audio_codec,
        "container": m.container,
        "size": m.size,
        "added_at": m.created_at.isoformat(),
        "stream_url": f"/media/{m.id}/stream",
        "watch_url": f"/media/{m.id}",
    }


def card_json(c: Card) -> dict[str, Any]:
    return {
        **media_json(c.media),
        "rating": {
            "average": None if c.rating_avg is None else round(c.rating_avg, 2),
            "count": c.rating_count,
            "user": c.my_rating,
        },
        "views": c.views,
        "favorite": c.favorite,
        "my_plays": c.my_plays,
        "last_played": c.last_played.isoformat() if c.last_played else None,
        "position": c.position,
    }


class MediaApiController(Controller):
    path = "/api"
    tags = ["library"]
    dependencies = {**SERVICES}

    @get("/media", name="api:media")
    async def list_media(
        self,
        request: Request[Any, Any, Any],
        library: LibraryService,
        settings: Settings,
    ) -> dict[str, Any]:
        """The library with the same query parameters as the HTML page (q, sort, filters, page)."""
        query: LibraryQuery = provide_library_query(request)
        page = await library.page(query, peek_user_id(request), settings.page_size)
        return {
            "items": [card_json(c) for c in page.cards],
            "page": page.number,
            "pages": page.pages,
            "total": page.total,
        }

    @get("/media/{media_id:int}", name="api:media:one")
    async def one(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        library: LibraryService,
        tags: TagService,
    ) -> dict[str, Any]:
        media = await present_media(media_service, media_id)
        (card,) = await library.cards([media], peek_user_id(request))
        return {**card_json(card), "tags": [t.name for t in await tags.for_media(media.media_hash)]}

    @put("/media/{media_id:int}/favorite", name="api:favorite")
    async def favorite(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        favorites: FavoriteService,
    ) -> dict[str, Any]:
        """Set or clear this person's favorite: ``{"favorite": true}``."""
        media = await present_media(media_service, media_id)
        body = await json_body(request)
        wanted = body.get("favorite")
        if not isinstance(wanted, bool):
            raise bad_request("favorite", "must be true or false")
        await check_write_limit(request)
        await favorites.set(current_user_id(request), media.media_hash, wanted)
        return {"media_hash": media.media_hash, "favorite": wanted}

    @get("/tags", name="api:tags")
    async def all_tags(self, tags: TagService) -> list[dict[str, Any]]:
        return [{"id": t.id, "name": t.name, "count": t.count} for t in await tags.counts()]

    @get("/media/{media_id:int}/tags", name="api:media:tags")
    async def media_tags(
        self, media_id: int, media_service: MediaService, tags: TagService
    ) -> list[dict[str, Any]]:
        media = await present_media(media_service, media_id)
        return [{"id": t.id, "name": t.name} for t in await tags.for_media(media.media_hash)]

    @post("/media/{media_id:int}/tags", name="api:tag:add", status_code=200)
    async def add_tag(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        tags: TagService,
    ) -> list[dict[str, Any]]:
        """Attach a tag: ``{"name": "holiday"}``. Answers with the video's tags."""
        media = await present_media(media_service, media_id)
        body = await json_body(request)
        await check_write_limit(request)
        try:
            await tags.add(media.media_hash, body.get("name"))
        except TagError as exc:
            raise bad_request("name", str(exc)) from exc
        return [{"id": t.id, "name": t.name} for t in await tags.for_media(media.media_hash)]

    @delete("/media/{media_id:int}/tags/{tag_id:int}", name="api:tag:remove", status_code=200)
    async def remove_tag(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        tag_id: int,
        media_service: MediaService,
        tags: TagService,
    ) -> list[dict[str, Any]]:
        media = await present_media(media_service, media_id)
        await check_write_limit(request)
        if not await tags.remove(media.media_hash, tag_id):
            raise NotFoundException("This video has no such tag")
        return [{"id": t.id, "name": t.name} for t in await tags.for_media(media.media_hash)]

    @post("/media/{media_id:int}/views", name="api:view", status_code=200)
    async def view(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        activity: ActivityService,
    ) -> dict[str, Any]:
        """Count a view (once per person per video per hour)."""
        media = await present_media(media_service, media_id)
        await json_body(request)
        await check_write_limit(request)
        counted = await activity.record_view(current_user_id(request), media.media_hash)
        return {"media_hash": media.media_hash, "counted": counted}

    @get("/media/{media_id:int}/position", name="api:position:get")
    async def get_position(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        activity: ActivityService,
    ) -> dict[str, Any]:
        media = await present_media(media_service, media_id)
        seconds = await activity.position(peek_user_id(request), media.media_hash)
        return {"media_hash": media.media_hash, "seconds": seconds}

    @put("/media/{media_id:int}/position", name="api:position")
    async def put_position(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        activity: ActivityService,
    ) -> dict[str, Any]:
        """Save where this person stopped: ``{"seconds": 123.4}`` (cleared near the end)."""
        media = await present_media(media_service, media_id)
        body = await json_body(request)
        try:
            seconds = parse_seconds(body.get("seconds"))
        except HTTPException as exc:
            raise bad_request("seconds", "must be a number of seconds") from exc
        await check_write_limit(request)
        kept = await activity.save_position(
            current_user_id(request), media.media_hash, seconds, media.duration
        )
        return {"media_hash": media.media_hash, "seconds": kept}

    @get("/history", name="api:history")
    async def history(
        self, request: Request[Any, Any, Any], activity: ActivityService
    ) -> list[dict[str, Any]]:
        entries = await activity.history(peek_user_id(request))
        return [
            {**media_json(e.media), "viewed_at": e.viewed_at.isoformat(), "plays": e.plays}
            for e in entries
        ]
