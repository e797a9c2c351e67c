"""Thumbnails in two widths for ``srcset``: 320 px (the original name) and ``?size=640``, made at
scan time, or on first request for a video scanned before there were two sizes."""

from __future__ import annotations

import io

import pytest
from bs4 import BeautifulSoup
from conftest import db_query
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image

from lvs.library.thumbnails import thumbnail_path
from lvs.settings import Settings


@pytest.fixture
def db_url() -> None:
    """Files and markup only: SQLite is enough."""
    return None


def alpha(settings: Settings) -> tuple[int, str]:
    ((media_id, media_hash),) = db_query(
        settings, "SELECT id, media_hash FROM media WHERE title = 'Alpha'"
    )
    return int(media_id), str(media_hash)


def image_size(body: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(body)) as img:
        assert img.format == "JPEG"
        return img.size


def test_cards_offer_both_widths_in_srcset(client: TestClient[Litestar], scanned: Settings) -> None:
    media_id, media_hash = alpha(scanned)
    page = BeautifulSoup(client.get(client.app.route_reverse("library")).text, "html.parser")
    img = page.select_one(f"li.card#card-{media_id} img.thumb")

    assert img is not None
    candidates = [c.strip().split() for c in str(img["srcset"]).split(",")]
    assert [w for _, w in candidates] == ["320w", "640w"]
    assert img["sizes"] and (img["width"], img["height"]) == ("320", "180")
    for url, _ in candidates:
        response = client.get(url)
        assert response.status_code == 200, url
        assert media_hash in url  # versioned by the file's fingerprint: cached for a year...
        cache_control = {d.strip() for d in response.headers["cache-control"].split(",")}
        assert {"immutable", "private"} <= cache_control  # ...by the browser, not a shared cache


def test_640_is_made_at_scan_time_and_served(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    media_id, media_hash = alpha(scanned)  # a 320x180 clip: never scaled up
    assert thumbnail_path(scanned.thumbs_dir, media_hash, 640).is_file()

    small = client.get(f"/media/{media_id}/thumbnail?v={media_hash}")
    large = client.get(f"/media/{media_id}/thumbnail?size=640&v={media_hash}")

    assert image_size(small.content) == (320, 180)
    assert image_size(large.content) == (320, 180)


def test_an_older_row_gets_its_640_on_first_request(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    media_id, media_hash = alpha(scanned)
    large = thumbnail_path(scanned.thumbs_dir, media_hash, 640)
    large.unlink()  # scanned before there were two sizes

    response = client.get(f"/media/{media_id}/thumbnail?size=640")

    assert response.status_code == 200
    assert large.is_file()
    assert response.content == large.read_bytes()
    assert "immutable" in response.headers["cache-control"]


def test_when_the_640_cannot_be_made_the_320_stands_in_briefly(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    media_id, media_hash = alpha(scanned)
    thumbnail_path(scanned.thumbs_dir, media_hash, 640).unlink()
    ((path,),) = db_query(scanned, "SELECT path FROM media WHERE id = :id", id=media_id)
    open(path, "wb").close()  # the video became unreadable since

    response = client.get(f"/media/{media_id}/thumbnail?size=640")

    assert response.status_code == 200
    assert response.content == thumbnail_path(scanned.thumbs_dir, media_hash).read_bytes()
    assert "immutable" not in response.headers["cache-control"]


@pytest.mark.parametrize("size", ["100", "641", "abc", "640.0", "-640", "６４０"])
def test_other_sizes_are_a_400_naming_the_parameter(
    client: TestClient[Litestar], scanned: Settings, size: str
) -> None:
    media_id, _ = alpha(scanned)

    response = client.get(f"/media/{media_id}/thumbnail", params={"size": size})

    assert response.status_code == 400
    assert "size" in response.text
