"""Real Debian nginx, configured by deploy/nginx/lvs.conf, in front of a live lvs with
LVS_ACCEL_REDIRECT, LVS_PASSWORD and LVS_TRUSTED_PROXIES set: nginx sends the bytes (ranges,
416, 304, If-Range, HEAD), nothing is served without a login, no request path reaches nginx's
internal location, odd file names arrive intact, and lvs sees the real client's address."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx
import pytest
from conftest import db_query, require_service, run_scan
from helpers import log_in
from live_server import LiveServer, free_port, serve_options

from lvs.app import create_app
from lvs.db.config import migrate
from lvs.library.demo import make_clip
from lvs.library.samples import make_sample
from lvs.settings import Settings
from lvs.web.accel import accel_uri

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SITE = DEPLOY / "nginx" / "lvs.conf"
PREFIX = "/_lvs_media/"
PASSWORD = "a household secret"
RATINGS_PER_MINUTE = 3

#: Names nginx would split, decode twice or read as a way out, if lvs encoded them carelessly.
ODD_NAMES = [
    "with space & 100% ?x=1#frag.mp4",
    "ünïcødé ✓ 電影.mp4",
    "up%2F..%2F..%2F..%2Fetc%2Fpasswd.mp4",  # a literal name: must not be decoded twice
    "%2e%2e%2f%41 %00.mp4",
    "dots.. ...mp4",
]  # (names starting with a dot are hidden: the scanner skips them)


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).is_file():
        require_service("nginx", "install Debian's nginx (apt-get install nginx)")
    return found


def render_site(lvs_port: int, port: int) -> str:
    """deploy/nginx/lvs.conf, listening on ``port`` and proxying to ``lvs_port``."""
    text = SITE.read_text(encoding="utf-8")
    for old, new in (
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{lvs_port};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("listen [::]:80;", ""),
    ):
        assert text.count(old) == 1, f"deploy/nginx/lvs.conf no longer has {old!r} once"
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx in the foreground as the current user, its whole prefix in a temp folder, with
    the deploy site inside an http block like Debian's nginx.conf."""

    def __init__(self, lvs_port: int) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lvs-test-nginx-"))
        self.lvs_port = lvs_port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        d = self.dir
        mime = "/etc/nginx/mime.types"
        types = f"include {mime};" if Path(mime).is_file() else "types { video/mp4 mp4; }"
        temps = "\n".join(
            f"    {name}_temp_path {d / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""\
daemon off;
worker_processes 1;
{"user root;" if os.geteuid() == 0 else ""}
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log {d}/access.log;
{temps}
{render_site(self.lvs_port, self.port)}
}}
"""

    def __enter__(self) -> Nginx:
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        cmd = [nginx_binary(), "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "e.log")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited: {err}{self.error_log()}")
            try:
                with httpx.Client(timeout=2) as c:
                    c.get(f"{self.url}/static/none")
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


# -- the set-up: one library, one lvs, one nginx for the module ---------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    nginx_binary()
    root = tmp_path_factory.mktemp("nginx-proxy")
    lib = root / "library"
    lib.mkdir()
    make_clip(lib / "Plain.mp4", seconds=2.0, hue=10)
    for index, name in enumerate(ODD_NAMES):  # distinct contents: distinct fingerprints
        make_clip(lib / name, seconds=1.0, width=64, height=48, hue=40 * (index + 1))
    make_sample(lib / "Remux.mkv", "h264_ac3_mkv", seconds=4.0)
    settings = Settings(
        library=(lib,),
        data_dir=root / "data",
        secret_key="nginx-test-secret-key-with-32-characters-or-more",
        password=PASSWORD,
        trusted_proxies=("127.0.0.1/32",),
        accel_redirect=PREFIX,
        rate_limit=f"{RATINGS_PER_MINUTE}/minute",
    )
    settings.validate()
    migrate(settings)
    run_scan(settings, thumbnails=False)
    rows = db_query(settings, "SELECT id, path, media_hash FROM media")
    media = {Path(str(path)).name: (int(i), str(path), str(h)) for i, path, h in rows}
    assert set(media) == {"Plain.mp4", "Remux.mkv", *ODD_NAMES}
    with (
        LiveServer(create_app(settings), serve_options(root / "opts")) as lvs,
        Nginx(lvs.port) as nginx,
    ):
        yield {"lvs": lvs, "nginx": nginx, "media": media, "settings": settings}


@contextmanager
def client(
    stack: dict[str, Any], source: str = "127.0.0.1", *, login: bool = True, via: str = "nginx"
) -> Iterator[httpx.Client]:
    """A browser at ``source`` (a loopback address of its own) talking to nginx (or lvs)."""
    with httpx.Client(
        base_url=stack[via].url,
        transport=httpx.HTTPTransport(local_address=source),
        timeout=30,
    ) as c:
        if login:  # (at most 5 a minute from one address: lvs limits login attempts)
            assert log_in(c, PASSWORD).status_code == 303
        yield c


@pytest.fixture(scope="module")
def web(stack: dict[str, Any]) -> Iterator[httpx.Client]:
    with client(stack) as c:
        yield c


@pytest.fixture(scope="module")
def direct(stack: dict[str, Any]) -> Iterator[httpx.Client]:
    """Logged in to lvs itself, from the proxy's (trusted) address: sees what nginx sees."""
    with client(stack, via="lvs") as c:
        yield c


