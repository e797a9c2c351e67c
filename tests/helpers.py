"""Helpers shared by test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from bs4 import BeautifulSoup
from conftest import db_query, html
from litestar import Litestar
from litestar.testing import TestClient

from lvs.settings import Settings

__all__ = ["TABLES", "csrf_token", "log_in", "media_ids", "snapshot"]

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


def log_in(client: TestClient[Litestar] | httpx.Client, password: str) -> httpx.Response:
    """Fill in the login form like a browser: its hidden fields, plus the password."""
    page = html(client.get("/login").text)
    form = page.select_one("form[action='/login']")
    assert form is not None, "no login form"
    data = {str(i["name"]): str(i.get("value", "")) for i in form.select("input[type=hidden]")}
    data["password"] = password
    return client.post("/login", data=data, follow_redirects=False)
