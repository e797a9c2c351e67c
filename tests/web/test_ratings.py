"""Rating a video through the app: the star form with and without htmx, the JSON API, CSRF,
rate limits (also behind proxies), the summary cache and a busy database."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from conftest import db_query, html
from helpers import HTMX, fragment_roots, retry_after, text
from litestar import Litestar
from litestar.testing import TestClient
from litestar.testing import transport as litestar_transport

import lvs.db.config as db_config
import lvs.services.writes as writes
from lvs.app import create_app
from lvs.settings import Settings


@pytest.fixture
def videos(scanned: Settings) -> dict[str, tuple[int, str]]:
    """``{title: (media id, media hash)}`` straight from the database."""
    rows = db_query(scanned, "SELECT title, id, media_hash FROM media")
    return {title: (media_id, media_hash) for title, media_id, media_hash in rows}


@pytest.fixture
def alpha(videos: dict[str, tuple[int, str]]) -> tuple[int, str]:
    return videos["Alpha"]


def rating_rows(settings: Settings) -> list[tuple[str, int]]:
    """``(media_hash, value)`` of every row in the ratings table."""
    return db_query(settings, "SELECT media_hash, value FROM ratings ORDER BY id")


def widget_of(page: BeautifulSoup | Tag, media_hash: str) -> Tag:
    widget = page.select_one(f"div#rating-{media_hash}")
    assert widget is not None, f"no rating widget for {media_hash}"
    return widget


def form_fields(widget: Tag) -> dict[str, str]:
    """The hidden inputs a browser would send with the widget's form."""
    form = widget.select_one("form")
    assert form is not None
    return {
        str(i["name"]): str(i.get("value", "")) for i in form.select("input[type=hidden][name]")
    }


def pressed(widget: Tag) -> list[str]:
    return [str(b["value"]) for b in widget.select("button[name=value][aria-pressed=true]")]


def summary_text(widget: Tag) -> str:
    return text(widget.select_one(".rating-summary"))


def watch(client: TestClient[Litestar], media_id: int) -> BeautifulSoup:
    response = client.get(f"/media/{media_id}")
    assert response.status_code == 200
    return html(response.text)


def rate_form(
    client: TestClient[Litestar],
    widget: Tag,
    value: str | None,
    *,
    htmx: bool,
    **overrides: str,
) -> httpx.Response:
    """Press a star of ``widget`` like a browser (htmx sends the same fields plus its header)."""
    form = widget.select_one("form")
    assert form is not None
    data = form_fields(widget) | overrides
    if value is not None:
        data["value"] = value
    return client.post(
        str(form["action"]),
        data=data,
        headers=HTMX if htmx else {},
        follow_redirects=False,
    )


