"""Every error renders as a page (or JSON for API clients); never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from advanced_alchemy.exceptions import NotFoundError, RepositoryError
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from lvs.playback.converter import ConversionFailed, ConversionsBusy

__all__ = ["exception_handlers", "wants_json"]

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


def wants_json(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    detail = exc.detail if status < 500 or status == 503 else TITLES.get(status, "Server error")
    headers = dict(exc.headers or {})
    if request.headers.get("hx-request") == "true" and not wants_json(request):
        # htmx: show the message in the page's flash area instead of swapping an error page
        # into whatever the request targeted.
        headers.update({"HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"})
        return Template(
            template_name="partials/_flashes.html",
            context={"messages": [{"category": "error", "message": detail}]},
            status_code=status,
            headers=headers,
            media_type=MediaType.HTML,
        )
    if wants_json(request):
        body: dict[str, Any] = {"status_code": status, "detail": detail}
        extra = getattr(exc, "extra", None)
        if extra and status < 500:
            body["errors"] = extra
        return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)
    return Template(
        template_name="pages/error.html",
        context={"status": status, "title": TITLES.get(status, "Error"), "detail": detail},
        status_code=status,
        headers=headers,
        media_type=MediaType.HTML,
    )


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _handle_http(request, HTTPException(status_code=HTTP_500_INTERNAL_SERVER_ERROR))


def _handle_repository(request: Request[Any, Any, Any], exc: RepositoryError) -> Response[Any]:
    """The database failed under a query (restarting, unreachable, out of connections): a
    clean 503 that says to retry, never a stack trace or a misleading 409."""
    if isinstance(exc, NotFoundError):
        return _handle_http(request, NotFoundException())
    log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
    return _handle_http(
        request,
        HTTPException(status_code=503, detail=TITLES[503], headers={"Retry-After": "5"}),
    )


def _handle_busy(request: Request[Any, Any, Any], exc: ConversionsBusy) -> Response[Any]:
    return _handle_http(
        request,
        HTTPException(
            status_code=503,
            detail="The server is already converting as many videos as it can; "
            f"try again in {exc.retry_after} s",
            headers={"Retry-After": str(exc.retry_after)},
        ),
    )


def _handle_conversion(request: Request[Any, Any, Any], exc: ConversionFailed) -> Response[Any]:
    log.warning("conversion failed on %s: %s", request.url.path, exc)
    return _handle_http(request, HTTPException(status_code=HTTP_500_INTERNAL_SERVER_ERROR))


def exception_handlers() -> ExceptionHandlersMap:
    return {
        ConversionsBusy: _handle_busy,
        ConversionFailed: _handle_conversion,
        HTTPException: _handle_http,
        RepositoryError: _handle_repository,
        Exception: _handle_unexpected,
    }
