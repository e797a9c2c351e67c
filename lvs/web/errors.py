"""Every error becomes an answer here, once per kind of answer; never a stack trace.

Services and dependencies raise (``UnknownMedia``, ``DatabaseBusy``, ``InvalidInput``, the
guards' ``RateLimited``, Litestar's own ``HTTPException``s); handlers never catch them. Each is
turned into a ``Problem`` (status, message, headers, the fields at fault) and rendered as:

* JSON, for ``/api/`` and clients that ask for JSON only: ``{"status_code", "detail",
  "errors": [{"field", "message"}]}``;
* the form's own widget with the message in it, when the route says it has one
  (``opt=shows_errors(...)``, e.g. the star form: its fragment for htmx, a small page without
  JavaScript);
* for htmx otherwise, a message in the page's flash area (``HX-Retarget: #flashes``);
* otherwise the error page."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from advanced_alchemy.exceptions import NotFoundError, RepositoryError
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Template
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.playback.converter import ConversionFailed, ConversionsBusy
from lvs.services.errors import DatabaseBusy, InvalidInput, UnknownMedia, UnknownPlaylist
from lvs.services.profiles import NotAllowed, UnknownProfile
from lvs.services.ratings import RatingValueError
from lvs.services.tags import TagError
from lvs.web.ratelimit import RateLimited

__all__ = [
    "EXPECTED",
    "ErrorView",
    "Problem",
    "exception_handlers",
    "is_htmx",
    "shows_errors",
    "wants_json",
]

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Busy, try again",
}

BUSY = "The library is busy; nothing was saved. Try again."

EXPECTED: tuple[type[Exception], ...] = (
    UnknownMedia,
    UnknownPlaylist,
    DatabaseBusy,
    InvalidInput,
    RatingValueError,
    TagError,
    RateLimited,
    UnknownProfile,
    NotAllowed,
)
"""Domain errors that are a client's or the moment's doing: logged without a stack trace."""


@dataclass(frozen=True, slots=True)
class Problem:
    """What went wrong, independent of how it is shown."""

    status: int
    detail: str  # JSON's detail, the flash message, the error page's text
    headers: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] | None = None  # the fields at fault (400)
    sentence: str = ""  # how a widget says it ("Rating must be between 1 and 5.")
    value: str = ""  # what was typed, to put back into the form

    @property
    def message(self) -> str:
        return self.sentence or self.detail


Render = Callable[[Request[Any, Any, Any], AsyncSession, Problem], Awaitable[Response[Any] | None]]


@dataclass(frozen=True, slots=True)
class ErrorView:
    """A route's own rendering of its errors (for the statuses listed); ``render`` gets its own
    database session, and may return ``None`` to fall back to the flash message or page."""

    render: Render
    statuses: frozenset[int]


def shows_errors(render: Render, *statuses: int) -> dict[str, Any]:
    """``opt=shows_errors(rating_widget, 400, 429, 503)``: these errors show in the form's
    widget instead of a flash message or the error page."""
    return {"error_view": ErrorView(render, frozenset(statuses))}


def wants_json(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


# -- each kind of error, as a Problem -------------------------------------------------------------


def _from_http(exc: HTTPException) -> Problem:
    status = exc.status_code
    detail = exc.detail if status < 500 or status == 503 else TITLES.get(status, "Server error")
    extra = getattr(exc, "extra", None)
    errors = extra if isinstance(extra, list) and extra and status < 500 else None
    return Problem(status, detail, dict(exc.headers or {}), errors)


def _from_invalid(exc: InvalidInput) -> Problem:
    return Problem(
        400,
        f"{exc.field}: {exc.message}",
        errors=[{"field": exc.field, "message": exc.message}],
        sentence=exc.sentence,
        value=exc.value,
    )


def _retry(seconds: int) -> dict[str, str]:
    return {"Retry-After": str(seconds)}


def _problem(request: Request[Any, Any, Any], exc: Exception) -> Problem:
    """The Problem for any exception (the one mapping from kinds of error to answers)."""
    if isinstance(exc, HTTPException):
        return _from_http(exc)
    if isinstance(exc, InvalidInput):
        return _from_invalid(exc)
    if isinstance(exc, UnknownMedia | UnknownPlaylist):
        return Problem(404, str(exc))
    if isinstance(exc, UnknownProfile):
        return Problem(404, "No such profile")
    if isinstance(exc, NotAllowed):
        return Problem(403, str(exc))
    if isinstance(exc, RateLimited):
        return Problem(429, str(exc), _retry(exc.retry_after))
    if isinstance(exc, DatabaseBusy):
        return Problem(503, BUSY, _retry(exc.retry_after))
    if isinstance(exc, ConversionsBusy):
        detail = (
            "The server is already converting as many videos as it can; "
            f"try again in {exc.retry_after} s"
        )
        return Problem(503, detail, _retry(exc.retry_after))
    if isinstance(exc, RepositoryError):
        if isinstance(exc, NotFoundError):
            return _from_http(NotFoundException())
        # The database failed under a query (restarting, unreachable, out of connections): a
        # clean 503 that says to retry, never a stack trace or a misleading 409.
        log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
        return Problem(503, TITLES[503], _retry(5))
    if isinstance(exc, ConversionFailed):
        log.warning("conversion failed on %s: %s", request.url.path, exc)
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _from_http(HTTPException(status_code=HTTP_500_INTERNAL_SERVER_ERROR))


# -- each kind of answer --------------------------------------------------------------------------


def as_json(problem: Problem) -> Response[Any]:
    body: dict[str, Any] = {"status_code": problem.status, "detail": problem.detail}
    if problem.errors:
        body["errors"] = problem.errors
    return Response(
        body, status_code=problem.status, media_type=MediaType.JSON, headers=problem.headers
    )


def as_flash(problem: Problem) -> Response[Any]:
    """htmx: the message in the page's flash area, instead of swapping an error page into
    whatever the request targeted."""
    return Template(
        template_name="partials/_flashes.html",
        context={"messages": [{"category": "error", "message": problem.detail}]},
        status_code=problem.status,
        headers={**problem.headers, "HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"},
        media_type=MediaType.HTML,
    )


def as_page(problem: Problem) -> Response[Any]:
    return Template(
        template_name="pages/error.html",
        context={
            "status": problem.status,
            "title": TITLES.get(problem.status, "Error"),
            "detail": problem.detail,
        },
        status_code=problem.status,
        headers=problem.headers,
        media_type=MediaType.HTML,
    )


def _plain(request: Request[Any, Any, Any], problem: Problem) -> Response[Any]:
    return as_flash(problem) if is_htmx(request) else as_page(problem)


class _InView(Response[None]):
    """The route's error view, rendered as the answer is sent: Litestar's exception handlers
    are synchronous, and a widget shows current figures from the database."""

    def __init__(self, request: Request[Any, Any, Any], view: ErrorView, problem: Problem) -> None:
        super().__init__(None, status_code=problem.status)
        self._view = view
        self._problem = problem
        self._request = request

    async def _build(self) -> Response[Any]:
        request, problem = self._request, self._problem
        try:
            async with request.app.state.sessions() as session:
                shown = await self._view.render(request, session, problem)
        except Exception as exc:  # the widget could not be shown: the plain answer still can
            log.warning("error view failed on %s: %r", request.url.path, exc)
            shown = None
        return shown if shown is not None else _plain(request, problem)

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> Any:
        async def send_it(scope: Scope, receive: Receive, send: Send) -> None:
            response = await self._build()
            asgi: ASGIResponse = response.to_asgi_response(app, request, **kwargs)
            await asgi(scope, receive, send)

        return send_it


def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The one exception handler: the Problem, rendered for whoever asked."""
    problem = _problem(request, exc)
    if wants_json(request):
        return as_json(problem)
    handler = request.scope.get("route_handler")
    view: ErrorView | None = handler.opt.get("error_view") if handler is not None else None
    if view is not None and problem.status in view.statuses:
        return _InView(request, view, problem)
    return _plain(request, problem)


def exception_handlers() -> ExceptionHandlersMap:
    return {Exception: answer, HTTPException: answer}
