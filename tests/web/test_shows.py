"""Shows and their seasons (episodes in order, your progress, what plays next), the shows list,
and folders browsed as collections (read from the database; a path in the URL is never opened)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from conftest import db_execute, html
from helpers import add_videos
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update
from test_home import person_of, stopped_at, watched

from lvs.app import create_app
from lvs.db.models import Media
from lvs.services.shows import BadFolder, clean_folder
from lvs.settings import Settings

# Indexed in an order unlike the episodes' own, as a library grows.
SHOW = [
    "TV/The Garden Detectives/Season 2/The.Garden.Detectives.S02E02.Roots.1080p.WEB.mkv",
    "TV/The Garden Detectives/Season 1/The.Garden.Detectives.S01E10.Finale.mkv",
    "TV/The Garden Detectives/Season 1/The.Garden.Detectives.S01E02.Bees.mkv",
    "TV/The Garden Detectives/Season 2/The.Garden.Detectives.S02E01.Return.mkv",
    "TV/The Garden Detectives/Season 1/The.Garden.Detectives.S01E01.Arrival.mkv",
    "the garden detectives 1x03.avi",
]
OTHERS = ["Holidays/2019-07-14 Beach.mp4", "Movie.Name.2019.1080p.mkv", "[G] Anime - 01.mkv"]


@pytest.fixture
def client(empty_library: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(empty_library)) as c:
        yield c


def episodes(page: BeautifulSoup) -> list[tuple[str, list[str]]]:
    """``(season heading, ["S01E01 Arrival", ...])`` in page order."""
    return [
        (
            section.select_one("h2").get_text(strip=True),  # type: ignore[union-attr]
            [
                " ".join(
                    li.select_one(c).get_text(strip=True)  # type: ignore[union-attr]
                    for c in (".label", ".name")
                )
                for li in section.select("li.episode")
            ],
        )
        for section in page.select("main section.season")
    ]


def test_a_show_page_lists_seasons_and_episodes_in_order(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    add_videos(empty_library, SHOW + OTHERS)

    response = client.get("/shows/the-garden-detectives")

    assert response.status_code == 200
    page = html(response.text)
    h1 = page.select_one("main h1")
    assert h1 is not None and h1.get_text(strip=True) == "The Garden Detectives"
    assert episodes(page) == [
        (
            "Season 1",
            ["S01E01 Arrival", "S01E02 Bees", "S01E03 the garden detectives 1x03", "S01E10 Finale"],
        ),
        ("Season 2", ["S02E01 Return", "S02E02 Roots"]),
    ]
    play = page.select_one("a.play-next")
    assert play is not None and "S01E01" in play.get_text(strip=True)


def test_the_show_page_shows_your_progress_and_plays_what_comes_next(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    ids = add_videos(empty_library, SHOW)
    by_name = {rel.rsplit("/", 1)[-1]: i for rel, i in ids.items()}
    user = person_of(client, empty_library, by_name["The.Garden.Detectives.S01E01.Arrival.mkv"])
    watched(empty_library, user, by_name["The.Garden.Detectives.S01E01.Arrival.mkv"], 1)
    watched(empty_library, user, by_name["The.Garden.Detectives.S01E02.Bees.mkv"], 2)
    stopped_at(empty_library, user, by_name["The.Garden.Detectives.S01E02.Bees.mkv"], 2)

    page = html(client.get("/shows/the-garden-detectives").text)

    items = {li["id"]: li for li in page.select("li.episode")}
    first = items[f"episode-{by_name['The.Garden.Detectives.S01E01.Arrival.mkv']}"]
    second = items[f"episode-{by_name['The.Garden.Detectives.S01E02.Bees.mkv']}"]
    assert "finished" in first["class"] and first.select_one(".watched") is not None
    progress = second.select_one("progress.resume")
    assert progress is not None and progress["value"] == "120.0"
    play = page.select_one("a.play-next")
    assert play is not None
    assert play["href"] == f"/media/{by_name['The.Garden.Detectives.S01E02.Bees.mkv']}"
    assert play.get_text(" ", strip=True).startswith("▶ Resume S01E02")

    # Once it is finished (the position is dropped at the end), the next one plays.
    db_execute(empty_library, "DELETE FROM positions")
    play = html(client.get("/shows/the-garden-detectives").text).select_one("a.play-next")
    assert play is not None and play.get_text(" ", strip=True).startswith("▶ Play S01E03")


def test_the_shows_list_has_each_show_once_and_no_movies_or_home_videos(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    add_videos(empty_library, SHOW + OTHERS)

    page = html(client.get("/shows").text)

    found = {str(a["href"]): a.get_text(" ", strip=True) for a in page.select("main .show-card a")}
    assert found == {
        "/shows/the-garden-detectives": "The Garden Detectives",
        "/shows/g-anime": "G Anime",
    } or found == {
        "/shows/the-garden-detectives": "The Garden Detectives",
        "/shows/anime": "Anime",
    }
    meta = [p.get_text(" ", strip=True) for p in page.select("main .show-card .meta")]
    assert "6 episodes · 2 seasons" in meta


def test_an_unknown_show_is_a_404(client: TestClient[Litestar]) -> None:
    assert client.get("/shows/nothing-here").status_code == 404
    assert client.get("/shows/" + "x" * 300).status_code == 404


# -- folders --------------------------------------------------------------------------------------


def test_folders_are_browsable_from_the_list_down_to_their_videos(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    add_videos(empty_library, SHOW + OTHERS + ["Holidays/Café del Mar/Sunset #1.mp4"])

    top = html(client.get("/folders").text)
    links = {a.get_text(strip=True): str(a["href"]) for a in top.select("main .folder-list a")}
    assert links == {"Holidays": "/folders/Holidays", "TV": "/folders/TV"}

    holidays = html(client.get(links["Holidays"]).text)
    sub = {a.get_text(strip=True): str(a["href"]) for a in holidays.select("main .folder-list a")}
    assert sub == {"Café del Mar": "/folders/Holidays/Caf%C3%A9%20del%20Mar"}
    titles = [t.get_text(strip=True) for t in holidays.select("main li.card .title")]
    assert titles == ["2019-07-14 Beach"]

    cafe = client.get(sub["Café del Mar"])
    assert cafe.status_code == 200
    page = html(cafe.text)
    assert [t.get_text(strip=True) for t in page.select("main li.card .title")] == ["Sunset #1"]
    crumbs = [str(a["href"]) for a in page.select("nav.crumbs a")]
    assert crumbs == ["/folders", "/folders/Holidays"]


def test_a_folder_whose_videos_are_all_gone_is_a_404(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    add_videos(empty_library, ["Old/Gone.mp4"])
    db_execute(empty_library, update(Media).values(missing=True))

    assert client.get("/folders/Old").status_code == 404
    assert client.get("/folders/Nowhere").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        # (A literal "/.." is resolved by the client before it is sent; these are not.)
        "/folders/%2E%2E",
        "/folders/Holidays/%2e%2e/%2e%2e/etc",
        "/folders/..%2F..%2Fetc",
        "/folders/%2Fetc",
        "/folders//etc",
        "/folders/%2F%2Fetc%2Fpasswd",
        "/folders/Holidays%5C..%5C..",
        "/folders/Holidays%00",
        "/folders/%2E/Holidays",
        "/folders/Holidays//Beach",
    ],
)
def test_the_folder_route_refuses_paths_that_leave_the_library(
    client: TestClient[Litestar], empty_library: Settings, path: str
) -> None:
    add_videos(empty_library, ["Holidays/2019-07-14 Beach.mp4"])

    response = client.get(path, follow_redirects=False)

    assert response.status_code in {400, 404}, (path, response.status_code)
    assert "Beach" not in response.text


@pytest.mark.parametrize(
    "raw",
    ["..", "a/../b", "a/..", "/etc", "./a", "a//b", "a\\..\\b", "a\x00", "", "a" * 1025],
)
def test_a_folder_path_that_could_leave_the_library_is_refused_before_any_query(raw: str) -> None:
    with pytest.raises(BadFolder):
        clean_folder(raw)


def test_a_folder_path_of_the_library_is_kept_as_it_is() -> None:
    assert clean_folder("Holidays/Café del Mar/") == "Holidays/Café del Mar"
    assert clean_folder("..hidden/a..b") == "..hidden/a..b"


def test_a_bad_folder_is_a_400_that_names_the_field(client: TestClient[Litestar]) -> None:
    response = client.get("/folders/a/%2E%2E/b")

    assert response.status_code == 400
    detail = html(response.text).select_one(".detail")
    assert detail is not None and "folder" in detail.get_text(strip=True)
