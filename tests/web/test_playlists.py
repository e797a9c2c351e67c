"""Playlists through the app: every form without JavaScript (303 + flash) and with htmx (the
section that replaces itself), play all / shuffle / loop and the watch page's queue, "Play this
season" and "Play this folder", the M3U export, the JSON twins, and the refusals (400 naming the
field, 404, 403 without CSRF, 429)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from conftest import db_execute, db_query, html
from helpers import (
    HTMX,
    add_videos,
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

from lvs.app import create_app
from lvs.settings import Settings


@pytest.fixture
def ids(scanned: Settings) -> dict[str, int]:
    """``{title: media id}`` of the test clips (Alpha, Bravo, Charlie)."""
    return {str(t): int(i) for t, i in db_query(scanned, "SELECT title, id FROM media")}


# -- helpers ------------------------------------------------------------------------------------


def create(client: TestClient[Litestar], name: str) -> int:
    """Make a playlist with the form on /playlists; its id."""
    form = one(get_page(client, "/playlists"), "form.new-playlist")
    response = submit(client, form, name=name)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    follow(client, response)
    return int(location.rstrip("/").rsplit("/", 1)[-1])


def add_form(client: TestClient[Litestar], media_id: int, query: str = "") -> Tag:
    return one(get_page(client, f"/media/{media_id}{query}"), "form#add-to-playlist")


def add(client: TestClient[Litestar], media_id: int, playlist: int | str) -> httpx.Response:
    return submit(client, add_form(client, media_id), playlist=str(playlist))


def item_titles(page: BeautifulSoup | Tag) -> list[str]:
    return [text(li.select_one(".title")) for li in page.select("li.playlist-item")]


def queue_titles(page: BeautifulSoup) -> list[str]:
    return [text(a) for a in page.select("#queue .queue-items li a")]


def current(page: BeautifulSoup) -> str:
    return text(one(page, "#queue .queue-items li[aria-current=true] a"))


def next_link(page: BeautifulSoup) -> Tag | None:
    found: Tag | None = page.select_one("#queue a#next-link")
    return found


def play(client: TestClient[Litestar], query: str) -> tuple[str, BeautifulSoup]:
    """Follow a /play link: the watch page it starts at, and its URL."""
    response = client.get(f"/play?{query}", follow_redirects=False)
    assert response.status_code == 303, (response.status_code, response.text[:300])
    location = response.headers["location"]
    return location, get_page(client, location)


def go_next(client: TestClient[Litestar], page: BeautifulSoup) -> tuple[str, BeautifulSoup]:
    link = next_link(page)
    assert link is not None, "no Next link"
    return str(link["href"]), get_page(client, str(link["href"]))


def filled(client: TestClient[Litestar], ids: dict[str, int], *titles: str) -> int:
    pid = create(client, "Evening")
    for title in titles:
        assert add(client, ids[title], pid).status_code == 303
    return pid


@contextmanager
def someone_else(client: TestClient[Litestar]) -> Iterator[TestClient[Litestar]]:
    saved = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies()
    try:
        yield client
    finally:
        client.cookies = saved


# -- making and changing playlists ---------------------------------------------------------------


def test_create_and_add_without_javascript(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    assert text(one(get_page(client, "/playlists"), ".empty")).startswith("No playlists yet")
    pid = create(client, "  Movie   night ")

    page = get_page(client, f"/playlists/{pid}")
    assert text(one(page, "h1#playlist-title")) == "Movie night"
    assert page.select_one("a.play-all") is None  # nothing to play yet

    response = add(client, ids["Bravo"], pid)
    assert response.headers["location"] == f"/media/{ids['Bravo']}"
    assert flashes(follow(client, response)) == ["Added to “Movie night”."]
    follow(client, add(client, ids["Alpha"], pid))
    again = follow(client, add(client, ids["Bravo"], pid))
    assert flashes(again) == ["Already in “Movie night”."]

    page = get_page(client, f"/playlists/{pid}")
    assert item_titles(page) == ["Bravo", "Alpha"]
    assert text(one(page, "p.count")).startswith("2 videos")
    listing = get_page(client, "/playlists")
    assert [text(a) for a in listing.select(".playlist-row a")] == ["Movie night"]
    assert text(one(listing, ".playlist-row .count")) == "2 videos"
    # the watch page's choice now lists it
    options = add_form(client, ids["Charlie"]).select("option")
    assert [(o["value"], text(o)) for o in options] == [
        (str(pid), "Movie night"),
        ("new", "New playlist…"),
    ]


def test_add_to_a_new_playlist_from_the_watch_page(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    form = add_form(client, ids["Alpha"], "?t=1")
    assert one(form, "option[selected]")["value"] == "new"  # no playlists yet
    response = submit(client, form, playlist="new", name="Later")
    assert response.headers["location"] == f"/media/{ids['Alpha']}?t=1"  # back where I was
    assert flashes(follow(client, response)) == ["Added to “Later”."]
    (summary,) = client.get("/api/playlists").json()
    assert (summary["name"], summary["items"]) == ("Later", 1)


def test_add_with_htmx_answers_with_the_form(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    pid = create(client, "Kids")
    form = add_form(client, ids["Alpha"])
    response = submit(client, form, htmx=True, playlist=str(pid))
    assert response.status_code == 200
    (root,) = fragment_roots(response)
    assert root["id"] == "add-to-playlist"
    assert text(one(root, ".form-note")).startswith("Added to “Kids”.")
    assert item_titles(get_page(client, f"/playlists/{pid}")) == ["Alpha"]


def test_create_with_htmx_answers_with_the_list(client: TestClient[Litestar]) -> None:
    form = one(get_page(client, "/playlists"), "form.new-playlist")
    response = submit(client, form, htmx=True, name="Music videos")
    (root,) = fragment_roots(response)
    assert root["id"] == "playlists"
    assert [text(a) for a in root.select(".playlist-row a")] == ["Music videos"]


def test_reorder_remove_rename_loop_without_javascript(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    pid = filled(client, ids, "Alpha", "Bravo", "Charlie")
    page = get_page(client, f"/playlists/{pid}")
    first, _, last = page.select("li.playlist-item")
    assert first.select_one("button.move-up") is None
    assert last.select_one("button.move-down") is None

    down = one(first, "button.move-down").find_parent("form")
    response = submit(client, down)
    assert response.headers["location"] == f"/playlists/{pid}#{first['id']}"
    page = follow(client, response)
    assert flashes(page) == ["Moved down."]
    assert item_titles(page) == ["Bravo", "Alpha", "Charlie"]

    up = one(page.select("li.playlist-item")[2], "button.move-up").find_parent("form")
    page = follow(client, submit(client, up))
    assert item_titles(page) == ["Bravo", "Charlie", "Alpha"]

    remove = one(page.select("li.playlist-item")[0], "button.remove").find_parent("form")
    page = follow(client, submit(client, remove))
    assert flashes(page) == ["Removed from the playlist."]
    assert item_titles(page) == ["Charlie", "Alpha"]

    page = follow(client, submit(client, one(page, "form.rename-playlist"), name="Late show"))
    assert text(one(page, "h1#playlist-title")) == "Late show"

    loop = one(page, "form.loop")
    assert one(loop, "button")["aria-pressed"] == "false"
    page = follow(client, submit(client, loop))
    assert one(page, "form.loop button")["aria-pressed"] == "true"


@pytest.mark.parametrize(
    ("action", "changes", "expect"),
    [
        ("move", {}, ["Bravo", "Alpha"]),
        ("remove", {}, ["Bravo"]),
        ("rename", {"name": "Renamed"}, ["Alpha", "Bravo"]),
        ("loop", {}, ["Alpha", "Bravo"]),
    ],
)
def test_playlist_actions_with_htmx_answer_with_the_section(
    client: TestClient[Litestar],
    ids: dict[str, int],
    action: str,
    changes: dict[str, str],
    expect: list[str],
) -> None:
    pid = filled(client, ids, "Alpha", "Bravo")
    page = get_page(client, f"/playlists/{pid}")
    forms = {
        "move": one(page, "button.move-down").find_parent("form"),
        "remove": one(page.select("li.playlist-item")[0], "button.remove").find_parent("form"),
        "rename": one(page, "form.rename-playlist"),
        "loop": one(page, "form.loop"),
    }
    form = forms[action]
    assert form is not None

    response = submit(client, form, htmx=True, **changes)

    assert response.status_code == 200
    (root,) = fragment_roots(response)
    assert root["id"] == "playlist"
    assert root["hx-target"] == "this"
    assert item_titles(root) == expect
    if action == "rename":
        assert text(one(root, "h1")) == "Renamed"
    if action == "loop":
        assert one(root, "form.loop button")["aria-pressed"] == "true"


def test_delete_asks_first_then_goes_to_the_list(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    pid = filled(client, ids, "Alpha")
    page = get_page(client, f"/playlists/{pid}")
    confirm = one(page, "details.delete-playlist")
    assert "open" not in confirm.attrs  # a second step: the button is inside the disclosure
    listing = follow(client, submit(client, one(confirm, "form")))
    assert flashes(listing) == ["Deleted the playlist “Evening”."]
    assert listing.select(".playlist-row") == []
    assert client.get(f"/playlists/{pid}").status_code == 404
    assert db_query_count(client, pid) == 0

    pid = filled(client, ids, "Bravo")
    form = one(get_page(client, f"/playlists/{pid}"), "details.delete-playlist form")
    response = submit(client, form, htmx=True)
    assert response.headers["hx-redirect"] == "/playlists"


def db_query_count(client: TestClient[Litestar], pid: int) -> int:
    settings: Settings = client.app.state.settings
    ((n,),) = db_query(
        settings, "SELECT count(*) FROM playlist_items WHERE playlist_id = :p", p=pid
    )
    return int(n)


def test_a_playlist_is_per_person(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    pid = filled(client, ids, "Alpha")
    with someone_else(client) as other:
        assert other.get("/playlists").status_code == 200
        assert other.get(f"/playlists/{pid}").status_code == 404
        assert other.get(f"/playlists/{pid}/playlist.m3u").status_code == 404
        assert other.get(f"/play?list=p{pid}").status_code == 404
        assert other.get(f"/api/playlists/{pid}").status_code == 404
        assert other.get("/api/playlists").json() == []
        # nor can they add to it, even with a token of their own
        response = submit(other, add_form(other, ids["Bravo"]), playlist=str(pid))
        assert response.status_code == 404
    assert item_titles(get_page(client, f"/playlists/{pid}")) == ["Alpha"]


def test_names_are_text_never_markup(client: TestClient[Litestar]) -> None:
    pid = create(client, "<img src=x onerror=alert(1)>")
    page = get_page(client, f"/playlists/{pid}")
    assert page.select("h1 img") == []
    assert text(one(page, "h1#playlist-title")) == "<img src=x onerror=alert(1)>"


# -- playing -------------------------------------------------------------------------------------


def test_play_all_walks_the_list_with_next_links_that_keep_it(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    pid = filled(client, ids, "Charlie", "Alpha", "Bravo")
    page = get_page(client, f"/playlists/{pid}")
    start = str(one(page, "a.play-all")["href"])

    location, watch = play(client, start.split("?", 1)[1])
    assert location == f"/media/{ids['Charlie']}?list=p{pid}&i=0"
    assert text(one(watch, "main h1")) == "Charlie"
    assert text(one(watch, "#queue-title a")) == "Evening"
    assert queue_titles(watch) == ["Charlie", "Alpha", "Bravo"]
    assert current(watch) == "Charlie"
    assert watch.select_one("#queue a#prev-link") is None

    href, watch = go_next(client, watch)
    assert href == f"/media/{ids['Alpha']}?list=p{pid}&i=1"
    assert (text(one(watch, "main h1")), current(watch)) == ("Alpha", "Alpha")
    assert one(watch, "a#prev-link")["href"] == location

    _, watch = go_next(client, watch)
    assert current(watch) == "Bravo"
    assert next_link(watch) is None  # the end, no loop
    assert text(one(watch, ".queue-end")) == "Last in the list"
    # the countdown's script is there for the queue, with its live region only when there is a next
    assert watch.select_one("#autoplay-status") is None


def test_loop_goes_from_the_last_to_the_first(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    pid = filled(client, ids, "Alpha", "Bravo")
    follow(client, submit(client, one(get_page(client, f"/playlists/{pid}"), "form.loop")))

    location, watch = play(client, f"list=p{pid}")
    assert parse_qs(urlsplit(location).query)["loop"] == ["1"]
    _, watch = go_next(client, watch)
    assert current(watch) == "Bravo"
    href, watch = go_next(client, watch)
    assert current(watch) == "Alpha"
    assert parse_qs(urlsplit(href).query)["i"] == ["0"]


def test_shuffle_keeps_its_order_in_the_url(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    pid = filled(client, ids, "Alpha", "Bravo", "Charlie")
    page = get_page(client, f"/playlists/{pid}")
    start = str(one(page, "a.shuffle")["href"])
    location, watch = play(client, start.split("?", 1)[1])
    query = parse_qs(urlsplit(location).query)
    seed = query["shuffle"][0]
    assert seed.isdigit()
    order = queue_titles(watch)
    assert sorted(order) == ["Alpha", "Bravo", "Charlie"]
    assert current(watch) == order[0]

    assert queue_titles(get_page(client, location)) == order  # a reload keeps the order
    seen = [current(watch)]
    while next_link(watch) is not None:
        href, watch = go_next(client, watch)
        assert parse_qs(urlsplit(href).query)["shuffle"] == [seed]
        seen.append(current(watch))
    assert seen == order


def test_a_video_gone_from_the_library_is_skipped(
    client: TestClient[Litestar], scanned: Settings, ids: dict[str, int]
) -> None:
    pid = filled(client, ids, "Alpha", "Bravo", "Charlie")
    db_execute(scanned, "UPDATE media SET missing = :yes WHERE id = :id", yes=True, id=ids["Bravo"])

    assert item_titles(get_page(client, f"/playlists/{pid}")) == ["Alpha", "Charlie"]
    _, watch = play(client, f"list=p{pid}")
    assert queue_titles(watch) == ["Alpha", "Charlie"]
    _, watch = go_next(client, watch)
    assert current(watch) == "Charlie"


def test_bad_queues_in_the_url(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Alpha"]
    for query, field in [
        ("list=x12", "list"),
        ("list=folder:../etc", "list"),
        ("list=season:show:x", "list"),
        ("list=p1&i=-1", "i"),
        ("list=p1&shuffle=lots", "shuffle"),
    ]:
        response = client.get(f"/media/{mid}?{query}", headers={"accept": "application/json"})
        assert response.status_code == 400, query
        assert response.json()["errors"][0]["field"] == field, query
    assert client.get(f"/media/{mid}?list=p999").status_code == 404
    assert client.get("/play").status_code == 400
    assert client.get("/play?list=folder:nowhere").status_code == 404


# -- M3U -----------------------------------------------------------------------------------------


def test_m3u_lists_absolute_stream_urls_in_order(
    client: TestClient[Litestar], scanned: Settings, ids: dict[str, int]
) -> None:
    pid = filled(client, ids, "Charlie", "Alpha")
    # a title cannot break a line of the playlist (file names may hold anything)
    db_execute(
        scanned, "UPDATE media SET title = :t WHERE id = :id", t="A\nlpha, 1", id=ids["Alpha"]
    )
    follow(
        client,
        submit(
            client,
            one(get_page(client, f"/playlists/{pid}"), "form.rename-playlist"),
            name="Fri/day: “night”",
        ),
    )
    link = one(get_page(client, f"/playlists/{pid}"), "a.m3u")
    response = client.get(str(link["href"]))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("audio/x-mpegurl")
    assert response.headers["content-disposition"] == 'attachment; filename="Fri-day-night.m3u"'
    lines = response.text.splitlines()
    assert lines == [
        "#EXTM3U",
        "#EXTINF:3,Charlie",
        f"http://testserver.local/media/{ids['Charlie']}/stream",
        "#EXTINF:2,A lpha, 1",
        f"http://testserver.local/media/{ids['Alpha']}/stream",
    ]
    stream = client.get(urlsplit(lines[2]).path, headers={"range": "bytes=0-3"})
    assert stream.status_code == 206


# -- seasons, shows and folders ------------------------------------------------------------------


@pytest.fixture
def shows(empty_library: Settings) -> Iterator[tuple[TestClient[Litestar], dict[str, int]]]:
    ids = add_videos(
        empty_library,
        [
            "Shows/Kiln/Season 2/Kiln S02E01.mp4",
            "Shows/Kiln/Season 1/Kiln S01E02.mp4",
            "Shows/Kiln/Season 1/Kiln S01E01.mp4",
            "Shows/Kiln/Season 1/Kiln S01E03.mp4",
            "Trips/b.mp4",
            "Trips/a.mp4",
            "Trips/deeper/c.mp4",
        ],
    )
    with TestClient(create_app(empty_library)) as client:
        yield client, ids


def test_play_this_season_plays_its_episodes_in_order(
    shows: tuple[TestClient[Litestar], dict[str, int]],
) -> None:
    client, ids = shows
    show = get_page(client, "/shows")
    show_url = str(one(show, "main a[href^='/shows/']")["href"])
    first_season = get_page(client, show_url).select("a.play-season")[0]
    assert text(first_season) == "▶ Play this season"

    location, watch = play(client, str(first_season["href"]).split("?", 1)[1])
    assert location.startswith(f"/media/{ids['Shows/Kiln/Season 1/Kiln S01E01.mp4']}?")
    assert "Season 1" in text(one(watch, "#queue-title"))
    assert len(queue_titles(watch)) == 3
    seen = [urlsplit(location).path]
    while next_link(watch) is not None:
        href, watch = go_next(client, watch)
        seen.append(urlsplit(href).path)
    assert seen == [f"/media/{ids[f'Shows/Kiln/Season 1/Kiln S01E0{n}.mp4']}" for n in (1, 2, 3)]


def test_an_episode_plays_the_next_episode_by_default(
    shows: tuple[TestClient[Litestar], dict[str, int]],
) -> None:
    client, ids = shows
    watch = get_page(client, f"/media/{ids['Shows/Kiln/Season 1/Kiln S01E03.mp4']}")
    link = next_link(watch)
    assert link is not None
    assert (
        urlsplit(str(link["href"])).path == f"/media/{ids['Shows/Kiln/Season 2/Kiln S02E01.mp4']}"
    )
    assert parse_qs(urlsplit(str(link["href"])).query)["list"][0].startswith("show:")
    # a film has no queue
    film = get_page(client, f"/media/{ids['Trips/a.mp4']}")
    assert film.select_one("#queue") is None


def test_an_episode_deep_in_a_long_show_lists_the_episodes_around_it(
    empty_library: Settings,
) -> None:
    """A show of 60 episodes: the watch page of the 40th lists the 38th to the 60th, says
    "40 of 60", and its Previous and Next are the 39th and the 41st; looping, the last one's
    Next is the first."""
    paths = [f"Shows/Long/Long S01E{n:02d}.mp4" for n in range(60, 0, -1)]
    ids = add_videos(empty_library, paths)
    episode = {n: ids[f"Shows/Long/Long S01E{n:02d}.mp4"] for n in range(1, 61)}
    with TestClient(create_app(empty_library)) as client:
        watch = get_page(client, f"/media/{episode[40]}")
        assert queue_titles(watch) == [f"Long S01E{n:02d}" for n in range(38, 61)]
        assert current(watch) == "Long S01E40"
        assert "40 of 60" in text(one(watch, "#queue-title"))
        prev = one(watch, "#queue a#prev-link")
        assert urlsplit(str(prev["href"])).path == f"/media/{episode[39]}"
        link = next_link(watch)
        assert link is not None and urlsplit(str(link["href"])).path == f"/media/{episode[41]}"

        query = parse_qs(urlsplit(str(link["href"])).query)["list"][0]
        last = get_page(client, f"/media/{episode[60]}?list={query}&i=59&loop=1")
        wrapped = next_link(last)
        assert wrapped is not None
        assert urlsplit(str(wrapped["href"])).path == f"/media/{episode[1]}"


def test_play_this_folder_plays_its_own_videos_by_name(
    shows: tuple[TestClient[Litestar], dict[str, int]],
) -> None:
    client, ids = shows
    folder = get_page(client, "/folders/Trips")
    link = one(folder, "a.play-folder")
    location, watch = play(client, str(link["href"]).split("?", 1)[1])
    assert urlsplit(location).path == f"/media/{ids['Trips/a.mp4']}"
    assert text(one(watch, "#queue-title")).startswith("Trips")
    assert len(queue_titles(watch)) == 2  # not the video in Trips/deeper
    href, _ = go_next(client, watch)
    assert urlsplit(href).path == f"/media/{ids['Trips/b.mp4']}"


# -- JSON ----------------------------------------------------------------------------------------


def test_json_twins(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    made = client.post("/api/playlists", json={"name": "API list"})
    assert made.status_code == 201
    pid = made.json()["id"]
    for title in ("Alpha", "Bravo", "Charlie"):
        body = client.post(f"/api/playlists/{pid}/items", json={"media_id": ids[title]}).json()
        assert body["added"] is True
    again = client.post(f"/api/playlists/{pid}/items", json={"media_id": ids["Alpha"]}).json()
    assert again["added"] is False
    body = client.get(f"/api/playlists/{pid}").json()
    assert [i["title"] for i in body["items"]] == ["Alpha", "Bravo", "Charlie"]
    assert body["m3u_url"] == f"/playlists/{pid}/playlist.m3u"

    charlie = body["items"][2]["item_id"]
    moved = client.post(f"/api/playlists/{pid}/items/{charlie}/move", json={"to": "up"}).json()
    assert [i["title"] for i in moved["items"]] == ["Alpha", "Charlie", "Bravo"]
    alpha = body["items"][0]["item_id"]
    left = client.delete(f"/api/playlists/{pid}/items/{alpha}").json()
    assert [i["title"] for i in left["items"]] == ["Charlie", "Bravo"]
    patched = client.patch(f"/api/playlists/{pid}", json={"name": "Renamed", "loop": True}).json()
    assert (patched["name"], patched["loop"]) == ("Renamed", True)
    # the HTML page shows what the API did
    assert item_titles(get_page(client, f"/playlists/{pid}")) == ["Charlie", "Bravo"]

    assert client.delete(f"/api/playlists/{pid}").json()["deleted"] is True
    assert client.get(f"/api/playlists/{pid}").status_code == 404
    assert client.get("/api/playlists").json() == []


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/playlists", {"name": ""}, "name"),
        ("post", "/api/playlists", {"name": 5}, "name"),
        ("post", "/api/playlists", {"name": "x" * 101}, "name"),
        ("patch", "/api/playlists/{pid}", {"loop": "yes"}, "loop"),
        ("patch", "/api/playlists/{pid}", {}, "body"),
        ("post", "/api/playlists/{pid}/items", {"media_id": "1"}, "media_id"),
        ("post", "/api/playlists/{pid}/items/{item}/move", {"to": "left"}, "to"),
    ],
)
def test_json_refuses_bad_input_naming_the_field(
    client: TestClient[Litestar],
    ids: dict[str, int],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    pid = client.post("/api/playlists", json={"name": "One"}).json()["id"]
    item = client.post(f"/api/playlists/{pid}/items", json={"media_id": ids["Alpha"]}).json()
    url = path.format(pid=pid, item=item["items"][0]["item_id"])
    response = client.request(method.upper(), url, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


def test_json_404s(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    pid = client.post("/api/playlists", json={"name": "One"}).json()["id"]
    assert client.post(f"/api/playlists/{pid}/items", json={"media_id": 99999}).status_code == 404
    assert client.delete(f"/api/playlists/{pid}/items/99999").status_code == 404
    assert client.patch("/api/playlists/99999", json={"name": "x"}).status_code == 404
    assert client.delete(f"/api/playlists/{2**63}").status_code in {400, 404}


def test_form_refuses_a_bad_name_naming_the_field(client: TestClient[Litestar]) -> None:
    form = one(get_page(client, "/playlists"), "form.new-playlist")
    response = submit(client, form, name="   ")
    assert response.status_code == 400
    assert "name" in text(html(response.text).select_one(".detail"))
    response = submit(client, form, htmx=True, name="\x01bad")
    assert response.status_code == 400
    assert response.headers["hx-retarget"] == "#flashes"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_forms_refuse_a_post_without_csrf(
    client: TestClient[Litestar], ids: dict[str, int], htmx: bool
) -> None:
    pid = filled(client, ids, "Alpha", "Bravo")
    page = get_page(client, f"/playlists/{pid}")
    forms = [
        one(get_page(client, "/playlists"), "form.new-playlist"),
        add_form(client, ids["Charlie"]),
        *page.select("#playlist form"),
    ]
    assert len(forms) == 9  # create, add, loop, 2 × (move, remove), rename, delete
    for form in forms:
        data = {str(i["name"]): str(i.get("value", "")) for i in form.select("input[name]")}
        del data["_csrf_token"]
        response = client.post(
            str(form["action"]), data=data, headers=HTMX if htmx else {}, follow_redirects=False
        )
        assert response.status_code == 403, form["action"]
    assert item_titles(get_page(client, f"/playlists/{pid}")) == ["Alpha", "Bravo"]


def test_too_many_writes_are_429(scanned: Settings, ids: dict[str, int]) -> None:
    with TestClient(create_app(replace(scanned, write_rate_limit="2/minute"))) as client:
        pid = create(client, "One")
        assert add(client, ids["Alpha"], pid).status_code == 303
        response = add(client, ids["Bravo"], pid)
        assert response.status_code == 429
        assert 1 <= retry_after(response) <= 60
        api = client.post(f"/api/playlists/{pid}/items", json={"media_id": ids["Bravo"]})
        assert api.status_code == 429
        assert item_titles(get_page(client, f"/playlists/{pid}")) == ["Alpha"]


def test_forms_refuse_bad_choices_naming_the_field(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    form = add_form(client, ids["Alpha"])
    for changes, field in [
        ({"playlist": "abc"}, "playlist"),
        ({"playlist": "-1"}, "playlist"),
        ({"playlist": "new", "name": ""}, "name"),
    ]:
        response = submit(client, form, **changes)
        assert response.status_code == 400, changes
        assert text(html(response.text).select_one(".detail")).startswith(f"{field}:")
    assert submit(client, form, playlist="999").status_code == 404
    assert client.get("/api/playlists").json() == []  # nothing was made

    pid = filled(client, ids, "Alpha", "Bravo")
    move = one(get_page(client, f"/playlists/{pid}"), "button.move-down").find_parent("form")
    assert move is not None
    response = submit(client, move, to="sideways")
    assert response.status_code == 400
    assert text(html(response.text).select_one(".detail")).startswith("to:")
    remove = get_page(client, f"/playlists/{pid}").select("button.remove")[0].find_parent("form")
    assert remove is not None
    gone = client.post(f"/playlists/{pid}/items/999/remove", data=fields(remove))
    assert gone.status_code == 404
    assert "No such item" in text(html(gone.text).select_one(".detail"))
