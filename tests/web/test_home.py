"""The home screen: its rows (which appear, in which order, with what), the first-run screen
and the scan's progress, and old library URLs on ``/`` redirected to the grid."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup, Tag
from conftest import db_execute, db_query, html
from helpers import add_videos
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import insert, select, update

from lvs.app import create_app
from lvs.db.models import Media, MediaStats, Position, ScanStatus, User, View
from lvs.services.home import ROW_SIZE
from lvs.services.watch import STATUS_FILE, WatchStatus
from lvs.settings import Settings

LIBRARY = [
    "Alpha.mp4",
    "Movie.Name.2019.1080p.mkv",
    "Show.S01E01.mkv",
    "Show.S01E02.mkv",
    "Show.S01E03.mkv",
    "Garden/Season 1/01 - Arrival.mp4",
    "Garden/Season 1/02 - Bees.mp4",
    "Garden/Season 1/03 - Compost.mp4",
    "Garden/Season 2/01 - Digging.mp4",
    "Garden/Season 2/02 - Earthworms.mp4",
    "Holidays/2019-07-14 Beach.mp4",
    "Holidays/IMG_2041.MOV",
    "[G] Anime - 01 [1080p].mkv",
    "[G] Anime - 02 [1080p].mkv",
    "Old/Gone.mp4",
]
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def client(empty_library: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(empty_library)) as c:
        yield c


def rows(page: BeautifulSoup) -> list[tuple[str, list[str]]]:
    """``(heading, [card titles])`` of each row, in page order."""
    found = []
    for section in page.select("section.row"):
        heading = section.select_one("h2")
        assert heading is not None
        titles = [t.get_text(strip=True) for t in section.select("li.card .title")]
        found.append((heading.get_text(strip=True), titles))
    return found


def see_all(page: BeautifulSoup, heading: str) -> str:
    for section in page.select("section.row"):
        h2 = section.select_one("h2")
        if h2 is not None and h2.get_text(strip=True) == heading:
            link = section.select_one("a.see-all")
            assert link is not None
            return str(link["href"])
    raise AssertionError(f"no row {heading!r}")


def set_scan(settings: Settings, **values: object) -> None:
    db_execute(settings, update(ScanStatus).where(ScanStatus.id == 1).values(**values))


def person_of(client: TestClient[Litestar], settings: Settings, media_id: int) -> uuid.UUID:
    """Make this browser a person (its first write: a favorite), and return its id."""
    response = client.put(f"/api/media/{media_id}/favorite", json={"favorite": True})
    assert response.status_code == 200, response.text
    (user_id,) = db_query(settings, select(User.id))[0]
    assert isinstance(user_id, uuid.UUID)
    return user_id


def watched(settings: Settings, user_id: uuid.UUID, media_id: int, minute: int) -> None:
    """A counted view of this video, ``minute`` minutes after T0."""
    (media_hash,) = db_query(settings, "SELECT media_hash FROM media WHERE id = :i", i=media_id)[0]
    at = T0 + timedelta(minutes=minute)
    db_execute(
        settings,
        insert(View).values(user_id=user_id, media_hash=media_hash, created_at=at, updated_at=at),
    )


def stopped_at(settings: Settings, user_id: uuid.UUID, media_id: int, minute: int) -> None:
    """A resume position (started, not finished), saved ``minute`` minutes after T0."""
    (media_hash,) = db_query(settings, "SELECT media_hash FROM media WHERE id = :i", i=media_id)[0]
    at = T0 + timedelta(minutes=minute)
    db_execute(
        settings,
        insert(Position).values(
            user_id=user_id, media_hash=media_hash, seconds=120.0, created_at=at, updated_at=at
        ),
    )


def rated(settings: Settings, media_id: int, average: float, count: int) -> None:
    (media_hash,) = db_query(settings, "SELECT media_hash FROM media WHERE id = :i", i=media_id)[0]
    db_execute(
        settings,
        insert(MediaStats).values(
            media_hash=media_hash,
            rating_sum=round(average * count),
            rating_count=count,
            rating_avg=average,
            created_at=T0,
            updated_at=T0,
        ),
    )


# -- first run ------------------------------------------------------------------------------------


def test_an_empty_library_shows_a_first_run_screen_that_says_what_to_do(
    client: TestClient[Litestar],
) -> None:
    page = html(client.get("/").text)

    assert page.select("section.row") == []
    first_run = page.select_one("main #home.first-run")
    assert first_run is not None
    h1 = first_run.select_one("h1")
    assert h1 is not None and h1.get_text(strip=True) == "Welcome to lvs"
    steps = [li.get_text(" ", strip=True) for li in first_run.select("ol li")]
    assert any("--library" in s for s in steps) and any("lvs scan" in s for s in steps)
    # Nothing is running: no polling, no self-refresh.
    assert first_run.get("hx-trigger") is None
    assert page.select('meta[http-equiv="refresh"]') == []


def test_while_the_first_scan_runs_the_screen_says_so_and_refreshes_itself(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    now = datetime.now(UTC)
    set_scan(empty_library, started_at=now, heartbeat_at=now, files_found=250, files_done=40)

    page = html(client.get("/").text)

    first_run = page.select_one("#home.first-run")
    assert first_run is not None
    status = first_run.select_one('[role="status"]')
    assert status is not None
    said = status.get_text(" ", strip=True)
    assert "0 videos indexed so far" in said and "40 of 250 files checked" in said
    # htmx polls the screen every few seconds; without JavaScript the page reloads itself.
    assert first_run["hx-get"] == "/" and "every 3s" in str(first_run["hx-trigger"])
    assert first_run["hx-target"] == "this"
    refresh = page.select_one('noscript meta[http-equiv="refresh"]')
    assert refresh is not None and int(str(refresh["content"])) <= 10

    # A poll answers the fragment alone; once videos are indexed it is the rows, and the
    # polling stops.
    add_videos(empty_library, ["Alpha.mp4", "Holidays/Beach.mp4"])
    set_scan(empty_library, finished_at=datetime.now(UTC))
    poll = client.get("/", headers={"HX-Request": "true", "HX-Target": "home"})
    assert poll.status_code == 200
    fragment = html(poll.text)
    assert fragment.select_one("html, body, header") is None
    home = fragment.select_one("#home")
    assert home is not None and home.get("hx-trigger") is None
    assert [r[0] for r in rows(fragment)] == ["Recently added", "Holidays"]


def live_watcher(settings: Settings) -> None:
    """What ``lvs serve``'s watcher writes while it runs (its heartbeat is now)."""
    status = WatchStatus(
        pid=os.getpid(),
        host="nas-box",
        started_at=datetime.now(UTC).isoformat(),
        heartbeat=time.time(),
        folders=[{"path": "/videos", "fstype": "ext4", "watched": True, "reason": "watched"}],
        rescan_minutes=30,
        settle_seconds=5.0,
    )
    (settings.data_dir / STATUS_FILE).write_text(json.dumps(asdict(status)))


