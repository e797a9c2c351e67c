"""Browsing the library through the app: search, every sort in both directions, every filter and
their combinations, shareable URLs, pages that keep the filters, 400s that name the parameter
(HTML and JSON), plain-GET-form tolerance, the htmx grid partial, and the video count after scans
that add, lose and restore files."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from conftest import db_query, html, run_scan
from litestar import Litestar
from litestar.testing import TestClient

from lvs.app import create_app
from lvs.library.demo import make_clip
from lvs.settings import Settings

# Added to the shared clips (Alpha 2 s 320×180, Bravo 2 s, sub/Charlie 3 s 256×144):
# (path, seconds, width, height). Titles come from the file names ("_" reads as a space).
EXTRA = [
    ("hd/Delta Ocean.mp4", 4.0, 1280, 720),
    ("fhd/Echo_Ocean.mp4", 5.0, 1920, 1080),
    ("Foxtrot.mp4", 1.0, 3840, 2160),
    ("long/Golf.mp4", 125.0, 64, 36),
    ("subway/Hotel.mp4", 6.0, 160, 90),
]
EVERYONE = {
    "Alpha",
    "Bravo",
    "Charlie",
    "Delta Ocean",
    "Echo Ocean",
    "Foxtrot",
    "Golf",
    "Hotel",
}
LIBRARY = "/library"
"""The library grid; ``/`` is the home screen (and sends old grid URLs here)."""
SORTS = ["added", "title", "duration", "rating", "mine", "views", "played"]


@pytest.fixture(scope="session")
def extra_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("query-clips")
    for hue, (rel, seconds, width, height) in enumerate(EXTRA):
        fps = 1 if seconds > 60 else 2
        make_clip(root / rel, seconds=seconds, width=width, height=height, fps=fps, hue=40 * hue)
    make_clip(root / "later" / "India.mp4", seconds=1.0, width=160, height=90, fps=2, hue=300)
    return root


@pytest.fixture
def library(library: Path, extra_clips: Path) -> Path:
    for rel, *_ in EXTRA:
        (library / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(extra_clips / rel, library / rel)
    return library


@pytest.fixture
def scanned(settings: Settings) -> Settings:
    """Scanned without thumbnails: cards show the placeholder, which is all these tests need."""
    run_scan(settings, thumbnails=False)
    return settings


@pytest.fixture
def ids(scanned: Settings) -> dict[str, int]:
    return {str(t): int(i) for t, i in db_query(scanned, "SELECT title, id FROM media")}


# -- helpers ------------------------------------------------------------------------------------


def text(node: Tag | None) -> str:
    assert node is not None
    return " ".join(node.get_text(" ", strip=True).split())


def get_page(client: TestClient[Litestar], url: str, **params: str) -> BeautifulSoup:
    # httpx drops a URL's own query string when given params, even empty ones
    response = client.get(url, params=params) if params else client.get(url)
    assert response.status_code == 200, (url, params, response.status_code, response.text[:400])
    page: BeautifulSoup = html(response.text)
    return page


def one(page: BeautifulSoup | Tag, selector: str) -> Tag:
    found = page.select(selector)
    assert len(found) == 1, f"{len(found)} elements match {selector!r}"
    return found[0]


def grid_cards(page: BeautifulSoup | Tag) -> list[Tag]:
    grid = page if page.get("id") == "library-grid" else one(page, "section#library-grid")
    return grid.select("li.card")


def titles(page: BeautifulSoup | Tag) -> list[str]:
    return [text(card.select_one(".title")) for card in grid_cards(page)]


def card_ids(page: BeautifulSoup | Tag) -> list[int]:
    return [int(str(card["id"]).removeprefix("card-")) for card in grid_cards(page)]


def shown_count(page: BeautifulSoup | Tag) -> int | None:
    """The "N videos" figure above the grid (None when the grid says nothing matches)."""
    count = page.select_one("section#library-grid p.count")
    if count is None:
        return None
    match = re.match(r"(\d+) videos?\b", text(count))
    assert match, text(count)
    return int(match.group(1))


def api_page(client: TestClient[Litestar], **params: str) -> dict[str, Any]:
    response = client.get("/api/media", params=params)
    assert response.status_code == 200, (params, response.text)
    body: dict[str, Any] = response.json()
    return body


def api_titles(client: TestClient[Litestar], **params: str) -> list[str]:
    return [item["title"] for item in api_page(client, **params)["items"]]


def everything(client: TestClient[Litestar]) -> dict[int, dict[str, Any]]:
    """Every video's figures as this person sees them, by id (from the JSON API)."""
    body = api_page(client, sort="title")
    assert body["total"] == len(body["items"])
    return {item["id"]: item for item in body["items"]}


