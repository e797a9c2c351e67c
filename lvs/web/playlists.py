"""Playlists: the list of them, one playlist's page, its M3U, "Add to playlist" on the watch
page, and ``/play``, which starts any queue (a playlist, shuffled or not, a season, a folder)
at its first video.

Every action is a plain form (303 back with a flash message) that htmx enhances with the
partial that replaces itself: ``#playlists`` on the list page, ``#playlist`` on a playlist's
page, ``#add-to-playlist`` on the watch page. The JSON twins are in ``lvs.web.api``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from lvs.db.models import Media
from lvs.services.errors import InvalidInput
from lvs.services.playlists import Entry, PlaylistService
from lvs.web.answers import done, url
from lvs.web.deps import SERVICES
from lvs.web.errors import is_htmx
from lvs.web.inputs import (
    CONTROL,
    LoopInput,
    MoveInput,
    NoFields,
    PlaylistAddForm,
    PlaylistNameInput,
    QueueParams,
    form_of,
    queue_params,
)
from lvs.web.ratelimit import HOUSEHOLD
from lvs.web.views import PlaylistAdd, PlaylistsView, PlaylistView

__all__ = ["AddToPlaylistController", "PlaylistController", "QueueController", "m3u"]

M3U_TYPE = "audio/x-mpegurl"


def m3u(base: str, entries: list[Entry], stream_url: Callable[[int], str]) -> str:
    """An extended M3U playlist: each video's length, title and absolute stream URL."""
    lines = ["#EXTM3U"]
    for e in entries:
        seconds = round(e.media.duration) if e.media.duration else -1
        title = CONTROL.sub(" ", e.media.title).strip() or "video"  # one line; commas are fine
        lines.append(f"#EXTINF:{seconds},{title}")
        lines.append(base + stream_url(e.media.id))
    return "\r\n".join(lines) + "\r\n"