def test_the_first_run_screen_says_whether_new_videos_will_appear_on_their_own(
    empty_library: Settings,
) -> None:
    with TestClient(create_app(empty_library)) as client:
        page = html(client.get("/").text)
        first_run = page.select_one("#home.first-run")
        assert first_run is not None
        said = first_run.get_text(" ", strip=True)
        assert "No watcher is running" in said
        status = first_run.find("a", string="Status")
        assert isinstance(status, Tag) and status["href"] == "/status"
        assert client.get(str(status["href"])).status_code == 200

        live_watcher(empty_library)
        page = html(client.get("/").text)
        first_run = page.select_one("#home.first-run")
        assert first_run is not None
        note = first_run.select_one("p.watching")
        assert note is not None and "appears here on its own" in note.get_text(" ", strip=True)
        # htmx looks again every 10 s, so a copied video shows up without a reload
        assert first_run["hx-get"] == "/" and "every 10s" in str(first_run["hx-trigger"])

    off = replace(empty_library, watch=False)
    with TestClient(create_app(off)) as client:
        page = html(client.get("/").text)
        note = page.select_one("#home.first-run p.watching")
        assert note is not None and "LVS_WATCH=0" in note.get_text(" ", strip=True)
        first_run = page.select_one("#home.first-run")
        assert first_run is not None and first_run.get("hx-trigger") is None


