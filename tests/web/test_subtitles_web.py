"""Sidecar subtitles through the app: files next to a clip become ``<track>`` elements on its
watch page, and the subtitles route serves them as WebVTT (SRT converted), by index only."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag
from conftest import db_query, html
from litestar import Litestar
from litestar.testing import TestClient

from lvs.settings import Settings

SRT = (
    "1\r\n"
    "00:00:00,500 --> 00:00:01,250\r\n"
    "Hello <i>there</i>\r\n"
    "\r\n"
    "2\r\n"
    "00:00:01,300 --> 00:00:01,900 X1:10 X2:20 Y1:5 Y2:9\r\n"
    "{\\an8}1 < 2 & <font color=red>red</font>\r\n"
    "\r\n"
)
VTT = "WEBVTT\n\n00:00.500 --> 00:01.500\nBonjour\n"
SRT_FR = "1\n00:00:00,100 --> 00:00:01,000\nCafé crème\n\n"


@pytest.fixture
def library(library: Path) -> Path:
    """Sidecars for Alpha (plain, English, French), one for Charlie; none for Bravo; and files
    that look alike but are not Alpha's."""
    (library / "Alpha.srt").write_text(SRT, encoding="utf-8", newline="")
    (library / "Alpha.en.vtt").write_text(VTT, encoding="utf-8")
    (library / "Alpha.fr.srt").write_bytes(SRT_FR.encode("cp1252"))  # not UTF-8
    (library / "Alpha 2.srt").write_text(SRT, encoding="utf-8")
    (library / "Alpha.part2.srt").write_text(SRT, encoding="utf-8")
    (library / "sub" / "Charlie.de.srt").write_text(SRT_FR, encoding="utf-8")
    return library


@pytest.fixture
def ids(scanned: Settings) -> dict[str, int]:
    return {str(t): int(i) for t, i in db_query(scanned, "SELECT title, id FROM media")}


def watch(client: TestClient[Litestar], media_id: int) -> BeautifulSoup:
    response = client.get(f"/media/{media_id}")
    assert response.status_code == 200
    page: BeautifulSoup = html(response.text)
    return page


def tracks(page: BeautifulSoup) -> list[Tag]:
    return page.select("video#player > track")


def test_sidecars_become_tracks(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    mid = ids["Alpha"]

    found = tracks(watch(client, mid))

    assert [(t["kind"], t["src"], t["label"], t.get("srclang")) for t in found] == [
        ("subtitles", f"/media/{mid}/subtitles/0", "Subtitles", None),
        ("subtitles", f"/media/{mid}/subtitles/1", "English", "en"),
        ("subtitles", f"/media/{mid}/subtitles/2", "French", "fr"),
    ]
    assert [t.has_attr("default") for t in found] == [True, False, False]
    charlie = tracks(watch(client, ids["Charlie"]))
    assert [(t["src"], t["label"], t["srclang"]) for t in charlie] == [
        (f"/media/{ids['Charlie']}/subtitles/0", "German", "de")
    ]
    assert tracks(watch(client, ids["Bravo"])) == []


def test_srt_is_served_as_webvtt(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    src = str(tracks(watch(client, ids["Alpha"]))[0]["src"])

    response = client.get(src)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/vtt; charset=utf-8"
    assert response.text == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:01.250\n"
        "Hello <i>there</i>\n\n"
        "00:00:01.300 --> 00:00:01.900\n"
        "1 &lt; 2 &amp; red\n\n"
    )


def test_vtt_is_served_as_it_is(client: TestClient[Litestar], ids: dict[str, int]) -> None:
    response = client.get(str(tracks(watch(client, ids["Alpha"]))[1]["src"]))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/vtt; charset=utf-8"
    assert response.text == VTT


def test_a_non_utf8_srt_is_decoded_and_served_as_utf8(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    response = client.get(str(tracks(watch(client, ids["Alpha"]))[2]["src"]))

    assert response.status_code == 200
    assert response.content.decode("utf-8") == (
        "WEBVTT\n\n00:00:00.100 --> 00:00:01.000\nCafé crème\n\n"
    )


@pytest.mark.parametrize("index", ["3", "99", "-1"])
def test_an_unknown_index_is_404(
    client: TestClient[Litestar], ids: dict[str, int], index: str
) -> None:
    response = client.get(f"/media/{ids['Alpha']}/subtitles/{index}")

    assert response.status_code == 404


def test_a_video_without_sidecars_has_no_subtitles(
    client: TestClient[Litestar], ids: dict[str, int]
) -> None:
    assert client.get(f"/media/{ids['Bravo']}/subtitles/0").status_code == 404
    assert client.get("/media/999999/subtitles/0").status_code == 404


@pytest.mark.parametrize("index", ["abc", "..%2F..%2Fetc%2Fpasswd", "0.5"])
def test_only_an_index_picks_a_file(
    client: TestClient[Litestar], ids: dict[str, int], index: str
) -> None:
    response = client.get(f"/media/{ids['Alpha']}/subtitles/{index}")

    assert response.status_code in (400, 404)
    assert "WEBVTT" not in response.text


def test_a_sidecar_added_or_removed_later_is_seen_without_a_rescan(
    client: TestClient[Litestar], library: Path, ids: dict[str, int]
) -> None:
    mid = ids["Bravo"]
    (library / "Bravo.es.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nHola\n")

    found = tracks(watch(client, mid))

    assert [(t["label"], t["srclang"]) for t in found] == [("Spanish", "es")]
    assert "Hola" in client.get(str(found[0]["src"])).text

    (library / "Bravo.es.vtt").unlink()
    assert client.get(str(found[0]["src"])).status_code == 404
    assert tracks(watch(client, mid)) == []
