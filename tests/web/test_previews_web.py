"""Scrub preview routes: 404 until made, then the VTT and sprite with caching keyed by the
file's fingerprint; and the watch page offers the index as a metadata track once it exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import html
from helpers import media_ids
from litestar import Litestar
from litestar.testing import TestClient

from lvs.library.sprites import make_previews
from lvs.settings import Settings


@pytest.fixture
def db_url() -> None:
    """SQLite only: these routes read one row by id, the same SQL on both databases."""
    return None


def preview_track(client: TestClient[Litestar], media_id: int) -> str | None:
    page = html(client.get(f"/media/{media_id}").text)
    track = page.select_one("video#player track[kind=metadata][label=previews]")
    return None if track is None else str(track["src"])


def test_previews_appear_once_made_and_are_cached_by_fingerprint(
    scanned: Settings, client: TestClient[Litestar]
) -> None:
    media_id, media_hash = media_ids(scanned)["Alpha"]
    vtt_url, jpg_url = f"/media/{media_id}/previews.vtt", f"/media/{media_id}/previews.jpg"

    assert client.get(vtt_url).status_code == 404
    assert client.get(jpg_url).status_code == 404
    assert preview_track(client, media_id) is None  # nothing offered that would 404

    path = Path(scanned.library[0] / "Alpha.mp4")
    make_previews(path, scanned.previews_dir, media_hash, None)

    src = preview_track(client, media_id)
    assert src == f"{vtt_url}?v={media_hash}"
    vtt = client.get(src)
    assert vtt.status_code == 200
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert vtt.text.startswith("WEBVTT")
    # Every cue names the sprite pinned to this fingerprint, so a changed file is a new URL.
    targets = [line for line in vtt.text.splitlines() if "#xywh=" in line]
    assert len(targets) == 20
    assert all(t.startswith(f"previews.jpg?v={media_hash}#xywh=") for t in targets)

    sprite = client.get(f"{jpg_url}?v={media_hash}")
    assert sprite.status_code == 200
    assert sprite.headers["content-type"] == "image/jpeg"
    assert sprite.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert sprite.content[:3] == b"\xff\xd8\xff"
    # An old or missing fingerprint in the URL: cached briefly only.
    assert client.get(jpg_url).headers["cache-control"] == "private, max-age=60"
    assert client.get(f"{vtt_url}?v=0000").headers["cache-control"] == "private, max-age=60"


@pytest.mark.parametrize("path", ["/media/999999/previews.vtt", "/media/0/previews.jpg"])
def test_unknown_videos_have_no_previews(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in response.text


def test_cards_offer_previews_once_made(scanned: Settings, client: TestClient[Litestar]) -> None:
    media_id, media_hash = media_ids(scanned)["Alpha"]

    def card_link() -> dict[str, str]:
        page = html(client.get("/library").text)
        link = page.select_one(f"#card-{media_id} a.card-link")
        assert link is not None
        return {k: str(v) for k, v in link.attrs.items()}

    assert "data-previews" not in card_link()  # nothing to fetch yet: no attribute
    make_previews(scanned.library[0] / "Alpha.mp4", scanned.previews_dir, media_hash, None)
    assert card_link()["data-previews"] == f"/media/{media_id}/previews.vtt?v={media_hash}"