def _filename(name: str) -> str:
    """A file name any system accepts: letters, digits, ``-``, ``_`` and ``.``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:60]
    return f"{stem or 'playlist'}.m3u"


class PlaylistController(Controller):
    path = "/playlists"
    dependencies = SERVICES

    @get("/", name="playlists")
    async def index(self, viewer: uuid.UUID | None, playlists: PlaylistService) -> Template:
        view = PlaylistsView(await playlists.lists(viewer))
        return Template(template_name="pages/playlists.html", context={"view": view})

    @post(
        "/",
        name="playlist:create",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(PlaylistNameInput),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        person: uuid.UUID,
        form: PlaylistNameInput,
        playlists: PlaylistService,
    ) -> Response[Any]:
        made = await playlists.create(person, form.name)
        context = {}
        if is_htmx(request):
            context["view"] = PlaylistsView(await playlists.lists(person))
        return done(
            request,
            "partials/_playlists.html",
            context,
            message=f"Created the playlist “{made.name}”.",
            back=url(request, "playlist", playlist_id=made.id),
        )

    @get("/{playlist_id:int}", name="playlist")
    async def one(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        viewer: uuid.UUID | None,
        playlists: PlaylistService,
    ) -> Template:
        view = await self._view(viewer, playlist_id, playlists)
        if is_htmx(request):
            return Template(template_name="partials/_playlist.html", context={"view": view})
        return Template(template_name="pages/playlist.html", context={"view": view})

    @get("/{playlist_id:int}/playlist.m3u", name="playlist:m3u")
    async def export_m3u(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        viewer: uuid.UUID | None,
        playlists: PlaylistService,
    ) -> Response[str]:
        """The playlist as M3U for VLC or Kodi (absolute stream URLs on this server)."""
        playlist = await playlists.owned(viewer, playlist_id)
        entries = await playlists.entries(viewer, playlist_id)
        base = str(request.base_url).rstrip("/")
        body = m3u(base, entries, lambda media_id: url(request, "stream", media_id=media_id))
        return Response(
            body,
            media_type=M3U_TYPE,
            headers={
                "content-disposition": f'attachment; filename="{_filename(playlist.name)}"',
                "cache-control": "no-store",
            },
        )

    @post(
        "/{playlist_id:int}/rename",
        name="playlist:rename",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(PlaylistNameInput),
    )
    async def rename(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        person: uuid.UUID,
        form: PlaylistNameInput,
        playlists: PlaylistService,
    ) -> Response[Any]:
        renamed = await playlists.rename(person, playlist_id, form.name)
        return await self._answer(
            request, person, playlist_id, playlists, f"Renamed to “{renamed.name}”."
        )

    @post(
        "/{playlist_id:int}/loop",
        name="playlist:loop",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(LoopInput),
    )
    async def loop(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        person: uuid.UUID,
        form: LoopInput,
        playlists: PlaylistService,
    ) -> Response[Any]:
        await playlists.set_loop(person, playlist_id, form.loop)
        message = "Loop on: plays again from the start." if form.loop else "Loop off."
        return await self._answer(request, person, playlist_id, playlists, message)

    @post(
        "/{playlist_id:int}/delete",
        name="playlist:delete",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(NoFields),
    )
    async def delete(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        person: uuid.UUID,
        form: NoFields,
        playlists: PlaylistService,
    ) -> Response[Any]:
        """Delete (the form sits behind a "Delete…" disclosure that asks first). htmx is sent
        to the list of playlists, where the deleted one no longer is."""
        name = await playlists.delete(person, playlist_id)
        back = url(request, "playlists")
        if is_htmx(request):
            return Response(None, status_code=200, headers={"HX-Redirect": back})
        flash(request, f"Deleted the playlist “{name}”.", category="success")
        return Redirect(path=back, status_code=HTTP_303_SEE_OTHER)

    @post(
        "/{playlist_id:int}/items/{item_id:int}/remove",
        name="playlist:remove",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(NoFields),
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        item_id: int,
        person: uuid.UUID,
        form: NoFields,
        playlists: PlaylistService,
    ) -> Response[Any]:
        await playlists.remove(person, playlist_id, item_id)
        return await self._answer(
            request, person, playlist_id, playlists, "Removed from the playlist."
        )

    @post(
        "/{playlist_id:int}/items/{item_id:int}/move",
        name="playlist:move",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(MoveInput),
    )
    async def move(
        self,
        request: Request[Any, Any, Any],
        playlist_id: int,
        item_id: int,
        person: uuid.UUID,
        form: MoveInput,
        playlists: PlaylistService,
    ) -> Response[Any]:
        moved = await playlists.move(person, playlist_id, item_id, form.up)
        message = ("Moved up." if form.up else "Moved down.") if moved else "Already there."
        return await self._answer(
            request, person, playlist_id, playlists, message, anchor=f"#item-{item_id}"
        )

    async def _view(
        self, user_id: uuid.UUID | None, playlist_id: int, playlists: PlaylistService
    ) -> PlaylistView:
        playlist = await playlists.owned(user_id, playlist_id)
        return PlaylistView(playlist, await playlists.entries(user_id, playlist_id))

    async def _answer(
        self,
        request: Request[Any, Any, Any],
        person: uuid.UUID,
        playlist_id: int,
        playlists: PlaylistService,
        message: str,
        anchor: str = "",
    ) -> Response[Any]:
        context = {}
        if is_htmx(request):  # (the page the plain form goes back to reads it itself)
            context["view"] = await self._view(person, playlist_id, playlists)
        back = url(request, "playlist", playlist_id=playlist_id) + anchor
        return done(request, "partials/_playlist.html", context, message=message, back=back)


class AddToPlaylistController(Controller):
    path = "/media/{media_id:int}/playlist"
    dependencies = SERVICES

    @post(
        "/",
        name="playlist:add",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(PlaylistAddForm),
    )
    async def add(
        self,
        request: Request[Any, Any, Any],
        media: Media,
        person: uuid.UUID,
        form: PlaylistAddForm,
        playlists: PlaylistService,
    ) -> Response[Any]:
        """Add this video to a playlist of this person's, or to a new one named ``name``."""
        target, added = await playlists.add_to(
            person, form.playlist_id, form.name, media.media_hash
        )
        message = f"Added to “{target.name}”." if added else f"Already in “{target.name}”."
        back = form.next or url(request, "watch", media_id=media.id)
        context = {}
        if is_htmx(request):
            context["add"] = PlaylistAdd(
                media.id, media.media_hash, await playlists.lists(person), back, message
            )
        return done(request, "partials/_add_to_playlist.html", context, message=message, back=back)


class QueueController(Controller):
    path = "/play"
    dependencies = {**SERVICES, **queue_params()}

    @get("/", name="play", cache_control=None)
    async def play(
        self,
        request: Request[Any, Any, Any],
        viewer: uuid.UUID | None,
        queue: QueueParams,
        playlists: PlaylistService,
    ) -> Redirect:
        """Start a list at its first video: ``?list=p12`` (``&shuffle=1``: in a new random
        order, which the watch page's URL then keeps; ``&loop=1``: over and over)."""
        if queue.ref is None:
            raise InvalidInput("must name a list to play", field="list", label="List")
        started = await playlists.start(viewer, queue.ref, queue.shuffle is not None, queue.loop)
        first = started.shown[0].media.id
        return Redirect(
            path=url(request, "watch", media_id=first) + started.query(0),
            status_code=HTTP_303_SEE_OTHER,
        )