def test_a_scan_that_stopped_writing_long_ago_is_not_shown_as_running(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    set_scan(empty_library, started_at=long_ago, heartbeat_at=long_ago, files_found=9)

    first_run = html(client.get("/").text).select_one("#home.first-run")

    assert first_run is not None and first_run.get("hx-trigger") is None
    assert "lvs scan" in first_run.get_text(" ", strip=True)


def test_a_running_scan_over_a_library_with_videos_shows_a_polled_status_line(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    add_videos(empty_library, ["Alpha.mp4"])
    now = datetime.now(UTC)
    set_scan(empty_library, started_at=now, heartbeat_at=now, files_found=9, files_done=3)

    page = html(client.get("/").text)

    assert [r[0] for r in rows(page)] == ["Recently added"]
    status = page.select_one("#scan-status")
    assert status is not None and status["hx-target"] == "this"
    assert "1 video so far (3 of 9 files checked)" in status.get_text(" ", strip=True)
    set_scan(empty_library, finished_at=datetime.now(UTC))
    poll = html(client.get("/", headers={"HX-Request": "true", "HX-Target": "scan-status"}).text)
    line = poll.select_one("#scan-status")
    assert line is not None and line.get("hx-trigger") is None
    assert "Indexing done: 1 video" in line.get_text(" ", strip=True)


# -- rows -----------------------------------------------------------------------------------------


def test_rows_for_someone_new_are_recent_top_rated_and_one_per_folder(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    ids = add_videos(empty_library, LIBRARY)
    db_execute(
        empty_library, update(Media).where(Media.id == ids["Old/Gone.mp4"]).values(missing=True)
    )
    rated(empty_library, ids["Alpha.mp4"], 4.5, 2)
    rated(empty_library, ids["Holidays/2019-07-14 Beach.mp4"], 5.0, 1)

    page = html(client.get("/").text)

    found = rows(page)
    # No continue watching, next up or favorites for someone who has done nothing; no row
    # for a folder whose only video is gone.
    assert [heading for heading, _ in found] == [
        "Recently added",
        "Top rated in the household",
        "Garden",
        "Holidays",
    ]
    recent, top, garden, holidays = (titles for _, titles in found)
    assert recent[:3] == ["[G] Anime - 02 [1080p]", "[G] Anime - 01 [1080p]", "IMG 2041"]
    assert "Gone" not in recent and len(recent) == ROW_SIZE
    assert top == ["2019-07-14 Beach", "Alpha"]
    assert garden == [
        "01 - Arrival",
        "02 - Bees",
        "03 - Compost",
        "01 - Digging",
        "02 - Earthworms",
    ]
    assert holidays == ["2019-07-14 Beach", "IMG 2041"]


def test_rows_for_someone_watching_continue_next_up_and_favorites_in_order(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    ids = add_videos(empty_library, LIBRARY)
    user = person_of(client, empty_library, ids["Holidays/2019-07-14 Beach.mp4"])
    # Garden: S1E1, then S1E3, then S1E2 last: S1E3 is finished, so next up is S2E1.
    watched(empty_library, user, ids["Garden/Season 1/01 - Arrival.mp4"], 1)
    watched(empty_library, user, ids["Garden/Season 1/03 - Compost.mp4"], 2)
    watched(empty_library, user, ids["Garden/Season 1/02 - Bees.mp4"], 3)
    # Show: E1 finished, E2 started (and watched last): E2 continues, E3 is next up.
    watched(empty_library, user, ids["Show.S01E01.mkv"], 4)
    watched(empty_library, user, ids["Show.S01E02.mkv"], 5)
    stopped_at(empty_library, user, ids["Show.S01E02.mkv"], 5)
    # Anime: the last episode is finished: nothing is next.
    watched(empty_library, user, ids["[G] Anime - 02 [1080p].mkv"], 0)
    # A movie half watched, most recently of all.
    stopped_at(empty_library, user, ids["Movie.Name.2019.1080p.mkv"], 6)

    page = html(client.get("/").text)

    found = dict(rows(page))
    assert [heading for heading, _ in rows(page)][:4] == [
        "Continue watching",
        "Next up",
        "Recently added",
        "Your favorites",
    ]
    assert found["Continue watching"] == ["Movie.Name.2019.1080p", "Show.S01E02"]
    assert found["Next up"] == ["Show.S01E03", "01 - Digging"]
    assert found["Your favorites"] == ["2019-07-14 Beach"]
    assert "Top rated in the household" not in found  # nobody rated anything


def test_rows_are_short_and_see_all_leads_to_each_full_grid(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    many = [f"Clips/Clip {n:02d}.mp4" for n in range(ROW_SIZE + 5)]
    ids = add_videos(empty_library, many)
    rated(empty_library, ids["Clips/Clip 03.mp4"], 4.0, 1)
    user = person_of(client, empty_library, ids["Clips/Clip 01.mp4"])
    stopped_at(empty_library, user, ids["Clips/Clip 02.mp4"], 1)

    page = html(client.get("/").text)

    assert all(len(titles) <= ROW_SIZE for _, titles in rows(page))
    assert len(dict(rows(page))["Recently added"]) == ROW_SIZE
    links = {heading: see_all(page, heading) for heading, _ in rows(page)}
    assert links == {
        "Continue watching": "/history",
        "Recently added": "/library",
        "Your favorites": "/library?favorites=1",
        "Top rated in the household": "/library?sort=rating",
        "Clips": "/folders/Clips",
    }
    for heading, url in links.items():
        response = client.get(url)
        assert response.status_code == 200, heading
    favorites = html(client.get(links["Your favorites"]).text)
    assert [t.get_text(strip=True) for t in favorites.select("li.card .title")] == ["Clip 01"]
    folder = html(client.get(links["Clips"]).text)
    count = folder.select_one("p.count")
    assert count is not None and count.get_text(strip=True).startswith(f"{ROW_SIZE + 5} videos")


def test_each_row_is_a_labelled_strip_of_picture_links(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    ids = add_videos(empty_library, ["Alpha.mp4"] + [f"More/Clip {n}.mp4" for n in range(9)])
    db_execute(empty_library, update(Media).values(has_thumbnail=True))

    page = html(client.get("/").text)

    # Pictures in both sizes; the first six of the first two rows load at once, the rest lazily.
    for section in page.select("section.row")[:2]:
        images = section.select("img.thumb")
        assert all("640w" in str(img["srcset"]) for img in images)
        assert [img.get("loading") for img in images] == [None] * 6 + ["lazy"] * (len(images) - 6)
    section = page.select_one("section.row#row-recent")
    assert section is not None
    strip = section.select_one("ul.strip")
    assert isinstance(strip, Tag)
    card = strip.select("li.card")[-1]  # the first one indexed: last of "Recently added"
    link = card.select_one("a.card-link")
    assert link is not None and link["href"] == f"/media/{ids['Alpha.mp4']}"
    heading = section.select_one("h2")
    assert heading is not None and section["aria-labelledby"] == heading["id"]


# -- old URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "q=alpha",
        "sort=title",
        "favorites=1",
        "tag=holiday",
        "page=2",
        "q=beach&sort=title-desc&res=hd&dur_min=1&folder=Holidays",
        "q=caf%C3%A9&tag=a%26b",
    ],
)
def test_old_library_urls_on_the_home_page_redirect_to_the_grid_with_their_query(
    client: TestClient[Litestar], query: str
) -> None:
    response = client.get(f"/?{query}", follow_redirects=False)

    assert response.status_code == 308
    assert response.headers["location"] == f"/library?{query}"


def test_a_redirected_old_url_shows_the_grid_it_always_showed(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    add_videos(empty_library, ["Alpha.mp4", "Bravo.mp4"])

    response = client.get("/?q=alpha")

    assert response.status_code == 200
    assert str(response.url).endswith("/library?q=alpha")
    page = html(response.text)
    assert [t.get_text(strip=True) for t in page.select("#library-grid li.card .title")] == [
        "Alpha"
    ]


def test_a_query_the_grid_does_not_read_leaves_the_home_page_alone(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    add_videos(empty_library, ["Alpha.mp4"])

    response = client.get("/?utm_source=mail", follow_redirects=False)

    assert response.status_code == 200
    assert [r[0] for r in rows(html(response.text))] == ["Recently added"]


def test_a_video_in_two_rows_is_one_link_in_each_and_the_page_ids_stay_unique(
    client: TestClient[Litestar], empty_library: Settings
) -> None:
    ids = add_videos(empty_library, ["Holidays/Beach.mp4", "Holidays/Sunset.mp4"])
    rated(empty_library, ids["Holidays/Beach.mp4"], 4.0, 3)

    page = html(client.get("/").text)

    found = rows(page)
    assert [heading for heading, _ in found] == [
        "Recently added",
        "Top rated in the household",
        "Holidays",
    ]
    beach = f"/media/{ids['Holidays/Beach.mp4']}"
    for section in page.select("section.row"):
        for tile in section.select("li.card"):
            # One tab stop a video: its link (picture, title); no forms in rows.
            assert [str(a["href"]) for a in tile.select("a")] == [
                str(tile.select_one("a.card-link")["href"])  # type: ignore[index]
            ]
            assert tile.select("form, button, input") == []
    in_rows = [str(a["href"]) for a in page.select("section.row a.card-link")]
    assert in_rows.count(beach) == 3
    top = page.select_one("#row-top-rated li.card .average")
    assert top is not None and top.get_text(strip=True) == "★ 4.0"
    ids_on_page = [str(e["id"]) for e in page.select("[id]")]
    assert len(ids_on_page) == len(set(ids_on_page))


def test_home_shows_and_folders_answer_alike_on_both_databases(settings: Settings) -> None:
    """The queries with dialect-specific parts (a recursive folder walk, window functions,
    string functions for subfolders) on SQLite and PostgreSQL alike."""
    ids = add_videos(settings, LIBRARY)
    with TestClient(create_app(settings)) as client:
        user = person_of(client, settings, ids["Holidays/2019-07-14 Beach.mp4"])
        watched(settings, user, ids["Garden/Season 1/01 - Arrival.mp4"], 1)
        watched(settings, user, ids["[G] Anime - 01 [1080p].mkv"], 2)
        stopped_at(settings, user, ids["Show.S01E01.mkv"], 3)
        rated(settings, ids["Alpha.mp4"], 4.0, 1)

        found = dict(rows(html(client.get("/").text)))
        garden = html(client.get("/shows/garden").text)
        folder = html(client.get("/folders/Garden").text)

    assert found["Continue watching"] == ["Show.S01E01"]
    assert found["Next up"] == ["Show.S01E02", "[G] Anime - 02 [1080p]", "02 - Bees"]
    assert found["Top rated in the household"] == ["Alpha"]
    assert [h for h in found if h in {"Garden", "Holidays", "Old"}] == ["Garden", "Holidays", "Old"]
    assert [s.get_text(strip=True) for s in garden.select("section.season h2")] == [
        "Season 1",
        "Season 2",
    ]
    sub = [a.get_text(strip=True) for a in folder.select("main .folder-list a")]
    assert sub == ["Season 1", "Season 2"]
