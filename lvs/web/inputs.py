"""Text that clients send, checked once for every route.

* Query parameters (``QueryTextMiddleware``): a control character in a name or value is a 400
  that names the parameter, on every route. They are never part of a search, a tag, a folder or
  a sort, and PostgreSQL text cannot hold NUL at all (a NUL that reached a query was a 500 there
  and a silent mismatch on SQLite).
* Form bodies (``read_form``): strictly UTF-8, else a 400; not a form at all, a 415. The fields
  themselves are checked by the rules that use them (a tag name refuses control characters with
  its own message, a path to go back to falls back to ``/``).
* JSON bodies: ``lvs.web.jsonio``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ["CONTROL", "QueryTextMiddleware", "bad_request", "read_form"]

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""C0 control characters and DEL."""

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def bad_request(field: str, message: str) -> HTTPException:
    """A 400 whose JSON names the field: ``{"detail": "value: ...", "errors": [...]}``."""
    return HTTPException(
        status_code=HTTP_400_BAD_REQUEST,
        detail=f"{field}: {message}",
        extra=[{"field": field, "message": message}],
    )


def _check_text(field: str, value: str) -> None:
    if CONTROL.search(value):
        raise bad_request(CONTROL.sub("?", field)[:64], "must not contain control characters")


class QueryTextMiddleware(ASGIMiddleware):
    """400 for a query parameter (name or value) with a control character, on every route."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        raw: bytes = scope.get("query_string", b"")
        if b"%" in raw or CONTROL.search(raw.decode("latin-1")):
            for name, value in parse_qsl(
                raw.decode("latin-1"), keep_blank_values=True, errors="replace"
            ):
                _check_text(name, name)
                _check_text(name, value)
        await next_app(scope, receive, send)


async def read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The request's form fields (text only; the last value of a repeated field); a 400 for a
    body that is not UTF-8, a 415 for one that is not a form at all."""
    kind = request.content_type[0]
    body = await request.body()
    if kind not in FORM_TYPES and body:
        raise HTTPException(status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="Send a form")
    try:
        if kind == "multipart/form-data":
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        else:  # strictly UTF-8, raw or percent-encoded (Litestar would guess instead)
            pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
            fields = dict(pairs)
    except HTTPException:
        raise
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise bad_request("body", "not a readable form (forms are UTF-8)") from exc
    return fields
