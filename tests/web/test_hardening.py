"""Hardening, round two (issue 14), through the app: logins that hold on every worker and end on
logout, malformed bodies on every write route, odd static paths, control characters in every
text parameter (SQLite and PostgreSQL), Host headers (DNS rebinding), the CSRF exemption's
prefix, and the no-JavaScript view counter refusing other sites."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from conftest import db_query, html
from helpers import csrf_token, log_in, media_ids, snapshot
from litestar import Litestar
from litestar.testing import TestClient

from lvs.app import create_app
from lvs.settings import Settings

PASSWORD = "hardening round two 51c0"


def copy_cookies(source: TestClient[Litestar], target: TestClient[Litestar]) -> None:
    for cookie in source.cookies.jar:
        target.cookies.set(cookie.name, cookie.value)


def logged_in(client: TestClient[Litestar]) -> bool:
    """What a person notices: the library opens (200), or they are sent to the login form."""
    response = client.get("/api/media")
    assert response.status_code in {200, 401}, response.text[:200]
    return response.status_code == 200


@pytest.fixture
def locked_settings(scanned: Settings) -> Settings:
    return replace(scanned, password=PASSWORD)


@pytest.fixture
def workers(locked_settings: Settings) -> Iterator[list[TestClient[Litestar]]]:
    """Two apps built from the same settings, as two `lvs serve --workers 2` processes build
    theirs, each with its own browser."""
    with (
        TestClient(create_app(locked_settings)) as one,
        TestClient(create_app(locked_settings)) as two,
    ):
        yield [one, two]


# -- logins ------------------------------------------------------------------------------------


def test_a_login_made_on_one_worker_holds_on_every_worker(
    workers: list[TestClient[Litestar]],
) -> None:
    one, two = workers
    assert log_in(one, PASSWORD).status_code == 303
    copy_cookies(one, two)  # the same browser, its next request served by the other worker

    assert [logged_in(c) for c in (one, two, one, two)] == [True] * 4


def test_logout_ends_the_login_for_a_copied_cookie_too(
    workers: list[TestClient[Litestar]],
) -> None:
    browser, thief = workers
    assert log_in(browser, PASSWORD).status_code == 303
    copy_cookies(browser, thief)
    assert logged_in(thief)
    token = csrf_token(html(browser.get("/help").text))

    response = browser.post("/login/logout", data={"_csrf_token": token}, follow_redirects=False)

    assert response.status_code == 303
    assert not logged_in(browser)
    assert not logged_in(thief), "a copy of the cookie still works after logout"


def test_sign_out_everywhere_ends_every_browsers_login(
    workers: list[TestClient[Litestar]], locked_settings: Settings
) -> None:
    phone, laptop = workers
    for browser in (phone, laptop):
        assert log_in(browser, PASSWORD).status_code == 303
    page = html(laptop.get("/help").text)
    form = page.select_one("form[action='/login/logout-everywhere']")
    assert form is not None, "a logged-in page offers 'Sign out everywhere'"
    assert "Sign out everywhere" in form.get_text()

    response = laptop.post(
        "/login/logout-everywhere", data={"_csrf_token": csrf_token(page)}, follow_redirects=True
    )

    assert response.status_code == 200
    assert response.url.path == "/login"
    assert not logged_in(laptop)
    assert not logged_in(phone)
    assert db_query(locked_settings, "SELECT count(*) FROM auth_sessions") == [(0,)]
    assert log_in(phone, PASSWORD).status_code == 303  # and logging in again works
    assert logged_in(phone)


def test_a_new_password_ends_the_logins_made_with_the_old_one(
    locked_settings: Settings,
) -> None:
    with TestClient(create_app(locked_settings)) as before:
        assert log_in(before, PASSWORD).status_code == 303
        assert logged_in(before)
        cookies = [(c.name, c.value) for c in before.cookies.jar]

    changed = replace(locked_settings, password="a new household password")
    with TestClient(create_app(changed)) as after:
        for name, value in cookies:
            after.cookies.set(name, value)
        assert not logged_in(after)
        assert log_in(after, PASSWORD).status_code == 401
        assert log_in(after, "a new household password").status_code == 303
        assert logged_in(after)


# -- malformed bodies on every write route -----------------------------------------------------


def json_writes(media_id: int, media_hash: str) -> list[tuple[str, str]]:
    return [
        ("POST", f"/api/ratings/{media_hash}"),
        ("PUT", f"/api/media/{media_id}/favorite"),
        ("POST", f"/api/media/{media_id}/tags"),
        ("POST", f"/api/media/{media_id}/views"),
        ("PUT", f"/api/media/{media_id}/position"),
    ]


def form_writes(media_id: int, media_hash: str) -> list[str]:
    """The form routes that read fields (removing a tag and counting a view read none)."""
    return [
        f"/ratings/{media_hash}",
        f"/media/{media_id}/favorite",
        f"/media/{media_id}/tags",
        f"/media/{media_id}/position",
    ]


MALFORMED_JSON = {
    "nested 30,000 deep": b"[" * 30_000,
    "objects nested 12,000 deep": b'{"a":' * 12_000,  # 60 KB: under the body limit
    "invalid UTF-8 in a string": b'{"value": 4, "name": "\xff\xfe", "seconds": 1}',
    "invalid UTF-8 outside strings": b'{"value": 4}\xff',
    "not JSON": b"value=4",
    "a bare string": b'"\xff"',
}


@pytest.mark.parametrize("body", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_json_is_a_400_on_every_json_write_route(
    client: TestClient[Litestar], scanned: Settings, body: bytes
) -> None:
    media_id, media_hash = media_ids(scanned)["Alpha"]
    before = snapshot(scanned)

    answers = {
        f"{method} {url}": client.request(
            method, url, content=body, headers={"Content-Type": "application/json"}
        )
        for method, url in json_writes(media_id, media_hash)
    }

    statuses = {route: r.status_code for route, r in answers.items()}
    assert statuses == dict.fromkeys(statuses, 400)
    for response in answers.values():
        assert response.json()["errors"][0]["field"] == "body"
    assert snapshot(scanned) == before


MALFORMED_FORMS = {
    "invalid UTF-8, percent-encoded": (
        "application/x-www-form-urlencoded",
        b"value=%FF%FE&name=%FF&seconds=%FF&favorite=%FF",
    ),
    "invalid UTF-8, raw": ("application/x-www-form-urlencoded", b"value=\xff&name=\xfe\xff"),
    "a broken multipart body": ("multipart/form-data; boundary=xyz", b"--xyz\r\nnonsense"),
    "multipart without a boundary": ("multipart/form-data", b"--\r\n\r\n"),
    "JSON sent to a form": ("application/json", b"[" * 30_000),
}


@pytest.mark.parametrize(
    ("content_type", "body"), MALFORMED_FORMS.values(), ids=MALFORMED_FORMS.keys()
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_malformed_forms_are_4xx_on_every_form_write_route(
    client: TestClient[Litestar], scanned: Settings, content_type: str, body: bytes, htmx: bool
) -> None:
    media_id, media_hash = media_ids(scanned)["Alpha"]
    token = csrf_token(html(client.get(f"/media/{media_id}").text))
    headers = {"Content-Type": content_type, "x-csrftoken": token}
    if htmx:
        headers["HX-Request"] = "true"
    before = snapshot(scanned)

    statuses = {
        url: client.post(url, content=body, headers=headers, follow_redirects=False).status_code
        for url in form_writes(media_id, media_hash)
    }
    fieldless = [f"/media/{media_id}/tags/1/remove", f"/media/{media_id}/view"]
    ignored = [client.post(url, content=body, headers=headers).status_code for url in fieldless]

    assert all(400 <= s < 500 for s in statuses.values()), statuses
    assert all(s < 500 for s in ignored), ignored
    # (counting a view, which reads no fields, may have made this browser's user and view)
    written = ("ratings", "favorites", "tags", "media_tags", "positions")
    assert [snapshot(scanned)[t] for t in written] == [before[t] for t in written]


def test_a_malformed_login_form_is_a_400(locked_settings: Settings) -> None:
    with TestClient(create_app(locked_settings)) as client:
        token = csrf_token(html(client.get("/login").text))
        for body in (b"password=%FF&next=%FF", b"password=x&next=/%00"):
            response = client.post(
                "/login",
                content=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "x-csrftoken": token,
                },
                follow_redirects=False,
            )
            assert response.status_code in {400, 401}, response.text[:200]
            assert "set-cookie" not in response.headers or not logged_in(client)


# -- odd static paths --------------------------------------------------------------------------

ODD_STATIC = {
    "NUL byte": "/static/css/lvs.css%00.png",
    "NUL byte alone": "/static/%00",
    "5,000-character name": "/static/" + "a" * 5000,
    "5,000-character name in a folder": "/static/css/" + "b" * 5000 + ".css",
    "a file used as a folder": "/static/css/lvs.css/x",
    "a long folder chain": "/static/" + "/".join(["c" * 250] * 40),
}


@pytest.mark.parametrize("path", ODD_STATIC.values(), ids=ODD_STATIC.keys())
@pytest.mark.parametrize("db_url", [None])  # the file system, not the database
def test_odd_static_paths_are_404_without_a_stack_trace(
    client: TestClient[Litestar], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = logging.getLogger()
    if caplog.handler not in root.handlers:  # building the app replaced the root handlers
        root.addHandler(caplog.handler)
    root.setLevel(logging.DEBUG)

    response = client.get(path)

    assert response.status_code in {400, 404}
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert client.get("/static/css/lvs.css").status_code == 200


# -- control characters in text parameters, on both databases ----------------------------------

TEXT_PARAMS = ["q", "tag", "folder", "sort", "rated", "res", "favorites", "page", "next"]
CONTROLS = {"NUL": "\x00", "escape": "\x1b", "newline": "\n", "DEL": "\x7f"}


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize("param", TEXT_PARAMS)
def test_control_characters_in_any_text_parameter_are_a_400_naming_it(
    client: TestClient[Litestar], param: str, control: str
) -> None:
    for url in ("/", "/random", "/api/media", "/tags", "/history", "/api/history"):
        response = client.get(url, params={param: f"a{control}b"}, follow_redirects=False)

        assert response.status_code == 400, f"{url}?{param}: {response.status_code}"
        if url.startswith("/api/"):
            assert response.json()["errors"] == [
                {"field": param, "message": "must not contain control characters"}
            ]
        else:
            assert param in html(response.text).get_text()


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f"], ids=["NUL", "escape", "DEL"])
def test_control_characters_in_written_text_are_a_400_and_change_nothing(
    client: TestClient[Litestar], scanned: Settings, control: str
) -> None:
    media_id, _ = media_ids(scanned)["Alpha"]
    token = csrf_token(html(client.get(f"/media/{media_id}").text))
    before = snapshot(scanned)

    by_form = client.post(
        f"/media/{media_id}/tags",
        data={"name": f"holi{control}day", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    by_json = client.post(f"/api/media/{media_id}/tags", json={"name": f"holi{control}day"})

    assert (by_form.status_code, by_json.status_code) == (400, 400)
    assert by_json.json()["errors"][0]["field"] == "name"
    assert snapshot(scanned) == before
    # ordinary text still works, on both databases
    assert client.get("/", params={"tag": "holiday", "folder": "sub", "q": "é"}).status_code == 200


# -- Host headers (DNS rebinding) ---------------------------------------------------------------


@pytest.mark.parametrize("db_url", [None])
@pytest.mark.parametrize(
    "host", ["rebind.attacker.example", "attacker.example:8000", "localhost.attacker.example"]
)
def test_an_unknown_host_name_is_refused(client: TestClient[Litestar], host: str) -> None:
    for url in ("/api/media", "/", f"/media/{1}/stream"):
        response = client.get(url, headers={"Host": host})

        assert response.status_code == 400, url
        assert "library" not in response.text.lower() or "items" not in response.text


@pytest.mark.parametrize("db_url", [None])
@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8000",
        "127.0.0.1:8000",
        "[::1]:8000",
        "192.168.1.20",
        "tv.localhost",
        "testserver.local",
    ],
)
def test_local_names_and_addresses_are_answered(client: TestClient[Litestar], host: str) -> None:
    assert client.get("/api/media", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("db_url", [None])
def test_this_machines_own_names_and_the_configured_ones_are_answered(
    scanned: Settings,
) -> None:
    import socket

    configured = replace(scanned, allowed_hosts=("tv.local", "*.example.org"))
    with TestClient(create_app(configured)) as client:
        hostname = socket.gethostname()
        for host in (hostname, f"{hostname.split('.')[0]}.local", "tv.local", "a.example.org"):
            assert client.get("/api/media", headers={"Host": host}).status_code == 200, host
        assert client.get("/api/media", headers={"Host": "example.org.evil"}).status_code == 400

    with TestClient(create_app(replace(scanned, allowed_hosts=("*",)))) as anything:
        assert anything.get("/api/media", headers={"Host": "whatever.example"}).status_code == 200


# -- the CSRF exemption is for the JSON API only -----------------------------------------------


@pytest.mark.parametrize("db_url", [None])
def test_the_csrf_exemption_covers_the_api_prefix_only(app: Litestar) -> None:
    """Litestar skips the CSRF check for a path the exclusion pattern is *found* in: ``/api/``
    unanchored would exempt any future route with ``/api/`` inside its path."""
    from litestar.middleware._utils import should_bypass_for_path_pattern
    from litestar.middleware.csrf import CSRFMiddleware

    assert app.csrf_config is not None
    pattern = CSRFMiddleware(app=app, config=app.csrf_config).exclude
    assert pattern is not None

    def exempt(path: str) -> bool:
        return should_bypass_for_path_pattern({"path": path}, pattern)  # type: ignore[arg-type]

    assert exempt("/api/media/1/tags")
    assert exempt("/api/ratings/abc")
    assert not exempt("/media/1/api/")
    assert not exempt("/ratings/abc/api/x")
    assert not exempt("/login/api/")


# -- the no-JavaScript view counter -------------------------------------------------------------


@pytest.mark.parametrize("db_url", [None])
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Referer": "https://attacker.example/page"},
        {"Referer": "http://testserver.local.attacker.example/"},
        {},
    ],
    ids=["cross-site", "same-site", "foreign referer", "look-alike referer", "no headers"],
)
def test_an_image_on_another_site_counts_no_view(
    client: TestClient[Litestar], scanned: Settings, headers: dict[str, str]
) -> None:
    media_id, _ = media_ids(scanned)["Alpha"]

    response = client.get(f"/media/{media_id}/noscript-view", headers=headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "image/gif"
    assert client.get(f"/api/media/{media_id}").json()["views"] == 0
    own_page = {"Sec-Fetch-Site": "same-origin"}
    assert client.get(f"/media/{media_id}/noscript-view", headers=own_page).status_code == 200
    assert client.get(f"/api/media/{media_id}").json()["views"] == 1