def plain(stack: dict[str, Any]) -> tuple[str, bytes, os.stat_result]:
    media_id, path, _ = stack["media"]["Plain.mp4"]
    return f"/media/{media_id}/stream", Path(path).read_bytes(), os.stat(path)


def nginx_etag(st: os.stat_result) -> str:
    """The ETag nginx's static module gives a file (lvs's own differs): proof nginx sent it."""
    return f'"{int(st.st_mtime):x}-{st.st_size:x}"'


def raw_get(port: int, target: str, cookie: str = "") -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client-side normalisation of dots or escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        if cookie:
            conn.putheader("Cookie", cookie)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def cookie_header(c: httpx.Client) -> str:
    return "; ".join(f"{k}={v}" for k, v in c.cookies.items())


# -- bytes, ranges, conditional requests, HEAD: all from nginx ----------------------------------


def test_a_full_get_is_sent_by_nginx_with_the_right_type(
    stack: dict[str, Any], web: httpx.Client
) -> None:
    url, data, st = plain(stack)
    response = web.get(url)

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["etag"] == nginx_etag(st)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "private, max-age=0, must-revalidate"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["server"].startswith("nginx")
    assert "x-accel-redirect" not in response.headers


def test_head_answers_the_headers_only(stack: dict[str, Any], web: httpx.Client) -> None:
    url, data, st = plain(stack)
    response = web.head(url)

    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(data)
    assert response.headers["etag"] == nginx_etag(st)


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [("bytes=100-199", 100, 199), ("bytes=1000-", 1000, None), ("bytes=-500", -500, None)],
)
def test_single_open_and_suffix_ranges_are_exact(
    stack: dict[str, Any], web: httpx.Client, range_header: str, first: int, last: int | None
) -> None:
    url, data, _ = plain(stack)
    response = web.get(url, headers={"Range": range_header})

    expected = data[first : None if last is None else last + 1]
    start = first % len(data)
    assert response.status_code == 206
    assert response.content == expected
    assert response.headers["content-range"] == (
        f"bytes {start}-{start + len(expected) - 1}/{len(data)}"
    )


def test_several_ranges_come_as_multipart(stack: dict[str, Any], web: httpx.Client) -> None:
    url, data, _ = plain(stack)
    response = web.get(url, headers={"Range": "bytes=0-9,500-519"})

    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert f"Content-Range: bytes 0-9/{len(data)}".encode() in response.content
    assert f"Content-Range: bytes 500-519/{len(data)}".encode() in response.content
    assert data[0:10] in response.content and data[500:520] in response.content


