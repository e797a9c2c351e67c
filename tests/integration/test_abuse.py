"""Hostile and careless clients: a schemathesis run over the published OpenAPI schema, path
traversal probes, oversized bodies and headers, a stalled client, script injection through file
names and tags, cross-site form posts, and the security headers on every kind of answer."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from bs4 import BeautifulSoup
from conftest import db_query, html, run_scan
from hypothesis import HealthCheck, Phase
from litestar import Litestar
from litestar.testing import TestClient
from live_server import LiveServer, serve_options
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi

from lvs.app import create_app
from lvs.library.demo import make_clip
from lvs.settings import Settings

# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uvicorn_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return serve_options(tmp_path_factory.mktemp("serve-options"))


@pytest.fixture
def live(scanned: Settings, uvicorn_options: dict[str, Any]) -> Iterator[LiveServer]:
    with LiveServer(create_app(scanned), uvicorn_options) as server:
        yield server


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> tuple[int | None, bytes]:
    """Send ``request`` bytes as they are; return the status (None if the server only closed the
    connection) and everything the server sent until it closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(request)
        received = b""
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65536):
                received += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3})", received)
    return (int(match.group(1)) if match else None), received


def split_response(raw: bytes) -> tuple[str, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def media(settings: Settings) -> dict[str, tuple[int, str]]:
    rows = db_query(settings, "SELECT title, id, media_hash FROM media")
    return {str(title): (int(i), str(h)) for title, i, h in rows}


def csrf_token(client: TestClient[Litestar], url: str = "/help") -> str:
    """This browser's CSRF token, as the pages' forms carry it."""
    page = html(client.get(url).text)
    field = page.select_one("input[name=_csrf_token]")
    if field is not None:
        return str(field["value"])
    body = page.select_one("body")
    assert body is not None
    match = re.search(r'"x-csrftoken":\s*"([^"]+)"', str(body.get("hx-headers", "")))
    assert match, "no CSRF token on the page"
    return match.group(1)


TABLES = ("ratings", "favorites", "tags", "media_tags", "views", "positions", "users")


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(db_query(settings, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


# -- schemathesis over the published schema ---------------------------------------------------


@pytest.fixture
def api_schema(app: Litestar) -> Iterator[Any]:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    yield schema
    schemathesis_asgi.shutdown_lifespans()  # the app's lifespan, started by schemathesis


def test_schemathesis_finds_no_server_error_in_any_operation(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=25,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: Any) -> None:
                case.call_and_validate(checks=[not_a_server_error])

            try:
                exercise()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing of this kind to generate (no parameters to break)
            except Exception as exc:
                failures[f"{operation.label} ({mode})"] = str(exc)[:600]
    assert not failures, "\n\n".join(f"{label}:\n{why}" for label, why in failures.items())


# -- path traversal and odd ids ---------------------------------------------------------------

SECRET = "lvs-secret-marker-4f1c"

ODD_IDS = [
    "..%2f..%2fetc%2fpasswd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2f..%2fsecret.txt",
    "..%5c..%5csecret.txt",
    "%252e%252e%252fsecret.txt",
    "..",
    "%2e%2e",
    "%00",
    "1%00",
    "1%00.mp4",
    "-1",
    "-0",
    "0",
    "1.0",
    "1e3",
    "0x1",
    "+1",
    "%201",
    "%EF%BC%91",  # a full-width digit one
    "1;x=..%2fsecret.txt",
    "9" * 25,
    "-" + "9" * 25,
    "9" * 5000,
]
ID_ROUTES = [
    ("GET", "/media/{}"),
    ("GET", "/media/{}/stream"),
    ("HEAD", "/media/{}/stream"),
    ("GET", "/media/{}/thumbnail"),
    ("GET", "/media/{}/subtitles/0"),
    ("GET", "/media/1/subtitles/{}"),
    ("GET", "/media/{}/noscript-view"),
    ("GET", "/api/media/{}"),
    ("GET", "/api/media/{}/tags"),
    ("GET", "/api/media/{}/position"),
    ("GET", "/api/ratings/{}"),
    ("POST", "/api/ratings/{}"),
    ("PUT", "/api/media/{}/favorite"),
    ("POST", "/api/media/{}/tags"),
    ("DELETE", "/api/media/1/tags/{}"),
    ("POST", "/api/media/{}/views"),
    ("POST", "/ratings/{}"),
    ("POST", "/media/{}/favorite"),
    ("POST", "/media/{}/tags/{}/remove"),
]
FIXED_PROBES = [
    ("GET", "/media/1/subtitles/../../x"),
    ("GET", "/media/1/subtitles/..%2f..%2fsecret.txt"),
    ("GET", "/media/1/stream/..%2f..%2f..%2fsecret.txt"),
    ("GET", "/static/..%2f..%2fpyproject.toml"),
    ("GET", "/static/../../pyproject.toml"),
    ("GET", "/static/%2e%2e/%2e%2e/pyproject.toml"),
    ("GET", "/static/css/..%2f..%2f..%2fpyproject.toml"),
    ("GET", "/static/..%5c..%5cpyproject.toml"),
    ("GET", "/media/..%2f..%2fetc%2fpasswd/stream"),
]


def probes() -> list[tuple[str, str]]:
    out = [
        (method, template.replace("{}", odd)) for method, template in ID_ROUTES for odd in ODD_IDS
    ]
    return out + FIXED_PROBES


def test_path_traversal_and_odd_ids_never_serve_files_or_fail(
    live: LiveServer, scanned: Settings
) -> None:
    (scanned.data_dir.parent / "secret.txt").write_text(SECRET)
    (scanned.data_dir / "secret.txt").write_text(SECRET)
    bad: list[tuple[str, str, int | None, str]] = []
    for method, target in probes():
        body = b'{"value": 4, "favorite": true, "name": "x"}' if method in {"POST", "PUT"} else b""
        request = (
            f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        status, raw = raw_exchange(live.port, request)
        text = raw.decode("latin-1")
        if status is None or status >= 500:
            bad.append(
                (method, target[:80], status, split_response(raw)[1][:120].decode("latin-1"))
            )
        elif SECRET in text or "root:x:0:0" in text or "[build-system]" in text:
            bad.append((method, target[:80], status, "served a file it must not"))
    assert live.alive()
    assert not bad, f"{len(bad)} probes went wrong:\n" + "\n".join(map(repr, bad))


HUGE_IDS = ["9223372036854775808", "99999999999999999999", "-9223372036854775809"]


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_beyond_64_bits_are_unknown_videos(
    client: TestClient[Litestar], scanned: Settings, huge: str
) -> None:
    """An id no database column can hold is simply not a video: 404 like any unknown id, as a
    page for pages and JSON for the API (not a 500, nor a 409 "conflict")."""
    media_id, _ = media(scanned)["Alpha"]
    routes = [
        ("GET", f"/media/{huge}", "text/html"),
        ("GET", f"/media/{huge}/stream", None),
        ("GET", f"/media/{huge}/thumbnail", "text/html"),
        ("GET", f"/api/media/{huge}", "application/json"),
        ("GET", f"/api/media/{huge}/position", "application/json"),
        ("PUT", f"/api/media/{huge}/favorite", "application/json"),
        ("DELETE", f"/api/media/{media_id}/tags/{huge}", "application/json"),
    ]
    answers = {}
    for method, url, content_type in routes:
        response = client.request(method, url, json={"favorite": True})
        kind = response.headers.get("content-type", "")
        right_kind = content_type is None or kind.startswith(content_type)
        answers[f"{method} {url}"] = (response.status_code, right_kind)

    assert answers == dict.fromkeys(answers, (404, True))


# -- oversized bodies and headers -------------------------------------------------------------

BIG = 100 * 1024  # request_max_body_size is 64 KiB


def form_write_urls(media_id: int, media_hash: str) -> list[str]:
    return [
        f"/ratings/{media_hash}",
        f"/media/{media_id}/favorite",
        f"/media/{media_id}/tags",
        f"/media/{media_id}/tags/1/remove",
        f"/media/{media_id}/position",
        f"/media/{media_id}/view",
    ]


@pytest.mark.parametrize(
    "token_in", ["form", "header"], ids=["token in the form", "token in the htmx header"]
)
def test_oversized_form_bodies_are_413_and_change_nothing(
    client: TestClient[Litestar], scanned: Settings, token_in: str
) -> None:
    media_id, media_hash = media(scanned)["Alpha"]
    token = csrf_token(client, f"/media/{media_id}")
    before = snapshot(scanned)
    fields = {"value": "4", "name": "big", "seconds": "1", "pad": "x" * BIG}
    if token_in == "form":
        fields["_csrf_token"] = token
    headers = {"x-csrftoken": token, "HX-Request": "true"} if token_in == "header" else {}

    statuses = {
        url: client.post(url, data=fields, headers=headers, follow_redirects=False).status_code
        for url in form_write_urls(media_id, media_hash)
    }

    assert statuses == dict.fromkeys(statuses, 413)
    assert snapshot(scanned) == before


def test_oversized_json_bodies_are_413_and_change_nothing(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    media_id, media_hash = media(scanned)["Alpha"]
    before = snapshot(scanned)
    writes = [
        ("POST", f"/api/ratings/{media_hash}", {"value": 4}),
        ("PUT", f"/api/media/{media_id}/favorite", {"favorite": True}),
        ("POST", f"/api/media/{media_id}/tags", {"name": "big"}),
        ("PUT", f"/api/media/{media_id}/position", {"seconds": 1.5}),
        ("POST", f"/api/media/{media_id}/views", {}),
    ]

    statuses = {
        f"{method} {url}": client.request(method, url, json={**body, "pad": "x" * BIG}).status_code
        for method, url, body in writes
    }

    assert statuses == dict.fromkeys(statuses, 413)
    assert snapshot(scanned) == before


@pytest.mark.parametrize("db_url", [None])  # the HTTP server, not the database
def test_an_oversized_chunked_body_is_refused_over_a_real_server(
    live: LiveServer, scanned: Settings
) -> None:
    _, media_hash = media(scanned)["Alpha"]
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(BIG // len(chunk) + 2))
    request = (
        (
            f"POST /api/ratings/{media_hash} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + body
        + b"0\r\n\r\n"
    )

    status, _ = raw_exchange(live.port, request)

    assert status == 413
    assert db_query(scanned, "SELECT count(*) FROM ratings") == [(0,)]
    assert live.alive()


@pytest.mark.parametrize("db_url", [None])  # the HTTP server, not the database
@pytest.mark.parametrize(
    "shape", ["one 1 MiB header", "ten thousand headers", "a 1 MiB request line"]
)
def test_huge_headers_are_refused_and_the_server_survives(live: LiveServer, shape: str) -> None:
    if shape == "one 1 MiB header":
        head = "GET /help HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * (1024 * 1024) + "\r\n"
    elif shape == "ten thousand headers":
        head = "GET /help HTTP/1.1\r\nHost: x\r\n" + "".join(
            f"X-H{i}: {'b' * 100}\r\n" for i in range(10_000)
        )
    else:
        head = "GET /help?q=" + "c" * (1024 * 1024) + " HTTP/1.1\r\nHost: x\r\n"
    request = (head + "Connection: close\r\n\r\n").encode()

    status, _ = raw_exchange(live.port, request, timeout=30)

    assert status is None or 400 <= status < 500, f"{shape} was answered {status}"
    assert live.alive()


@pytest.mark.parametrize("db_url", [None])  # the HTTP server, not the database
@pytest.mark.parametrize(
    ("size", "allowed"),
    [(120 * 1024, False), (17 * 1024, False), (15 * 1024, True)],
    ids=["120 KB", "17 KB", "15 KB"],
)
def test_the_16_kib_limit_holds_for_a_whole_request_head(
    live: LiveServer, size: int, allowed: bool
) -> None:
    """Headers of a few KB each, the head sent in one piece: the documented 16 KiB limit is on
    the whole head, not only on a head still arriving."""
    start = "GET /help HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    filler = size - len(start) - 2
    lines = [f"X-Pad-{i}: {'p' * 4000}\r\n" for i in range(filler // 4015)]
    lines.append(f"X-Last: {'q' * (filler - sum(map(len, lines)) - 10)}\r\n")
    request = (start + "".join(lines) + "\r\n").encode()
    assert abs(len(request) - size) < 64

    status, raw = raw_exchange(live.port, request, timeout=30)

    if allowed:
        assert status == 200
    else:
        assert status == 431, raw[:200]
    assert live.alive()


# -- a slow client ----------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", [None])  # the HTTP server, not the database
def test_a_stalled_client_does_not_pin_the_server_and_is_dropped(live: LiveServer) -> None:
    stalled = []
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
            sock.sendall(b"GET /help HTT")  # half a request line, then nothing
            stalled.append(sock)

        # Other people are served meanwhile.
        with httpx.Client(timeout=10) as http:
            for url in ("/", "/help", "/api/media"):
                assert http.get(f"{live.url}{url}").status_code == 200

        # And the server gives up on the stalled connections (keep-alive timeout: 5 s).
        sock = stalled[0]
        sock.settimeout(20)
        try:
            leftover = sock.recv(65536)
            while leftover and (more := sock.recv(65536)):
                leftover += more
        except TimeoutError:
            pytest.fail("the server kept a stalled connection open for 20 s (slowloris)")
        except ConnectionError:
            leftover = b""
        assert leftover == b"" or re.match(rb"HTTP/1\.[01] 4\d\d", leftover), leftover[:200]
    finally:
        for sock in stalled:
            sock.close()
    assert live.alive()


# -- script injection through names and tags --------------------------------------------------

SCRIPT_DIR = "<script>alert(1)<"  # with the file below: <script>alert(1)</script>.mp4
SCRIPT_FILE = "script>.mp4"
IMG = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def hostile(settings: Settings, library: Path) -> Settings:
    """The library plus a file whose path reads ``<script>alert(1)</script>.mp4`` and one named
    after an ``<img onerror>``; scanned."""
    make_clip(library / SCRIPT_DIR / SCRIPT_FILE, seconds=0.5, width=64, height=64, audio=False)
    make_clip(library / f"{IMG}.mp4", seconds=0.5, width=64, height=64, audio=False, hue=200)
    run_scan(settings)
    return settings


def assert_inert(text: str, where: str) -> BeautifulSoup:
    """No script or event handler in ``text`` that the app did not write itself."""
    page = html(text)
    for script in page.find_all("script"):
        assert str(script.get("src", "")).startswith("/static/"), f"{where}: {script}"
        assert not script.get_text(strip=True), f"{where}: inline script {script}"
    for element in page.find_all(True):
        handlers = [a for a in element.attrs if a.lower().startswith("on")]
        assert not handlers, f"{where}: {element.name} has {handlers}"
        assert not (element.name == "img" and element.get("src") == "x"), f"{where}: {element}"
        assert element.name not in {"svg", "iframe", "object", "embed"}, f"{where}: {element}"
    return page


def test_names_and_tags_with_markup_are_shown_as_text_everywhere(
    client: TestClient[Litestar], hostile: Settings
) -> None:
    ids = media(hostile)
    script_id, _ = ids["script>"]
    img_id, _ = ids[IMG]
    token = csrf_token(client, f"/media/{img_id}")
    tagged = client.post(
        f"/media/{img_id}/tags",
        data={"_csrf_token": token, "name": IMG},
        headers={"HX-Request": "true"},
    )
    assert tagged.status_code == 200
    assert_inert(tagged.text, "tag fragment")
    for media_id in (script_id, img_id):
        assert client.post(f"/api/media/{media_id}/views", json={}).status_code == 200
    refused_tag = client.post(
        f"/media/{img_id}/tags",
        data={"_csrf_token": token, "name": "<script>alert(1)</script>" * 3},
    )
    assert refused_tag.status_code == 400
    assert_inert(refused_tag.text, "refused tag page")
    unknown = client.post(
        f"/ratings/{quote('<script>alert(1)</script>', safe='')}",
        data={"_csrf_token": token, "value": "4"},
    )
    assert unknown.status_code == 404
    assert_inert(unknown.text, "404 page")

    pages = {
        "library": "/",
        "search for img": "/?q=img",
        "search for script": "/?q=script",
        "search reflecting markup": f"/?q={quote('<script>alert(1)</script>')}",
        "folder": f"/?folder={quote(SCRIPT_DIR)}",
        "tag filter": f"/?tag={quote(IMG)}",
        "watch script": f"/media/{script_id}",
        "watch img": f"/media/{img_id}",
        "tags": "/tags",
        "history": "/history",
    }
    shown: dict[str, str] = {}
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        shown[name] = assert_inert(response.text, name).get_text(" ")
    grid = client.get("/?q=img", headers={"HX-Request": "true", "HX-Target": "library-grid"})
    assert_inert(grid.text, "library grid fragment")

    # The markup is there, as text: escaped, not dropped.
    for name in ("library", "search for img", "watch img", "history"):
        assert IMG in shown[name], name
    assert IMG in shown["tags"] and IMG in shown["watch img"]
    assert "<script>alert(1)</script>.mp4" in shown["watch script"]
    box = html(client.get(pages["search reflecting markup"]).text).select_one("input[name=q]")
    assert box is not None and box["value"] == "<script>alert(1)</script>"


# -- CSRF -------------------------------------------------------------------------------------


def form_routes(media_id: int, media_hash: str, tag_id: int) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/ratings/{media_hash}", {"value": "4"}),
        (f"/media/{media_id}/favorite", {"favorite": "1"}),
        (f"/media/{media_id}/tags", {"name": "forged"}),
        (f"/media/{media_id}/tags/{tag_id}/remove", {}),
        (f"/media/{media_id}/position", {"seconds": "1.5"}),
        (f"/media/{media_id}/view", {}),
    ]


@pytest.mark.parametrize("token", ["missing", "forged", "another browser's"])
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_every_form_refuses_a_post_without_this_browsers_token(
    client: TestClient[Litestar], scanned: Settings, token: str, htmx: bool
) -> None:
    media_id, media_hash = media(scanned)["Alpha"]
    tag = client.post(f"/api/media/{media_id}/tags", json={"name": "keep"})
    assert tag.status_code == 200
    tag_id = tag.json()[0]["id"]
    own = csrf_token(client, f"/media/{media_id}")
    mine = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies()  # another browser, on the same app
    theirs = csrf_token(client, f"/media/{media_id}")
    client.cookies = mine
    before = snapshot(scanned)

    for url, fields in form_routes(media_id, media_hash, tag_id):
        data = dict(fields)
        if token == "forged":
            data["_csrf_token"] = "A" * len(own)
        elif token == "another browser's":
            data["_csrf_token"] = theirs
        response = client.post(
            url,
            data=data,
            headers={"HX-Request": "true"} if htmx else {},
            follow_redirects=False,
        )
        assert response.status_code == 403, (url, response.status_code)
    assert snapshot(scanned) == before


def test_login_and_logout_refuse_a_post_without_the_token(scanned: Settings) -> None:
    password = "household password for csrf"
    with TestClient(create_app(replace(scanned, password=password))) as client:
        forged_login = client.post(
            "/login", data={"password": password, "next": "/"}, follow_redirects=False
        )
        assert forged_login.status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 303  # not logged in

        token = csrf_token(client, "/login")
        logged_in = client.post(
            "/login", data={"_csrf_token": token, "password": password}, follow_redirects=False
        )
        assert logged_in.status_code == 303
        forged_logout = client.post("/login/logout", data={}, follow_redirects=False)

        assert forged_logout.status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 200  # still logged in


def test_the_json_api_refuses_what_a_cross_site_form_can_send(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    """The API needs no CSRF token because it insists on application/json, which a form on
    another site cannot send without a CORS preflight."""
    media_id, media_hash = media(scanned)["Alpha"]
    before = snapshot(scanned)
    writes = [
        ("POST", f"/api/ratings/{media_hash}", "value=4"),
        ("PUT", f"/api/media/{media_id}/favorite", "favorite=true"),
        ("POST", f"/api/media/{media_id}/tags", "name=forged"),
        ("PUT", f"/api/media/{media_id}/position", "seconds=3"),
        ("POST", f"/api/media/{media_id}/views", ""),
    ]
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        for method, url, body in writes:
            response = client.request(
                method, url, content=body, headers={"Content-Type": content_type}
            )
            assert response.status_code in {400, 415}, (content_type, url, response.status_code)
    preflight = client.options(
        f"/api/ratings/{media_hash}",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert snapshot(scanned) == before


# -- security headers -------------------------------------------------------------------------

STRICT_REFERRERS = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


def csp_directives(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def security_header_problems(response: httpx.Response) -> list[str]:
    problems = []
    csp = response.headers.get("content-security-policy")
    if csp is None:
        return ["no Content-Security-Policy"]
    directives = csp_directives(csp)
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None:
        problems.append("no script-src (nor default-src)")
    elif {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts):
        problems.append(f"script-src allows {scripts}")
    if directives.get("frame-ancestors") != ["'none'"]:
        problems.append(f"frame-ancestors is {directives.get('frame-ancestors')}")
    if directives.get("object-src", directives.get("default-src")) not in (["'none'"], ["'self'"]):
        problems.append("object-src is not restricted")
    if response.headers.get("x-content-type-options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if response.headers.get("referrer-policy") not in STRICT_REFERRERS:
        problems.append(f"Referrer-Policy is {response.headers.get('referrer-policy')!r}")
    return problems


def test_security_headers_on_pages_errors_and_the_stream(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    media_id, media_hash = media(scanned)["Alpha"]
    page = html(client.get("/").text)
    static = page.select_one("link[rel=stylesheet]")
    assert static is not None
    token = csrf_token(client)
    stream = f"/media/{media_id}/stream"
    etag = client.get(stream).headers["etag"]
    answers: dict[str, httpx.Response] = {
        "library": client.get("/"),
        "watch": client.get(f"/media/{media_id}"),
        "tags": client.get("/tags"),
        "help": client.get("/help"),
        "history": client.get("/history"),
        "htmx grid": client.get("/", headers={"HX-Request": "true", "HX-Target": "library-grid"}),
        "api list": client.get("/api/media"),
        "404 page": client.get("/media/999999"),
        "404 api": client.get("/api/media/999999"),
        "404 htmx": client.get("/media/999999", headers={"HX-Request": "true"}),
        "404 no route": client.get("/no/such/page"),
        "400 page": client.get("/?sort=bogus"),
        "400 api": client.post(f"/api/ratings/{media_hash}", json={"value": 9}),
        "403 csrf": client.post(f"/ratings/{media_hash}", data={"value": "4"}),
        "405": client.delete("/help"),
        "413": client.post(
            f"/api/ratings/{media_hash}",
            content=b"x" * BIG,
            headers={"Content-Type": "application/json"},
        ),
        "415": client.post(f"/api/ratings/{media_hash}", content=b"value=4"),
        "stream 200": client.get(stream),
        "stream HEAD": client.head(stream),
        "stream 206": client.get(stream, headers={"Range": "bytes=0-99"}),
        "stream 304": client.get(stream, headers={"If-None-Match": etag}),
        "stream 416": client.get(stream, headers={"Range": "bytes=999999999-"}),
        "thumbnail": client.get(f"/media/{media_id}/thumbnail"),
        "static": client.get(str(static["href"])),
        "form 303": client.post(
            f"/ratings/{media_hash}",
            data={"_csrf_token": token, "value": "4"},
            follow_redirects=False,
        ),
    }
    for _ in range(12):
        limited = client.post(f"/api/ratings/{media_hash}", json={"value": 3})
    answers["429"] = limited
    ((path,),) = db_query(scanned, "SELECT path FROM media WHERE id = :i", i=media_id)
    Path(path).unlink()
    answers["stream 404"] = client.get(stream)

    expected = {"stream 206": 206, "stream 304": 304, "stream 416": 416, "form 303": 303}
    for name, response in answers.items():
        if name in expected:
            assert response.status_code == expected[name], name
    assert answers["429"].status_code == 429
    assert answers["stream 404"].status_code == 404
    problems = {name: p for name, r in answers.items() if (p := security_header_problems(r))}
    assert not problems, problems


def test_security_headers_on_the_login_redirect_and_the_401(scanned: Settings) -> None:
    with TestClient(create_app(replace(scanned, password="a household password"))) as client:
        answers = {
            "login page": client.get("/login"),
            "redirect to login": client.get("/", follow_redirects=False),
            "api 401": client.get("/api/media"),
        }
    assert answers["redirect to login"].status_code == 303
    assert answers["api 401"].status_code == 401
    problems = {name: p for name, r in answers.items() if (p := security_header_problems(r))}
    assert not problems, problems