def seconds_of(duration: str) -> int:
    """``1:02:05`` / ``2:05`` as shown on a card -> seconds."""
    total = 0
    for part in duration.split(":"):
        total = total * 60 + int(part)
    return total


def average_of(card: Tag) -> float | None:
    average = card.select_one(".rating .average")  # a card shows none before the first rating
    shown = "–" if average is None else text(average).removeprefix("★").strip()
    return None if shown == "–" else float(shown)


def count_of(card: Tag) -> int:
    count = card.select_one(".rating .count")
    if count is None:  # not rated yet
        return 0
    match = re.match(r"(\d+) ratings?", text(count))
    assert match
    return int(match.group(1))


def mine_of(card: Tag) -> int | None:
    yours = card.select_one(".rating .yours")
    return None if yours is None else int(text(yours).removeprefix("yours"))


def assert_ordered(keys: list[Any], desc: bool, what: str) -> None:
    """``keys`` are in order (ties allowed), videos without a key last in either direction."""
    have = [k for k in keys if k is not None]
    assert keys == have + [None] * (len(keys) - len(have)), f"{what}: unset keys not last {keys}"
    assert have == sorted(have, reverse=desc), f"{what}: not {'de' if desc else 'a'}scending {keys}"


@contextmanager
def someone_else(client: TestClient[Litestar]) -> Iterator[TestClient[Litestar]]:
    saved = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies()
    try:
        yield client
    finally:
        client.cookies = saved


def form_params(form: Tag, **changes: str) -> dict[str, str]:
    """What a browser sends for a GET form: every field, empty ones included, unchecked
    checkboxes left out, each select's chosen (or first) option."""
    params: dict[str, str] = {}
    for field in form.select("input[name], select[name]"):
        name = str(field["name"])
        if field.name == "select":
            chosen = field.select_one("option[selected]") or field.select_one("option")
            params[name] = str(chosen.get("value", "")) if chosen else ""
        elif field.get("type") == "checkbox":
            if field.has_attr("checked"):
                params[name] = str(field.get("value", "on"))
        else:
            params[name] = str(field.get("value", ""))
    return params | changes


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.fixture
def household(client: TestClient[Litestar], ids: dict[str, int]) -> dict[str, int]:
    """Two people's ratings, views, favorites and tags, written through the JSON API. The
    client is Ann; Bob has his own cookie jar.

    Averages: Alpha 4.5 (2), Echo 3.0 (2), Bravo 3.0 (1), Delta 2.0 (1), Charlie 1.0 (1).
    Ann rated Alpha 5, Bravo 3, Charlie 1, Echo 3; watched Bravo then Alpha; favorites Bravo,
    Echo. Views: Alpha 2, Bravo 1. Tags: Alpha "cat", Bravo "category", Golf "Holiday".
    """
    hashes = {item["title"]: item["media_hash"] for item in everything(client).values()}

    def rate(title: str, value: int) -> None:
        response = client.post(f"/api/ratings/{hashes[title]}", json={"value": value})
        assert response.status_code == 200, response.text

    def post(url: str, body: dict[str, Any]) -> None:
        response = client.post(url, json=body)
        assert response.status_code == 200, response.text

    for title, value in [("Alpha", 5), ("Bravo", 3), ("Charlie", 1), ("Echo Ocean", 3)]:
        rate(title, value)
    for title in ("Bravo", "Alpha"):
        post(f"/api/media/{ids[title]}/views", {})
    for title in ("Bravo", "Echo Ocean"):
        response = client.put(f"/api/media/{ids[title]}/favorite", json={"favorite": True})
        assert response.status_code == 200
    for title, tag in [("Alpha", "cat"), ("Bravo", "category"), ("Golf", "Holiday")]:
        post(f"/api/media/{ids[title]}/tags", {"name": tag})
    with someone_else(client):
        for title, value in [("Alpha", 4), ("Delta Ocean", 2), ("Echo Ocean", 3)]:
            rate(title, value)
        post(f"/api/media/{ids['Alpha']}/views", {})
    return ids


