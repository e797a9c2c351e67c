"""Household profiles through the app: "Who's watching?", picking (with a PIN), managing, the
restriction of a kids' profile on every route, the JSON twins, and the migration that keeps
every anonymous browser's data.

The library (conftest's clips): ``Alpha.mp4`` and ``Bravo.webm`` at the top, ``sub/Charlie.mp4``
in the folder ``sub``: the kids' profile is allowed ``sub`` only."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup
from conftest import db_execute, db_query, html, run_scan
from helpers import csrf_token, flashes, follow, get_page, media_ids, one, retry_after, submit, text
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from lvs.app import create_app
from lvs.db.config import migrate
from lvs.db.models import Favorite, User
from lvs.settings import Settings
from lvs.web.identity import SESSION_KEY, SessionCookieConfig

JSON = {"content-type": "application/json"}


# -- helpers --------------------------------------------------------------------------------------


def create_profile(
    client: TestClient[Litestar],
    name: str,
    *,
    pin: str = "",
    avatar: str = "blue",
    adopt: bool = False,
) -> httpx.Response:
    """Fill in the "new profile" form (on the picker before the first one, else on manage)."""
    page = html(client.get("/profiles").text)
    form = page.select_one("form.profile-new")
    if form is None:
        page = get_page(client, "/profiles/manage")
        form = one(page, "form.profile-new")
    data = {"name": name, "avatar": avatar, "pin": pin, **({"adopt": "1"} if adopt else {})}
    return submit(client, form, **data)


def profile_ids(settings: Settings) -> dict[str, uuid.UUID]:
    return {str(n): i for n, i in db_query(settings, select(User.name, User.id)) if n is not None}


def pick(client: TestClient[Litestar], name: str, pin: str = "") -> httpx.Response:
    """Press a profile's button on "Who's watching?" (typing its PIN when it asks for one)."""
    page = get_page(client, "/profiles")
    for form in page.select("form.pick"):
        if text(form.select_one("button")).split(" (you)")[0] == name:
            return submit(
                client, form, **({"pin": pin} if form.select_one("input[name=pin]") else {})
            )
    raise AssertionError(f"no profile {name!r} on the picker")


def restrict(client: TestClient[Litestar], name: str, **ticks: str) -> httpx.Response:
    page = get_page(client, "/profiles/manage")
    for section in page.select("section.profile-manage"):
        if name in text(section.select_one("h2")):
            form = one(section, "form.profile-restrict")
            data = {"_csrf_token": csrf_token(page), "restricted": "1", **ticks}
            return client.post(str(form["action"]), data=data, follow_redirects=False)
    raise AssertionError(f"no profile {name!r} to manage")


def card_titles(page: BeautifulSoup) -> set[str]:
    return {text(t) for t in page.select("#library-grid .card .title")}


@pytest.fixture
def household(client: TestClient[Litestar], scanned: Settings) -> TestClient[Litestar]:
    """Mum (the first profile: admin, picked on this browser), Dad (PIN 2468) and Kids (no PIN,
    the folder ``sub`` only)."""
    assert create_profile(client, "Mum", avatar="purple").status_code == 303
    assert create_profile(client, "Dad", pin="2468").status_code == 303
    assert create_profile(client, "Kids", avatar="green").status_code == 303
    assert restrict(client, "Kids", **{"folder:sub": "1"}).status_code == 303
    return client


@contextmanager
def another_device(client: TestClient[Litestar]) -> Iterator[TestClient[Litestar]]:
    """The same app seen from another browser: cookies of its own (one client, so the app's
    database connections stay on one event loop)."""
    saved = client.cookies
    client.cookies = httpx.Cookies()
    try:
        yield client
    finally:
        client.cookies = saved


# -- until the first profile, nothing changes -----------------------------------------------------


