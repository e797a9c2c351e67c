"""The household password (LVS_PASSWORD): every page behind a login, the API answering 401, the
login form rate-limited, safe redirects after it, logout, and the password kept out of sight.

Run on SQLite only: nothing here depends on the database, and the login is the same on both."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from conftest import db_query, html
from litestar import Litestar
from litestar.testing import TestClient

from lvs.app import create_app
from lvs.cli import main
from lvs.settings import Settings


@pytest.fixture
def db_url() -> None:
    """SQLite only (overrides the conftest's parametrised database)."""
    return None


PASSWORD = "correct horse battery staple 7f3a9c"  # unique enough to grep for anywhere
WRONG = "Tr0ub4dor&3"


@pytest.fixture
def locked_settings(scanned: Settings) -> Settings:
    return replace(scanned, password=PASSWORD)


@pytest.fixture
def locked(locked_settings: Settings) -> Iterator[TestClient[Litestar]]:
    """An app with a household password; the client is not logged in."""
    with TestClient(create_app(locked_settings)) as c:
        yield c


@pytest.fixture
def alpha(scanned: Settings) -> tuple[int, str]:
    ((media_id, media_hash),) = db_query(
        scanned, "SELECT id, media_hash FROM media WHERE title = 'Alpha'"
    )
    return int(media_id), str(media_hash)


def login_form(client: TestClient[Litestar], next_url: str | None = None) -> BeautifulSoup:
    response = client.get("/login", params={"next": next_url} if next_url is not None else None)
    assert response.status_code == 200
    return html(response.text)


def csrf_token(page: BeautifulSoup) -> str:
    field = page.select_one("input[name=_csrf_token]")
    assert field is not None, "the page has no CSRF field"
    return str(field["value"])


def log_in(
    client: TestClient[Litestar], password: str, next_url: str | None = None
) -> httpx.Response:
    """Fill in the login form like a browser: its hidden fields, plus the password."""
    page = login_form(client, next_url)
    form = page.select_one("form[action='/login']")
    assert form is not None
    data = {str(i["name"]): str(i.get("value", "")) for i in form.select("input[type=hidden]")}
    data["password"] = password
    return client.post("/login", data=data, follow_redirects=False)


def capture_app_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Let caplog see the app's records again: building an app applies Litestar's logging config,
    which replaces the root logger's handlers (caplog's among them)."""
    root = logging.getLogger()
    if caplog.handler not in root.handlers:
        root.addHandler(caplog.handler)
    root.setLevel(logging.DEBUG)


def redirect_target(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    assert response.status_code == 303, response.text[:300]
    location = urlsplit(response.headers["location"])
    assert not location.scheme and not location.netloc, "redirects must stay on this site"
    return location.path, parse_qs(location.query)


# -- without a login --------------------------------------------------------------------------


def test_every_page_sends_you_to_the_login_form_and_back(
    locked: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    media_id, _ = alpha
    pages = [
        "/",
        "/?q=alp&sort=title-asc",
        "/tags",
        "/history",
        "/help",
        "/random",
        f"/media/{media_id}",
        f"/media/{media_id}/stream",
        f"/media/{media_id}/thumbnail",
        "/schema/openapi.json",
    ]
    for page in pages:
        response = locked.get(page, follow_redirects=False)

        path, query = redirect_target(response)
        assert path == "/login", page
        assert query == {"next": [page]}, page
        assert b"Alpha" not in response.content


def test_form_posts_without_a_login_change_nothing(
    locked: TestClient[Litestar], locked_settings: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha

    responses = [
        locked.post(f"/ratings/{media_hash}", data={"value": "4"}, follow_redirects=False),
        locked.post(f"/media/{media_id}/favorite", data={}, follow_redirects=False),
        locked.post(f"/media/{media_id}/tags", data={"name": "x"}, follow_redirects=False),
    ]

    assert {r.status_code for r in responses} <= {303, 403}
    assert db_query(locked_settings, "SELECT count(*) FROM ratings") == [(0,)]
    assert db_query(locked_settings, "SELECT count(*) FROM favorites") == [(0,)]
    assert db_query(locked_settings, "SELECT count(*) FROM tags") == [(0,)]


def test_the_api_answers_401_json(
    locked: TestClient[Litestar], locked_settings: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    requests = [
        ("GET", "/api/media", None),
        ("GET", f"/api/media/{media_id}", None),
        ("GET", f"/api/ratings/{media_hash}", None),
        ("GET", "/api/tags", None),
        ("GET", "/api/history", None),
        ("POST", f"/api/ratings/{media_hash}", {"value": 5}),
        ("PUT", f"/api/media/{media_id}/favorite", {"favorite": True}),
        ("POST", f"/api/media/{media_id}/tags", {"name": "sneaky"}),
        ("PUT", f"/api/media/{media_id}/position", {"seconds": 1.5}),
    ]
    for method, url, body in requests:
        response = locked.request(method, url, json=body, follow_redirects=False)

        assert response.status_code == 401, url
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["status_code"] == 401
        assert "log in" in response.json()["detail"].lower()
    assert db_query(locked_settings, "SELECT count(*) FROM ratings") == [(0,)]
    assert db_query(locked_settings, "SELECT count(*) FROM favorites") == [(0,)]
    assert db_query(locked_settings, "SELECT count(*) FROM tags") == [(0,)]
    assert db_query(locked_settings, "SELECT count(*) FROM positions") == [(0,)]


def test_static_assets_and_the_login_page_need_no_login(locked: TestClient[Litestar]) -> None:
    page = login_form(locked)
    assets = [str(link["href"]) for link in page.select("link[href^='/static/']")]
    assets += [str(script["src"]) for script in page.select("script[src^='/static/']")]

    assert page.select_one("input[type=password][name=password]") is not None
    assert assets, "the login page links no static assets"
    for asset in assets:
        response = locked.get(asset, follow_redirects=False)
        assert response.status_code == 200, asset
        assert response.content


# -- logging in -------------------------------------------------------------------------------


def test_a_wrong_password_is_a_401_page_with_a_message(locked: TestClient[Litestar]) -> None:
    response = log_in(locked, WRONG, "/tags")

    assert response.status_code == 401
    page = html(response.text)
    error = page.select_one("#login-error")
    assert error is not None
    assert "not right" in error.get_text()
    password = page.select_one("input[name=password]")
    assert password is not None and password.get("aria-invalid") == "true"
    assert password.get("value") in (None, ""), "the attempt must not be echoed back"
    next_field = page.select_one("input[name=next]")
    assert next_field is not None and next_field["value"] == "/tags"
    # Still locked out.
    assert redirect_target(locked.get("/", follow_redirects=False))[0] == "/login"


def test_five_wrong_attempts_then_429_with_retry_after(locked: TestClient[Litestar]) -> None:
    statuses = [log_in(locked, f"{WRONG}{i}").status_code for i in range(5)]
    sixth = log_in(locked, WRONG)
    right_one_too_late = log_in(locked, PASSWORD)

    assert statuses == [401] * 5
    for refused in (sixth, right_one_too_late):
        assert refused.status_code == 429
        assert re.fullmatch(r"\d+", refused.headers.get("retry-after", "")), refused.headers
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        error = html(refused.text).select_one("#login-error")
        assert error is not None and "too many" in error.get_text().lower()
    # Guessing stopped before the password was even checked: still logged out.
    assert redirect_target(locked.get("/", follow_redirects=False))[0] == "/login"


def test_the_right_password_goes_back_where_you_were_going(locked: TestClient[Litestar]) -> None:
    wanted = "/?q=alp&sort=title-asc"
    first = locked.get(wanted, follow_redirects=False)
    (next_url,) = redirect_target(first)[1]["next"]

    response = log_in(locked, PASSWORD, next_url)

    assert response.status_code == 303
    assert response.headers["location"] == wanted
    page = locked.get(wanted)
    assert page.status_code == 200
    titles = [t.get_text(strip=True) for t in html(page.text).select("li.card .title")]
    assert titles == ["Alpha"]
    assert "Welcome back" in page.text
    for path in ("/tags", "/history", "/help"):
        assert locked.get(path, follow_redirects=False).status_code == 200, path
    assert locked.get("/api/media").json()["total"] == 3


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "//evil.example/path",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_after_login_only_local_paths_are_followed(
    locked: TestClient[Litestar], next_url: str
) -> None:
    shown = login_form(locked, next_url).select_one("input[name=next]")
    response = log_in(locked, PASSWORD, next_url)

    assert shown is not None and shown["value"] == "/", "the form must not carry it either"
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_a_next_path_with_control_characters_is_refused(locked: TestClient[Litestar]) -> None:
    """A header injection attempt: in the URL, like any query parameter with control
    characters, a 400; in the form, it is not followed."""
    injected = "/ok\r\nLocation: https://evil.example/"

    shown = locked.get("/login", params={"next": injected})
    token = str(html(locked.get("/login").text).select("input[name=_csrf_token]")[0]["value"])
    posted = locked.post(
        "/login",
        data={"_csrf_token": token, "next": injected, "password": PASSWORD},
        follow_redirects=False,
    )

    assert shown.status_code == 400
    assert "next" in html(shown.text).get_text()
    assert posted.status_code == 303
    assert posted.headers["location"] == "/"


def test_an_api_client_can_log_in_and_then_use_the_api(
    locked: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    assert log_in(locked, PASSWORD).status_code == 303

    written = locked.post(f"/api/ratings/{alpha[1]}", json={"value": 4})

    assert written.status_code == 200
    assert written.json()["user"] == 4


def test_logging_out_locks_the_browser_again(locked: TestClient[Litestar]) -> None:
    assert log_in(locked, PASSWORD).status_code == 303
    library = locked.get("/")
    assert library.status_code == 200
    logout = html(library.text).select_one("form[action='/login/logout']")
    assert logout is not None, "a logged-in page offers a logout button"

    response = locked.post("/login/logout", data={"_csrf_token": csrf_token(html(library.text))})

    assert response.status_code == 200  # followed to the login form
    assert response.url.path == "/login"
    assert redirect_target(locked.get("/", follow_redirects=False))[0] == "/login"
    assert locked.get("/api/media").status_code == 401


def test_the_session_cookie_is_httponly_and_same_site(locked: TestClient[Litestar]) -> None:
    response = log_in(locked, PASSWORD)

    cookies = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    session = [c for c in cookies if c.startswith("lvs_session=")]
    assert session, cookies
    for cookie in session:
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert "httponly" in attributes, cookie
        assert re.search(r"samesite=(lax|strict)", cookie, re.IGNORECASE), cookie
        assert PASSWORD not in cookie


def test_the_password_never_shows_in_responses_logs_or_repr(
    locked_settings: Settings, caplog: pytest.LogCaptureFixture, alpha: tuple[int, str]
) -> None:
    chatty = replace(locked_settings, log_level="debug")  # everything the app can log
    seen: list[httpx.Response] = []
    with TestClient(create_app(chatty)) as client:
        capture_app_logs(caplog)
        seen.append(log_in(client, WRONG))
        seen.append(log_in(client, PASSWORD))
        for url in ("/", f"/media/{alpha[0]}", "/tags", "/help", "/api/media", "/nowhere"):
            seen.append(client.get(url))
        check = client.app.state.password_check

    for response in seen:
        assert PASSWORD not in response.text
        assert PASSWORD not in str(response.headers)
    app_records = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert app_records, "caplog saw nothing from the app: the check below would be vacuous"
    assert PASSWORD not in caplog.text
    assert WRONG not in caplog.text
    assert PASSWORD not in repr(chatty)
    assert PASSWORD not in str(chatty)
    assert PASSWORD not in repr(vars(check))


def test_lvs_settings_does_not_print_the_password(tmp_path: Path) -> None:
    env = {k: None for k in os.environ if k.startswith("LVS_")}
    env.update({"LVS_DATA_DIR": str(tmp_path / "data"), "LVS_PASSWORD": PASSWORD})

    result = CliRunner().invoke(main, ["settings"], env=env, catch_exceptions=False)

    assert result.exit_code == 0
    assert "LVS_PASSWORD=" in result.output
    assert PASSWORD not in result.output, "`lvs settings` prints the household password"


# -- without a password -----------------------------------------------------------------------


def test_without_a_password_there_is_no_login(
    client: TestClient[Litestar], alpha: tuple[int, str]
) -> None:
    for url in ("/", "/tags", "/history", "/help", f"/media/{alpha[0]}", "/api/media"):
        assert client.get(url, follow_redirects=False).status_code == 200, url
    assert client.get("/login", follow_redirects=False).status_code == 404
    page = html(client.get("/").text)
    assert page.select_one("form[action='/login/logout']") is None


# -- the warning of `lvs serve` ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_output(tmp_path: Path, library: Path, password: str | None) -> str:
    """Run ``lvs serve --host 0.0.0.0 --no-scan`` until it answers, stop it, return its output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LVS_")}
    env.update({"LVS_DATA_DIR": str(tmp_path / "serve-data"), "COLUMNS": "200"})
    if password is not None:
        env["LVS_PASSWORD"] = password
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "lvs", "serve", "--no-scan", "-l", str(library)),
                *("--host", "0.0.0.0", "--port", str(port)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/help", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"lvs serve did not come up:\n{log.read_text(errors='replace')}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return " ".join(log.read_text(errors="replace").split())


WARNING = "lvs listens on 0.0.0.0 without LVS_PASSWORD"


def test_serving_the_network_without_a_password_warns(tmp_path: Path, library: Path) -> None:
    output = serve_output(tmp_path, library, password=None)

    assert WARNING in output, output
    assert "Set LVS_PASSWORD to require a login" in output


def test_serving_the_network_with_a_password_does_not_warn(tmp_path: Path, library: Path) -> None:
    output = serve_output(tmp_path, library, password=PASSWORD)

    assert "lvs serving" in output, output
    assert "without LVS_PASSWORD" not in output
    assert PASSWORD not in output
