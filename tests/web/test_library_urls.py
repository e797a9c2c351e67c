"""Library URLs are canonical: a plain GET form's empty fields and default spellings are
redirected away, and the links pages write are already canonical; a live (htmx) update of the
grid brings the heading, the sort-direction link and an announcement along with it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag
from litestar import Litestar
from litestar.testing import TestClient


@pytest.fixture
def db_url() -> None:
    """Markup and redirects only: SQLite is enough (the queries are tested on both elsewhere)."""
    return None


def lib(client: TestClient[Litestar], query: str = "") -> str:
    """The library grid's URL (wherever its route lives) with ``query``."""
    path = client.app.route_reverse("library")
    return f"{path}?{query}" if query else path


def one(page: BeautifulSoup | Tag, selector: str) -> Tag:
    found = page.select(selector)
    assert len(found) == 1, f"{len(found)} elements match {selector!r}"
    return found[0]


def text(node: Tag | None) -> str:
    assert node is not None
    return " ".join(node.get_text(" ", strip=True).split())


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [
        ("q=&sort=&favorites=&tag=&rated=&min_rating=&res=&dur_min=&dur_max=&folder=", ""),
        ("q=alpha&sort=&tag=&res=", "q=alpha"),
        ("sort=added&page=1", ""),
        ("favorites=on&sort=title-asc", "sort=title&favorites=1"),
        ("q=+alpha+&min_rating=3&rated=", "q=alpha&min_rating=3"),
    ],
)
def test_a_plain_get_form_is_redirected_to_the_canonical_url(
    client: TestClient[Litestar], sent: str, canonical: str
) -> None:
    response = client.get(lib(client, sent), follow_redirects=False)

    assert response.status_code == 302
    location = response.headers["location"]
    assert urlsplit(location).path == lib(client)
    assert parse_qs(urlsplit(location).query) == parse_qs(canonical)
    assert client.get(location, follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    "query", ["", "q=alpha", "sort=title&favorites=1", "favorites=1&sort=title"]
)
def test_canonical_urls_are_answered_as_they_are(client: TestClient[Litestar], query: str) -> None:
    assert client.get(lib(client, query), follow_redirects=False).status_code == 200


def test_bad_parameters_are_still_a_400_not_a_redirect(client: TestClient[Litestar]) -> None:
    response = client.get(lib(client, "sort=sideways&q="), follow_redirects=False)

    assert response.status_code == 400
    assert "sort" in response.text


def test_htmx_requests_are_not_redirected(client: TestClient[Litestar]) -> None:
    response = client.get(
        lib(client, "q=alpha&sort=&tag="),
        headers={"HX-Request": "true", "HX-Target": "library-grid"},
        follow_redirects=False,
    )

    assert response.status_code == 200
    assert response.headers["hx-push-url"] == lib(client, "q=alpha")


def test_links_on_the_library_page_are_canonical(client: TestClient[Litestar]) -> None:
    page = BeautifulSoup(client.get(lib(client, "q=a&sort=title")).text, "html.parser")
    hrefs = [str(a["href"]) for a in page.select("a[href]")]

    assert hrefs
    for href in hrefs:
        if urlsplit(href).path == lib(client):
            assert client.get(href, follow_redirects=False).status_code == 200, href


def test_a_live_search_brings_its_heading_title_and_sort_link(
    client: TestClient[Litestar],
) -> None:
    response = client.get(
        lib(client, "q=alpha&sort=title"),
        headers={"HX-Request": "true", "HX-Target": "library-grid"},
    )
    fragment = BeautifulSoup(response.text, "html.parser")

    grid = one(fragment, "section#library-grid")
    assert [text(t) for t in grid.select("li.card .title")] == ["Alpha"]
    heading = one(fragment, "h1#heading")
    assert heading["hx-swap-oob"] == "true"
    assert text(heading) == "Results for “alpha”"
    assert text(one(fragment, "title")) == "Search: alpha · lvs"
    reverse = one(fragment, "a#sort-dir")
    assert reverse["hx-swap-oob"] == "true"
    flipped = parse_qs(urlsplit(str(reverse["href"])).query)
    assert flipped == {"q": ["alpha"], "sort": ["title-desc"]}
    live = one(fragment, "[hx-swap-oob^='innerHTML:#live']")
    assert text(live) == "1 video"


def test_the_full_page_has_one_heading_and_no_out_of_band_markup(
    client: TestClient[Litestar],
) -> None:
    page = BeautifulSoup(client.get(lib(client, "q=alpha")).text, "html.parser")

    assert text(one(page, "h1#heading")) == "Results for “alpha”"
    assert page.select("[hx-swap-oob]") == []
    assert one(page, "#live")["aria-live"] == "polite"