# -- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ocean", {"Delta Ocean", "Echo Ocean"}),
        ("oce", {"Delta Ocean", "Echo Ocean"}),  # a prefix of a word
        ("OCEAN", {"Delta Ocean", "Echo Ocean"}),
        ("ocean delta", {"Delta Ocean"}),  # every word must match
        ("del oce", {"Delta Ocean"}),
        ("ocean zulu", set()),
        ("charl", {"Charlie"}),
        ("subway", {"Hotel"}),  # the folder is part of the path
        ("sub", {"Charlie", "Hotel"}),
        ("long golf", {"Golf"}),  # path and title together
        ("webm", {"Bravo"}),  # and so is the extension
        ("fhd echo", {"Echo Ocean"}),
        ("holi", {"Golf"}),  # tags too
        ("cat", {"Alpha", "Bravo"}),  # "cat" and the prefix of "category"
        ("delta-ocean", {"Delta Ocean"}),  # punctuation separates words
        ('"oce*', {"Delta Ocean", "Echo Ocean"}),  # and is never query syntax
    ],
)
def test_search(
    client: TestClient[Litestar], household: dict[str, int], q: str, expected: set[str]
) -> None:
    page = get_page(client, LIBRARY, q=q)

    assert set(titles(page)) == expected
    assert set(api_titles(client, q=q)) == expected
    assert one(page, "input#q")["value"] == q
    assert text(page.select_one("title")).startswith(f"Search: {q}")
    if expected:
        assert shown_count(page) == len(expected)
    else:
        grid = one(page, "section#library-grid")
        assert "Nothing matches." in text(grid)
        assert one(grid, "a")["href"] == LIBRARY  # a way back to everything


@pytest.mark.parametrize("q", ["cean", "ategory", "ubway"], ids=["title", "tag", "path"])
def test_a_search_word_matches_the_start_of_words_only(
    client: TestClient[Litestar], household: dict[str, int], q: str
) -> None:
    """Prefix matching on both backends, so that one URL shows the same videos on either."""
    found = titles(get_page(client, LIBRARY, q=q))

    assert found == [], f"{q!r} matched inside a word: {found}"
    assert api_page(client, q=q)["total"] == 0


