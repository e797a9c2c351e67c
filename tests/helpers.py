"""Helpers shared by test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bs4 import BeautifulSoup, Tag
from conftest import db_execute, db_query, html
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import insert

from lvs.db.models import Media
from lvs.services.scanner import parsed_values, title_from_path
from lvs.settings import Settings

__all__ = [
    "HTMX",
    "TABLES",
    "add_videos",
    "csrf_token",
    "fields",
    "flashes",
    "follow",
    "fragment_roots",
    "get_page",
    "log_in",
    "media_ids",
    "one",
    "retry_after",
    "snapshot",
    "submit",
    "text",
]

HTMX = {"HX-Request": "true"}
"""The header htmx adds to every request it makes."""

TABLES = ("ratings", "favorites", "tags", "media_tags", "views", "positions", "users")


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the per-person tables, to show that a refused request changed nothing."""
    return {t: sorted(db_query(settings, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def media_ids(settings: Settings) -> dict[str, tuple[int, str]]:
    """``{title: (id, media_hash)}``."""
    rows = db_query(settings, "SELECT title, id, media_hash FROM media")
    return {str(title): (int(i), str(h)) for title, i, h in rows}


def csrf_token(page: BeautifulSoup) -> str:
    """The CSRF token a page carries (a form field, or htmx's headers on <body>)."""
    field = page.select_one("input[name=_csrf_token]")
    if field is not None:
        return str(field["value"])
    body = page.select_one("body")
    assert body is not None
    match = re.search(r'"x-csrftoken":\s*"([^"]+)"', str(body.get("hx-headers", "")))
    assert match, "no CSRF token on the page"
    return match.group(1)


def text(node: Tag | None) -> str:
    """What a person reads in ``node``: its text, white space collapsed."""
    assert node is not None
    return " ".join(node.get_text(" ", strip=True).split())


def get_page(client: TestClient[Litestar], url: str) -> BeautifulSoup:
    """A page that must answer 200, parsed."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    page: BeautifulSoup = html(response.text)
    return page


def one(page: BeautifulSoup | Tag, selector: str) -> Tag:
    """The one element ``selector`` matches (not zero, not two)."""
    found = page.select(selector)
    assert len(found) == 1, f"{len(found)} elements match {selector!r}"
    return found[0]


def fields(form: Tag) -> dict[str, str]:
    """What a browser sends for ``form``: its named inputs with their current values."""
    return {str(i["name"]): str(i.get("value", "")) for i in form.select("input[name]")}


def submit(
    client: TestClient[Litestar], form: Tag, *, htmx: bool = False, **changes: str
) -> httpx.Response:
    """Submit ``form`` as a browser would (htmx sends the same fields plus its headers)."""
    assert str(form.get("method", "get")).lower() == "post"
    if htmx:
        assert form.get("hx-post") == form["action"], "htmx must post where the form posts"
    return client.post(
        str(form["action"]),
        data=fields(form) | changes,
        headers=HTMX if htmx else {},
        follow_redirects=False,
    )


def fragment_roots(response: httpx.Response) -> list[Tag]:
    """The top-level elements of an htmx fragment (which must not be a whole page)."""
    fragment = html(response.text)
    assert fragment.find("html") is None and fragment.find("body") is None, "not a fragment"
    return [node for node in fragment.children if isinstance(node, Tag)]


def flashes(page: BeautifulSoup) -> list[str]:
    """The flash messages a page shows."""
    return [text(f) for f in page.select("#flashes .flash")]


def follow(client: TestClient[Litestar], response: httpx.Response) -> BeautifulSoup:
    """The page a 303 after a form POST leads to."""
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return get_page(client, response.headers["location"])


def retry_after(response: httpx.Response) -> int:
    """The whole seconds a 429 or 503 asks to wait."""
    value = response.headers.get("retry-after", "")
    assert re.fullmatch(r"\d+", value), f"Retry-After is not whole seconds: {value!r}"
    return int(value)


def log_in(client: TestClient[Litestar] | httpx.Client, password: str) -> httpx.Response:
    """Fill in the login form like a browser: its hidden fields, plus the password."""
    page = html(client.get("/login").text)
    form = page.select_one("form[action='/login']")
    assert form is not None, "no login form"
    data = {str(i["name"]): str(i.get("value", "")) for i in form.select("input[type=hidden]")}
    data["password"] = password
    return client.post("/login", data=data, follow_redirects=False)


def add_videos(
    settings: Settings, rel_paths: list[str], *, duration: float = 600.0
) -> dict[str, int]:
    """Index ``rel_paths`` (no file needed: what the home, shows and folders pages read comes
    from the path), each one minute newer than the one before. Returns ``{rel_path: id}``."""
    root = settings.library[0]
    first = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "path": str(root / rel),
            "root": str(root),
            "rel_path": rel,
            "title": title_from_path(Path(rel)),
            "media_hash": hashlib.sha256(rel.encode()).hexdigest()[:16],
            "size": 1000,
            "mtime_ns": 1,
            "duration": duration,
            "width": 320,
            "height": 180,
            "container": "mp4",
            "created_at": first + timedelta(minutes=n),
            "updated_at": first + timedelta(minutes=n),
            **parsed_values(rel),
        }
        for n, rel in enumerate(rel_paths)
    ]
    db_execute(settings, insert(Media).values(rows))
    return {str(rel): int(i) for rel, i in db_query(settings, "SELECT rel_path, id FROM media")}
