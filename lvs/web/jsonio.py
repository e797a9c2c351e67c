"""Reading JSON request bodies and reporting what is wrong with them, for every JSON route."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_415_UNSUPPORTED_MEDIA_TYPE

__all__ = ["bad_request", "json_body"]


def bad_request(field: str, message: str) -> HTTPException:
    """A 400 whose JSON names the field: ``{"detail": "value: ...", "errors": [...]}``."""
    return HTTPException(
        status_code=HTTP_400_BAD_REQUEST,
        detail=f"{field}: {message}",
        extra=[{"field": field, "message": message}],
    )


async def json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request's JSON object, or a 415/400 that says what is wrong.

    Requiring ``application/json`` is also what keeps the JSON API safe from cross-site forms:
    a page elsewhere cannot send that type without a CORS preflight, which lvs never allows."""
    if request.content_type[0] != "application/json":
        raise HTTPException(
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="Send application/json"
        )
    try:
        payload = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise bad_request("body", f"malformed JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise bad_request("body", 'must be a JSON object like {"value": 4}')
    return payload
