"""Scrub previews: which times get a tile, the sprite's geometry, and that each tile shows the
picture at its cue's time (the sample clips draw a progress bar growing with time)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from lvs.library.samples import make_sample
from lvs.library.sprites import (
    MAX_FRAMES,
    MIN_FRAMES,
    TILE_WIDTH,
    SpriteError,
    SpriteSheet,
    frame_times,
    make_previews,
    preview_paths,
    previews_ready,
)

HASH = "0123456789abcdef"
CUE = re.compile(
    r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n"
    r"previews\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)\n"
)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s, 320x180 at 25 fps, a keyframe every 2 s."""
    return make_sample(tmp_path_factory.mktemp("sprites") / "clip.mp4", "h264_aac_mp4", seconds=6)


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def read_vtt(path: Path) -> list[tuple[float, float, int, int, int, int]]:
    text = path.read_text()
    assert text.startswith("WEBVTT\n\n")
    return [
        (seconds(*g[0:4]), seconds(*g[4:8]), *(int(v) for v in g[8:12])) for g in CUE.findall(text)
    ]


@pytest.fixture(scope="session")
def frames(clip: Path) -> list[tuple[float, Image.Image]]:
    """Every frame of the clip with its time, at tile size."""
    with av.open(str(clip)) as container:
        return [
            (float(f.time), f.to_image().resize((TILE_WIDTH, 90)))
            for f in container.decode(video=0)
        ]


def shown_time(tile: Image.Image, frames: list[tuple[float, Image.Image]]) -> float:
    """The time of the clip's frame that the tile looks most like."""

    def distance(frame: Image.Image) -> float:
        return sum(ImageStat.Stat(ImageChops.difference(tile.convert("RGB"), frame)).mean)

    return min(frames, key=lambda tf: distance(tf[1]))[0]


@pytest.mark.parametrize(
    ("duration", "count", "step"),
    [
        (2.0, MIN_FRAMES, 0.1),  # short clip: 20 tiles however short
        (100.0, MIN_FRAMES, 5.0),
        (200.0, 20, 10.0),
        (601.0, 61, 10.0),  # one every 10 s, the last one covering the final second
        (7200.0, MAX_FRAMES, 36.0),  # two hours: capped
    ],
)
def test_frame_times_follow_the_rules(duration: float, count: int, step: float) -> None:
    times = frame_times(duration)
    assert len(times) == count
    assert times[0] == 0
    assert times[1] == pytest.approx(step)
    assert times[-1] < duration <= times[-1] + step + 1e-6


def test_sprite_and_vtt_cover_the_clip_and_point_inside_the_sprite(
    clip: Path, frames: list[tuple[float, Image.Image]], tmp_path: Path
) -> None:
    assert not previews_ready(tmp_path, HASH)
    sheet = make_previews(clip, tmp_path, HASH, 6.0)
    sprite, vtt = preview_paths(tmp_path, HASH)
    assert previews_ready(tmp_path, HASH)

    cues = read_vtt(vtt)
    assert len(cues) == MIN_FRAMES == len(sheet.cues)
    assert cues[0][0] == 0 and cues[-1][1] == pytest.approx(6.0)
    for (_, end, *_), (start, *_) in itertools.pairwise(cues):
        assert start == pytest.approx(end)  # no gap, no overlap
    image = Image.open(sprite)
    assert image.format == "JPEG"
    assert image.size == (sheet.width, sheet.height) == (10 * TILE_WIDTH, 2 * 90)
    for _, _, x, y, w, h in cues:
        assert (w, h) == (TILE_WIDTH, 90)  # 16:9 kept
        assert 0 <= x <= x + w <= image.width and 0 <= y <= y + h <= image.height

    # Each tile shows the picture at its cue's start.
    for start, _, x, y, w, h in cues[1::3]:
        shown = shown_time(image.crop((x, y, x + w, y + h)), frames)
        assert start - 1e-3 <= shown < start + 0.04, f"tile at {start} s"  # 25 fps: next frame


def test_keyframes_only_shows_the_keyframe_at_or_before_each_time(
    clip: Path, frames: list[tuple[float, Image.Image]], tmp_path: Path
) -> None:
    sheet = make_previews(clip, tmp_path, HASH, 6.0, keyframes_only=True)
    assert sheet.keyframes_only
    image = Image.open(preview_paths(tmp_path, HASH)[0])
    for cue in sheet.cues[1::4]:
        keyframe = 2.0 * (cue.start // 2.0)  # a keyframe every 2 s
        tile = image.crop((cue.x, cue.y, cue.x + cue.w, cue.y + cue.h))
        assert shown_time(tile, frames) == pytest.approx(keyframe, abs=0.001)


def test_an_unreadable_file_or_a_time_limit_leaves_nothing_behind(
    clip: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(SpriteError, match="cannot read video"):
        make_previews(junk, tmp_path / "out", HASH, None)
    with pytest.raises(SpriteError, match="gave up"):
        make_previews(clip, tmp_path / "out", HASH, 6.0, time_limit=0)
    assert not any((tmp_path / "out").rglob("*.*"))


def test_the_sprite_geometry_is_written_for_every_tile(clip: Path, tmp_path: Path) -> None:
    sheet: SpriteSheet = make_previews(clip, tmp_path, HASH, None)  # duration from the file
    assert sheet.cues[-1].end == pytest.approx(6.0, abs=0.1)
