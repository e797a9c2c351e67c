"""The library and watch pages, errors, streaming, thumbnails and static assets, through the app."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from conftest import db_query, html, run_scan
from litestar import Litestar
from litestar.testing import TestClient

from lvs.app import create_app
from lvs.settings import Settings

LIBRARY = "/library"
"""The library grid (search, sort, filters, pages); ``/`` is the home screen's rows."""

CLIPS = {
    # title: (relative path, duration text, resolution text, codecs text)
    "Alpha": ("Alpha.mp4", "0:02", "320×180", "h264 / aac"),
    "Bravo": ("Bravo.webm", "0:02", "320×180", "vp9 / opus"),
    "Charlie": ("sub/Charlie.mp4", "0:03", "256×144", "h264 / aac"),
}


def media_ids(settings: Settings) -> dict[str, int]:
    """``{relative path: id}`` straight from the database."""
    return dict(db_query(settings, "SELECT rel_path, id FROM media"))


def text(node: Tag | None) -> str:
    assert node is not None
    return node.get_text(" ", strip=True)


def cards(page: BeautifulSoup | Tag) -> list[Tag]:
    return page.select("li.card")


@pytest.fixture
def paged(scanned: Settings) -> Iterator[TestClient[Litestar]]:
    """The same library, two videos per page."""
    with TestClient(create_app(replace(scanned, page_size=2))) as c:
        yield c


# -- library ----------------------------------------------------------------------------------


def test_library_lists_a_card_per_video(client: TestClient[Litestar], scanned: Settings) -> None:
    ids = media_ids(scanned)

    response = client.get(LIBRARY)

    assert response.status_code == 200
    page = html(response.text)
    assert text(page.select_one("p.count")).split("·")[0].strip() == "3 videos"
    by_title = {text(card.select_one(".title")): card for card in cards(page)}
    assert set(by_title) == set(CLIPS)
    for title, (rel_path, duration, _resolution, _codecs) in CLIPS.items():
        card = by_title[title]
        link = card.select_one("a.card-link")
        assert link is not None and link["href"] == f"/media/{ids[rel_path]}"
        img = card.select_one("img")
        assert img is not None and img.get("src")
        assert text(card.select_one(".duration")) == duration
        assert card.select_one(".resolution") is None  # picture first: the watch page says it


def test_card_thumbnails_are_real_images(client: TestClient[Litestar]) -> None:
    page = html(client.get(LIBRARY).text)
    sources = [card.select_one("img")["src"] for card in cards(page)]  # type: ignore[index]

    assert len(sources) == 3
    for src in sources:
        assert str(src).startswith("/media/")
        image = client.get(str(src))
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/jpeg"
        assert image.content[:3] == b"\xff\xd8\xff"


def test_library_pages_through_videos(paged: TestClient[Litestar], scanned: Settings) -> None:
    first = html(paged.get(LIBRARY).text)

    assert len(cards(first)) == 2
    assert first.select_one("a[rel~=prev]") is None
    next_link = first.select_one("a[rel~=next]")
    assert next_link is not None
    assert parse_qs(urlsplit(str(next_link["href"])).query)["page"] == ["2"]

    second_response = paged.get(str(next_link["href"]))
    assert second_response.status_code == 200
    second = html(second_response.text)
    assert len(cards(second)) == 1
    assert second.select_one("a[rel~=next]") is None
    prev_link = second.select_one("a[rel~=prev]")
    assert prev_link is not None

    seen = [card["id"] for card in cards(first) + cards(second)]
    assert sorted(seen) == sorted(f"card-{i}" for i in media_ids(scanned).values())
    back = html(paged.get(str(prev_link["href"])).text)
    assert [c["id"] for c in cards(back)] == [c["id"] for c in cards(first)]


@pytest.mark.parametrize("value", ["0", "abc", "-1"])
def test_a_bad_page_number_is_a_400_that_names_the_parameter(
    paged: TestClient[Litestar], value: str
) -> None:
    response = paged.get(LIBRARY, params={"page": value})

    assert response.status_code == 400
    page = html(response.text)
    assert text(page.select_one("h1")) == "Bad request"
    # The message must say what was wrong, not only echo the URL back.
    detail = text(page.select_one(".detail")).replace(f"{LIBRARY}?page={value}", "")
    assert "page" in detail, f"the 400 page does not name the parameter: {detail!r}"


