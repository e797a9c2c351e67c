"""The JSON API: another rendering of the same services the HTML pages use.

Writes require ``Content-Type: application/json`` (a cross-site page cannot send that without a
CORS preflight, and lvs allows none), so they need no CSRF token; the caller is identified by the
same session cookie as the browser. Each write has the same guard (``HOUSEHOLD``), dependencies
and errors as its form twin in ``lvs.web.household``."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.exceptions import NotFoundException

from lvs.db.models import Media, Tag
from lvs.services.activity import ActivityService
from lvs.services.favorites import FavoriteService
from lvs.services.library import Card, LibraryQuery, LibraryService
from lvs.services.tags import TagService
from lvs.settings import Settings
from lvs.web.answers import url
from lvs.web.deps import SERVICES
from lvs.web.inputs import FavoriteJson, NoFields, PositionInput, TagInput, json_of
from lvs.web.query import provide_library_query
from lvs.web.ratelimit import HOUSEHOLD

__all__ = ["MediaApiController"]


def media_json(request: Request[Any, Any, Any], m: Media) -> dict[str, Any]:
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
        "stream_url": url(request, "stream", media_id=m.id),
        "watch_url": url(request, "watch", media_id=m.id),
    }


def card_json(request: Request[Any, Any, Any], c: Card) -> dict[str, Any]:
    return {
        **media_json(request, c.media),
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


def tags_json(tags: list[Tag]) -> list[dict[str, Any]]:
    return [{"id": t.id, "name": t.name} for t in tags]


class MediaApiController(Controller):
    path = "/api"
    tags = ["library"]
    dependencies = SERVICES

    @get("/media", name="api:media")
    async def list_media(
        self,
        request: Request[Any, Any, Any],
        viewer: uuid.UUID | None,
        library: LibraryService,
        settings: Settings,
    ) -> dict[str, Any]:
        """The library with the same query parameters as the HTML page (q, sort, filters, page)."""
        query: LibraryQuery = provide_library_query(request)
        page = await library.page(query, viewer, settings.page_size)
        return {
            "items": [card_json(request, c) for c in page.cards],
            "page": page.number,
            "pages": page.pages,
            "total": page.total,
        }

    @get("/media/{media_id:int}", name="api:media:one")
    async def one(
        self,
        request: Request[Any, Any, Any],
        media: Media,
        viewer: uuid.UUID | None,
        library: LibraryService,
        tags: TagService,
    ) -> dict[str, Any]:
        (card,) = await library.cards([media], viewer)
        names = [t.name for t in await tags.for_media(media.media_hash)]
        return {**card_json(request, card), "tags": names}

    @put(
        "/media/{media_id:int}/favorite",
        name="api:favorite",
        guards=[HOUSEHOLD],
        dependencies=json_of(FavoriteJson),
    )
    async def favorite(
        self, media: Media, person: uuid.UUID, payload: FavoriteJson, favorites: FavoriteService
    ) -> dict[str, Any]:
        """Set or clear this person's favorite: ``{"favorite": true}``."""
        await favorites.set(person, media.media_hash, payload.favorite)
        return {"media_hash": media.media_hash, "favorite": payload.favorite}

    @get("/tags", name="api:tags")
    async def all_tags(self, tags: TagService) -> list[dict[str, Any]]:
        return [{"id": t.id, "name": t.name, "count": t.count} for t in await tags.counts()]

    @get("/media/{media_id:int}/tags", name="api:media:tags")
    async def media_tags(self, media: Media, tags: TagService) -> list[dict[str, Any]]:
        return tags_json(await tags.for_media(media.media_hash))

    @post(
        "/media/{media_id:int}/tags",
        name="api:tag:add",
        status_code=200,
        guards=[HOUSEHOLD],
        dependencies=json_of(TagInput),
    )
    async def add_tag(
        self, media: Media, payload: TagInput, tags: TagService
    ) -> list[dict[str, Any]]:
        """Attach a tag: ``{"name": "holiday"}``. Answers with the video's tags."""
        await tags.add(media.media_hash, payload.name)
        return tags_json(await tags.for_media(media.media_hash))

    @delete(
        "/media/{media_id:int}/tags/{tag_id:int}",
        name="api:tag:remove",
        status_code=200,
        guards=[HOUSEHOLD],
    )
    async def remove_tag(self, media: Media, tag_id: int, tags: TagService) -> list[dict[str, Any]]:
        if not await tags.remove(media.media_hash, tag_id):
            raise NotFoundException("This video has no such tag")
        return tags_json(await tags.for_media(media.media_hash))

    @post(
        "/media/{media_id:int}/views",
        name="api:view",
        status_code=200,
        guards=[HOUSEHOLD],
        dependencies=json_of(NoFields),
    )
    async def view(
        self, media: Media, person: uuid.UUID, payload: NoFields, activity: ActivityService
    ) -> dict[str, Any]:
        """Count a view (once per person per video per hour)."""
        counted = await activity.record_view(person, media.media_hash)
        return {"media_hash": media.media_hash, "counted": counted}

    @get("/media/{media_id:int}/position", name="api:position:get")
    async def get_position(
        self, media: Media, viewer: uuid.UUID | None, activity: ActivityService
    ) -> dict[str, Any]:
        seconds = await activity.position(viewer, media.media_hash)
        return {"media_hash": media.media_hash, "seconds": seconds}

    @put(
        "/media/{media_id:int}/position",
        name="api:position",
        guards=[HOUSEHOLD],
        dependencies=json_of(PositionInput),
    )
    async def put_position(
        self, media: Media, person: uuid.UUID, payload: PositionInput, activity: ActivityService
    ) -> dict[str, Any]:
        """Save where this person stopped: ``{"seconds": 123.4}`` (cleared near the end)."""
        kept = await activity.save_position(
            person, media.media_hash, payload.seconds, media.duration
        )
        return {"media_hash": media.media_hash, "seconds": kept}

    @get("/history", name="api:history")
    async def history(
        self, request: Request[Any, Any, Any], viewer: uuid.UUID | None, activity: ActivityService
    ) -> list[dict[str, Any]]:
        return [
            {**media_json(request, e.media), "viewed_at": e.viewed_at.isoformat(), "plays": e.plays}
            for e in await activity.history(viewer)
        ]