def test_an_unsatisfiable_range_is_416(stack: dict[str, Any], web: httpx.Client) -> None:
    url, data, _ = plain(stack)
    response = web.get(url, headers={"Range": f"bytes={len(data) + 10}-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


def test_conditional_requests_and_if_range(stack: dict[str, Any], web: httpx.Client) -> None:
    url, data, st = plain(stack)
    etag = nginx_etag(st)
    last_modified = formatdate(int(st.st_mtime), usegmt=True)

    assert web.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert web.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert web.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    fresh = web.get(url, headers={"Range": "bytes=0-99", "If-Range": etag})
    assert (fresh.status_code, fresh.content) == (206, data[:100])
    stale = web.get(url, headers={"Range": "bytes=0-99", "If-Range": '"1-2"'})
    assert (stale.status_code, stale.content) == (200, data)
    old_date = web.get(
        url, headers={"Range": "bytes=0-99", "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert (old_date.status_code, len(old_date.content)) == (200, len(data))


# -- names: encoded once, decoded once, never a way out ---------------------------------------


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_names_arrive_intact(stack: dict[str, Any], web: httpx.Client, name: str) -> None:
    media_id, path, _ = stack["media"][name]
    response = web.get(f"/media/{media_id}/stream", headers={"Range": "bytes=0-"})

    assert response.status_code == 206, stack["nginx"].error_log()[-2000:]
    assert response.content == Path(path).read_bytes()
    assert response.headers["etag"] == nginx_etag(os.stat(path))


@pytest.mark.parametrize("name", ODD_NAMES)
def test_the_redirect_names_the_file_in_plain_ascii(
    stack: dict[str, Any], direct: httpx.Client, name: str
) -> None:
    """What lvs tells nginx, read from lvs directly."""
    media_id, path, _ = stack["media"][name]
    response = direct.get(f"/media/{media_id}/stream")

    target = response.headers["x-accel-redirect"]
    assert response.status_code == 200 and response.content == b""
    assert target == accel_uri(PREFIX, path)
    assert target.startswith(PREFIX) and target.isascii()
    assert not set(target) & set(" ?#\\\x00")
    assert unquote_to_bytes(target.removeprefix(PREFIX.rstrip("/"))) == os.fsencode(path)


def test_the_redirect_target_is_the_absolute_normalised_path() -> None:
    assert accel_uri("/x/", "/srv/a b/../c%.mp4") == "/x/srv/c%25.mp4"
    assert accel_uri("/x/", "/srv/q?#.mp4") == "/x/srv/q%3F%23.mp4"
    assert accel_uri("/x/", "/srv/é.mp4") == "/x/srv/%C3%A9.mp4"


# -- login, and the internal location out of reach ----------------------------------------------


def test_nothing_is_served_without_a_login(stack: dict[str, Any]) -> None:
    url, data, _ = plain(stack)
    with client(stack, login=False) as anonymous:
        for response in (
            anonymous.get(url),
            anonymous.get(url, headers={"Range": "bytes=0-99"}),
            anonymous.head(url),
        ):
            assert response.status_code in {303, 401}
            assert data[:100] not in response.content
            assert "x-accel-redirect" not in response.headers
        media_id, _, _ = stack["media"]["Remux.mkv"]
        segment = anonymous.get(f"/media/{media_id}/hls/remux/0.ts")
        assert segment.status_code in {303, 401}


def test_the_internal_location_is_not_reachable_from_outside(
    stack: dict[str, Any], web: httpx.Client
) -> None:
    _, path, _ = stack["media"]["Plain.mp4"]
    port, cookie = stack["nginx"].port, cookie_header(web)
    for target in (
        accel_uri(PREFIX, path),
        f"{PREFIX}etc/passwd",
        "/%5Flvs_media/etc/passwd",
        "/media/1/../../_lvs_media/etc/passwd",
        "/_lvs_media/../_lvs_media/etc/passwd",
    ):
        status, body = raw_get(port, target, cookie)
        assert status == 404, target
        assert b"root:" not in body


def test_no_request_path_reaches_a_file(stack: dict[str, Any], web: httpx.Client) -> None:
    media_id, _, _ = stack["media"]["Plain.mp4"]
    port, cookie = stack["nginx"].port, cookie_header(web)
    # Dots (also encoded) that climb above the root are nginx's own 400; the rest reach lvs,
    # whose routes take ids, never paths: 404.
    for target, expected in (
        (f"/media/{media_id}/stream/../../../../etc/passwd", 400),
        (f"/media/{media_id}/stream/..%2F..%2F..%2F..%2Fetc%2Fpasswd", 400),
        (f"/media/{media_id}/stream/../../etc/passwd", 404),
        (f"/media/{media_id}/stream/..%2F..%2Fetc%2Fpasswd", 404),
        (f"/media/{media_id}/stream%2F..%2F..%2Fetc%2Fpasswd", 404),
        (f"/media/{media_id}/stream/%2Fetc%2Fpasswd", 404),
        (f"/media/{media_id}/stream/%2e%2e/%2e%2e/etc/passwd", 404),
        ("/media/..%2Fetc%2Fpasswd/stream", 404),
        ("/static/css/..%2F..%2Fetc%2Fpasswd", 404),
    ):
        status, body = raw_get(port, target, cookie)
        assert status == expected, target
        assert b"root:" not in body
    assert "unsafe URI" not in stack["nginx"].error_log()  # lvs never sent one


# -- converted video: segments go the same way --------------------------------------------------


def test_hls_segments_are_sent_by_nginx(stack: dict[str, Any], web: httpx.Client) -> None:
    media_id, _, _ = stack["media"]["Remux.mkv"]
    playlist = web.get(f"/media/{media_id}/hls/index.m3u8")
    assert playlist.status_code == 200
    first = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))

    whole = web.get(first)
    assert whole.status_code == 200, stack["nginx"].error_log()[-2000:]
    assert whole.headers["content-type"] == "video/mp2t"
    assert whole.headers["cache-control"] == "private, max-age=86400"
    assert whole.content[:1] == b"G"  # the MPEG-TS sync byte
    made = list(stack["settings"].conversions_dir.rglob("*.ts"))
    assert len(made) >= 1
    assert whole.headers["etag"] in {nginx_etag(p.stat()) for p in made}
    part = web.get(first, headers={"Range": "bytes=188-375"})
    assert (part.status_code, part.content) == (206, whole.content[188:376])


# -- the client lvs sees: the real one, through X-Forwarded-For --------------------------------


def test_lvs_keys_rate_limits_by_the_real_client_address(stack: dict[str, Any]) -> None:
    _, _, media_hash = stack["media"]["Plain.mp4"]
    url = f"/api/ratings/{media_hash}"

    def rate(c: httpx.Client, **headers: str) -> int:
        return c.post(url, json={"value": 4}, headers=headers).status_code

    with client(stack, "127.0.0.2") as ann, client(stack, "127.0.0.3") as bob:
        assert [rate(ann) for _ in range(RATINGS_PER_MINUTE)] == [200] * RATINGS_PER_MINUTE
        assert rate(ann) == 429
        # Naming someone else does not help: nginx appends the real peer, lvs believes that.
        assert rate(ann, **{"X-Forwarded-For": "127.0.0.9"}) == 429
        # Another address has its own allowance (without X-Forwarded-For, both would be nginx).
        assert rate(bob) == 200


# -- Caddy: deploy/caddy/Caddyfile, lvs sending the bytes (CI installs Debian's caddy) -----------


@pytest.fixture(scope="module")
def caddy(stack: dict[str, Any]) -> Iterator[str]:
    binary = shutil.which("caddy")
    if binary is None:
        require_service("caddy", "caddy not installed (apt-get install caddy)")
    root = Path(tempfile.mkdtemp(prefix="lvs-test-caddy-"))
    settings = replace(stack["settings"], accel_redirect="")  # the Caddyfile's set-up
    lvs = LiveServer(create_app(settings), serve_options(root / "opts"))
    port = free_port()
    text = (DEPLOY / "caddy" / "Caddyfile").read_text(encoding="utf-8")
    for old, new in (
        ("videos.example.org {", f"{{\n\tadmin off\n}}\n\nhttp://127.0.0.1:{port} {{"),
        ("reverse_proxy 127.0.0.1:8000 {", f"reverse_proxy 127.0.0.1:{lvs.port} {{"),
    ):
        assert text.count(old) == 1, f"deploy/caddy/Caddyfile no longer has {old!r} once"
        text = text.replace(old, new)
    conf = root / "Caddyfile"
    conf.write_text(text)
    env = {**os.environ, "XDG_DATA_HOME": str(root), "XDG_CONFIG_HOME": str(root)}
    cmd = [binary, "run", "--adapter", "caddyfile", "--config", str(conf)]
    with lvs:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                try:
                    httpx.get(f"{url}/login", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "caddy did not start"
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(root, ignore_errors=True)


def test_behind_caddy_lvs_streams_every_name_itself(stack: dict[str, Any], caddy: str) -> None:
    with client(stack, "127.0.0.4", login=False) as c:
        c.base_url = httpx.URL(caddy)
        assert log_in(c, PASSWORD).status_code == 303
        for name in ("Plain.mp4", *ODD_NAMES):
            media_id, path, _ = stack["media"][name]
            data = Path(path).read_bytes()
            url = f"/media/{media_id}/stream"
            whole = c.get(url)
            assert (whole.status_code, whole.content) == (200, data), name
            assert whole.headers["content-type"] == "video/mp4"
            assert "x-accel-redirect" not in whole.headers
            part = c.get(url, headers={"Range": "bytes=10-19"})
            assert (part.status_code, part.content) == (206, data[10:20])
            assert c.get(url, headers={"If-None-Match": whole.headers["etag"]}).status_code == 304
            head = c.head(url)
            assert (head.status_code, head.content) == (200, b"")
    with client(stack, "127.0.0.4", login=False) as anonymous:
        anonymous.base_url = httpx.URL(caddy)
        assert anonymous.get("/media/1/stream").status_code in {303, 401}
