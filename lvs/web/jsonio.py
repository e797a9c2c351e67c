"""Reading JSON request bodies and reporting what is wrong with them, for every JSON route."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from lvs.web.inputs import bad_request

__all__ = ["bad_request", "json_body"]


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
    except (ValueError, RecursionError) as exc:
        # msgspec.DecodeError for bad syntax, UnicodeDecodeError for invalid UTF-8 inside a
        # string, RecursionError for arrays nested thousands deep: all the client's doing.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise bad_request("body", f"malformed JSON ({reason})") from exc
    if not isinstance(payload, dict):
        raise bad_request("body", 'must be a JSON object like {"value": 4}')
    return payload