def test_search_follows_tag_changes(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    assert titles(get_page(client, LIBRARY, q="volcano")) == []
    tagged = client.post(f"/api/media/{ids['Bravo']}/tags", json={"name": "Volcano trip"})
    tag_id = tagged.json()[0]["id"]

    assert titles(get_page(client, LIBRARY, q="volc")) == ["Bravo"]
    assert titles(get_page(client, LIBRARY, q="trip bravo")) == ["Bravo"]

    client.delete(f"/api/media/{ids['Bravo']}/tags/{tag_id}")
    assert titles(get_page(client, LIBRARY, q="volc")) == []


def test_search_follows_a_renamed_file(
    client: TestClient[Litestar], scanned: Settings, library: Path
) -> None:
    (library / "Bravo.webm").rename(library / "Zebra crossing.webm")
    run_scan(scanned, thumbnails=False)

    assert titles(get_page(client, LIBRARY, q="zebra")) == ["Zebra crossing"]
    assert titles(get_page(client, LIBRARY, q="bravo")) == []


# -- sorting ------------------------------------------------------------------------------------


def sort_keys(sort: str, page: BeautifulSoup, figures: dict[int, dict[str, Any]]) -> list[Any]:
    """The key each card is sorted by: read from the rendered card where the card shows it,
    else from the same video's JSON figures."""
    cards = grid_cards(page)
    items = [figures[i] for i in card_ids(page)]
    read: dict[str, Callable[[], list[Any]]] = {
        "title": lambda: [text(c.select_one(".title")).lower() for c in cards],
        "duration": lambda: [seconds_of(text(c.select_one(".duration"))) for c in cards],
        "rating": lambda: [
            None if average_of(c) is None else (average_of(c), count_of(c)) for c in cards
        ],
        "mine": lambda: [mine_of(c) for c in cards],
        "views": lambda: [i["views"] for i in items],
        "played": lambda: [
            None if i["last_played"] is None else datetime.fromisoformat(i["last_played"])
            for i in items
        ],
        "added": lambda: [datetime.fromisoformat(i["added_at"]) for i in items],
    }
    return read[sort]()


@pytest.mark.parametrize("direction", ["", "-asc", "-desc"])
@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_in_both_directions(
    client: TestClient[Litestar], household: dict[str, int], sort: str, direction: str
) -> None:
    figures = everything(client)

    page = get_page(client, LIBRARY, sort=sort + direction)

    desc = direction == "-desc" or (direction == "" and sort != "title")
    keys = sort_keys(sort, page, figures)
    assert sorted(titles(page)) == sorted(EVERYONE)
    assert_ordered(keys, desc, f"sort={sort}{direction}")
    # The JSON twin lists the same videos in the same order.
    assert [i["id"] for i in api_page(client, sort=sort + direction)["items"]] == card_ids(page)
    # The form keeps the direction, so changing a filter does not flip the order back.
    default_desc = sort != "title"
    kept = sort if desc == default_desc else f"{sort}-{'desc' if desc else 'asc'}"
    assert one(page, "select[name=sort] option[selected]")["value"] == kept


EXPECTED_ORDERS = {
    # Ann's view of the household fixture; the rest (no key) follow in some order.
    "title": ["Alpha", "Bravo", "Charlie", "Delta Ocean", "Echo Ocean", "Foxtrot", "Golf", "Hotel"],
    "title-desc": ["Hotel", "Golf", "Foxtrot", "Echo Ocean", "Delta Ocean", "Charlie", "Bravo"],
    "duration": ["Golf", "Hotel", "Echo Ocean", "Delta Ocean", "Charlie"],
    "duration-asc": ["Foxtrot"],
    "rating": ["Alpha", "Echo Ocean", "Bravo", "Delta Ocean", "Charlie"],
    "rating-asc": ["Charlie", "Delta Ocean", "Bravo", "Echo Ocean", "Alpha"],
    "mine": ["Alpha"],
    "mine-asc": ["Charlie"],
    "views": ["Alpha", "Bravo"],
    "played": ["Alpha", "Bravo"],
    "played-asc": ["Bravo", "Alpha"],
}


@pytest.mark.parametrize("sort", sorted(EXPECTED_ORDERS))
def test_sorts_put_the_expected_videos_first(
    client: TestClient[Litestar], household: dict[str, int], sort: str
) -> None:
    expected = EXPECTED_ORDERS[sort]

    assert titles(get_page(client, LIBRARY, sort=sort))[: len(expected)] == expected


def test_sort_by_your_rating_is_per_person(
    client: TestClient[Litestar], household: dict[str, int]
) -> None:
    mine = [mine_of(c) for c in grid_cards(get_page(client, LIBRARY, sort="mine"))]
    assert mine == [5, 3, 3, 1, None, None, None, None]
    with someone_else(client):
        get_page(client, LIBRARY)  # a new browser, no ratings of its own
        assert [mine_of(c) for c in grid_cards(get_page(client, LIBRARY, sort="mine"))] == [
            None
        ] * 8


def test_date_added_puts_a_new_file_first(
    client: TestClient[Litestar], scanned: Settings, library: Path, extra_clips: Path
) -> None:
    shutil.copytree(extra_clips / "later", library / "later")
    assert run_scan(scanned, thumbnails=False).new == 1

    assert titles(get_page(client, LIBRARY))[0] == "India"
    assert titles(get_page(client, LIBRARY, sort="added"))[0] == "India"
    assert titles(get_page(client, LIBRARY, sort="added-asc"))[-1] == "India"


def test_the_reverse_link_flips_the_direction_and_keeps_the_filters(
    client: TestClient[Litestar], household: dict[str, int]
) -> None:
    page = get_page(client, LIBRARY, sort="title", res="hd")
    assert titles(page) == ["Delta Ocean", "Echo Ocean", "Foxtrot"]
    reverse = one(page, "a.reverse")

    assert query_of(str(reverse["href"])) == {"sort": ["title-desc"], "res": ["hd"]}
    back = get_page(client, str(reverse["href"]))
    assert titles(back) == ["Foxtrot", "Echo Ocean", "Delta Ocean"]
    assert query_of(str(one(back, "a.reverse")["href"])) == {"sort": ["title"], "res": ["hd"]}


# -- filters ------------------------------------------------------------------------------------

FILTERS: list[tuple[dict[str, str], set[str]]] = [
    ({"favorites": "1"}, {"Bravo", "Echo Ocean"}),
    ({"favorites": "0"}, EVERYONE),
    ({"tag": "cat"}, {"Alpha"}),  # exact: not "category"
    ({"tag": "category"}, {"Bravo"}),
    ({"tag": "holiday"}, {"Golf"}),
    ({"tag": "holi"}, set()),
    ({"rated": "yes"}, {"Alpha", "Bravo", "Charlie", "Echo Ocean"}),
    ({"rated": "no"}, {"Delta Ocean", "Foxtrot", "Golf", "Hotel"}),
    ({"min_rating": "1"}, {"Alpha", "Bravo", "Charlie", "Delta Ocean", "Echo Ocean"}),
    ({"min_rating": "3"}, {"Alpha", "Bravo", "Echo Ocean"}),
    ({"min_rating": "5"}, set()),
    ({"res": "hd"}, {"Delta Ocean", "Echo Ocean", "Foxtrot"}),
    ({"res": "fhd"}, {"Echo Ocean", "Foxtrot"}),
    ({"res": "4k"}, {"Foxtrot"}),
    ({"dur_min": "2"}, {"Golf"}),
    ({"dur_max": "1"}, EVERYONE - {"Golf"}),
    ({"dur_min": "1", "dur_max": "3"}, {"Golf"}),
    ({"dur_min": "0"}, EVERYONE),
    ({"folder": "sub"}, {"Charlie"}),  # a folder, not a prefix: not subway/
    ({"folder": "subway"}, {"Hotel"}),
    ({"folder": "sub/"}, {"Charlie"}),
    ({"folder": "long"}, {"Golf"}),
    ({"folder": "Alpha.mp4"}, set()),
    ({"folder": "ub"}, set()),
    # combined
    ({"res": "hd", "favorites": "1"}, {"Echo Ocean"}),
    ({"q": "ocean", "res": "fhd"}, {"Echo Ocean"}),
    ({"q": "ocean", "folder": "hd"}, {"Delta Ocean"}),
    ({"rated": "yes", "min_rating": "3"}, {"Alpha", "Bravo", "Echo Ocean"}),
    ({"rated": "no", "min_rating": "1"}, {"Delta Ocean"}),
    ({"tag": "category", "favorites": "1"}, {"Bravo"}),
    ({"tag": "cat", "favorites": "1"}, set()),
    ({"dur_max": "1", "folder": "long"}, set()),
    ({"q": "oc", "res": "hd", "rated": "no", "dur_max": "1"}, {"Delta Ocean"}),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS, ids=[urlencode(p) for p, _ in FILTERS])
def test_filters(
    client: TestClient[Litestar],
    household: dict[str, int],
    params: dict[str, str],
    expected: set[str],
) -> None:
    page = get_page(client, LIBRARY, **params)

    assert set(titles(page)) == expected
    assert len(titles(page)) == len(expected)
    assert shown_count(page) == (len(expected) or None)
    body = api_page(client, **params)
    assert {i["title"] for i in body["items"]} == expected
    assert body["total"] == len(expected)
    # The filter form shows the view it is on, so changing one thing keeps the others.
    form = one(page, "form#filters")
    sent = form_params(form)
    for name, value in params.items():
        if name == "favorites":
            assert ("favorites" in sent) == (value == "1")
        elif name == "folder":
            assert sent[name] in {value, value.strip("/")}
        else:
            assert sent[name] == value, name


def test_personal_filters_are_per_person(
    client: TestClient[Litestar], household: dict[str, int]
) -> None:
    with someone_else(client):
        assert titles(get_page(client, LIBRARY, rated="yes")) == []
        assert titles(get_page(client, LIBRARY, favorites="1")) == []
        assert len(titles(get_page(client, LIBRARY, rated="no"))) == 8
        assert set(titles(get_page(client, LIBRARY, min_rating="3"))) == {
            "Alpha",
            "Bravo",
            "Echo Ocean",
        }


# -- shareable URLs, pages, the plain form ------------------------------------------------------


@pytest.fixture
def paged(scanned: Settings, household: dict[str, int]) -> Iterator[TestClient[Litestar]]:
    """The same library and data, two videos per page (same secret: the same person)."""
    with TestClient(create_app(replace(scanned, page_size=2))) as c:
        yield c


def test_pages_keep_the_filters(client: TestClient[Litestar], paged: TestClient[Litestar]) -> None:
    paged.cookies = httpx.Cookies(client.cookies)  # Ann, on the two-per-page app
    first = get_page(paged, LIBRARY, sort="title", res="hd", q="", tag="")

    assert titles(first) == ["Delta Ocean", "Echo Ocean"]
    assert shown_count(first) == 3
    assert text(one(first, "nav.pagination [aria-current=page]")) == "Page 1 of 2"
    assert first.select_one("a[rel~=prev]") is None
    link = one(first, "a[rel~=next]")
    assert query_of(str(link["href"])) == {"sort": ["title"], "res": ["hd"], "page": ["2"]}
    assert link["hx-get"] == link["href"]

    second = get_page(paged, str(link["href"]))

    assert titles(second) == ["Foxtrot"]
    assert shown_count(second) == 3
    assert second.select_one("a[rel~=next]") is None
    back = one(second, "a[rel~=prev]")
    assert query_of(str(back["href"])) == {"sort": ["title"], "res": ["hd"]}
    assert titles(get_page(paged, str(back["href"]))) == titles(first)

    # Favorites and a search page through the same way.
    fav = get_page(paged, LIBRARY, favorites="1", sort="title-desc")
    assert titles(fav) == ["Echo Ocean", "Bravo"]
    assert fav.select_one("a[rel~=next]") is None
    found = get_page(paged, LIBRARY, q="mp4", sort="title")  # every .mp4: four pages
    pages = [titles(found)]
    while (more := found.select_one("a[rel~=next]")) is not None:
        assert query_of(str(more["href"])) == {
            "q": ["mp4"],
            "sort": ["title"],
            "page": [str(len(pages) + 1)],
        }
        found = get_page(paged, str(more["href"]))
        pages.append(titles(found))
    everything_found = [t for p in pages for t in p]
    assert everything_found == sorted(everything_found, key=str.lower)
    assert len(pages) == 4
    assert set(everything_found) == EVERYONE - {"Bravo"}


def test_the_plain_search_form_works_without_javascript(
    client: TestClient[Litestar], household: dict[str, int]
) -> None:
    form = one(get_page(client, LIBRARY), "form#filters")
    assert str(form.get("method", "get")).lower() == "get"
    assert form["action"] == LIBRARY

    unchanged = form_params(form)
    assert {k for k, v in unchanged.items() if v == ""} >= {"q", "tag", "dur_min", "folder"}
    page = get_page(client, LIBRARY, **unchanged)
    assert sorted(titles(page)) == sorted(EVERYONE)

    page = get_page(client, LIBRARY, **form_params(form, q="ocean", res="fhd"))
    assert titles(page) == ["Echo Ocean"]
    # The form on the result page carries the view, so the next change keeps it.
    again = form_params(one(page, "form#filters"), res="")
    assert set(titles(get_page(client, LIBRARY, **again))) == {"Delta Ocean", "Echo Ocean"}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title-desc", ["Foxtrot", "Echo Ocean", "Delta Ocean"]),
        ("duration-asc", ["Foxtrot", "Delta Ocean", "Echo Ocean"]),
    ],
)
def test_changing_a_filter_in_the_form_keeps_the_sort_direction(
    client: TestClient[Litestar], household: dict[str, int], sort: str, expected: list[str]
) -> None:
    """On a reversed view, the filter form (plain GET, or htmx on every change) must send the
    direction too: otherwise any change of filter silently flips the order back."""
    form = one(get_page(client, LIBRARY, sort=sort), "form#filters")

    sent = form_params(form, res="hd")

    assert titles(get_page(client, LIBRARY, **sent)) == expected, (
        f"the form sent sort={sent['sort']}"
    )
    pushed = grid_request(client, **sent).headers["hx-push-url"]
    assert query_of(pushed) == {"res": ["hd"], "sort": [sort]}