def test_a_bad_page_number_as_json_names_the_parameter(paged: TestClient[Litestar]) -> None:
    response = paged.get(LIBRARY, params={"page": "abc"}, headers={"Accept": "application/json"})

    assert response.status_code == 400
    body = response.json()
    assert body["status_code"] == 400
    named = [error.get("field", error.get("key")) for error in body["errors"]]
    assert named == ["page"]


def htmx_headers(link: Tag) -> dict[str, str]:
    """The headers htmx sends when ``link`` (with hx-get and hx-target="#id") is clicked."""
    target = str(link["hx-target"])
    assert target.startswith("#")
    return {"HX-Request": "true", "HX-Target": target[1:], "HX-Current-URL": "http://x/"}


def test_htmx_gets_only_the_grid(paged: TestClient[Litestar]) -> None:
    next_link = html(paged.get(LIBRARY).text).select_one("a[rel~=next][hx-get]")
    assert next_link is not None

    response = paged.get(str(next_link["hx-get"]), headers=htmx_headers(next_link))

    assert response.status_code == 200
    fragment = html(response.text)
    assert fragment.find("html") is None and fragment.find("body") is None
    roots = [node for node in fragment.children if isinstance(node, Tag)]
    assert [(root.name, root.get("id")) for root in roots] == [("section", "library-grid")]
    assert next_link["hx-target"] == "#library-grid"
    assert len(cards(roots[0])) == 1
    # The address bar follows the page, so reload and back keep working.
    assert parse_qs(urlsplit(response.headers["hx-push-url"]).query)["page"] == ["2"]


def test_full_page_and_htmx_fragment_show_the_same_grid(paged: TestClient[Litestar]) -> None:
    next_link = html(paged.get(LIBRARY).text).select_one("a[rel~=next][hx-get]")
    assert next_link is not None
    url = str(next_link["hx-get"])

    full = html(paged.get(url).text).select_one("section#library-grid")
    fragment = html(paged.get(url, headers=htmx_headers(next_link)).text)

    assert full is not None
    assert fragment.find("body") is None
    assert [c["id"] for c in cards(full)] == [c["id"] for c in cards(fragment)]


# -- watch page -------------------------------------------------------------------------------


@pytest.mark.parametrize("title", sorted(CLIPS))
def test_watch_page_shows_the_player_and_the_facts(
    client: TestClient[Litestar], scanned: Settings, title: str
) -> None:
    rel_path, duration, resolution, codecs = CLIPS[title]
    media_id = media_ids(scanned)[rel_path]

    response = client.get(f"/media/{media_id}")

    assert response.status_code == 200
    page = html(response.text)
    video = page.select_one("video")
    assert video is not None
    assert video.has_attr("controls") and video.has_attr("playsinline")
    assert video["preload"] == "metadata"
    sources = video.select("source")
    assert [(s["src"], s.get("type")) for s in sources] == [
        (f"/media/{media_id}/stream", "video/webm" if rel_path.endswith(".webm") else "video/mp4")
    ], "a file the browser plays as it is: the original only"
    poster = client.get(str(video["poster"]))
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert text(page.select_one("h1")) == title
    assert text(page.select_one("dd.duration")) == duration
    assert text(page.select_one("dd.resolution")) == resolution
    assert text(page.select_one("dd.codecs")) == codecs


def test_clicking_through_from_a_card_reaches_its_watch_page(client: TestClient[Litestar]) -> None:
    card = cards(html(client.get("/").text))[0]
    title = text(card.select_one(".title"))

    watch = client.get(str(card.select_one("a.card-link")["href"]))  # type: ignore[index]

    assert watch.status_code == 200
    assert text(html(watch.text).select_one("h1")) == title


# -- errors -----------------------------------------------------------------------------------


def test_unknown_video_is_a_404_page(client: TestClient[Litestar]) -> None:
    response = client.get("/media/999999")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    page = html(response.text)
    assert text(page.select_one("h1")) == "Not found"
    assert page.select_one("a[href='/']") is not None  # a way back
    assert "Traceback" not in response.text


@pytest.mark.parametrize("path", ["/media/abc", "/media/1.5/stream", "/media/-1"])
def test_a_malformed_id_is_a_client_error_page(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)

    assert response.status_code in (400, 404)
    assert text(html(response.text).select_one("h1")) in ("Not found", "Bad request")
    assert "Traceback" not in response.text


