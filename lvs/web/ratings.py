"""Rating a video: the star form (htmx fragment or 303 without JavaScript) and its JSON twin.

Both renderings call the same ``RatingService``; validation, rate limiting and busy-database
handling are shared, only the way each answer is written differs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, TooManyRequestsException
from litestar.plugins.flash import flash
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_400_BAD_REQUEST,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from lvs.services.ratings import (
    HASH_RE,
    DatabaseBusy,
    RatingService,
    RatingSummary,
    RatingValueError,
    UnknownMedia,
    parse_rating_value,
)
from lvs.web.deps import provide_rating_service
from lvs.web.identity import current_user_id, peek_user_id
from lvs.web.inputs import read_form
from lvs.web.jsonio import bad_request, json_body
from lvs.web.ratelimit import WriteLimiter
from lvs.web.views import RatingWidget

__all__ = ["RatingApiController", "RatingController", "safe_next"]


def safe_next(raw: str | None, fallback: str = "/") -> str:
    """A local path to go back to after a form POST (never another site)."""
    if not raw:
        return fallback
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or raw.startswith("//"):
        return fallback
    if "\\" in raw or any(ord(c) < 32 for c in raw):
        return fallback
    return raw


def _limiter(request: Request[Any, Any, Any]) -> WriteLimiter:
    limiter: WriteLimiter = request.app.state.limiter
    return limiter


async def _require_media(ratings: RatingService, media_hash: str) -> None:
    if not await ratings.media_exists(media_hash):
        raise NotFoundException(f"No video with fingerprint {media_hash!r}")


class RatingController(Controller):
    """``POST /ratings/{media_hash}``: the star form."""

    path = "/ratings/{media_hash:str}"
    dependencies = {"ratings": Provide(provide_rating_service, sync_to_thread=False)}

    @post("/", name="rate", status_code=HTTP_303_SEE_OTHER)
    async def rate(
        self, request: HTMXRequest, media_hash: str, ratings: RatingService
    ) -> Response[Any]:
        await _require_media(ratings, media_hash)
        user_id = current_user_id(request)
        form = await read_form(request)
        compact = form.get("compact") == "1"
        next_url = safe_next(form.get("next"), fallback="/")

        async def widget(
            status: int, error: str, headers: dict[str, str] | None = None
        ) -> Response[Any]:
            summary = await ratings.summary(media_hash, user_id)
            view = RatingWidget(summary, compact=compact, next_url=next_url, error=error)
            template = "partials/_rating.html" if request.htmx else "pages/rating_error.html"
            return Template(
                template_name=template,
                context={"widget": view},
                status_code=status,
                headers=headers or {},
                media_type=MediaType.HTML,
            )

        decision = await _limiter(request).hit(request)
        if not decision.allowed:
            return await widget(
                HTTP_429_TOO_MANY_REQUESTS,
                f"Too many ratings at once. Try again in {decision.retry_after} s.",
                {"Retry-After": str(decision.retry_after)},
            )
        try:
            value = parse_rating_value(form.get("value"))
        except RatingValueError as exc:
            return await widget(HTTP_400_BAD_REQUEST, f"Rating {exc}.")
        try:
            summary = await ratings.rate(media_hash, user_id, value)
        except UnknownMedia as exc:
            raise NotFoundException(f"No video with fingerprint {media_hash!r}") from exc
        except DatabaseBusy as exc:
            return await widget(
                HTTP_503_SERVICE_UNAVAILABLE,
                "The library is busy; your rating was not saved. Try again.",
                {"Retry-After": str(exc.retry_after)},
            )
        if request.htmx:
            view = RatingWidget(summary, compact=compact, next_url=next_url)
            return Template(
                template_name="partials/_rating.html", context={"widget": view}, status_code=200
            )
        flash(request, f"Rated {value} out of 5.", category="success")
        return Redirect(path=next_url, status_code=HTTP_303_SEE_OTHER)


def _summary_json(summary: RatingSummary) -> dict[str, Any]:
    return {
        "media_hash": summary.media_hash,
        "average": None if summary.average is None else round(summary.average, 2),
        "count": summary.count,
        "user": summary.user,
    }


class RatingApiController(Controller):
    """The JSON twin: ``GET``/``POST /api/ratings/{media_hash}``."""

    path = "/api/ratings/{media_hash:str}"
    tags = ["ratings"]
    dependencies = {"ratings": Provide(provide_rating_service, sync_to_thread=False)}

    @get("/", name="api:rating")
    async def read(
        self, request: Request[Any, Any, Any], media_hash: str, ratings: RatingService
    ) -> dict[str, Any]:
        """The rating summary: average, count and the caller's own rating."""
        await _require_media(ratings, media_hash)
        return _summary_json(await ratings.summary(media_hash, peek_user_id(request)))

    @post("/", name="api:rate", status_code=200)
    async def write(
        self, request: Request[Any, Any, Any], media_hash: str, ratings: RatingService
    ) -> dict[str, Any]:
        """Rate with ``{"value": 1..5}`` (Content-Type: application/json)."""
        if not HASH_RE.match(media_hash):  # whether a video has it is checked as it is written
            raise NotFoundException(f"No video with fingerprint {media_hash!r}")
        payload = await json_body(request)
        decision = await _limiter(request).hit(request)
        if not decision.allowed:
            raise TooManyRequestsException(
                detail=f"Too many ratings. Try again in {decision.retry_after} s.",
                headers={"Retry-After": str(decision.retry_after)},
            )
        try:
            value = parse_rating_value(payload.get("value"))
        except RatingValueError as exc:
            raise bad_request("value", str(exc)) from exc
        try:
            summary = await ratings.rate(media_hash, current_user_id(request), value)
        except UnknownMedia as exc:
            raise NotFoundException(f"No video with fingerprint {media_hash!r}") from exc
        except DatabaseBusy as exc:
            raise HTTPException(
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
                detail="The database is busy; the rating was not saved. Try again.",
                headers={"Retry-After": str(exc.retry_after)},
            ) from exc
        return _summary_json(summary)