class Browsers:
    """Several people on one test client: each name keeps its own cookie jar."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client
        self.jars: dict[str, httpx.Cookies] = {}
        self.current: str | None = None

    def use(self, name: str) -> TestClient[Litestar]:
        if self.current is not None:
            self.jars[self.current] = httpx.Cookies(self.client.cookies)
        self.client.cookies = self.jars.get(name, httpx.Cookies())
        self.current = name
        return self.client


def api_rate(client: TestClient[Litestar], media_hash: str, body: Any) -> httpx.Response:
    return client.post(f"/api/ratings/{media_hash}", json=body)


# -- the widget -------------------------------------------------------------------------------


def test_watch_page_has_a_real_star_form(
    client: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha

    widget = widget_of(watch(client, media_id), media_hash)

    assert widget["data-media-hash"] == media_hash
    form = widget.select_one("form")
    assert form is not None
    assert str(form["method"]).lower() == "post"
    assert form["action"] == f"/ratings/{media_hash}"
    fields = form_fields(widget)
    assert fields["_csrf_token"]
    assert fields["next"] == f"/media/{media_id}"
    assert "compact" not in fields
    buttons = widget.select("button[name=value]")
    assert [b["value"] for b in buttons] == ["1", "2", "3", "4", "5"]
    assert [b["aria-label"] for b in buttons] == [f"Rate {n} out of 5" for n in range(1, 6)]
    assert [b["aria-pressed"] for b in buttons] == ["false"] * 5
    assert all(b.get("type", "submit") == "submit" for b in buttons)
    assert text(widget.select_one(".count")) == "0 ratings"
    assert widget.select_one(".yours") is None


def test_the_first_response_sets_a_lasting_private_session_cookie(
    client: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    response = client.get(f"/media/{alpha[0]}")

    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith("lvs_session=")]
    assert len(cookies) == 1, response.headers.get_list("set-cookie")
    attributes = {
        part.split("=", 1)[0].strip().lower(): part.split("=", 1)[-1].strip()
        for part in cookies[0].split(";")[1:]
    }
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert int(attributes["max-age"]) >= 365 * 24 * 3600
    assert attributes.get("path", "/") == "/"


# -- the form: htmx and no-JS -----------------------------------------------------------------


def test_htmx_rating_returns_only_the_updated_widget(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    widget = widget_of(watch(client, media_id), media_hash)

    response = rate_form(client, widget, "4", htmx=True)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    roots = fragment_roots(response)
    assert [(r.name, r.get("id")) for r in roots] == [("div", f"rating-{media_hash}")]
    new = roots[0]
    assert pressed(new) == ["4"]
    assert text(new.select_one(".average")) == "★ 4.0"
    assert text(new.select_one(".count")) == "1 rating"
    assert text(new.select_one(".yours")) == "yours 4"
    assert new.select_one(".rating-error") is None
    # The swapped-in form still works: same target, a CSRF token, the same way back.
    assert form_fields(new)["_csrf_token"]
    assert form_fields(new)["next"] == f"/media/{media_id}"
    assert rating_rows(scanned) == [(media_hash, 4)]


def test_without_javascript_rating_redirects_back_and_shows_it(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    widget = widget_of(watch(client, media_id), media_hash)

    response = rate_form(client, widget, "4", htmx=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"/media/{media_id}"
    page = html(client.get(response.headers["location"]).text)
    after = widget_of(page, media_hash)
    assert pressed(after) == ["4"]
    assert summary_text(after) == "★ 4.0 · 1 rating · yours 4"
    flashes = [text(f) for f in page.select(".flash")]
    assert any("Rated 4 out of 5" in f for f in flashes), flashes
    # The flash is shown once.
    again = html(client.get(f"/media/{media_id}").text)
    assert not any("Rated 4" in text(f) for f in again.select(".flash"))
    assert rating_rows(scanned) == [(media_hash, 4)]


def session_cookies(response: httpx.Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith("lvs_session=")]


def test_the_session_cookie_is_sent_again_only_when_the_session_changes(
    client: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    assert session_cookies(client.get(f"/media/{media_id}"))  # a new browser gets its id
    for url in ("/", f"/media/{media_id}", f"/api/ratings/{media_hash}", "/history"):
        response = client.get(url)
        assert response.status_code == 200
        assert session_cookies(response) == [], f"{url} re-sent an unchanged session"

    # A rating without JavaScript leaves a flash message in the session: sent; showing it
    # takes it out again: sent; after that, nothing changes: nothing sent.
    rated = rate_form(client, widget_of(watch(client, media_id), media_hash), "4", htmx=False)
    assert rated.status_code == 303
    assert session_cookies(rated)
    shown = client.get(rated.headers["location"])
    assert any("Rated 4" in text(f) for f in html(shown.text).select(".flash"))
    assert session_cookies(shown)
    quiet = client.get(rated.headers["location"])
    assert session_cookies(quiet) == []
    assert not any("Rated 4" in text(f) for f in html(quiet.text).select(".flash"))
    # The identity held all along.
    assert client.get(f"/api/ratings/{media_hash}").json()["user"] == 4


def test_a_damaged_session_cookie_is_cleared_or_replaced(
    client: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    client.cookies = httpx.Cookies({"lvs_session": "not-a-real-session"})
    response = client.get(f"/media/{alpha[0]}")
    assert response.status_code == 200
    cookies = session_cookies(response)
    assert cookies and not cookies[0].startswith("lvs_session=not-a-real-session")


def test_rating_again_changes_your_rating_not_the_count(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    rate_form(client, widget_of(watch(client, media_id), media_hash), "2", htmx=True)

    response = rate_form(client, widget_of(watch(client, media_id), media_hash), "5", htmx=True)

    assert summary_text(fragment_roots(response)[0]) == "★ 5.0 · 1 rating · yours 5"
    assert rating_rows(scanned) == [(media_hash, 5)]


def test_two_browsers_are_two_people(client: TestClient[Litestar], alpha: tuple[int, str]) -> None:
    media_id, media_hash = alpha
    people = Browsers(client)

    people.use("ann")
    rate_form(client, widget_of(watch(client, media_id), media_hash), "4", htmx=False)
    people.use("bob")
    rate_form(client, widget_of(watch(client, media_id), media_hash), "3", htmx=False)

    bobs_view = widget_of(watch(client, media_id), media_hash)
    people.use("ann")
    anns_view = widget_of(watch(client, media_id), media_hash)
    assert summary_text(anns_view) == "★ 3.5 · 2 ratings · yours 4"
    assert summary_text(bobs_view) == "★ 3.5 · 2 ratings · yours 3"
    assert pressed(anns_view) == ["4"] and pressed(bobs_view) == ["3"]
    # A browser that never rated sees the average and no "yours".
    people.use("stranger")
    stranger = widget_of(watch(client, media_id), media_hash)
    assert summary_text(stranger) == "★ 3.5 · 2 ratings"
    assert pressed(stranger) == []


def forge(cookie: str, how: str) -> str:
    real = cookie.strip('"')  # base64 with "/" and "+" comes quoted
    if how == "changed in the middle":  # the encrypted part: the signature no longer matches
        i = len(real) // 2
        return real[:i] + ("A" if real[i] != "A" else "B") + real[i + 1 :]
    if how == "cut short":  # a proxy or a cookie store truncating it (still valid base64)
        return real[:-8]
    return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # random bytes


@pytest.mark.parametrize("how", ["changed in the middle", "cut short", "random bytes"])
def test_a_damaged_session_cookie_is_just_a_new_browser(
    client: TestClient[Litestar], alpha: tuple[int, str], how: str
) -> None:
    media_id, media_hash = alpha
    rate_form(client, widget_of(watch(client, media_id), media_hash), "4", htmx=True)
    real = client.cookies["lvs_session"]

    client.cookies = httpx.Cookies({"lvs_session": forge(real, how)})
    page = client.get(f"/media/{media_id}")

    assert page.status_code == 200, f"a session cookie {how} breaks the page"
    # Not the rater's identity: the rating counts, "yours" is not shown.
    assert summary_text(widget_of(html(page.text), media_hash)) == "★ 4.0 · 1 rating"


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.com",
        "//evil.com/media/1",
        "https://evil.com",
        "https://evil.com/media/1",
        "javascript:alert(1)",
        "/\\evil.com",
        "\\\\evil.com",
        "evil.com",
        "/\t/evil.com",  # browsers drop tabs and newlines: this would become //evil.com
        "/\r\nSet-Cookie: x=1",
        "",
    ],
)
def test_the_way_back_never_leaves_the_site(
    client: TestClient[Litestar], alpha: tuple[int, str], next_url: str
) -> None:
    media_id, media_hash = alpha
    widget = widget_of(watch(client, media_id), media_hash)

    plain = rate_form(client, widget, "4", htmx=False, next=next_url)
    fragment = rate_form(client, widget, "3", htmx=True, next=next_url)

    assert plain.status_code == 303
    assert plain.headers["location"] == "/"
    assert form_fields(fragment_roots(fragment)[0])["next"] == "/"


@pytest.mark.parametrize("next_url", ["/", "/?page=2#card-3", "/media/1"])
def test_a_local_way_back_is_kept(
    client: TestClient[Litestar], alpha: tuple[int, str], next_url: str
) -> None:
    media_id, media_hash = alpha
    widget = widget_of(watch(client, media_id), media_hash)

    response = rate_form(client, widget, "4", htmx=False, next=next_url)

    assert response.status_code == 303
    assert response.headers["location"] == next_url


@pytest.mark.parametrize("value", ["0", "6", "abc", "4.5", "", "-1", None])
def test_a_bad_star_value_is_a_400_with_the_widget_and_a_message(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str], value: str | None
) -> None:
    media_id, media_hash = alpha
    widget = widget_of(watch(client, media_id), media_hash)

    fragment = rate_form(client, widget, value, htmx=True)
    page = rate_form(client, widget, value, htmx=False)

    assert fragment.status_code == 400
    roots = fragment_roots(fragment)
    assert [r.get("id") for r in roots] == [f"rating-{media_hash}"]
    assert "Rating" in text(roots[0].select_one(".rating-error"))
    assert page.status_code == 400
    full = html(page.text)
    assert full.find("html") is not None
    assert "Rating" in text(widget_of(full, media_hash).select_one(".rating-error"))
    assert full.select_one(f"a[href='/media/{media_id}']") is not None  # a way back
    assert rating_rows(scanned) == []


# -- the library cards ------------------------------------------------------------------------


@pytest.fixture
def paged(scanned: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(replace(scanned, page_size=2))) as c:
        yield c


def card_widgets(page: BeautifulSoup) -> dict[str, Tag]:
    """``{card id: its rating widget}``."""
    found = {}
    for card in page.select("li.card"):
        widget = card.select_one("div.rating")
        assert widget is not None, f"{card.get('id')} has no rating widget"
        found[str(card["id"])] = widget
    return found


@pytest.mark.parametrize("page_url", ["/library", "/library?page=2"])
def test_library_cards_have_compact_widgets_that_come_back_to_the_page(
    paged: TestClient[Litestar], scanned: Settings, page_url: str
) -> None:
    page = html(paged.get(page_url).text)
    widgets = card_widgets(page)
    assert widgets

    for card_id, widget in widgets.items():
        assert "rating-compact" in widget["class"]
        fields = form_fields(widget)
        assert fields["compact"] == "1"
        assert fields["_csrf_token"]
        back = urlsplit(fields["next"])
        assert back.path == "/library"
        assert back.fragment == card_id
        wanted = parse_qs(urlsplit(page_url).query).get("page", ["1"])
        assert parse_qs(back.query).get("page", ["1"]) == wanted

    # Rating from a card of page 2 without JavaScript lands back on page 2 at that card.
    card_id, widget = next(iter(widgets.items()))
    response = rate_form(paged, widget, "5", htmx=False)
    assert response.status_code == 303
    assert response.headers["location"] == form_fields(widget)["next"]
    back_page = html(paged.get(response.headers["location"]).text)
    back_widget = card_widgets(back_page)[card_id]
    assert summary_text(back_widget) == "★ 5.0 1 rating"  # the count is for screen readers
    assert text(back_widget.select_one("summary .yours")) == "5"


def test_htmx_rating_on_a_card_keeps_it_compact(
    client: TestClient[Litestar], videos: dict[str, tuple[int, str]]
) -> None:
    media_id, media_hash = videos["Bravo"]
    widget = card_widgets(html(client.get("/library").text))[f"card-{media_id}"]

    response = rate_form(client, widget, "2", htmx=True)

    assert response.status_code == 200
    (root,) = fragment_roots(response)
    assert root["id"] == f"rating-{media_hash}"
    assert "rating-compact" in root["class"]
    assert form_fields(root)["compact"] == "1"
    assert form_fields(root)["next"] == form_fields(widget)["next"]
    assert pressed(root) == ["2"]


# -- CSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("token", ["missing", "wrong", "another browser's"])
def test_a_post_without_this_browsers_csrf_token_is_refused(
    client: TestClient[Litestar],
    scanned: Settings,
    alpha: tuple[int, str],
    token: str,
    htmx: bool,
) -> None:
    media_id, media_hash = alpha
    people = Browsers(client)
    people.use("other")
    other_token = form_fields(widget_of(watch(client, media_id), media_hash))["_csrf_token"]
    people.use("me")
    fields = form_fields(widget_of(watch(client, media_id), media_hash))
    if token == "missing":
        del fields["_csrf_token"]
    elif token == "wrong":
        fields["_csrf_token"] = "x" * len(fields["_csrf_token"])
    else:
        fields["_csrf_token"] = other_token

    response = client.post(
        f"/ratings/{media_hash}",
        data=fields | {"value": "4"},
        headers=HTMX if htmx else {},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert rating_rows(scanned) == []


# -- the JSON API -----------------------------------------------------------------------------


def test_api_reads_and_writes_a_rating(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str]
) -> None:
    _, media_hash = alpha
    empty = client.get(f"/api/ratings/{media_hash}")
    assert empty.status_code == 200
    assert empty.json() == {"media_hash": media_hash, "average": None, "count": 0, "user": None}

    written = api_rate(client, media_hash, {"value": 4})

    assert written.status_code == 200
    assert written.headers["content-type"].startswith("application/json")
    assert written.json() == {"media_hash": media_hash, "average": 4.0, "count": 1, "user": 4}
    assert client.get(f"/api/ratings/{media_hash}").json()["user"] == 4
    assert rating_rows(scanned) == [(media_hash, 4)]


def test_api_and_form_are_the_same_ratings(
    client: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    api_rate(client, media_hash, {"value": 2})

    widget = widget_of(watch(client, media_id), media_hash)

    assert summary_text(widget) == "★ 2.0 · 1 rating · yours 2"


@pytest.mark.parametrize("value", ["4", 4.0, " 4 "])
def test_api_accepts_four_written_other_ways(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str], value: Any
) -> None:
    response = api_rate(client, alpha[1], {"value": value})

    assert response.status_code == 200
    assert response.json()["user"] == 4
    assert rating_rows(scanned) == [(alpha[1], 4)]


def test_api_accepts_json_with_a_charset(
    client: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    response = client.post(
        f"/api/ratings/{alpha[1]}",
        content=b'{"value": 3}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200
    assert response.json()["user"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"value": 4.5}', "value"),
        (b'{"value": 0}', "value"),
        (b'{"value": 6}', "value"),
        (b'{"value": -1}', "value"),
        (b'{"value": null}', "value"),
        (b'{"value": true}', "value"),
        (b'{"value": "abc"}', "value"),
        (b'{"value": "4.5"}', "value"),
        (b'{"value": [4]}', "value"),
        (b'{"value": {"n": 4}}', "value"),
        (b'{"value": 100000000000000000000000000004}', "value"),
        (b"{}", "value"),
        (b'{"rating": 4}', "value"),
        (b'{"value": ', "body"),
        (b"not json", "body"),
        (b"", "body"),
        (b"[4]", "body"),
        (b"4", "body"),
        (b'"4"', "body"),
        (b"null", "body"),
    ],
)
def test_api_refuses_bad_input_naming_the_field(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str], body: bytes, field: str
) -> None:
    response = client.post(
        f"/api/ratings/{alpha[1]}", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert [e["field"] for e in payload["errors"]] == [field], payload
    assert rating_rows(scanned) == []


MULTIPART = b'--x\r\nContent-Disposition: form-data; name="value"\r\n\r\n4\r\n--x--\r\n'


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"value": 4}'),  # what a cross-site <form enctype=text/plain> sends
        ("application/x-www-form-urlencoded", b"value=4"),
        ("multipart/form-data; boundary=x", MULTIPART),
    ],
)  # fmt: skip
def test_api_refuses_anything_but_json(
    client: TestClient[Litestar],
    scanned: Settings,
    alpha: tuple[int, str],
    content_type: str,
    body: bytes,
) -> None:
    response = client.post(
        f"/api/ratings/{alpha[1]}", content=body, headers={"Content-Type": content_type}
    )

    assert response.status_code == 415
    assert response.json()["status_code"] == 415
    assert rating_rows(scanned) == []


def test_api_refuses_an_oversized_body(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str]
) -> None:
    body = b'{"value": 4, "padding": "' + b"x" * 200_000 + b'"}'

    response = client.post(
        f"/api/ratings/{alpha[1]}", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert rating_rows(scanned) == []


UNKNOWN = ["0000000000000000", "not-a-hash", "ABCDEF0123456789", "0123456789abcdef0"]


@pytest.mark.parametrize("media_hash", UNKNOWN)
def test_api_unknown_video_is_404(
    client: TestClient[Litestar], scanned: Settings, media_hash: str
) -> None:
    read = client.get(f"/api/ratings/{media_hash}")
    write = api_rate(client, media_hash, {"value": 4})

    assert read.status_code == 404
    assert read.json()["status_code"] == 404
    assert write.status_code == 404
    assert rating_rows(scanned) == []


@pytest.mark.parametrize("media_hash", UNKNOWN)
def test_form_for_an_unknown_video_is_404(
    client: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str], media_hash: str
) -> None:
    fields = form_fields(widget_of(watch(client, alpha[0]), alpha[1]))

    response = client.post(
        f"/ratings/{media_hash}", data=fields | {"value": "4"}, follow_redirects=False
    )

    assert response.status_code == 404
    assert rating_rows(scanned) == []


# -- rate limits ------------------------------------------------------------------------------


@pytest.fixture
def fresh(scanned: Settings) -> Iterator[TestClient[Litestar]]:
    """Its own app, so its own rate-limit counters (the default 10/minute)."""
    with TestClient(create_app(scanned)) as c:
        yield c


def write_once(
    client: TestClient[Litestar], media: tuple[int, str], rendering: str, value: int
) -> httpx.Response:
    media_id, media_hash = media
    if rendering == "json":
        return api_rate(client, media_hash, {"value": value})
    widget = widget_of(watch(client, media_id), media_hash)
    return rate_form(client, widget, str(value), htmx=rendering == "htmx")


OK = {"json": 200, "htmx": 200, "page": 303}


def htmx_swaps(page: BeautifulSoup, status: int) -> bool:
    """Whether htmx, configured by the page's htmx-config meta, swaps a response of ``status``
    into the target (htmx 2: the first responseHandling entry whose code regex matches wins)."""
    meta = page.select_one("meta[name=htmx-config]")
    if meta is None:
        return status < 400  # htmx's default: 2xx swap, errors do not
    config = json.loads(str(meta["content"]))
    for entry in config.get("responseHandling", []):
        if re.search(entry["code"], str(status)):
            return bool(entry.get("swap"))
    return False


@pytest.mark.parametrize("rendering", ["json", "htmx", "page"])
def test_the_eleventh_write_in_a_minute_is_429(
    fresh: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str], rendering: str
) -> None:
    media_id, media_hash = alpha
    statuses = [write_once(fresh, alpha, rendering, 1 + i % 5).status_code for i in range(10)]
    assert statuses == [OK[rendering]] * 10
    assert rating_rows(scanned) == [(media_hash, 5)]  # the tenth write: 1 + 9 % 5

    refused = write_once(fresh, alpha, rendering, 2)

    assert refused.status_code == 429
    assert 1 <= retry_after(refused) <= 60
    assert rating_rows(scanned) == [(media_hash, 5)]  # nothing written
    if rendering == "json":
        body = refused.json()
        assert body["status_code"] == 429
        assert "Try again" in body["detail"]
    elif rendering == "htmx":
        (root,) = fragment_roots(refused)
        assert root["id"] == f"rating-{media_hash}"
        assert "Too many" in text(root.select_one(".rating-error"))
        assert summary_text(root) == "★ 5.0 · 1 rating · yours 5"
        assert htmx_swaps(watch(fresh, media_id), 429), "htmx would not show the 429 widget"
    else:
        page = html(refused.text)
        assert page.find("html") is not None
        assert "Too many" in text(widget_of(page, media_hash).select_one(".rating-error"))
        assert page.select_one(f"a[href='/media/{media_id}']") is not None


def test_the_limit_counts_writes_of_every_kind_together(
    fresh: TestClient[Litestar], scanned: Settings, videos: dict[str, tuple[int, str]]
) -> None:
    plan = ["json"] * 4 + ["htmx"] * 3 + ["page"] * 3
    media = list(videos.values())
    for i, rendering in enumerate(plan):
        response = write_once(fresh, media[i % 3], rendering, 3)
        assert response.status_code == OK[rendering], (i, rendering)

    assert write_once(fresh, media[0], "htmx", 4).status_code == 429
    assert write_once(fresh, media[1], "json", 4).status_code == 429
    assert sorted(v for _, v in rating_rows(scanned)) == [3, 3, 3]


def test_reads_are_not_limited(fresh: TestClient[Litestar], alpha: tuple[int, str]) -> None:
    media_id, media_hash = alpha
    for i in range(10):
        assert api_rate(fresh, media_hash, {"value": 1 + i % 5}).status_code == 200
    assert api_rate(fresh, media_hash, {"value": 3}).status_code == 429

    for _ in range(12):
        assert fresh.get(f"/api/ratings/{media_hash}").status_code == 200
    assert fresh.get("/").status_code == 200
    assert fresh.get(f"/media/{media_id}").status_code == 200
    assert fresh.get(f"/api/ratings/{media_hash}").json()["user"] == 5


def test_the_limit_is_a_setting(scanned: Settings, alpha: tuple[int, str]) -> None:
    with TestClient(create_app(replace(scanned, rate_limit="3/minute"))) as c:
        statuses = [api_rate(c, alpha[1], {"value": 4}).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


# -- the client behind proxies ----------------------------------------------------------------


class PeerTransport(litestar_transport.TestClientTransport):  # type: ignore[type-arg]
    """Litestar's test transport, but the socket peer is whatever ``client.peer`` says."""

    def parse_request(self, request: Any) -> dict[str, Any]:
        scope = super().parse_request(request)
        scope["client"] = (self.client.peer, 50000)
        return scope


