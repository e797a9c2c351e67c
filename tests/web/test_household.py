"""Favorites, tags, views and history, resume positions, a random pick and "up next", through
the app: every form without JavaScript (303 + flash) and with htmx (the partial that replaces
itself), the JSON twins, CSRF refusals, the household write limit, and per-person state that
follows a renamed file (it is keyed by media_hash)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from conftest import db_execute, db_query, html, run_scan
from helpers import (
    HTMX,
    csrf_token,
    fields,
    flashes,
    follow,
    fragment_roots,
    get_page,
    one,
    retry_after,
    submit,
    text,
)
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update

from lvs.app import create_app
from lvs.db.models import View
from lvs.library.demo import make_clip
from lvs.settings import Settings

LONG_SECONDS = 40.0  # long enough for a resume point (2-3 s clips are all "near the end")
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("household-clips") / "Long.mp4"
    make_clip(path, seconds=LONG_SECONDS, width=160, height=90, fps=10, hue=60)
    return path


@pytest.fixture(scope="session")
def longer_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 125 s and a 700 s clip (tiny, silent): where 5 % of the length, and where the 30 s
    cap, decide what counts as the end."""
    root = tmp_path_factory.mktemp("household-longer")
    make_clip(root / "Two minutes.mp4", seconds=125.0, width=64, height=36, fps=1, audio=False)
    make_clip(root / "Feature.mp4", seconds=700.0, width=64, height=36, fps=1, audio=False)
    return root


@pytest.fixture
def library(library: Path, long_clip: Path) -> Path:
    """The shared test clips (Alpha, Bravo, sub/Charlie) plus a 40-second Long.mp4."""
    shutil.copy2(long_clip, library / "Long.mp4")
    return library


@pytest.fixture
def ids(scanned: Settings) -> dict[str, int]:
    """``{title: media id}`` straight from the database."""
    return {str(t): int(i) for t, i in db_query(scanned, "SELECT title, id FROM media")}


# -- helpers ------------------------------------------------------------------------------------


def card_titles(page: BeautifulSoup | Tag) -> list[str]:
    return [text(card.select_one(".title")) for card in page.select("li.card")]


def grid_titles(page: BeautifulSoup) -> list[str]:
    return card_titles(one(page, "section#library-grid"))


def card_of(page: BeautifulSoup | Tag, media_id: int) -> Tag:
    return one(page, f"li.card#card-{media_id}")