def test_api_clients_get_json_errors(client: TestClient[Litestar]) -> None:
    response = client.get("/media/999999", headers={"Accept": "application/json"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status_code"] == 404


def test_a_deleted_video_is_gone_after_a_rescan(
    client: TestClient[Litestar], scanned: Settings, library: Path
) -> None:
    media_id = media_ids(scanned)["Alpha.mp4"]
    assert client.get(f"/media/{media_id}").status_code == 200
    (library / "Alpha.mp4").unlink()

    run_scan(scanned)

    assert client.get(f"/media/{media_id}").status_code == 404
    assert client.get(f"/media/{media_id}/stream").status_code == 404
    assert client.get(f"/media/{media_id}/thumbnail").status_code == 404
    grid = html(client.get(LIBRARY).text)
    titles = {text(card.select_one(".title")) for card in cards(grid)}
    assert titles == {"Bravo", "Charlie"}


# -- streaming and thumbnails -----------------------------------------------------------------


@pytest.fixture
def alpha(scanned: Settings, library: Path) -> tuple[int, bytes]:
    return media_ids(scanned)["Alpha.mp4"], (library / "Alpha.mp4").read_bytes()


def test_stream_serves_a_byte_range(client: TestClient[Litestar], alpha: tuple[int, bytes]) -> None:
    media_id, data = alpha

    response = client.get(f"/media/{media_id}/stream", headers={"Range": "bytes=0-99"})

    assert response.status_code == 206
    assert response.content == data[:100]
    assert response.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"


def test_stream_from_the_middle_to_the_end(
    client: TestClient[Litestar], alpha: tuple[int, bytes]
) -> None:
    media_id, data = alpha
    start = len(data) * 7 // 10

    response = client.get(f"/media/{media_id}/stream", headers={"Range": f"bytes={start}-"})

    assert response.status_code == 206
    assert response.content == data[start:]


def test_stream_head_gives_the_size(client: TestClient[Litestar], alpha: tuple[int, bytes]) -> None:
    media_id, data = alpha

    response = client.head(f"/media/{media_id}/stream")

    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(data))
    assert response.content == b""


def test_stream_range_past_the_end_is_416(
    client: TestClient[Litestar], alpha: tuple[int, bytes]
) -> None:
    media_id, data = alpha

    response = client.get(f"/media/{media_id}/stream", headers={"Range": "bytes=999999999-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


def test_video_is_not_gzipped_but_pages_are(
    client: TestClient[Litestar], alpha: tuple[int, bytes]
) -> None:
    media_id, data = alpha
    gzip_ok = {"Accept-Encoding": "gzip"}

    whole = client.get(f"/media/{media_id}/stream", headers=gzip_ok)
    part = client.get(f"/media/{media_id}/stream", headers={**gzip_ok, "Range": "bytes=0-4095"})
    page = client.get("/", headers=gzip_ok)

    assert "content-encoding" not in whole.headers
    assert whole.content == data
    assert "content-encoding" not in part.headers
    assert part.content == data[:4096]
    assert page.headers["content-encoding"] == "gzip"


# -- assets, headers, markup ------------------------------------------------------------------


def asset_urls(page: BeautifulSoup) -> list[str]:
    scripts = [str(s["src"]) for s in page.select("script[src]")]
    styles = [str(link["href"]) for link in page.select("link[rel~=stylesheet]")]
    return scripts + styles


def test_assets_are_versioned_and_cached_for_a_year(client: TestClient[Litestar]) -> None:
    page = html(client.get("/").text)
    stylesheet = page.select_one("link[rel~=stylesheet]")
    script = page.select_one("script[src]")
    assert stylesheet is not None and script is not None

    for url, kind in ((str(stylesheet["href"]), "text/css"), (str(script["src"]), "javascript")):
        parts = urlsplit(url)
        assert parts.path.startswith("/static/")
        assert parse_qs(parts.query).get("v", [""])[0], f"{url} carries no ?v= version"
        response = client.get(url)
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
        cache_control = response.headers["cache-control"]
        assert "immutable" in cache_control
        assert "max-age=31536000" in cache_control


def compressed(client: TestClient[Litestar], url: str, encoding: str) -> httpx.Response:
    """``url`` asked for with ``Accept-Encoding: encoding``, once its compressed copy exists
    (the first ask starts making it and is answered as it is)."""
    deadline = time.monotonic() + 20
    while True:
        response = client.get(url, headers={"accept-encoding": encoding})
        if response.headers.get("content-encoding") == encoding or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_text_assets_are_sent_compressed_to_browsers_that_take_it(
    client: TestClient[Litestar],
) -> None:
    page = html(client.get("/").text)
    for url in asset_urls(page):
        plain = client.get(url, headers={"accept-encoding": "identity"})
        assert plain.status_code == 200
        assert "content-encoding" not in plain.headers
        assert "accept-encoding" in plain.headers["vary"].lower()
        for encoding in ("br", "gzip"):
            response = compressed(client, url, encoding)
            assert response.status_code == 200
            assert response.headers.get("content-encoding") == encoding, url
            assert "accept-encoding" in response.headers["vary"].lower()
            assert response.headers["content-type"] == plain.headers["content-type"]
            assert response.headers["cache-control"] == plain.headers["cache-control"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert int(response.headers["content-length"]) < len(plain.content) / 2
            assert response.content == plain.content  # (httpx decodes it)

            head = client.head(url, headers={"accept-encoding": encoding})
            assert head.headers["content-encoding"] == encoding
            assert head.content == b""
            again = client.get(
                url,
                headers={"accept-encoding": encoding, "if-none-match": response.headers["etag"]},
            )
            assert again.status_code == 304

        refused = client.get(url, headers={"accept-encoding": "br;q=0, gzip;q=0"})
        assert "content-encoding" not in refused.headers
        assert refused.content == plain.content
        # A range is of the file's own bytes: answered by the static router, never compressed.
        part = client.get(url, headers={"accept-encoding": "br", "range": "bytes=0-9"})
        assert part.status_code in {200, 206}
        assert "content-encoding" not in part.headers
        assert plain.content.startswith(part.content)


@pytest.mark.parametrize("path", ["/", "/media/{id}", "/media/999999"])
def test_only_same_origin_static_assets_no_inline_scripts(
    client: TestClient[Litestar], scanned: Settings, path: str
) -> None:
    url = path.format(id=media_ids(scanned)["Alpha.mp4"])
    page = html(client.get(url).text)

    urls = asset_urls(page)
    assert urls, "no stylesheet or script found"
    for asset in urls:
        parts = urlsplit(asset)
        assert not parts.scheme and not parts.netloc, f"{asset} is not same-origin"
        assert parts.path.startswith("/static/")
    assert [s for s in page.select("script") if not s.get("src")] == []
    assert page.select("[style]") == []  # CSP style-src 'self' would block inline styles


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        tokens = part.split()
        if tokens:
            directives[tokens[0].lower()] = tokens[1:]
    return directives


@pytest.mark.parametrize("path", ["/", "/media/{id}", "/media/999999"])
def test_security_headers(client: TestClient[Litestar], scanned: Settings, path: str) -> None:
    response = client.get(path.format(id=media_ids(scanned)["Alpha.mp4"]))

    csp = csp_directives(response.headers["content-security-policy"])
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src is not None
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert csp["frame-ancestors"] in (["'none'"], ["'self'"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in (
        "same-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
        "strict-origin",
    )


def test_body_carries_the_csrf_token_for_htmx(client: TestClient[Litestar]) -> None:
    response = client.get("/")
    body = html(response.text).select_one("body")
    assert body is not None

    headers = json.loads(str(body["hx-headers"]))

    token = headers["x-csrftoken"]
    assert token
    assert token == client.cookies.get("csrftoken")


@pytest.mark.parametrize("path", ["/", "/media/{id}"])
def test_viewport_meta_lets_people_zoom(
    client: TestClient[Litestar], scanned: Settings, path: str
) -> None:
    page = html(client.get(path.format(id=media_ids(scanned)["Alpha.mp4"])).text)

    viewport = page.select_one("meta[name=viewport]")
    assert viewport is not None
    content = str(viewport["content"]).replace(" ", "").lower()
    assert "width=device-width" in content
    assert "user-scalable=no" not in content and "user-scalable=0" not in content
    assert "maximum-scale=1" not in content.replace("maximum-scale=1.5", "")


@pytest.fixture
def full_library(scanned: Settings, library: Path) -> Settings:
    """A library with more than a page of videos (copies of one clip)."""
    for i in range(30):
        shutil.copy(library / "Alpha.mp4", library / f"Copy_{i:02d}.mp4")
    run_scan(scanned)
    return scanned


def test_a_full_library_page_weighs_under_100_kb(full_library: Settings) -> None:
    with TestClient(create_app(full_library)) as c:
        response = c.get(LIBRARY)
        home = c.get("/")

    assert response.status_code == 200
    assert len(cards(html(response.text))) == full_library.page_size
    assert len(response.content) < 100_000
    assert home.status_code == 200 and html(home.text).select("section.row li.card")
    assert len(home.content) < 100_000