class PeerClient(TestClient):  # type: ignore[type-arg]
    peer = "testclient"

    def __init__(self, app: Litestar) -> None:
        super().__init__(app)
        self._transport = PeerTransport(client=self)


@pytest.fixture
def behind_proxy(scanned: Settings) -> Iterator[PeerClient]:
    """An app that trusts 10.0.0.0/8 as its reverse proxies, allowing 2 writes a minute."""
    settings = replace(scanned, trusted_proxies=("10.0.0.0/8",), rate_limit="2/minute")
    with PeerClient(create_app(settings)) as c:
        yield c


def api_rate_as(client: PeerClient, peer: str, media_hash: str, xff: str | None = None) -> int:
    client.peer = peer
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    return client.post(f"/api/ratings/{media_hash}", json={"value": 4}, headers=headers).status_code


def test_a_spoofed_x_forwarded_for_does_not_buy_a_fresh_quota(
    behind_proxy: PeerClient, alpha: tuple[int, str]
) -> None:
    hash_ = alpha[1]
    statuses = [
        api_rate_as(behind_proxy, "203.0.113.9", hash_, xff=f"198.51.100.{i}") for i in range(4)
    ]

    assert statuses == [200, 200, 429, 429]


def test_a_trusted_proxy_separates_the_clients_it_forwards(
    behind_proxy: PeerClient, alpha: tuple[int, str]
) -> None:
    hash_ = alpha[1]
    proxy = "10.0.0.1"
    ann = [api_rate_as(behind_proxy, proxy, hash_, xff="198.51.100.1") for _ in range(3)]
    # Ann tries again writing her own X-Forwarded-For; the proxy appends her real address.
    ann_spoofing = api_rate_as(behind_proxy, proxy, hash_, xff="192.0.2.77, 198.51.100.1")
    bob = [api_rate_as(behind_proxy, proxy, hash_, xff="198.51.100.2") for _ in range(2)]
    # Through a second trusted proxy in front of the first, Bob is still Bob.
    bob_via_two = api_rate_as(behind_proxy, "10.0.0.2", hash_, xff="198.51.100.2, 10.0.0.1")

    assert ann == [200, 200, 429]
    assert ann_spoofing == 429
    assert bob == [200, 200]
    assert bob_via_two == 429


