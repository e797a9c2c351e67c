"""Per-person and household writes on one video: favorite, tags, views and resume position.

Each form works without JavaScript (303 back to ``next`` with a flash message) and, for htmx,
answers with the partial that replaces itself. Their JSON twins live in ``lvs.web.api`` and call
the same services."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.exceptions import TooManyRequestsException, ValidationException
from litestar.plugins.flash import flash
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_204_NO_CONTENT,
    HTTP_303_SEE_OTHER,
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_429_TOO_MANY_REQUESTS,
)

from lvs.services.activity import ActivityService
from lvs.services.favorites import FavoriteService
from lvs.services.media import MediaService
from lvs.services.tags import TagError, TagService
from lvs.web.deps import SERVICES
from lvs.web.identity import current_user_id
from lvs.web.inputs import read_form
from lvs.web.media import present_media
from lvs.web.ratelimit import WriteLimiter
from lvs.web.ratings import safe_next
from lvs.web.views import FavoriteButton, TagList

__all__ = [
    "ActivityController",
    "FavoriteController",
    "TagController",
    "check_write_limit",
    "from_this_site",
]

# 1x1 transparent GIF: the answer to the no-JavaScript view beacon.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def from_this_site(request: Request[Any, Any, Any]) -> bool:
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


async def check_write_limit(request: Request[Any, Any, Any]) -> None:
    """The household-writes limit (favorites, tags, views, positions): 429 with Retry-After."""
    limiter: WriteLimiter = request.app.state.household_limiter
    decision = await limiter.hit(request)
    if not decision.allowed:
        raise TooManyRequestsException(
            detail=f"Too many changes at once. Try again in {decision.retry_after} s.",
            headers={"Retry-After": str(decision.retry_after)},
        )


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    return await read_form(request)


class FavoriteController(Controller):
    path = "/media/{media_id:int}/favorite"
    dependencies = SERVICES

    @post("/", name="favorite", status_code=HTTP_303_SEE_OTHER)
    async def favorite(
        self,
        request: HTMXRequest,
        media_id: int,
        media_service: MediaService,
        favorites: FavoriteService,
    ) -> Response[Any]:
        media = await present_media(media_service, media_id)
        await check_write_limit(request)
        form = await _form(request)
        wanted = form.get("favorite", "1") not in {"0", "false", "off"}
        await favorites.set(current_user_id(request), media.media_hash, wanted)
        next_url = safe_next(form.get("next"), f"/media/{media.id}")
        if request.htmx:
            button = FavoriteButton(
                media.id, media.media_hash, wanted, next_url, compact=form.get("compact") == "1"
            )
            return Template(
                template_name="partials/_favorite.html", context={"fav": button}, status_code=200
            )
        flash(
            request,
            "Added to favorites." if wanted else "Removed from favorites.",
            category="success",
        )
        return Redirect(path=next_url, status_code=HTTP_303_SEE_OTHER)


class TagController(Controller):
    path = "/media/{media_id:int}/tags"
    dependencies = SERVICES

    @post("/", name="tag:add", status_code=HTTP_303_SEE_OTHER)
    async def add(
        self, request: HTMXRequest, media_id: int, media_service: MediaService, tags: TagService
    ) -> Response[Any]:
        media = await present_media(media_service, media_id)
        await check_write_limit(request)
        form = await _form(request)
        raw = form.get("name", "")
        try:
            tag = await tags.add(media.media_hash, raw)
        except TagError as exc:
            return await self._answer(request, media.id, media.media_hash, tags, f"Tag {exc}.", raw)
        return await self._answer(
            request, media.id, media.media_hash, tags, None, "", f"Tagged “{tag.name}”."
        )

    @post("/{tag_id:int}/remove", name="tag:remove", status_code=HTTP_303_SEE_OTHER)
    async def remove(
        self,
        request: HTMXRequest,
        media_id: int,
        tag_id: int,
        media_service: MediaService,
        tags: TagService,
    ) -> Response[Any]:
        media = await present_media(media_service, media_id)
        await check_write_limit(request)
        await tags.remove(media.media_hash, tag_id)
        return await self._answer(
            request, media.id, media.media_hash, tags, None, "", "Tag removed."
        )

    async def _answer(
        self,
        request: HTMXRequest,
        media_id: int,
        media_hash: str,
        tags: TagService,
        error: str | None,
        value: str,
        done: str | None = None,
    ) -> Response[Any]:
        status = HTTP_400_BAD_REQUEST if error else 200
        if request.htmx or error:
            view = TagList(media_id, await tags.for_media(media_hash), error=error, value=value)
            template = "partials/_tags.html" if request.htmx else "pages/tag_error.html"
            return Template(
                template_name=template,
                context={"taglist": view},
                status_code=status,
                media_type=MediaType.HTML,
            )
        if done:
            flash(request, done, category="success")
        return Redirect(path=f"/media/{media_id}#tags", status_code=HTTP_303_SEE_OTHER)


class ActivityController(Controller):
    """Reports from the player: views and resume positions (204, for fetch/sendBeacon)."""

    path = "/media/{media_id:int}"
    dependencies = SERVICES

    @post("/view", name="view", status_code=HTTP_204_NO_CONTENT)
    async def view(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        activity: ActivityService,
    ) -> None:
        media = await present_media(media_service, media_id)
        await check_write_limit(request)
        await activity.record_view(current_user_id(request), media.media_hash)

    @get("/noscript-view", name="noscript-view", include_in_schema=False, cache_control=None)
    async def noscript_view(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        activity: ActivityService,
    ) -> Response[bytes]:
        """Counts a view for browsers without JavaScript (an image inside <noscript>): one per
        person per video per hour, and only when lvs's own page asked (``from_this_site``): an
        ``<img>`` on another site must not count views."""
        media = await present_media(media_service, media_id)
        if not from_this_site(request):
            status = HTTP_403_FORBIDDEN
        else:
            decision = await request.app.state.household_limiter.hit(request)
            status = 200 if decision.allowed else HTTP_429_TOO_MANY_REQUESTS
            if decision.allowed:
                await activity.record_view(current_user_id(request), media.media_hash)
        return Response(
            PIXEL, media_type="image/gif", headers={"cache-control": "no-store"}, status_code=status
        )

    @post("/position", name="position", status_code=HTTP_204_NO_CONTENT)
    async def position(
        self,
        request: Request[Any, Any, Any],
        media_id: int,
        media_service: MediaService,
        activity: ActivityService,
    ) -> None:
        media = await present_media(media_service, media_id)
        await check_write_limit(request)
        form = await _form(request)
        seconds = parse_seconds(form.get("seconds"))
        await activity.save_position(
            current_user_id(request), media.media_hash, seconds, media.duration
        )


def parse_seconds(raw: object) -> float:
    """A playback position: a finite number of seconds from 0 to 10 000 000."""
    try:
        value = float("nan") if isinstance(raw, bool) else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not (0 <= value <= 1e7):
        raise ValidationException(
            detail="seconds: must be a number of seconds from 0 to 10000000",
            extra=[{"field": "seconds", "message": "must be a number of seconds"}],
        )
    return value
