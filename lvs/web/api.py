"""The JSON API: another rendering of the same services the HTML pages use.

Writes require ``Content-Type: application/json`` (a cross-site page cannot send that without a
CORS preflight, and lvs allows none), so they need no CSRF token; the caller is identified by the
same session cookie as the browser. Each write has the same guard (``HOUSEHOLD``), dependencies
and errors as its form twin in ``lvs.web.household``."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.exceptions import NotFoundException

from lvs.db.models import Media, Playlist, Tag
from lvs.services.activity import ActivityService
from lvs.services.allowance import Allowance
from lvs.services.favorites import FavoriteService
from lvs.services.library import Card, LibraryQuery, LibraryService
from lvs.services.media import MediaService
from lvs.services.playlists import PlaylistService, PlaylistSummary
from lvs.services.queue import QueueRef
from lvs.services.tags import TagService
from lvs.settings import Settings
from lvs.web.answers import url
from lvs.web.deps import SERVICES
from lvs.web.inputs import (
    FavoriteJson,
    MoveInput,
    NoFields,
    PlaylistItemJson,
    PlaylistNameInput,
    PlaylistPatch,
    PositionInput,
    TagInput,
    json_of,
)
from lvs.web.query import provide_library_query
from lvs.web.ratelimit import HOUSEHOLD

__all__ = ["MediaApiController", "PlaylistApiController"]


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


def summary_json(request: Request[Any, Any, Any], p: PlaylistSummary) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "loop": p.loop,
        "items": p.items,
        "url": url(request, "api:playlist", playlist_id=p.id),
    }


class PlaylistApiController(Controller):
    """Playlists as JSON: the same service, guard and errors as the forms in
    ``lvs.web.playlists``. Another person's playlist is a 404."""

    path = "/api/playlists"
    tags = ["playlists"]
    dependencies = SERVICES

    @get("/", name="api:playlists")
    async def index(
        self,
        request: Request[Any, Any, Any],
        viewer: uuid.UUID | None,
        playlists: PlaylistService,
    ) -> list[dict[str, Any]]:
        return [summary_json(request, p) for p in await playlists.lists(viewer)]

    @post(
        "/",
        name="api:playlist:create",
        status_code=201,
        guards=[HOUSEHOLD],
        dependencies=json_of(PlaylistNameInput),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        person: uuid.UUID,
        payload: PlaylistNameInput,
        playlists: PlaylistService,
    ) -> dict[str, Any]:
        """Make a playlist: ``{"name": "Saturday"}``."""
        made = await playlists.create(person, payload.name)
        return await self._one(request, person, made, playlists)

    @get("/{playlist_id:int}", name="api:playlist")
    async def one(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        viewer: uuid.UUID | None,
        playlists: PlaylistService,
    ) -> dict[str, Any]:
        """A playlist with its videos in order (videos that are gone are left out)."""
        playlist = await playlists.owned(viewer, playlist_id)
        return await self._one(request, viewer, playlist, playlists)

    @patch(
        "/{playlist_id:int}",
        name="api:playlist:update",
        guards=[HOUSEHOLD],
        dependencies=json_of(PlaylistPatch),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        person: uuid.UUID,
        payload: PlaylistPatch,
        playlists: PlaylistService,
    ) -> dict[str, Any]:
        """Rename and/or set loop: ``{"name": "Sunday", "loop": true}``."""
        playlist = await playlists.owned(person, playlist_id)
        if payload.name is not None:
            playlist = await playlists.rename(person, playlist_id, payload.name)
        if payload.loop is not None:
            playlist = await playlists.set_loop(person, playlist_id, payload.loop)
        return await self._one(request, person, playlist, playlists)

    @delete("/{playlist_id:int}", name="api:playlist:delete", status_code=200, guards=[HOUSEHOLD])
    async def remove_playlist(
        self, playlist_id: int, person: uuid.UUID, playlists: PlaylistService
    ) -> dict[str, Any]:
        name = await playlists.delete(person, playlist_id)
        return {"id": playlist_id, "name": name, "deleted": True}

    @post(
        "/{playlist_id:int}/items",
        name="api:playlist:add",
        status_code=200,
        guards=[HOUSEHOLD],
        dependencies=json_of(PlaylistItemJson),
    )
    async def add(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        person: uuid.UUID,
        payload: PlaylistItemJson,
        playlists: PlaylistService,
        media_service: MediaService,
        allowance: Allowance,
    ) -> dict[str, Any]:
        """Append a video: ``{"media_id": 12}`` (``added`` is false if it was there already;
        a video this profile may not watch is a 404, as if it did not exist)."""
        playlist = await playlists.owned(person, playlist_id)
        media = await media_service.present(payload.media_id, allowance)
        added = await playlists.add(person, playlist_id, media.media_hash)
        return {**await self._one(request, person, playlist, playlists), "added": added}

    @delete(
        "/{playlist_id:int}/items/{item_id:int}",
        name="api:playlist:remove",
        status_code=200,
        guards=[HOUSEHOLD],
    )
    async def remove_item(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        item_id: int,
        person: uuid.UUID,
        playlists: PlaylistService,
    ) -> dict[str, Any]:
        await playlists.remove(person, playlist_id, item_id)
        playlist = await playlists.owned(person, playlist_id)
        return await self._one(request, person, playlist, playlists)

    @post(
        "/{playlist_id:int}/items/{item_id:int}/move",
        name="api:playlist:move",
        status_code=200,
        guards=[HOUSEHOLD],
        dependencies=json_of(MoveInput),
    )
    async def move(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        item_id: int,
        person: uuid.UUID,
        payload: MoveInput,
        playlists: PlaylistService,
    ) -> dict[str, Any]:
        """Move an item one place: ``{"to": "up"}`` or ``{"to": "down"}``."""
        moved = await playlists.move(person, playlist_id, item_id, payload.up)
        playlist = await playlists.owned(person, playlist_id)
        return {**await self._one(request, person, playlist, playlists), "moved": moved}

    async def _one(
        self,
        request: Request[Any, Any, Any],
        user_id: uuid.UUID | None,
        playlist: Playlist,
        playlists: PlaylistService,
    ) -> dict[str, Any]:
        entries = await playlists.entries(user_id, playlist.id)
        play = url(request, "play") + "?list=" + str(QueueRef.playlist(playlist.id))
        return {
            "id": playlist.id,
            "name": playlist.name,
            "loop": playlist.loop,
            "items": [{"item_id": e.item_id, **media_json(request, e.media)} for e in entries],
            "play_url": play,
            "m3u_url": url(request, "playlist:m3u", playlist_id=playlist.id),
        }