def test_without_trusted_proxies_x_forwarded_for_is_ignored(
    scanned: Settings, alpha: tuple[int, str]
) -> None:
    with PeerClient(create_app(replace(scanned, rate_limit="2/minute"))) as c:
        statuses = [api_rate_as(c, "10.0.0.1", alpha[1], xff=f"198.51.100.{i}") for i in range(3)]
        other_peer = api_rate_as(c, "10.0.0.2", alpha[1])

    assert statuses == [200, 200, 429]
    assert other_peer == 200  # the limit is per client, not global


# -- the summary cache ------------------------------------------------------------------------


def test_a_write_invalidates_the_cached_summary(
    client: TestClient[Litestar], app: Litestar, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    store = app.stores.get("ratings")
    assert client.get(f"/api/ratings/{media_hash}").json()["count"] == 0  # now cached
    assert client.blocking_portal.call(store.get, f"rating:{media_hash}") is not None

    people = Browsers(client)
    people.use("someone else")
    api_rate(client, media_hash, {"value": 4})
    people.use("me")

    assert client.get(f"/api/ratings/{media_hash}").json()["count"] == 1
    assert text(widget_of(watch(client, media_id), media_hash).select_one(".count")) == "1 rating"


def test_ratings_survive_a_cache_clear_and_a_restart(
    scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    with TestClient(create_app(scanned)) as first:
        api_rate(first, media_hash, {"value": 4})
        store = first.app.stores.get("ratings")
        first.blocking_portal.call(store.delete_all)
        after_clear = first.get(f"/api/ratings/{media_hash}").json()
        cookies = httpx.Cookies(first.cookies)

    with TestClient(create_app(scanned), cookies=cookies) as second:
        after_restart = second.get(f"/api/ratings/{media_hash}").json()
        widget = widget_of(watch(second, media_id), media_hash)

    expected = {"media_hash": media_hash, "average": 4.0, "count": 1, "user": 4}
    assert after_clear == expected
    assert after_restart == expected
    assert summary_text(widget) == "★ 4.0 · 1 rating · yours 4"


# -- a busy database --------------------------------------------------------------------------


class LockHolder:
    """Another process holding SQLite's write lock (``BEGIN IMMEDIATE``) until released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.held.set()
            self.stop.wait(30)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def __enter__(self) -> LockHolder:
        self.thread.start()
        assert self.held.wait(10), "could not take the write lock"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def impatient(scanned: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient[Litestar]]:
    """An app that waits 50 ms for a lock and retries twice."""
    monkeypatch.setattr(db_config, "SQLITE_BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(writes, "RETRIES", 2)
    with TestClient(create_app(scanned)) as c:
        yield c


@pytest.mark.parametrize("db_url", [None])  # SQLite's write lock and busy timeout
@pytest.mark.parametrize("rendering", ["json", "htmx", "page"])
def test_a_locked_database_is_503_with_retry_after_and_nothing_written(
    impatient: TestClient[Litestar], scanned: Settings, alpha: tuple[int, str], rendering: str
) -> None:
    media_id, media_hash = alpha
    widget = widget_of(watch(impatient, media_id), media_hash)

    with LockHolder(scanned.sqlite_path):
        if rendering == "json":
            response = api_rate(impatient, media_hash, {"value": 4})
        else:
            response = rate_form(impatient, widget, "4", htmx=rendering == "htmx")

    assert response.status_code == 503
    assert retry_after(response) >= 1
    if rendering == "json":
        assert "busy" in response.json()["detail"].lower()
    else:
        if rendering == "htmx":
            (root,) = fragment_roots(response)
            assert htmx_swaps(watch(impatient, media_id), 503)
        else:
            root = widget_of(html(response.text), media_hash)
        assert "busy" in text(root.select_one(".rating-error")).lower()
    assert rating_rows(scanned) == []
    # Once the lock is gone, the same request goes through.
    assert write_once(impatient, alpha, rendering, 4).status_code == OK[rendering]
    assert rating_rows(scanned) == [(media_hash, 4)]
