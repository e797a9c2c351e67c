"""Rating a video: the star form (htmx fragment, or 303 without JavaScript) and its JSON twin.

Both call ``RatingService.rate``; the guard ``RATINGS`` counts the write first, the ``media``
dependency 404s an unknown fingerprint, ``form`` is the parsed input, and every error is
answered by ``lvs.web.errors`` (the star form shows it in its own widget: ``rating_widget``)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.response import Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Media
from lvs.services.errors import UnknownMedia
from lvs.services.media import MediaService
from lvs.services.ratings import RatingService, RatingSummary
from lvs.web.answers import done
from lvs.web.deps import BY_HASH, allowance_of, rating_service
from lvs.web.errors import Problem, is_htmx, shows_errors
from lvs.web.identity import peek_user_id, picked_profile
from lvs.web.inputs import RatingInput, form_of, json_of, read_form, safe_next
from lvs.web.ratelimit import RATINGS
from lvs.web.views import RatingWidget

__all__ = ["RatingApiController", "RatingController", "summary_json"]


async def rating_widget(
    request: Request[Any, Any, Any], session: AsyncSession, problem: Problem
) -> Response[Any] | None:
    """The star form's errors: the widget again, with its current figures and the message
    (its fragment for htmx, a small page with a way back otherwise)."""
    media_hash = str(request.path_params.get("media_hash", ""))
    try:
        allowance = await allowance_of(request, session)
        await MediaService(session=session).present_by_hash(media_hash, allowance)
    except UnknownMedia:
        return None
    try:
        fields = await read_form(request)
    except Exception:  # an unreadable body still gets its widget
        fields = {}
    summary = await rating_service(session, request.app.state).summary(
        media_hash, peek_user_id(request)
    )
    widget = RatingWidget(
        summary,
        compact=fields.get("compact") == "1",
        next_url=safe_next(fields.get("next")),
        error=problem.message,
    )
    return Template(
        template_name="partials/_rating.html" if is_htmx(request) else "pages/rating_error.html",
        context={"widget": widget},
        status_code=problem.status,
        headers=problem.headers,
        media_type=MediaType.HTML,
    )


def summary_json(summary: RatingSummary) -> dict[str, Any]:
    return {
        "media_hash": summary.media_hash,
        "average": None if summary.average is None else round(summary.average, 2),
        "count": summary.count,
        "user": summary.user,
    }


class RatingController(Controller):
    """``POST /ratings/{media_hash}``: the star form."""

    path = "/ratings/{media_hash:str}"
    dependencies = BY_HASH

    @post(
        "/",
        name="rate",
        status_code=HTTP_303_SEE_OTHER,
        guards=[RATINGS],
        dependencies=form_of(RatingInput),
        opt=shows_errors(rating_widget, 400, 415, 429, 503),
    )
    async def rate(
        self,
        request: Request[Any, Any, Any],
        media: Media,
        person: uuid.UUID,
        form: RatingInput,
        ratings: RatingService,
    ) -> Response[Any]:
        summary = await ratings.rate(media.media_hash, person, form.value)
        widget = RatingWidget(summary, compact=form.compact, next_url=form.next or "/")
        return done(
            request,
            "partials/_rating.html",
            {"widget": widget},
            message=f"Rated {form.value} out of 5.",
            back=widget.next_url,
        )


class RatingApiController(Controller):
    """The JSON twin: ``GET``/``POST /api/ratings/{media_hash}``."""

    path = "/api/ratings/{media_hash:str}"
    tags = ["ratings"]
    dependencies = BY_HASH

    @get("/", name="api:rating")
    async def read(self, request: Request[Any, Any, Any], media_hash: str) -> dict[str, Any]:
        """The rating summary: average, count and the caller's own rating.

        The hottest route, so it takes no dependencies (each costs a task and a signature
        check): the cache answers, or the service reads it in one statement in its own
        session."""
        state, viewer = request.app.state, peek_user_id(request)
        if picked_profile(request) is not None:  # a profile: is this video in its allowance?
            async with state.sessions() as session:
                allowance = await allowance_of(request, session)
                if allowance.restricted:
                    await MediaService(session=session).present_by_hash(media_hash, allowance)
        summary = await RatingService.cached(state.summary_cache, media_hash, viewer)
        if summary is None:
            async with state.sessions() as session:
                ratings = rating_service(session, state)
                summary = await ratings.summary_of_present(media_hash, viewer)
        return summary_json(summary)

    @post(
        "/", name="api:rate", status_code=200, guards=[RATINGS], dependencies=json_of(RatingInput)
    )
    async def write(
        self, media: Media, person: uuid.UUID, payload: RatingInput, ratings: RatingService
    ) -> dict[str, Any]:
        """Rate with ``{"value": 1..5}`` (Content-Type: application/json)."""
        return summary_json(await ratings.rate(media.media_hash, person, payload.value))