def test_empty_parameters_mean_unset(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    empty = dict.fromkeys(
        ["q", "sort", "favorites", "tag", "rated", "min_rating", "res", "dur_min", "dur_max",
         "folder", "page"],
        "",
    )  # fmt: skip

    page = get_page(client, LIBRARY, **empty)

    assert titles(page) == titles(get_page(client, LIBRARY))
    assert shown_count(page) == 8
    assert api_page(client, **empty)["total"] == 8
    assert client.get("/random", params=empty, follow_redirects=False).status_code == 302


BAD: list[tuple[str, str]] = [
    ("sort", "bogus"),
    ("sort", "title-up"),
    ("sort", "-asc"),
    ("rated", "maybe"),
    ("min_rating", "0"),
    ("min_rating", "6"),
    ("min_rating", "three"),
    ("res", "8k"),
    ("dur_min", "-1"),
    ("dur_min", "1.5"),
    ("dur_max", "abc"),
    ("page", "0"),
    ("page", "x"),
    ("favorites", "2"),
    ("q", "x" * 201),
    ("tag", "t" * 65),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v[:12]}" for f, v in BAD])
def test_a_bad_parameter_is_a_400_that_names_it(
    client: TestClient[Litestar], field: str, value: str
) -> None:
    params = {"sort": "title", "res": "hd"} | {field: value}  # named among good ones

    response = client.get(LIBRARY, params=params)

    assert response.status_code == 400
    page = html(response.text)
    assert text(page.select_one("h1")) == "Bad request"
    assert text(page.select_one(".detail")).startswith(f"{field}:")

    api = client.get("/api/media", params=params)
    assert api.status_code == 400
    assert api.headers["content-type"].startswith("application/json")
    assert [e["field"] for e in api.json()["errors"]] == [field]


def test_duration_bounds_the_wrong_way_round_name_dur_max(client: TestClient[Litestar]) -> None:
    response = client.get("/api/media", params={"dur_min": "5", "dur_max": "2"})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["dur_max"]
    assert client.get(LIBRARY, params={"dur_min": "5", "dur_max": "2"}).status_code == 400


# -- htmx ---------------------------------------------------------------------------------------


def grid_request(client: TestClient[Litestar], **params: str) -> httpx.Response:
    """What htmx sends when the filter form (hx-get=LIBRARY, hx-target="#library-grid") changes."""
    return client.get(
        LIBRARY,
        params=params,
        headers={"HX-Request": "true", "HX-Target": "library-grid", "HX-Trigger": "filters"},
    )


def test_htmx_search_returns_the_grid_and_the_url_to_push(
    client: TestClient[Litestar], household: dict[str, int]
) -> None:
    form = one(get_page(client, LIBRARY), "form#filters")
    assert form["hx-get"] == LIBRARY and form["hx-target"] == "#library-grid"
    assert form["hx-swap"] == "outerHTML"

    response = grid_request(client, **form_params(form, q="ocean"))

    assert response.status_code == 200
    fragment = html(response.text)
    assert fragment.find("html") is None and fragment.find("body") is None
    roots = [node for node in fragment.children if isinstance(node, Tag)]
    assert [(r.name, r.get("id")) for r in roots] == [("section", "library-grid")]
    assert set(titles(roots[0])) == {"Delta Ocean", "Echo Ocean"}
    assert shown_count(fragment) == 2
    # The canonical, shareable URL: defaults and empty fields left out.
    assert response.headers["hx-push-url"] == f"{LIBRARY}?q=ocean"
    full = get_page(client, response.headers["hx-push-url"])
    assert card_ids(full) == card_ids(roots[0])


@pytest.mark.parametrize(
    ("params", "pushed"),
    [
        ({"q": "", "sort": "added", "res": ""}, LIBRARY),
        ({"sort": "title", "res": "hd", "tag": ""}, {"sort": ["title"], "res": ["hd"]}),
        ({"sort": "title-asc"}, f"{LIBRARY}?sort=title"),
        ({"favorites": "1", "q": "o ", "page": "1"}, {"favorites": ["1"], "q": ["o"]}),
    ],
)
def test_htmx_pushes_the_canonical_url(
    client: TestClient[Litestar],
    household: dict[str, int],
    params: dict[str, str],
    pushed: str | dict[str, list[str]],
) -> None:
    response = grid_request(client, **params)

    assert response.status_code == 200
    url = response.headers["hx-push-url"]
    if isinstance(pushed, str):
        assert url == pushed
    else:
        assert urlsplit(url).path == LIBRARY and query_of(url) == pushed


def test_htmx_search_with_no_match_says_so_in_the_grid(client: TestClient[Litestar]) -> None:
    response = grid_request(client, q="nothing-like-this")

    grid = one(html(response.text), "section#library-grid")
    assert "Nothing matches." in text(grid)
    assert query_of(response.headers["hx-push-url"]) == {"q": ["nothing-like-this"]}


def test_htmx_with_a_bad_parameter_gets_a_message_not_a_grid(
    client: TestClient[Litestar],
) -> None:
    response = grid_request(client, min_rating="9")

    assert response.status_code == 400
    assert response.headers["hx-retarget"] == "#flashes"
    assert "min_rating" in text(html(response.text).select_one(".flash"))


def test_an_htmx_request_for_another_target_gets_the_page(client: TestClient[Litestar]) -> None:
    response = client.get(LIBRARY, headers={"HX-Request": "true", "HX-Target": "main"})

    assert response.status_code == 200
    assert html(response.text).select_one("html form#filters") is not None


# -- counts after scans -------------------------------------------------------------------------


def counts(client: TestClient[Litestar], settings: Settings) -> tuple[Any, ...]:
    """The count shown on the unfiltered page, with the same number found three other ways."""
    page = get_page(client, LIBRARY)
    shown = shown_count(page)
    filtered = shown_count(
        get_page(client, LIBRARY, dur_min="0")
    )  # counted by a query, not the row
    api_total = api_page(client)["total"]
    ((present,),) = db_query(settings, "SELECT count(*) FROM media WHERE NOT missing")
    ((kept,),) = db_query(settings, "SELECT present FROM library_totals WHERE id = 1")
    return shown, filtered, api_total, int(present), int(kept)


def assert_count(client: TestClient[Litestar], settings: Settings, expected: int) -> None:
    assert counts(client, settings) == (expected,) * 5


def test_the_count_follows_scans_that_add_lose_and_restore_files(
    client: TestClient[Litestar], scanned: Settings, library: Path, extra_clips: Path
) -> None:
    assert_count(client, scanned, 8)

    hotel = library / "subway" / "Hotel.mp4"
    hotel.unlink()
    assert run_scan(scanned, thumbnails=False).missing == 1
    assert_count(client, scanned, 7)
    assert titles(get_page(client, LIBRARY, folder="subway")) == []
    run_scan(scanned, thumbnails=False)  # scanning again changes nothing
    assert_count(client, scanned, 7)

    shutil.copy2(extra_clips / "subway" / "Hotel.mp4", hotel)  # restored (a new mtime)
    run_scan(scanned, thumbnails=False)
    assert_count(client, scanned, 8)
    assert titles(get_page(client, LIBRARY, folder="subway")) == ["Hotel"]

    shutil.copytree(extra_clips / "later", library / "later")  # a new file
    (library / "long" / "Golf.mp4").rename(library / "Golf moved.mp4")  # a move
    shutil.copy2(library / "Alpha.mp4", library / "Alpha copy.mp4")  # a second copy
    report = run_scan(scanned, thumbnails=False)
    assert (report.new, report.moved) == (2, 1)
    assert_count(client, scanned, 10)

    (library / "Bravo.webm").unlink()
    (library / "Foxtrot.mp4").write_bytes(b"not a video any more")  # unreadable now
    run_scan(scanned, thumbnails=False)
    assert_count(client, scanned, 8)
    assert "Foxtrot" not in titles(get_page(client, LIBRARY))

    shutil.rmtree(library / "hd")
    shutil.copy2(extra_clips / "Foxtrot.mp4", library / "Foxtrot.mp4")  # healed
    run_scan(scanned, thumbnails=False)
    assert_count(client, scanned, 8)
    assert sorted(titles(get_page(client, LIBRARY))) == sorted(
        (EVERYONE - {"Bravo", "Delta Ocean", "Golf"}) | {"India", "Golf moved", "Alpha copy"}
    )


def test_the_count_is_right_on_every_page(scanned: Settings) -> None:
    with TestClient(create_app(replace(scanned, page_size=3))) as c:
        seen: list[int] = []
        page = get_page(c, LIBRARY)
        while True:
            assert shown_count(page) == 8
            seen += card_ids(page)
            more = page.select_one("a[rel~=next]")
            if more is None:
                break
            page = get_page(c, str(more["href"]))
    assert len(seen) == len(set(seen)) == 8
