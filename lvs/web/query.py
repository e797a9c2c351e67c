"""Reading a library URL's query parameters into a ``LibraryQuery``.

Plain GET forms send every field, empty ones too, so an empty value means "not set". Anything
else that does not parse is a 400 that names the parameter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import parse_qsl

from litestar import Request
from litestar.exceptions import ValidationException

from lvs.services.library import RESOLUTIONS, SORTS, LibraryQuery, SortKey, default_desc

__all__ = ["canonical_url", "parse_library_query", "provide_library_query"]

_SORT = re.compile(r"^(?P<key>[a-z]+)(?:-(?P<dir>asc|desc))?$")


def _bad(field: str, message: str) -> ValidationException:
    return ValidationException(
        detail=f"{field}: {message}", extra=[{"field": field, "message": message}]
    )


def _int(params: Mapping[str, str], field: str, low: int, high: int) -> int | None:
    raw = params.get(field, "").strip()
    if raw == "":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise _bad(field, f"must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise _bad(field, f"must be from {low} to {high}")
    return value


def _text(params: Mapping[str, str], field: str, limit: int) -> str:
    value = params.get(field, "").strip()
    if len(value) > limit:
        raise _bad(field, f"must be at most {limit} characters")
    return value


def parse_library_query(params: Mapping[str, str]) -> LibraryQuery:
    sort_raw = params.get("sort", "").strip() or "added"
    match = _SORT.match(sort_raw)
    if not match or match["key"] not in SORTS:
        raise _bad("sort", f"must be one of {', '.join(SORTS)} (optionally -asc or -desc)")
    sort = cast("SortKey", match["key"])
    desc = default_desc(sort) if match["dir"] is None else match["dir"] == "desc"
    rated = params.get("rated", "").strip()
    if rated not in {"", "yes", "no"}:
        raise _bad("rated", "must be yes or no")
    res = params.get("res", "").strip()
    if res and res not in RESOLUTIONS:
        raise _bad("res", f"must be one of {', '.join(RESOLUTIONS)}")
    favorites = params.get("favorites", "").strip().lower()
    if favorites not in {"", "0", "1", "on", "true", "false", "yes", "no"}:
        raise _bad("favorites", "must be 1 or 0")
    dur_min = _int(params, "dur_min", 0, 100_000)
    dur_max = _int(params, "dur_max", 0, 100_000)
    if dur_min is not None and dur_max is not None and dur_min > dur_max:
        raise _bad("dur_max", "must not be less than dur_min")
    return LibraryQuery(
        q=_text(params, "q", 200),
        sort=sort,
        desc=desc,
        favorites=favorites in {"1", "on", "true", "yes"},
        tag=_text(params, "tag", 64),
        rated=cast("Any", rated),
        min_rating=_int(params, "min_rating", 1, 5),
        res=res,
        dur_min=dur_min,
        dur_max=dur_max,
        folder=_text(params, "folder", 1024),
        page=_int(params, "page", 1, 1_000_000) or 1,
    )


def provide_library_query(request: Request[Any, Any, Any]) -> LibraryQuery:
    return parse_library_query({k: v[-1] for k, v in request.query_params.dict().items() if v})


def canonical_url(request: Request[Any, Any, Any], query: LibraryQuery) -> str | None:
    """Where a plain GET of a library view should be redirected, or None when its URL is already
    the canonical one.

    A GET form sends every field, empty ones too (``?q=&sort=&tag=&...``), and spellings such as
    ``favorites=on``, ``sort=added`` or ``page=1`` say the same as leaving them out: the canonical
    URL keeps only what changes the view, spelled one way (``LibraryQuery.url``), so that a
    bookmark, the history and a shared link read cleanly. htmx requests are answered as they are
    (the handler pushes the canonical URL itself)."""
    if request.headers.get("hx-request"):
        return None
    sent = sorted(parse_qsl(request.url.query, keep_blank_values=True))
    if sent == sorted(query.params().items()):
        return None
    return query.url(request.url.path)