def api(client: TestClient[Litestar], media_id: int) -> dict[str, Any]:
    response = client.get(f"/api/media/{media_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def api_tags(client: TestClient[Litestar], media_id: int) -> list[str]:
    response = client.get(f"/api/media/{media_id}/tags")
    assert response.status_code == 200, response.text
    return [t["name"] for t in response.json()]


def api_titles(client: TestClient[Litestar], **params: str) -> list[str]:
    response = client.get("/api/media", params=params)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def api_position(client: TestClient[Litestar], media_id: int) -> float | None:
    response = client.get(f"/api/media/{media_id}/position")
    assert response.status_code == 200, response.text
    seconds = response.json()["seconds"]
    return None if seconds is None else float(seconds)


def tag_names(section: Tag) -> list[str]:
    return [text(a) for a in section.select("li.tag > a")]


def tag_form(client: TestClient[Litestar], media_id: int) -> Tag:
    return one(get_page(client, f"/media/{media_id}"), "section#tags form.add-tag")


def heart(page: BeautifulSoup | Tag, media_id: int, *, compact: bool = False) -> Tag:
    return one(page, f"form.favorite#favorite-{media_id}{'-c' if compact else ''}")


def pressed(form: Tag) -> str:
    return str(one(form, "button.heart")["aria-pressed"])


def video_of(page: BeautifulSoup) -> Tag:
    return one(page, "video#player")


def source_of(page: BeautifulSoup) -> Tag:
    """The player's first ``<source>``: the one a browser that plays the file picks."""
    source = video_of(page).select_one("source")
    assert source is not None, "the player lists its sources"
    return source


def report(client: TestClient[Litestar], media_id: int, what: str, **extra: str) -> int:
    """A player report (``view`` or ``position``), sent like player.js sends it."""
    page = get_page(client, f"/media/{media_id}")
    url = str(video_of(page)[f"data-{what}-url"])
    response = client.post(url, data={**extra, "_csrf_token": csrf_token(page)})
    return response.status_code


@contextmanager
def someone_else(client: TestClient[Litestar]) -> Iterator[TestClient[Litestar]]:
    """Another person: the same app seen from a browser with its own (empty) cookie jar."""
    saved = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies()
    try:
        yield client
    finally:
        client.cookies = saved


# -- favorites ----------------------------------------------------------------------------------


def test_the_heart_is_a_real_form(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Alpha"]

    form = heart(get_page(client, f"/media/{mid}"), mid)

    assert form["action"] == f"/media/{mid}/favorite"
    assert form["hx-target"] == "this" and form["hx-swap"] == "outerHTML"
    sent = fields(form)
    assert sent["_csrf_token"]
    assert sent["next"] == f"/media/{mid}"
    assert sent["favorite"] == "1"
    assert "compact" not in sent
    assert pressed(form) == "false"
    assert one(form, "button.heart").get("type", "submit") == "submit"


def test_heart_without_javascript_redirects_back_with_a_flash(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Alpha"]

    response = submit(client, heart(get_page(client, f"/media/{mid}"), mid))

    assert response.headers["location"] == f"/media/{mid}"
    page = follow(client, response)
    assert pressed(heart(page, mid)) == "true"
    assert fields(heart(page, mid))["favorite"] == "0"  # pressing again removes it
    assert "Added to favorites." in flashes(page)
    assert grid_titles(get_page(client, "/?favorites=1")) == ["Alpha"]
    assert api(client, mid)["favorite"] is True

    page = follow(client, submit(client, heart(page, mid)))

    assert pressed(heart(page, mid)) == "false"
    assert "Removed from favorites." in flashes(page)
    assert api(client, mid)["favorite"] is False


def test_heart_with_htmx_answers_with_the_form_that_replaces_itself(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Bravo"]

    response = submit(client, heart(get_page(client, f"/media/{mid}"), mid), htmx=True)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    (root,) = fragment_roots(response)
    assert (root.name, root.get("id")) == ("form", f"favorite-{mid}")
    assert "favorite" in root.get_attribute_list("class")
    assert pressed(root) == "true"
    assert fields(root)["favorite"] == "0"
    assert fields(root)["_csrf_token"] and fields(root)["next"] == f"/media/{mid}"
    assert api(client, mid)["favorite"] is True

    (root,) = fragment_roots(submit(client, root, htmx=True))  # the swapped-in form works too

    assert pressed(root) == "false"
    assert api(client, mid)["favorite"] is False


def test_heart_on_a_library_card_comes_back_to_the_card(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Charlie"]
    form = heart(card_of(get_page(client, "/library?sort=title"), mid), mid, compact=True)
    assert fields(form)["compact"] == "1"
    assert fields(form)["next"] == f"/library?sort=title#card-{mid}"

    (root,) = fragment_roots(submit(client, form, htmx=True))
    assert root.get("id") == f"favorite-{mid}-c"
    assert pressed(root) == "true"
    assert fields(root)["compact"] == "1"

    response = submit(client, root)  # and without JavaScript: back to the same card

    assert response.status_code == 303
    assert response.headers["location"] == f"/library?sort=title#card-{mid}"
    assert api(client, mid)["favorite"] is False


def test_heart_never_redirects_to_another_site(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Alpha"]
    form = heart(get_page(client, f"/media/{mid}"), mid)

    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = submit(client, form, next=evil)
        assert response.status_code == 303
        assert response.headers["location"] == f"/media/{mid}", evil


def test_favorites_view_is_per_person(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    for title in ("Alpha", "Long"):
        mid = ids[title]
        submit(client, heart(get_page(client, f"/media/{mid}"), mid))

    page = get_page(client, "/?favorites=1")

    assert sorted(grid_titles(page)) == ["Alpha", "Long"]
    assert text(page.select_one("h1")) == "Favorites"
    assert all(pressed(heart(page, ids[t], compact=True)) == "true" for t in ("Alpha", "Long"))
    with someone_else(client):
        other = get_page(client, "/?favorites=1")
        assert grid_titles(other) == []
        assert "Nothing matches" in text(one(other, "section#library-grid"))
        assert api(client, ids["Alpha"])["favorite"] is False


def test_favorite_json_twin(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Bravo"]
    media_hash = api(client, mid)["media_hash"]

    response = client.put(f"/api/media/{mid}/favorite", json={"favorite": True})

    assert response.status_code == 200
    assert response.json() == {"media_hash": media_hash, "favorite": True}
    assert api(client, mid)["favorite"] is True
    assert api_titles(client, favorites="1") == ["Bravo"]
    # The page of the same person shows it: one service behind both.
    assert pressed(heart(get_page(client, f"/media/{mid}"), mid)) == "true"

    assert client.put(f"/api/media/{mid}/favorite", json={"favorite": False}).json() == {
        "media_hash": media_hash,
        "favorite": False,
    }
    assert api_titles(client, favorites="1") == []


@pytest.mark.parametrize("body", [{"favorite": "yes"}, {"favorite": 1}, {}])
def test_favorite_json_refuses_anything_but_a_boolean(
    client: TestClient[Litestar], ids: dict[str, int], body: dict[str, Any]
) -> None:
    response = client.put(f"/api/media/{ids['Alpha']}/favorite", json=body)

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["favorite"]
    assert api(client, ids["Alpha"])["favorite"] is False


def test_favorite_of_an_unknown_video_is_404(client: TestClient[Litestar]) -> None:
    assert client.put("/api/media/999999/favorite", json={"favorite": True}).status_code == 404


# -- tags ---------------------------------------------------------------------------------------


def test_tag_form_without_javascript(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Alpha"]
    form = tag_form(client, mid)
    assert form["action"] == f"/media/{mid}/tags"
    assert fields(form)["_csrf_token"]
    assert one(form, "input[name=name]")["maxlength"] == "40"

    response = submit(client, form, name="holiday")

    assert response.headers["location"] == f"/media/{mid}#tags"
    page = follow(client, response)
    section = one(page, "section#tags")
    assert tag_names(section) == ["holiday"]
    link = one(section, "li.tag > a")
    assert link["href"] == "/library?tag=holiday"
    assert "Tagged “holiday”." in flashes(page)
    assert api_tags(client, mid) == ["holiday"]
    assert grid_titles(get_page(client, str(link["href"]))) == ["Alpha"]

    remove = one(section, "li.tag form")
    assert one(remove, "button.remove")["aria-label"] == "Remove tag holiday"
    page = follow(client, submit(client, remove))

    assert tag_names(one(page, "section#tags")) == []
    assert "Tag removed." in flashes(page)
    assert api_tags(client, mid) == []
    assert client.get("/api/tags").json() == []  # an unused tag disappears


def test_tag_form_with_htmx_answers_with_the_section(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Bravo"]

    response = submit(client, tag_form(client, mid), htmx=True, name="pets")

    assert response.status_code == 200
    (root,) = fragment_roots(response)
    assert (root.name, root.get("id")) == ("section", "tags")
    assert root["hx-target"] == "this" and root["hx-swap"] == "outerHTML"
    assert tag_names(root) == ["pets"]
    assert root.select_one(".form-error") is None
    assert fields(one(root, "form.add-tag"))["name"] == ""  # cleared for the next tag

    (root,) = fragment_roots(submit(client, one(root, "form.add-tag"), htmx=True, name="dogs"))
    assert tag_names(root) == ["dogs", "pets"]

    pets = next(li for li in root.select("li.tag") if text(li.select_one("a")) == "pets")
    (root,) = fragment_roots(submit(client, one(pets, "form"), htmx=True))

    assert (root.name, root.get("id")) == ("section", "tags")
    assert tag_names(root) == ["dogs"]
    assert api_tags(client, mid) == ["dogs"]


def test_tag_names_are_trimmed_collapsed_and_unique_ignoring_case(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    follow(client, submit(client, tag_form(client, ids["Alpha"]), name="  Summer \t  Holiday  "))
    follow(client, submit(client, tag_form(client, ids["Bravo"]), name="summer HOLIDAY"))
    follow(client, submit(client, tag_form(client, ids["Alpha"]), name="SUMMER holiday"))

    assert api_tags(client, ids["Alpha"]) == ["Summer Holiday"]  # once, first spelling kept
    assert api_tags(client, ids["Bravo"]) == ["Summer Holiday"]
    (tag,) = client.get("/api/tags").json()
    assert (tag["name"], tag["count"]) == ("Summer Holiday", 2)

    page = get_page(client, "/tags")
    link = one(page, "ul.tag-cloud a")
    assert text(link) == "Summer Holiday 2"
    assert sorted(grid_titles(get_page(client, str(link["href"])))) == ["Alpha", "Bravo"]


def test_a_tag_may_have_40_characters_not_41(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Alpha"]
    forty = "x" * 40

    assert follow(client, submit(client, tag_form(client, mid), name=f"  {forty}  "))
    response = submit(client, tag_form(client, mid), name="y" * 41)

    assert response.status_code == 400
    page = html(response.text)
    assert page.find("html") is not None  # without JavaScript: a whole page, with the form
    error = one(page, ".form-error")
    assert "40" in text(error)
    assert one(page, "input[name=name]")["value"] == "y" * 41  # what was typed is kept
    assert api_tags(client, mid) == [forty]


@pytest.mark.parametrize("name", ["", "   ", "y" * 41, "bad\x07bell"])
def test_a_bad_tag_with_htmx_is_a_400_fragment_with_the_error(
    client: TestClient[Litestar], ids: dict[str, int], name: str
) -> None:
    mid = ids["Bravo"]

    response = submit(client, tag_form(client, mid), htmx=True, name=name)

    assert response.status_code == 400
    (root,) = fragment_roots(response)
    assert (root.name, root.get("id")) == ("section", "tags")
    error = one(root, ".form-error")
    assert text(error).startswith("Tag ")
    assert one(root, "input[name=name]")["aria-invalid"] == "true"
    assert api_tags(client, mid) == []


def test_a_tag_is_text_never_markup(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Alpha"]

    (root,) = fragment_roots(submit(client, tag_form(client, mid), htmx=True, name=XSS))
    assert root.find("img") is None
    assert tag_names(root) == [XSS]

    watch = get_page(client, f"/media/{mid}")
    section = one(watch, "section#tags")
    assert section.find("img") is None
    assert tag_names(section) == [XSS]
    assert one(section, "button.remove")["aria-label"] == f"Remove tag {XSS}"
    tags_page = get_page(client, "/tags")
    assert tags_page.select("main img") == []
    assert XSS in text(one(tags_page, "ul.tag-cloud"))
    link = one(tags_page, "ul.tag-cloud a")
    browse = get_page(client, str(link["href"]))
    assert browse.select("main h1 img, title img") == []
    assert XSS in text(one(browse, "main h1"))
    assert grid_titles(browse) == ["Alpha"]
    assert client.get("/api/media", params={"tag": XSS}).json()["total"] == 1


def test_browsing_a_tag_is_an_exact_match(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    follow(client, submit(client, tag_form(client, ids["Alpha"]), name="cat"))
    follow(client, submit(client, tag_form(client, ids["Bravo"]), name="category"))

    assert grid_titles(get_page(client, "/?tag=cat")) == ["Alpha"]
    assert grid_titles(get_page(client, "/?tag=category")) == ["Bravo"]
    assert grid_titles(get_page(client, "/?tag=ca")) == []
    assert api_titles(client, tag="cat") == ["Alpha"]
    assert api_titles(client, tag="categ") == []
    assert text(get_page(client, "/?tag=cat").select_one("main h1")) == "Tagged “cat”"


@pytest.mark.parametrize("name", ["rock & roll", "C#", "a+b", "100%", "x/y?z=1", "Café"])
def test_a_tag_link_finds_its_videos_whatever_the_characters(
    client: TestClient[Litestar], ids: dict[str, int], name: str
) -> None:
    mid = ids["Charlie"]
    page = follow(client, submit(client, tag_form(client, mid), name=name))
    link = one(page, "section#tags li.tag > a")
    assert text(link) == name

    assert grid_titles(get_page(client, str(link["href"]))) == ["Charlie"]
    cloud = one(get_page(client, "/tags"), "ul.tag-cloud a")
    assert grid_titles(get_page(client, str(cloud["href"]))) == ["Charlie"]
    assert api_titles(client, tag=name) == ["Charlie"]


def test_tags_json_twin(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    alpha, bravo = ids["Alpha"], ids["Bravo"]

    added = client.post(f"/api/media/{alpha}/tags", json={"name": "  Road   Trip "})
    assert added.status_code == 200
    assert [t["name"] for t in added.json()] == ["Road Trip"]
    tag_id = added.json()[0]["id"]
    both = client.post(f"/api/media/{bravo}/tags", json={"name": "road trip"}).json()
    assert both == [{"id": tag_id, "name": "Road Trip"}]
    client.post(f"/api/media/{bravo}/tags", json={"name": "beach"})

    assert client.get("/api/tags").json() == [
        {"id": client.get(f"/api/media/{bravo}/tags").json()[0]["id"], "name": "beach", "count": 1},
        {"id": tag_id, "name": "Road Trip", "count": 2},
    ]
    assert client.get(f"/api/media/{alpha}/tags").json() == [{"id": tag_id, "name": "Road Trip"}]
    # The page shows what the API wrote.
    assert tag_names(one(get_page(client, f"/media/{alpha}"), "section#tags")) == ["Road Trip"]

    removed = client.delete(f"/api/media/{alpha}/tags/{tag_id}")
    assert removed.status_code == 200
    assert removed.json() == []
    assert client.delete(f"/api/media/{alpha}/tags/{tag_id}").status_code == 404
    assert api_tags(client, bravo) == ["beach", "Road Trip"]


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "z" * 41}, {"name": 5}, {}])
def test_tags_json_refuses_bad_names_naming_the_field(
    client: TestClient[Litestar], ids: dict[str, int], body: dict[str, Any]
) -> None:
    response = client.post(f"/api/media/{ids['Alpha']}/tags", json=body)

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["name"]
    assert client.get("/api/tags").json() == []


# -- views and history --------------------------------------------------------------------------


def test_a_view_counts_once_per_person_per_hour(
    client: TestClient[Litestar], scanned: Settings, ids: dict[str, int]
) -> None:
    mid = ids["Alpha"]

    assert report(client, mid, "view") == 204
    assert report(client, mid, "view") == 204

    card = api(client, mid)
    assert (card["views"], card["my_plays"]) == (1, 1)
    plays = text(one(card_of(get_page(client, "/library"), mid), ".plays"))
    assert plays.startswith("▶ 1×")
    assert "just now" in plays

    # An hour later it counts again.
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    db_execute(scanned, update(View).values(created_at=an_hour_ago))
    assert report(client, mid, "view") == 204

    card = api(client, mid)
    assert (card["views"], card["my_plays"]) == (2, 2)
    assert text(one(card_of(get_page(client, "/library"), mid), ".plays")).startswith("▶ 2×")
    with someone_else(client):
        assert report(client, mid, "view") == 204
        card = api(client, mid)
        assert (card["views"], card["my_plays"]) == (3, 1)


def test_view_json_twin(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Bravo"]
    media_hash = api(client, mid)["media_hash"]

    first = client.post(f"/api/media/{mid}/views", json={})
    second = client.post(f"/api/media/{mid}/views", json={})

    assert first.status_code == second.status_code == 200
    assert first.json() == {"media_hash": media_hash, "counted": True}
    assert second.json() == {"media_hash": media_hash, "counted": False}
    assert report(client, mid, "view") == 204  # the form route shares the same hour
    assert api(client, mid)["views"] == 1


def test_noscript_pixel_counts_a_view_without_javascript(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Charlie"]
    page = get_page(client, f"/media/{mid}")
    noscript = one(page, "noscript")
    pixel = noscript.select_one("img") or html(noscript.decode_contents()).select_one("img")
    assert pixel is not None
    assert pixel["src"] == f"/media/{mid}/noscript-view"
    assert pixel["alt"] == ""
    assert api(client, mid)["views"] == 0  # opening the page alone counts nothing

    # What a browser sends for an image on lvs's own page: Sec-Fetch-Site, or (older browsers)
    # a same-origin Referer.
    response = client.get(str(pixel["src"]), headers={"Sec-Fetch-Site": "same-origin"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-store" in response.headers["cache-control"]
    referer = {"Referer": f"http://testserver.local/media/{mid}"}
    assert client.get(str(pixel["src"]), headers=referer).status_code == 200
    assert (api(client, mid)["views"], api(client, mid)["my_plays"]) == (1, 1)


def test_history_lists_watched_videos_newest_first(
    client: TestClient[Litestar], scanned: Settings, ids: dict[str, int]
) -> None:
    empty = get_page(client, "/history")
    assert "Nothing watched yet" in text(one(empty, "main"))
    assert client.get("/api/history").json() == []

    for title in ("Alpha", "Charlie"):
        assert report(client, ids[title], "view") == 204
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    db_execute(scanned, update(View).values(created_at=two_hours_ago))
    for title in ("Bravo", "Alpha"):
        assert report(client, ids[title], "view") == 204

    page = get_page(client, "/history")
    assert card_titles(page) == ["Alpha", "Bravo", "Charlie"]
    plays = {t: text(one(card_of(page, ids[t]), ".plays")) for t in ("Alpha", "Bravo", "Charlie")}
    assert plays["Alpha"].startswith("▶ 2×")
    assert plays["Bravo"].startswith("▶ 1×")
    assert plays["Charlie"].startswith("▶ 1×") and "2 h ago" in plays["Charlie"]
    for title in ("Alpha", "Bravo", "Charlie"):
        assert one(card_of(page, ids[title]), ".plays time")["datetime"]

    history = client.get("/api/history").json()
    assert [(e["title"], e["plays"]) for e in history] == [
        ("Alpha", 2),
        ("Bravo", 1),
        ("Charlie", 1),
    ]
    viewed = [datetime.fromisoformat(e["viewed_at"]) for e in history]
    assert viewed == sorted(viewed, reverse=True)
    with someone_else(client):
        assert card_titles(get_page(client, "/history")) == []
        assert client.get("/api/history").json() == []


# -- resume positions ---------------------------------------------------------------------------


def test_position_resumes_with_a_note_and_a_start_over_link(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Long"]
    fresh = get_page(client, f"/media/{mid}")
    assert source_of(fresh)["src"] == f"/media/{mid}/stream"
    assert fresh.select_one(".resume-note") is None

    assert report(client, mid, "position", seconds="20.25") == 204

    page = get_page(client, f"/media/{mid}")
    src = str(source_of(page)["src"])
    assert urlsplit(src).path == f"/media/{mid}/stream"
    assert re.fullmatch(r"t=20\.\d+", urlsplit(src).fragment), src
    assert float(urlsplit(src).fragment[2:]) == pytest.approx(20.25, abs=0.1)
    note = one(page, ".resume-note")
    assert text(note).startswith("Resuming at 0:20")
    start_over = one(note, "a")
    assert text(start_over) == "Start over"
    assert start_over["href"] == f"/media/{mid}?t=0"
    assert api_position(client, mid) == pytest.approx(20.25)
    card = card_of(get_page(client, "/library"), mid)
    progress = one(card, "progress.resume")
    assert float(str(progress["value"])) == pytest.approx(20.2, abs=0.1)

    over = get_page(client, str(start_over["href"]))

    assert source_of(over)["src"] == f"/media/{mid}/stream"
    assert over.select_one(".resume-note") is None
    assert api_position(client, mid) == pytest.approx(20.25)  # only a new report changes it
    with someone_else(client):
        assert source_of(get_page(client, f"/media/{mid}"))["src"] == f"/media/{mid}/stream"


def test_t_in_the_address_overrides_the_saved_position(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Long"]
    assert report(client, mid, "position", seconds="20") == 204

    page = get_page(client, f"/media/{mid}?t=7")

    assert urlsplit(str(source_of(page)["src"])).fragment == "t=7.0"
    assert text(one(page, ".resume-note")).startswith("Starting at 0:07")
    assert client.get(f"/media/{mid}?t=-3").status_code == 400
    assert client.get(f"/media/{mid}?t=abc").status_code == 400


@pytest.mark.parametrize(
    ("seconds", "kept"),
    [
        ("0.5", None),  # under a second: nothing to resume
        ("1.5", 1.5),
        ("37.5", 37.5),  # 40 s clip: the last 2 s count as the end
        ("38.5", None),
        ("40", None),
    ],
)
def test_position_is_forgotten_near_the_end_and_ignored_at_the_start(
    client: TestClient[Litestar], ids: dict[str, int], seconds: str, kept: float | None
) -> None:
    mid = ids["Long"]
    assert report(client, mid, "position", seconds="20") == 204

    assert report(client, mid, "position", seconds=seconds) == 204

    assert api_position(client, mid) == kept
    page = get_page(client, f"/media/{mid}")
    fragment = urlsplit(str(source_of(page)["src"])).fragment
    if kept is None:
        assert fragment == ""
        assert page.select_one(".resume-note") is None
    else:
        assert float(fragment[2:]) == pytest.approx(kept, abs=0.1)


@pytest.mark.parametrize(
    ("title", "seconds", "kept"),
    [
        ("Two minutes", "118.5", 118.5),  # 125 s: 5 % (6.25 s) is the end, not just 2 s
        ("Two minutes", "119", None),
        ("Feature", "669.5", 669.5),  # 700 s: 5 % would be 35 s, but at most 30 s count
        ("Feature", "671", None),
    ],
)
def test_the_end_is_five_percent_of_a_video_at_most_thirty_seconds(
    client: TestClient[Litestar],
    scanned: Settings,
    library: Path,
    longer_clips: Path,
    title: str,
    seconds: str,
    kept: float | None,
) -> None:
    shutil.copy2(longer_clips / f"{title}.mp4", library / f"{title}.mp4")
    run_scan(scanned, thumbnails=False)
    (item,) = client.get("/api/media", params={"q": title}).json()["items"]

    assert report(client, item["id"], "position", seconds=seconds) == 204

    assert api_position(client, item["id"]) == kept
    src = str(source_of(get_page(client, f"/media/{item['id']}"))["src"])
    assert (urlsplit(src).fragment != "") == (kept is not None)


@pytest.mark.parametrize("seconds", ["", "abc", "-1", "nan", "inf", "1e9"])
def test_a_bad_position_form_is_a_400(
    client: TestClient[Litestar], ids: dict[str, int], seconds: str
) -> None:
    mid = ids["Long"]

    assert report(client, mid, "position", seconds=seconds) == 400
    assert api_position(client, mid) is None


def test_position_json_twin(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Long"]
    media_hash = api(client, mid)["media_hash"]
    assert client.get(f"/api/media/{mid}/position").json() == {
        "media_hash": media_hash,
        "seconds": None,
    }

    response = client.put(f"/api/media/{mid}/position", json={"seconds": 12.5})

    assert response.status_code == 200
    assert response.json() == {"media_hash": media_hash, "seconds": 12.5}
    assert api_position(client, mid) == 12.5
    assert urlsplit(str(source_of(get_page(client, f"/media/{mid}"))["src"])).fragment == "t=12.5"
    assert api(client, mid)["position"] == 12.5

    ended = client.put(f"/api/media/{mid}/position", json={"seconds": LONG_SECONDS})
    assert ended.json() == {"media_hash": media_hash, "seconds": None}
    assert api_position(client, mid) is None


@pytest.mark.parametrize("body", [{"seconds": -1}, {"seconds": "abc"}, {"seconds": True}, {}])
def test_position_json_refuses_bad_seconds(
    client: TestClient[Litestar], ids: dict[str, int], body: dict[str, Any]
) -> None:
    response = client.put(f"/api/media/{ids['Long']}/position", json=body)

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["seconds"]


# -- random -------------------------------------------------------------------------------------


def random_target(client: TestClient[Litestar], query: str = "") -> str:
    response = client.get(f"/random{query}", follow_redirects=False)
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return response.headers["location"]


def test_random_picks_a_present_video(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    every = {f"/media/{i}" for i in ids.values()}

    picks = {random_target(client) for _ in range(12)}

    assert picks <= every
    page = get_page(client, picks.pop())
    assert text(page.select_one("main h1")) in ids


def test_random_respects_the_filters(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    client.post(f"/api/media/{ids['Alpha']}/tags", json={"name": "cat"})
    client.post(f"/api/media/{ids['Bravo']}/tags", json={"name": "category"})
    client.put(f"/api/media/{ids['Long']}/favorite", json={"favorite": True})

    for query, title in [
        ("?folder=sub", "Charlie"),
        ("?tag=cat", "Alpha"),
        ("?favorites=1", "Long"),
        ("?q=bravo", "Bravo"),
        ("?dur_min=0&dur_max=1&sort=title&folder=&q=", None),
    ]:
        picks = {random_target(client, query) for _ in range(6)}
        if title is not None:
            assert picks == {f"/media/{ids[title]}"}, query
        else:
            assert picks <= {f"/media/{i}" for i in ids.values()}

    # The library's "Surprise me" link carries the filters of the view it is on.
    grid = one(get_page(client, "/?tag=cat&sort=title"), "section#library-grid")
    surprise = next(a for a in grid.select("a") if text(a) == "Surprise me")
    assert parse_qs(urlsplit(str(surprise["href"])).query) == {"tag": ["cat"], "sort": ["title"]}
    assert random_target(client, "?" + urlsplit(str(surprise["href"])).query) == (
        f"/media/{ids['Alpha']}"
    )


def test_random_with_nothing_matching_goes_back_with_a_flash(
    client: TestClient[Litestar],
) -> None:
    target = random_target(client, "?favorites=1&sort=title")

    assert parse_qs(urlsplit(target).query) == {"favorites": ["1"], "sort": ["title"]}
    page = get_page(client, target)
    assert "Nothing matches these filters." in flashes(page)
    assert grid_titles(page) == []


def test_random_with_a_bad_filter_is_a_400(client: TestClient[Litestar]) -> None:
    response = client.get("/random?res=8k", follow_redirects=False)

    assert response.status_code == 400
    assert "res" in text(html(response.text).select_one(".detail"))


# -- up next ------------------------------------------------------------------------------------


def up_next(client: TestClient[Litestar], media_id: int) -> list[str]:
    section = get_page(client, f"/media/{media_id}").select_one("section.related")
    return [] if section is None else card_titles(section)


def test_up_next_is_the_same_folder(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    page = get_page(client, f"/media/{ids['Alpha']}")
    section = one(page, "section.related")

    assert text(one(section, "h2")) == "Up next"
    assert card_titles(section) == ["Bravo", "Long"]
    links = [str(a["href"]) for a in section.select("a.card-link")]
    assert links == [f"/media/{ids['Bravo']}", f"/media/{ids['Long']}"]
    assert up_next(client, ids["Charlie"]) == []  # alone in its folder, nothing shared


def test_up_next_puts_shared_tags_first(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    for title in ("Alpha", "Charlie"):
        client.post(f"/api/media/{ids[title]}/tags", json={"name": "pets"})
    for title in ("Alpha", "Charlie", "Long"):
        client.post(f"/api/media/{ids[title]}/tags", json={"name": "garden"})

    assert up_next(client, ids["Alpha"]) == ["Charlie", "Long", "Bravo"]
    assert up_next(client, ids["Charlie"]) == ["Alpha", "Long"]


def test_up_next_leaves_out_missing_files_and_copies_of_itself(
    client: TestClient[Litestar], scanned: Settings, library: Path, ids: dict[str, int]
) -> None:
    shutil.copy2(library / "Alpha.mp4", library / "Alpha copy.mp4")  # the same video again
    (library / "Bravo.webm").unlink()
    run_scan(scanned, thumbnails=False)

    assert up_next(client, ids["Alpha"]) == ["Long"]


# -- CSRF ---------------------------------------------------------------------------------------


def _heart(client: TestClient[Litestar], mid: int) -> tuple[str, dict[str, str]]:
    form = heart(get_page(client, f"/media/{mid}"), mid)
    return str(form["action"]), fields(form)


def _tag_add(client: TestClient[Litestar], mid: int) -> tuple[str, dict[str, str]]:
    form = tag_form(client, mid)
    return str(form["action"]), fields(form) | {"name": "sneaky"}


def _tag_remove(client: TestClient[Litestar], mid: int) -> tuple[str, dict[str, str]]:
    form = one(get_page(client, f"/media/{mid}"), "section#tags li.tag form")
    return str(form["action"]), fields(form)


def _view(client: TestClient[Litestar], mid: int) -> tuple[str, dict[str, str]]:
    page = get_page(client, f"/media/{mid}")
    return str(video_of(page)["data-view-url"]), {"_csrf_token": csrf_token(page)}


def _position(client: TestClient[Litestar], mid: int) -> tuple[str, dict[str, str]]:
    page = get_page(client, f"/media/{mid}")
    return str(video_of(page)["data-position-url"]), {
        "_csrf_token": csrf_token(page),
        "seconds": "20",
    }


FORMS: dict[str, Callable[[TestClient[Litestar], int], tuple[str, dict[str, str]]]] = {
    "favorite": _heart,
    "tag add": _tag_add,
    "tag remove": _tag_remove,
    "view": _view,
    "position": _position,
}


def state(client: TestClient[Litestar], mid: int) -> tuple[Any, ...]:
    card = api(client, mid)
    return card["favorite"], card["views"], api_position(client, mid), api_tags(client, mid)


@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_refuses_a_post_without_its_csrf_token(
    client: TestClient[Litestar], ids: dict[str, int], form: str, htmx: bool, token: str
) -> None:
    mid = ids["Long"]
    client.post(f"/api/media/{mid}/tags", json={"name": "kept"})  # something to remove
    action, data = FORMS[form](client, mid)
    assert data["_csrf_token"]
    before = state(client, mid)
    if token == "missing":
        del data["_csrf_token"]
    else:
        data["_csrf_token"] = "forged-" + data["_csrf_token"][::-1]

    response = client.post(action, data=data, headers=HTMX if htmx else {}, follow_redirects=False)

    assert response.status_code == 403, (form, response.status_code)
    assert state(client, mid) == before


# -- the household write limit ------------------------------------------------------------------


@pytest.fixture
def limited(scanned: Settings) -> Iterator[TestClient[Litestar]]:
    """An app allowing two household writes a minute per client."""
    with TestClient(create_app(replace(scanned, write_rate_limit="2/minute"))) as c:
        yield c


def test_too_many_form_writes_are_429_with_retry_after(
    limited: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Alpha"]
    page = get_page(limited, f"/media/{mid}")
    form = heart(page, mid)
    assert submit(limited, form, favorite="1").status_code == 303
    assert submit(limited, form, favorite="0").status_code == 303

    response = submit(limited, form, favorite="1")

    assert response.status_code == 429
    assert 1 <= retry_after(response) <= 60
    assert "Too many" in text(html(response.text).select_one(".detail"))
    assert api(limited, mid)["favorite"] is False  # the refused write did nothing

    tag = one(page, "form.add-tag")
    htmx = submit(limited, tag, htmx=True, name="late")
    assert htmx.status_code == 429
    assert 1 <= retry_after(htmx) <= 60
    assert htmx.headers["hx-retarget"] == "#flashes"  # shown as a message, not swapped in
    assert "Too many" in " ".join(text(p) for p in html(htmx.text).select(".flash"))
    assert api_tags(limited, mid) == []


def test_too_many_json_writes_are_429_with_retry_after(
    limited: TestClient[Litestar], ids: dict[str, int]
) -> None:
    mid = ids["Long"]
    assert limited.put(f"/api/media/{mid}/position", json={"seconds": 10}).status_code == 200
    assert limited.post(f"/api/media/{mid}/tags", json={"name": "one"}).status_code == 200

    response = limited.put(f"/api/media/{mid}/favorite", json={"favorite": True})

    assert response.status_code == 429
    assert response.json()["status_code"] == 429
    assert 1 <= retry_after(response) <= 60
    assert api(limited, mid)["favorite"] is False
    assert limited.post(f"/api/media/{mid}/views", json={}).status_code == 429
    pixel = limited.get(f"/media/{mid}/noscript-view", headers={"Sec-Fetch-Site": "same-origin"})
    assert pixel.status_code == 429
    assert pixel.headers["content-type"] == "image/gif"
    assert api(limited, mid)["views"] == 0


# -- renames ------------------------------------------------------------------------------------


def test_favorite_tags_and_position_follow_a_renamed_file(
    client: TestClient[Litestar], scanned: Settings, library: Path, ids: dict[str, int]
) -> None:
    mid = ids["Long"]
    follow(client, submit(client, heart(get_page(client, f"/media/{mid}"), mid)))
    follow(client, submit(client, tag_form(client, mid), name="keeper"))
    assert report(client, mid, "position", seconds="20") == 204
    assert report(client, mid, "view") == 204

    (library / "moved").mkdir()
    (library / "Long.mp4").rename(library / "moved" / "Long renamed.mp4")
    assert run_scan(scanned).moved == 1

    (item,) = client.get("/api/media", params={"q": "renamed"}).json()["items"]
    assert item["path"] == "moved/Long renamed.mp4"
    new_id = item["id"]
    page = get_page(client, f"/media/{new_id}")
    assert text(page.select_one("main h1")) == "Long renamed"
    assert pressed(heart(page, new_id)) == "true"
    assert tag_names(one(page, "section#tags")) == ["keeper"]
    assert text(one(page, ".resume-note")).startswith("Resuming at 0:20")
    assert grid_titles(get_page(client, "/?favorites=1")) == ["Long renamed"]
    assert grid_titles(get_page(client, "/?tag=keeper")) == ["Long renamed"]
    assert card_titles(get_page(client, "/history")) == ["Long renamed"]
    assert (item["favorite"], item["views"], item["my_plays"]) == (True, 1, 1)
