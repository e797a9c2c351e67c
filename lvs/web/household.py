"""Per-person and household writes on one video: favorite, tags, views and resume position.

Each form works without JavaScript (303 back with a flash message) and, for htmx, answers with
the partial that replaces itself (``lvs.web.answers.done``). Their JSON twins live in
``lvs.web.api`` and call the same services, behind the same guard (``HOUSEHOLD``)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Media
from lvs.services.activity import ActivityService
from lvs.services.favorites import FavoriteService
from lvs.services.media import MediaService
from lvs.services.tags import TagService
from lvs.web.answers import done, url
from lvs.web.deps import SERVICES, allowance_of
from lvs.web.errors import Problem, is_htmx, shows_errors
from lvs.web.inputs import FavoriteForm, NoFields, PositionInput, TagInput, form_of
from lvs.web.ratelimit import HOUSEHOLD
from lvs.web.views import FavoriteButton, TagList

__all__ = [
    "PIXEL",
    "ActivityController",
    "FavoriteController",
    "TagController",
    "from_this_site",
]

# 1x1 transparent GIF: the answer to the no-JavaScript view beacon.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def from_this_site(request: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether a GET came from one of lvs's own pages (or was typed in), not from another site.

    Browsers say so in ``Sec-Fetch-Site``. Older ones that do not still send a ``Referer`` for a
    same-origin request (lvs's ``Referrer-Policy: same-origin``), and a page elsewhere cannot make
    a browser send one naming lvs; no header at all is treated as cross-site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in {"same-origin", "none"}
    referer = urlsplit(request.headers.get("referer", ""))
    host = request.headers.get("host")
    return bool(host) and referer.netloc == host and referer.scheme == request.url.scheme


def same_site_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard: 403 for a GET that another site's page made (an ``<img>`` elsewhere)."""
    if not from_this_site(connection):
        raise PermissionDeniedException("Only lvs's own pages count views")


async def tag_list(
    request: Request[Any, Any, Any], session: AsyncSession, problem: Problem
) -> Response[Any] | None:
    """A tag that cannot be used: the tag section again, with the message and what was typed."""
    allowance = await allowance_of(request, session)
    media_id = int(request.path_params["media_id"])
    media = await MediaService(session=session).present(media_id, allowance)
    gate = request.app.state.write_gate
    tags = await TagService(session, gate).for_media(media.media_hash)
    view = TagList(media.id, tags, error=problem.message, value=problem.value)
    return Template(
        template_name="partials/_tags.html" if is_htmx(request) else "pages/tag_error.html",
        context={"taglist": view},
        status_code=problem.status,
        headers=problem.headers,
        media_type=MediaType.HTML,
    )


async def pixel(
    request: Request[Any, Any, Any], session: AsyncSession, problem: Problem
) -> Response[Any]:
    """Whatever went wrong, an ``<img>`` gets an image (with the status that says what)."""
    return Response(
        PIXEL,
        media_type="image/gif",
        headers={**problem.headers, "cache-control": "no-store"},
        status_code=problem.status,
    )


class FavoriteController(Controller):
    path = "/media/{media_id:int}/favorite"
    dependencies = SERVICES

    @post(
        "/",
        name="favorite",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(FavoriteForm),
    )
    async def favorite(
        self,
        request: Request[Any, Any, Any],
        media: Media,
        person: uuid.UUID,
        form: FavoriteForm,
        favorites: FavoriteService,
    ) -> Response[Any]:
        await favorites.set(person, media.media_hash, form.favorite)
        back = form.next or url(request, "watch", media_id=media.id)
        button = FavoriteButton(media.id, media.media_hash, form.favorite, back, form.compact)
        return done(
            request,
            "partials/_favorite.html",
            {"fav": button},
            message="Added to favorites." if form.favorite else "Removed from favorites.",
            back=back,
        )


class TagController(Controller):
    path = "/media/{media_id:int}/tags"
    dependencies = SERVICES

    @post(
        "/",
        name="tag:add",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(TagInput),
        opt=shows_errors(tag_list, 400),
    )
    async def add(
        self, request: Request[Any, Any, Any], media: Media, form: TagInput, tags: TagService
    ) -> Response[Any]:
        tag = await tags.add(media.media_hash, form.name)
        return await self._answer(request, media, tags, f"Tagged “{tag.name}”.")

    @post(
        "/{tag_id:int}/remove",
        name="tag:remove",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(NoFields),
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        media: Media,
        tag_id: int,
        form: NoFields,
        tags: TagService,
    ) -> Response[Any]:
        await tags.remove(media.media_hash, tag_id)
        return await self._answer(request, media, tags, "Tag removed.")

    async def _answer(
        self, request: Request[Any, Any, Any], media: Media, tags: TagService, message: str
    ) -> Response[Any]:
        context = {}
        if is_htmx(request):  # (the page the plain form goes back to reads them itself)
            context["taglist"] = TagList(media.id, await tags.for_media(media.media_hash))
        back = url(request, "watch", media_id=media.id) + "#tags"
        return done(request, "partials/_tags.html", context, message=message, back=back)


class ActivityController(Controller):
    """Reports from the player: views and resume positions (204, for fetch/sendBeacon)."""

    path = "/media/{media_id:int}"
    dependencies = SERVICES

    @post(
        "/view",
        name="view",
        status_code=HTTP_204_NO_CONTENT,
        guards=[HOUSEHOLD],
        dependencies=form_of(NoFields),
    )
    async def view(
        self, media: Media, person: uuid.UUID, form: NoFields, activity: ActivityService
    ) -> None:
        await activity.record_view(person, media.media_hash)

    @get(
        "/noscript-view",
        name="noscript-view",
        include_in_schema=False,
        cache_control=None,
        guards=[same_site_only, HOUSEHOLD],
        opt=shows_errors(pixel, 400, 403, 404, 429, 503),
    )
    async def noscript_view(
        self, media: Media, person: uuid.UUID, activity: ActivityService
    ) -> Response[bytes]:
        """Counts a view for browsers without JavaScript (an image inside <noscript>): one per
        person per video per hour, and only when lvs's own page asked (``same_site_only``): an
        ``<img>`` on another site must not count views."""
        await activity.record_view(person, media.media_hash)
        return Response(PIXEL, media_type="image/gif", headers={"cache-control": "no-store"})

    @post(
        "/position",
        name="position",
        status_code=HTTP_204_NO_CONTENT,
        guards=[HOUSEHOLD],
        dependencies=form_of(PositionInput),
    )
    async def position(
        self, media: Media, person: uuid.UUID, form: PositionInput, activity: ActivityService
    ) -> None:
        await activity.save_position(person, media.media_hash, form.seconds, media.duration)