def test_no_profiles_no_picker_and_the_first_profile_is_the_admin(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200  # no picker while the household has no profile
    assert html(home.text).select_one(".profile-chip") is None
    page = get_page(client, "/profiles")
    assert one(page, "form.profile-new")  # the first profile: open to the household

    landed = follow(client, create_profile(client, "Mum"))
    assert "Profile “Mum” created." in flashes(landed)
    assert text(one(landed, ".profile-chip")) == "M Mum"  # this browser is Mum now
    assert one(landed, "section.profile-manage h2 small").get_text() == "(admin)"


def test_a_browser_that_has_not_chosen_is_offered_the_picker_and_may_go_on_as_guest(
    household: TestClient[Litestar],
) -> None:
    with another_device(household) as phone:
        home = phone.get("/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == "/profiles"
        page = get_page(phone, "/profiles")
        assert [text(b) for b in page.select("form.pick button")] == ["Dad", "Kids", "Mum"]
        pins = [f for f in page.select("form.pick") if f.select_one("input[name=pin]")]
        assert [text(f.select_one("button")) for f in pins] == ["Dad"]
        landed = follow(phone, submit(phone, one(page, "form.guest")))
        assert "You are watching as a guest on this browser." in flashes(landed)
        assert phone.get("/", follow_redirects=False).status_code == 200  # chosen: no picker
        assert landed.select_one(".profile-chip") is None


# -- each profile its own state, on any device ----------------------------------------------------


def test_two_profiles_on_one_browser_keep_separate_state_and_follow_to_another_device(
    household: TestClient[Litestar], scanned: Settings
) -> None:
    client = household
    alpha, _ = media_ids(scanned)["Alpha"]
    watch = get_page(client, f"/media/{alpha}")
    assert (
        submit(client, one(watch, "main form.favorite:not(:has(input[name=compact]))")).status_code
        == 303
    )  # Mum's favorite

    assert pick(client, "Dad", "2468").status_code == 303
    watch = get_page(client, f"/media/{alpha}")
    assert (
        one(watch, "main form.favorite:not(:has(input[name=compact])) button")["aria-pressed"]
        == "false"
    )  # not Dad's
    assert card_titles(get_page(client, "/library?favorites=1")) == set()

    assert pick(client, "Mum").status_code == 303
    assert card_titles(get_page(client, "/library?favorites=1")) == {"Alpha"}

    with another_device(client) as phone:  # Mum on her phone: the same data
        assert pick(phone, "Mum").status_code == 303
        assert card_titles(get_page(phone, "/library?favorites=1")) == {"Alpha"}
    mum = profile_ids(scanned)["Mum"]
    assert [u for (u,) in db_query(scanned, select(Favorite.user_id))] == [mum]


def test_a_wrong_pin_is_refused_on_the_picker_and_the_right_one_opens_the_profile(
    household: TestClient[Litestar],
) -> None:
    wrong = pick(household, "Dad", "1111")
    assert wrong.status_code == 400
    page = html(wrong.text)
    assert text(one(page, ".form-error")) == "PIN is not right."
    assert text(one(page, ".profile-chip")) == "M Mum"  # still Mum
    landed = follow(household, pick(household, "Dad", "2468"))
    assert "Hi, Dad." in flashes(landed)
    assert text(one(landed, ".profile-chip")) == "D Dad"


def test_pin_brute_force_is_limited_per_client_and_per_profile(
    household: TestClient[Litestar], app: Litestar
) -> None:
    answers = [pick(household, "Dad", f"{n:04d}").status_code for n in range(6)]
    assert answers[:5] == [400] * 5 and answers[5] == 429
    limited = pick(household, "Dad", "2468")  # even the right PIN waits now
    assert limited.status_code == 429 and retry_after(limited) >= 1
    assert text(one(html(limited.text), ".form-error")).startswith("Too many PIN attempts")
    assert pick(household, "Kids").status_code == 303  # a PIN-less profile is not limited
    # From another address (the client's own limit forgotten), Dad's own limit still holds:
    # 10 attempts a minute across every client, 7 of them used above.
    asyncio.run(app.state.pin_limiter.reset())
    other = [pick(household, "Dad", f"{n:04d}").status_code for n in range(4)]
    assert other == [400, 400, 400, 429]


# -- the kids' profile ----------------------------------------------------------------------------


def test_a_restricted_profile_sees_only_its_allowance_in_every_list(
    household: TestClient[Litestar], scanned: Settings
) -> None:
    client = household
    db_tag(client, scanned, "Alpha", "cartoons")
    assert pick(client, "Kids").status_code == 303
    assert card_titles(get_page(client, "/library")) == {"Charlie"}
    assert card_titles(get_page(client, "/library?q=alpha")) == set()
    assert card_titles(get_page(client, "/library?tag=cartoons")) == set()
    for _ in range(5):
        random = client.get("/random", follow_redirects=False)
        assert random.headers["location"] == f"/media/{media_ids(scanned)['Charlie'][0]}"
    home = get_page(client, "/")
    assert {text(t) for t in home.select("main .title")} == {"Charlie"}
    assert text(one(home, ".home-links a[href='/library'] .count")) == "1"  # not 3
    assert [text(li) for li in get_page(client, "/tags").select(".tag-cloud li")] == []
    api = client.get("/api/media").json()
    assert [m["title"] for m in api["items"]] == ["Charlie"] and api["total"] == 1
    folders = get_page(client, "/folders")
    assert "sub" in text(folders.select_one("main"))


def db_tag(client: TestClient[Litestar], settings: Settings, title: str, tag: str) -> None:
    media_id, _ = media_ids(settings)[title]
    response = client.post(f"/api/media/{media_id}/tags", json={"name": tag})
    assert response.status_code == 200


def _media_routes(app: Litestar) -> list[tuple[str, str, str]]:
    """(method, path template, route name) of every route that names a video by id or hash."""
    found = []
    for route in app.routes:
        if "media_id" not in route.path and "media_hash" not in route.path:
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods):
                if method in {"HEAD", "OPTIONS"}:
                    continue
                found.append((method, route.path, str(handler.name)))
    return sorted(set(found))


FILLERS = {"variant": "x", "segment": "0.ts", "index": "0", "tag_id": "1"}
BODY = {"value": 3, "favorite": True, "seconds": 10, "name": "holiday"}


def test_a_restricted_profile_gets_404_for_every_route_of_a_video_outside_it(
    household: TestClient[Litestar], app: Litestar, scanned: Settings
) -> None:
    """Built from the app's own route list, so a new route cannot escape it."""
    client = household
    alpha_id, alpha_hash = media_ids(scanned)["Alpha"]
    assert pick(client, "Kids").status_code == 303
    token = csrf_token(get_page(client, "/profiles"))
    routes = _media_routes(app)
    names = {name for _, _, name in routes}
    assert {
        "stream",
        "thumbnail",
        "subtitles",
        "hls_playlist",
        "hls_segment",
        "progressive",
        "previews_vtt",
        "previews_jpg",
        "watch",
        "rate",
        "api:rating",
        "favorite",
    } <= names
    for method, template, name in routes:
        path = template
        for param, value in {
            "media_id": str(alpha_id),
            "media_hash": alpha_hash,
            **FILLERS,
        }.items():
            path = re.sub(r"\{" + param + r"(:\w+)?\}", value, path)
        assert "{" not in path, path
        api = path.startswith("/api/")
        same_site = {"sec-fetch-site": "same-origin"}  # as lvs's own pages ask
        kwargs: dict[str, Any] = {"headers": {"x-csrftoken": token, **same_site}}
        if method in {"POST", "PUT", "PATCH"}:
            form = {
                "_csrf_token": token,
                "value": "3",
                "seconds": "10",
                "name": "x",
                "playlist": "new",
            }
            kwargs = {"headers": JSON, "json": BODY} if api else {"data": form}
        response = client.request(method, path, follow_redirects=False, **kwargs)
        assert response.status_code == 404, (name, method, path, response.status_code)
        if response.headers.get("content-type", "").startswith(("text/html", "application/json")):
            assert "No video with" in response.text, (name, response.text[:300])
    # and the same requests for the video it is allowed reach the video (one of each kind)
    charlie, _ = media_ids(scanned)["Charlie"]
    assert client.get(f"/media/{charlie}").status_code == 200
    assert client.get(f"/media/{charlie}/stream").status_code == 200


def test_a_restricted_profiles_playlists_and_queues_hold_only_what_it_may_watch(
    household: TestClient[Litestar], scanned: Settings
) -> None:
    client = household
    ids = media_ids(scanned)
    (alpha, alpha_hash), (charlie, _) = ids["Alpha"], ids["Charlie"]
    assert pick(client, "Kids").status_code == 303
    mine = client.post("/api/playlists", json={"name": "Mine"}).json()
    # Kids cannot add a video from outside the allowance (404, as if it did not exist)...
    refused = client.post(f"/api/playlists/{mine['id']}/items", json={"media_id": alpha})
    assert refused.status_code == 404
    added = client.post(f"/api/playlists/{mine['id']}/items", json={"media_id": charlie})
    assert added.status_code == 200
    assert [i["id"] for i in added.json()["items"]] == [charlie]
    # ...and one that got in before the restriction (put there directly) is skipped everywhere.
    db_execute(
        scanned,
        "INSERT INTO playlist_items (playlist_id, media_hash, position, created_at, updated_at) "
        "VALUES (:p, :h, 0, :at, :at)",
        p=mine["id"],
        h=alpha_hash,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert [i["id"] for i in client.get(f"/api/playlists/{mine['id']}").json()["items"]] == [
        charlie
    ]
    page = get_page(client, f"/playlists/{mine['id']}")
    linked = {str(a["href"]).split("?")[0] for a in page.select("main a[href^='/media/']")}
    assert linked == {f"/media/{charlie}"}
    m3u = client.get(f"/playlists/{mine['id']}/playlist.m3u").text
    assert f"/media/{alpha}/" not in m3u and f"/media/{charlie}/stream" in m3u
    watch = get_page(client, f"/media/{charlie}?list=p{mine['id']}&i=0")
    queued = {str(a["href"]).split("?")[0] for a in watch.select("main a[href^='/media/']")}
    assert f"/media/{alpha}" not in queued
    # A folder is a queue only inside the allowance.
    inside = client.get("/play", params={"list": "folder:sub"}, follow_redirects=False)
    assert inside.headers["location"].startswith(f"/media/{charlie}?")


def test_a_restricted_profile_cannot_continue_as_guest_and_switches_only_by_picking(
    household: TestClient[Litestar],
) -> None:
    client = household
    assert pick(client, "Kids").status_code == 303
    page = get_page(client, "/profiles")
    assert page.select_one("form.guest") is None  # not offered...
    refused = client.post("/profiles/guest", data={"_csrf_token": csrf_token(page)})
    assert refused.status_code == 403  # ...nor taken
    assert pick(client, "Dad", "0000").status_code == 400  # Dad's PIN is still needed
    assert pick(client, "Dad", "2468").status_code == 303


def test_only_an_admin_manages_profiles(household: TestClient[Litestar], scanned: Settings) -> None:
    client = household
    assert pick(client, "Dad", "2468").status_code == 303
    assert client.get("/profiles/manage").status_code == 403
    token = csrf_token(get_page(client, "/profiles"))
    kids = profile_ids(scanned)["Kids"]
    refused = client.post(f"/profiles/{kids}/restrict", data={"_csrf_token": token})
    assert refused.status_code == 403
    assert client.post("/api/profiles", json={"name": "Intruder"}).status_code == 403
    assert "Intruder" not in profile_ids(scanned)
    assert get_page(client, "/profiles").select_one("a[href='/profiles/manage']") is None


def test_deleting_a_profile_asks_first_and_deletes_its_state(
    household: TestClient[Litestar], scanned: Settings
) -> None:
    client = household
    alpha, _ = media_ids(scanned)["Alpha"]
    with another_device(client) as phone:  # Dad's phone, on Dad
        assert pick(phone, "Dad", "2468").status_code == 303
        favorite = phone.put(f"/api/media/{alpha}/favorite", json={"favorite": True})
        assert favorite.status_code == 200
        dads_phone = httpx.Cookies(phone.cookies)
    manage = get_page(client, "/profiles/manage")
    dad = profile_ids(scanned)["Dad"]
    confirm = get_page(client, str(one(manage, f"#manage-{dad} a[href$='/delete']")["href"]))
    landed = follow(client, submit(client, one(confirm, "form")))
    assert "Profile “Dad” deleted, with everything it had." in flashes(landed)
    assert "Dad" not in profile_ids(scanned)
    assert db_query(scanned, select(Favorite.id)) == []
    client.cookies = dads_phone  # the phone, next time: a guest (no profile, no picker)
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200 and html(home.text).select_one(".profile-chip") is None


def test_bad_profile_input_is_a_400_naming_the_field(household: TestClient[Litestar]) -> None:
    client = household
    token = csrf_token(get_page(client, "/profiles"))
    for data, field in (
        ({"name": ""}, "name"),
        ({"name": "X", "pin": "12a4"}, "pin"),
        ({"name": "X", "avatar": "pink"}, "avatar"),
    ):
        response = client.post("/api/profiles", json=data)
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == field
    form = client.post("/profiles/", data={"_csrf_token": token, "name": " "})
    assert form.status_code == 400
    assert text(one(html(form.text), "main .detail")) == "name: must not be empty"
    assert client.get(f"/profiles/{uuid.uuid4()}/delete").status_code == 404


# -- the JSON twins -------------------------------------------------------------------------------


def test_the_json_api_manages_and_picks_profiles(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    made = client.post("/api/profiles", json={"name": "Mum", "avatar": "red"})
    assert made.status_code == 201 and made.json()["is_admin"] is True
    kids = client.post("/api/profiles", json={"name": "Kids", "pin": None}).json()
    allowed = client.put(
        f"/api/profiles/{kids['id']}/allowance",
        json={"restricted": True, "folders": ["sub"], "tags": []},
    )
    assert allowed.json() | {} == {**kids, "restricted": True, "folders": ["sub"]}
    pin = client.put(f"/api/profiles/{kids['id']}/pin", json={"pin": "1357"}).json()
    assert pin["has_pin"] is True and "1357" not in str(pin)
    listed = client.get("/api/profiles").json()
    assert [p["name"] for p in listed["profiles"]] == ["Kids", "Mum"]
    assert listed["current"] == made.json()["id"]
    assert client.post(f"/api/profiles/{kids['id']}/pick", json={"pin": "0000"}).status_code == 400
    assert client.post(f"/api/profiles/{kids['id']}/pick", json={"pin": "1357"}).status_code == 200
    assert [m["title"] for m in client.get("/api/media").json()["items"]] == ["Charlie"]
    assert client.post("/api/profiles/guest", json={}).status_code == 403


# -- the migration keeps everyone's data ----------------------------------------------------------


@pytest.fixture
def at_0008(tmp_path: Path, library: Path, db_url: str | None) -> Settings:
    data = tmp_path / "old"
    data.mkdir()
    s = Settings(
        library=(library,),
        data_dir=data,
        db_path=data / "old.db",
        database_url=db_url,
        secret_key="test-secret-key-with-at-least-32-characters",
        allowed_hosts=("testserver.local", "testserver"),
    )
    migrate(s, "0008")
    return s


def test_the_migration_keeps_every_anonymous_browsers_data(at_0008: Settings) -> None:
    """A browser's anonymous data written at 0008 (as the app then wrote it); after the upgrade
    the same browser (its session names the same user id) sees all of it, as its own, and
    nothing asks it to pick a profile."""
    run_scan(at_0008)
    alpha, alpha_hash = media_ids(at_0008)["Alpha"]
    browser = uuid.uuid4()
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    uid: Any = browser.bytes if at_0008.is_sqlite else browser  # GUID: BLOB(16) / uuid
    for sql in (
        "INSERT INTO users (id, created_at, updated_at) VALUES (:u, :at, :at)",
        "INSERT INTO ratings (media_hash, user_id, value, created_at, updated_at)"
        " VALUES (:h, :u, 4, :at, :at)",
        "INSERT INTO favorites (media_hash, user_id, created_at, updated_at)"
        " VALUES (:h, :u, :at, :at)",
        "INSERT INTO positions (media_hash, user_id, seconds, created_at, updated_at)"
        " VALUES (:h, :u, 1.5, :at, :at)",
    ):
        db_execute(at_0008, sql, u=uid, h=alpha_hash, at=at)
    tables = ("users", "ratings", "favorites", "positions")
    before = {t: db_query(at_0008, f"SELECT id, user_id FROM {t}") for t in tables[1:]}

    migrate(at_0008)  # to head

    assert {t: db_query(at_0008, f"SELECT id, user_id FROM {t}") for t in before} == before
    session = SessionCookieConfig(
        secret=hashlib.sha256(at_0008.ensure_secret_key().encode()).digest(), key="lvs_session"
    )
    with TestClient(create_app(at_0008), session_config=session) as same_browser:
        same_browser.set_session_data({SESSION_KEY: str(browser)})
        assert same_browser.get("/", follow_redirects=False).status_code == 200  # no picker
        assert card_titles(get_page(same_browser, "/library?favorites=1")) == {"Alpha"}
        assert same_browser.get(f"/api/ratings/{alpha_hash}").json()["user"] == 4
        assert same_browser.get(f"/api/media/{alpha}/position").json()["seconds"] == 1.5


def test_every_profile_form_refuses_a_post_without_this_browsers_token(
    household: TestClient[Litestar], scanned: Settings
) -> None:
    dad = profile_ids(scanned)["Dad"]
    before = db_query(scanned, "SELECT name, pin_hash, restricted FROM users ORDER BY name")
    for action in ("pick", "update", "pin", "restrict", "delete"):
        response = household.post(f"/profiles/{dad}/{action}", data={"name": "x", "pin": "2468"})
        assert response.status_code == 403, action
    assert household.post("/profiles/", data={"name": "Forged"}).status_code == 403
    assert household.post("/profiles/guest", data={}).status_code == 403
    assert db_query(scanned, "SELECT name, pin_hash, restricted FROM users ORDER BY name") == before


def test_a_profile_name_with_markup_is_shown_as_text(household: TestClient[Litestar]) -> None:
    name = "<img src=x onerror=alert(1)>"
    assert household.post("/api/profiles", json={"name": name}).status_code == 201
    for url in ("/profiles", "/profiles/manage"):
        page = get_page(household, url)
        assert page.select("img") == []  # nothing became an element
        assert name in page.get_text(" ")
