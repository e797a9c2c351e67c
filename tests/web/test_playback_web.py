"""Converted playback through the app: the watch page's sources, the HLS playlist and its
segments, the limit on conversions at once, and look-ahead that stops when nobody watches.

A small library of household kinds (one plays as it is, one is repackaged, two are converted)
is scanned into each database; pages are parsed, playlists read line by line, and segments
opened with PyAV, as a browser would.
"""

from __future__ import annotations

import asyncio
import fcntl
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import pytest
from bs4 import Tag
from conftest import db_execute, db_query, html, run_scan
from helpers import media_ids
from litestar import Litestar
from litestar.testing import TestClient
from litestar.testing import transport as litestar_transport

import lvs.playback.converter as converter_module
from lvs.app import create_app
from lvs.library.samples import make_sample
from lvs.playback.converter import Converter, MemorySlots, Source
from lvs.settings import Settings

HLS = "application/vnd.apple.mpegurl"
ANN, BOB = "198.51.100.1", "198.51.100.2"  # two households' addresses

#: title -> (sample kind, file name, seconds)
CLIPS = {
    "Direct": ("h264_aac_mp4", "Direct.mp4", 4.0),
    "Remux": ("h264_ac3_mkv", "Remux.mkv", 6.0),
    "Transcode": ("mpeg2_mp2_ts", "Transcode.ts", 6.0),
    "Long": ("hevc_hev1_mp4", "Long.mp4", 40.0),  # seeks and look-ahead need room
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("playback-clips")
    for kind, name, seconds in CLIPS.values():
        make_sample(root / name, kind, seconds=seconds)
    return root


@pytest.fixture
def library(tmp_path: Path, clips: Path) -> Path:
    dest = tmp_path / "library"
    shutil.copytree(clips, dest)
    return dest


@pytest.fixture
def scanned(settings: Settings) -> Settings:
    run_scan(settings, thumbnails=False)
    return settings


class PeerTransport(litestar_transport.TestClientTransport):  # type: ignore[type-arg]
    """Litestar's test transport, but the socket peer is whatever ``client.peer`` says.
    (As in tests/web/test_ratings.py: a candidate for tests/helpers.py.)"""

    def parse_request(self, request: Any) -> dict[str, Any]:
        scope = super().parse_request(request)
        scope["client"] = (self.client.peer, 50000)
        return scope


class PeerClient(TestClient):  # type: ignore[type-arg]
    peer = ANN

    def __init__(self, app: Litestar) -> None:
        super().__init__(app)
        self._transport = PeerTransport(client=self)

    def as_peer(self, peer: str) -> PeerClient:
        self.peer = peer
        return self


@pytest.fixture
def web(scanned: Settings) -> Iterator[PeerClient]:
    """The app allowing one conversion at a time (LVS_MAX_CONVERSIONS=1)."""
    with PeerClient(create_app(replace(scanned, max_conversions=1))) as c:
        yield c


@pytest.fixture
def ids(scanned: Settings) -> dict[str, int]:
    found = {title: i for title, (i, _hash) in media_ids(scanned).items()}
    assert sorted(found) == sorted(CLIPS)
    return found


def converter(client: TestClient[Litestar]) -> Converter:
    conv: Converter = client.app.state.converter
    return conv


def settle(conv: Converter, deadline: float = 90.0) -> None:
    """Wait until the converter has nothing running or queued (segments it has started are
    finished, whoever still wants them)."""
    end = time.monotonic() + deadline
    while conv._running or conv._queue:
        assert time.monotonic() < end, "the converter never went idle"
        time.sleep(0.05)


def made(settings: Settings, media_hash: str) -> list[int]:
    """Indexes of the segments on disk for a video, any variant."""
    folder = settings.conversions_dir
    return sorted(int(p.stem) for p in folder.rglob(f"*/{media_hash}/*/*.ts"))


def sources(page: Any) -> list[tuple[str, str | None, str | None]]:
    """``(src, type, data-kind)`` of each ``<source>`` of the player, in order."""
    video = page.select_one("video#player")
    assert isinstance(video, Tag)
    return [(str(s["src"]), s.get("type"), s.get("data-kind")) for s in video.select("source")]


def kinds(found: list[tuple[str, str | None, str | None]]) -> list[str | None]:
    return [kind for _, _, kind in found]


def parse_playlist(text: str) -> list[tuple[float, str]]:
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in lines
    assert lines[-1] == "#EXT-X-ENDLIST"
    entries = []
    for tag, uri in pairwise(lines):
        if tag.startswith("#EXTINF:"):
            entries.append((float(tag[len("#EXTINF:") :].rstrip(",")), uri))
    return entries


def duration_of(settings: Settings, media_id: int) -> float:
    [(duration,)] = db_query(settings, "SELECT duration FROM media WHERE id = :i", i=media_id)
    return float(duration)


# -- the watch page ----------------------------------------------------------------------------


def test_a_direct_video_offers_only_its_original(web: PeerClient, ids: dict[str, int]) -> None:
    page = html(web.get(f"/media/{ids['Direct']}").text)

    assert sources(page) == [(f"/media/{ids['Direct']}/stream", "video/mp4", "direct")]
    video = page.select_one("video#player")
    assert video is not None
    assert video["aria-label"] == "Direct"
    assert not video.has_attr("data-hlsjs")  # no player script where none is needed
    playback = page.select_one(".playback")
    assert playback is not None
    assert playback.get_text(strip=True) == "Plays as it is (the original file)"
    assert page.select_one("p.notice[role=status]") is None


def test_a_remuxed_video_offers_its_typed_original_then_hls(
    web: PeerClient, ids: dict[str, int]
) -> None:
    media_id = ids["Remux"]
    page = html(web.get(f"/media/{media_id}").text)

    found = sources(page)
    assert kinds(found) == ["direct", "hls", "progressive"]
    assert [src for src, _, _ in found] == [
        f"/media/{media_id}/stream",
        f"/media/{media_id}/hls/index.m3u8",
        f"/media/{media_id}/hls/progressive.mp4",
    ]
    original, hls, progressive = (kind for _, kind, _ in found)
    assert original is not None
    assert original.startswith('video/x-matroska; codecs="avc1.') and original.endswith(',ac-3"')
    assert hls == HLS
    assert progressive == "video/mp4"
    video = page.select_one("video#player")
    assert video is not None and video["aria-label"] == "Remux"
    assert video.has_attr("data-hlsjs")
    playback = page.select_one(".playback")
    assert playback is not None
    assert playback.get_text(strip=True) == (
        "Repackaged for this browser, picture untouched: Matroska → HLS, AC-3 → AAC"
    )


def test_a_transcoded_video_no_browser_plays_offers_only_hls(
    web: PeerClient, ids: dict[str, int]
) -> None:
    media_id = ids["Transcode"]
    page = html(web.get(f"/media/{media_id}").text)

    assert sources(page) == [
        (f"/media/{media_id}/hls/index.m3u8", HLS, "hls"),
        (f"/media/{media_id}/hls/progressive.mp4", "video/mp4", "progressive"),
    ]
    playback = page.select_one(".playback")
    assert playback is not None
    assert playback.get_text(strip=True) == "Converted for this browser: MPEG-2 → H.264, MP2 → AAC"
    # Download always gives the original file.
    download = page.select_one("a[download]")
    assert download is not None and download["href"] == f"/media/{media_id}/stream"


def test_hevc_offers_the_original_typed_hev1_then_hls(web: PeerClient, ids: dict[str, int]) -> None:
    media_id = ids["Long"]
    found = sources(html(web.get(f"/media/{media_id}").text))

    assert kinds(found) == ["direct", "hls", "progressive"]
    assert found[0][0] == f"/media/{media_id}/stream"
    assert str(found[0][1]).startswith('video/mp4; codecs="hev1.1.6.')
    assert found[1][:2] == (f"/media/{media_id}/hls/index.m3u8", HLS)


def test_a_start_time_is_carried_on_every_source(web: PeerClient, ids: dict[str, int]) -> None:
    media_id = ids["Long"]
    page = html(web.get(f"/media/{media_id}?t=30").text)

    found = {kind: src for src, _, kind in sources(page)}
    assert found["direct"] == f"/media/{media_id}/stream#t=30.0"
    assert found["hls"] == f"/media/{media_id}/hls/index.m3u8#t=30.0"


# -- the playlist and its segments -------------------------------------------------------------


@pytest.mark.parametrize(("title", "variant"), [("Transcode", "h264-1080"), ("Remux", "remux")])
def test_the_playlist_lists_the_whole_video(
    web: PeerClient, scanned: Settings, ids: dict[str, int], title: str, variant: str
) -> None:
    media_id = ids[title]
    response = web.get(f"/media/{media_id}/hls/index.m3u8")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(HLS)
    entries = parse_playlist(response.text)
    assert [uri for _, uri in entries] == [
        f"/media/{media_id}/hls/{variant}/{n}.ts" for n in range(len(entries))
    ]
    assert len(entries) >= 2
    assert sum(seconds for seconds, _ in entries) == pytest.approx(
        duration_of(scanned, media_id), abs=0.05
    )
    # Listing segments makes none: the converter waits for the player to ask.
    assert made(scanned, media_hash_of(scanned, media_id)) == []


def media_hash_of(settings: Settings, media_id: int) -> str:
    [(media_hash,)] = db_query(settings, "SELECT media_hash FROM media WHERE id = :i", i=media_id)
    return str(media_hash)


@pytest.mark.parametrize("title", ["Transcode", "Remux"])
def test_a_segment_is_mpeg_ts_that_plays(
    web: PeerClient, ids: dict[str, int], tmp_path: Path, title: str
) -> None:
    entries = parse_playlist(web.get(f"/media/{ids[title]}/hls/index.m3u8").text)
    response = web.get(entries[1][1])

    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp2t"
    assert response.content[:1] == b"G"  # the MPEG-TS sync byte
    segment = tmp_path / "segment.ts"
    segment.write_bytes(response.content)
    with av.open(str(segment)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        pictures = sum(1 for _ in container.decode(video=0))
    assert pictures == pytest.approx(entries[1][0] * 25, abs=1)


def test_byte_ranges_work_on_a_segment(web: PeerClient, ids: dict[str, int]) -> None:
    uri = parse_playlist(web.get(f"/media/{ids['Transcode']}/hls/index.m3u8").text)[0][1]
    whole = web.get(uri).content

    part = web.get(uri, headers={"Range": "bytes=188-375"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 188-375/{len(whole)}"
    assert part.content == whole[188:376]


@pytest.mark.parametrize(
    "path",
    [
        "/media/{Direct}/hls/index.m3u8",  # plays as it is: nothing is converted
        "/media/{Direct}/hls/h264-1080/0.ts",
        "/media/{Direct}/hls/progressive.mp4",
        "/media/{Transcode}/hls/remux/0.ts",  # not this video's variant
        "/media/{Transcode}/hls/h264-720/0.ts",  # a playlist from another height setting
        "/media/{Transcode}/hls/h264-1080/x.ts",
        "/media/{Transcode}/hls/h264-1080/-1.ts",
        "/media/{Transcode}/hls/h264-1080/99999.ts",
        "/media/{Transcode}/hls/h264-1080/1234567.ts",
        "/media/{Transcode}/hls/h264-1080/0.ts.lock",
        "/media/{Transcode}/hls/h264-1080/0.mp4",
        "/media/999999/hls/index.m3u8",
        "/media/999999/hls/h264-1080/0.ts",
    ],
)
def test_what_is_not_a_segment_is_404(
    web: PeerClient, scanned: Settings, ids: dict[str, int], path: str
) -> None:
    response = web.get(path.format(**ids))

    assert response.status_code == 404
    assert made(scanned, media_hash_of(scanned, ids["Transcode"])) == []


# -- at most N conversions at once -------------------------------------------------------------


class Clock:
    """Stands in for the ``time`` module of the converter's slots: time moves when told."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(
        converter_module,
        "time",
        SimpleNamespace(**{"monotonic": fake.monotonic, "time": fake.time}),
    )
    return fake


def first_segment(client: PeerClient, media_id: int) -> str:
    return parse_playlist(client.get(f"/media/{media_id}/hls/index.m3u8").text)[0][1]


def test_past_the_limit_a_second_viewer_is_told_to_come_back(
    web: PeerClient, ids: dict[str, int], clock: Clock
) -> None:
    transcode, remux = first_segment(web, ids["Transcode"]), first_segment(web, ids["Remux"])
    assert web.as_peer(ANN).get(transcode).status_code == 200  # Ann converts

    busy = web.as_peer(BOB).get(remux)
    assert busy.status_code == 503
    retry_after = int(busy.headers["retry-after"])
    assert 1 <= retry_after <= converter(web).idle + 1
    detail = html(busy.text).select_one(".detail")
    assert detail is not None
    assert "already converting as many videos as it can" in detail.get_text()
    assert f"try again in {retry_after} s" in detail.get_text()

    page = html(web.as_peer(BOB).get(f"/media/{ids['Remux']}").text)
    notice = page.select_one("p.notice[role=status]")
    assert notice is not None
    assert "already converting as many videos as it can" in notice.get_text()
    # A video that plays as it is needs no slot: no notice there.
    direct = html(web.as_peer(BOB).get(f"/media/{ids['Direct']}").text)
    assert direct.select_one("p.notice[role=status]") is None


def test_a_segment_already_made_is_served_to_anyone(
    web: PeerClient, ids: dict[str, int], clock: Clock
) -> None:
    transcode = first_segment(web, ids["Transcode"])
    ann = web.as_peer(ANN).get(transcode)

    bob = web.as_peer(BOB).get(transcode)  # every slot is Ann's, but this one is on disk
    assert bob.status_code == 200
    assert bob.content == ann.content


def test_a_viewer_moving_to_another_video_keeps_the_slot(
    web: PeerClient, ids: dict[str, int], clock: Clock
) -> None:
    transcode, remux = first_segment(web, ids["Transcode"]), first_segment(web, ids["Remux"])

    assert web.as_peer(ANN).get(transcode).status_code == 200
    assert web.as_peer(ANN).get(remux).status_code == 200
    assert web.as_peer(BOB).get(first_segment(web, ids["Long"])).status_code == 503


def test_the_slot_frees_once_the_viewer_is_idle(
    web: PeerClient, ids: dict[str, int], clock: Clock
) -> None:
    transcode, remux = first_segment(web, ids["Transcode"]), first_segment(web, ids["Remux"])
    assert web.as_peer(ANN).get(transcode).status_code == 200
    assert web.as_peer(BOB).get(remux).status_code == 503

    clock.offset += converter(web).idle + 1  # Ann closed her tab

    assert web.as_peer(BOB).get(remux).status_code == 200
    page = html(web.as_peer(BOB).get(f"/media/{ids['Transcode']}").text)
    assert page.select_one("p.notice[role=status]") is None


# -- look-ahead, and stopping --------------------------------------------------------------------


def test_when_requests_stop_only_the_look_ahead_is_made(
    web: PeerClient, scanned: Settings, ids: dict[str, int]
) -> None:
    media_id = ids["Long"]
    entries = parse_playlist(web.get(f"/media/{media_id}/hls/index.m3u8").text)
    assert len(entries) >= 8
    conv = converter(web)

    assert web.get(entries[0][1]).status_code == 200
    settle(conv)  # the viewer closed the tab: nothing more is asked

    assert made(scanned, media_hash_of(scanned, media_id)) == list(range(conv.lookahead + 1))


def test_a_seek_drops_the_look_ahead_left_behind(clips: Path, tmp_path: Path) -> None:
    """One worker process; segment 1 is held up (another worker has its lock) while the viewer
    seeks from segment 0 to segment 8: the queued look-ahead for 2 is never made."""
    conv = Converter(
        tmp_path / "conversions",
        slots=MemorySlots(),
        max_conversions=1,
        processes=1,
        lookahead=2,
    )
    source = Source("0123456789abcdef", str(clips / "Long.mp4"), "transcode", "h264-1080")

    async def watch() -> None:
        try:
            assert len(await conv.segments(source)) >= 12
            lock = conv.segment_path(source, 1).with_suffix(".ts.lock")
            lock.parent.mkdir(parents=True, exist_ok=True)
            with open(lock, "a") as held:
                fcntl.flock(held, fcntl.LOCK_EX)
                await conv.segment(source, 0, ANN)  # then 1 starts and waits; 2 is queued
                seek = asyncio.ensure_future(conv.segment(source, 8, ANN))
                while conv._wanted.get(source.key) != 8:
                    await asyncio.sleep(0.01)
                fcntl.flock(held, fcntl.LOCK_UN)
            await seek
            while conv._running or conv._queue:
                await asyncio.sleep(0.05)
        finally:
            await conv.close()

    asyncio.run(watch())

    on_disk = sorted(int(p.stem) for p in conv.segment_path(source, 0).parent.glob("*.ts"))
    assert on_disk == [0, 1, 8, 9, 10]


# -- a rescan fills the stream facts of rows probed before they were recorded -------------------

FACTS = (
    "video_tag",
    "video_profile",
    "video_level",
    "pix_fmt",
    "bit_depth",
    "frame_rate",
    "rotation",
    "interlaced",
    "audio_channels",
    "audio_sample_rate",
)


def facts(settings: Settings) -> dict[str, tuple[Any, ...]]:
    rows = db_query(settings, f"SELECT title, id, media_hash, {', '.join(FACTS)} FROM media")
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_a_rescan_fills_the_new_facts(scanned: Settings) -> None:
    before = facts(scanned)
    assert before["Long"][2:4] == ("hev1", "Main")
    db_execute(
        scanned,
        "UPDATE media SET probe_version = 0, video_tag = NULL, video_profile = NULL,"
        " video_level = NULL, pix_fmt = NULL, bit_depth = NULL, frame_rate = NULL,"
        " rotation = 0, interlaced = :no, audio_channels = NULL, audio_sample_rate = NULL",
        no=False,
    )
    assert all(row[2] is None for row in facts(scanned).values())

    report = run_scan(scanned, thumbnails=False)

    assert (report.updated, report.new, report.unchanged) == (len(CLIPS), 0, 0)
    assert facts(scanned) == before  # same ids and fingerprints, every fact back
    assert run_scan(scanned, thumbnails=False).unchanged == len(CLIPS)


def test_the_watch_page_plans_from_the_refilled_facts(scanned: Settings) -> None:
    db_execute(scanned, "UPDATE media SET probe_version = 0, video_tag = NULL, video_level = NULL")
    run_scan(scanned, thumbnails=False)

    with TestClient(create_app(scanned)) as client:
        media_id = media_ids(scanned)["Long"][0]
        found = sources(html(client.get(f"/media/{media_id}").text))
    assert str(found[0][1]).startswith('video/mp4; codecs="hev1.1.6.L')
    assert kinds(found) == ["direct", "hls", "progressive"]
