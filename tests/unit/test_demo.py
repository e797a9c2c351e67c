from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import pytest
from PIL import Image, ImageStat

from lvs.library.demo import DEMO_CLIPS, generate_demo_library, make_clip
from lvs.library.probe import probe
from lvs.library.titles import parse_path
from lvs.library.walk import walk_videos


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("demo") / "Demo Library"
    generate_demo_library(dest)
    return dest


def test_demo_library_has_playable_clips(demo_dir: Path) -> None:
    paths = generate_demo_library(demo_dir)
    assert len(paths) >= 6
    suffixes = {p.suffix for p in paths}
    assert {".mp4", ".webm", ".mov", ".ts"} <= suffixes, "browser formats and household ones"
    assert any(p.parent != demo_dir for p in paths), "one clip lives in a subfolder"
    for path in paths:
        assert path.is_file()
        result = probe(path)
        assert result.duration is not None
        assert 2.5 <= result.duration <= 6.5
        assert result.width
        assert result.height
        expected = {
            ".mp4": ("mp4", "h264", "aac"),
            ".webm": ("webm", "vp9", "opus"),
            ".mov": ("mov", "hevc", "aac"),  # an iPhone clip: converted to play in Chromium
            ".ts": ("mpegts", "mpeg2video", "mp2"),  # a TV recording: converted too
        }[path.suffix]
        assert (result.container, result.video_codec, result.audio_codec) == expected


def test_demo_names_are_friendly(demo_dir: Path) -> None:
    for clip in DEMO_CLIPS:
        stem = Path(clip.relative_path).stem
        assert " " in stem
        assert stem[0].isupper()


def test_walker_finds_exactly_the_demo_clips(demo_dir: Path) -> None:
    found = {f.path for f in walk_videos([demo_dir])}
    assert found == {p.resolve() for p in generate_demo_library(demo_dir)}


def test_generation_is_idempotent(demo_dir: Path) -> None:
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in generate_demo_library(demo_dir)}
    again = generate_demo_library(demo_dir)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in again} == before
    assert sorted(p.name for p in demo_dir.rglob("*") if p.is_file()) == sorted(
        p.name for p in again
    )


def test_missing_clip_is_regenerated(tmp_path: Path) -> None:
    dest = tmp_path / "lib"
    paths = generate_demo_library(dest)
    paths[0].unlink()
    keep = paths[1].stat().st_mtime_ns
    generate_demo_library(dest)
    assert paths[0].is_file()
    assert probe(paths[0]).video_codec
    assert paths[1].stat().st_mtime_ns == keep


def first_frame_luma(path: Path, at: float = 0.5) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at:
                img: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
                return float(ImageStat.Stat(img.convert("L")).mean[0])
    raise AssertionError("no frame found")


def mean_rgb(path: Path) -> tuple[float, ...]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        img: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
        return tuple(ImageStat.Stat(img).mean)


@pytest.mark.parametrize("codec", ["h264", "vp9"])
def test_make_clip_frames_are_not_black(tmp_path: Path, codec: str) -> None:
    suffix = ".mp4" if codec == "h264" else ".webm"
    path = make_clip(tmp_path / f"c{suffix}", seconds=1.0, codec=codec)  # type: ignore[arg-type]
    assert first_frame_luma(path) > 60


def test_hue_makes_clips_look_different(tmp_path: Path) -> None:
    warm = mean_rgb(make_clip(tmp_path / "warm.mp4", seconds=0.5, hue=10, audio=False))
    cool = mean_rgb(make_clip(tmp_path / "cool.mp4", seconds=0.5, hue=220, audio=False))
    assert warm[0] > warm[2] + 30  # reddish
    assert cool[2] > cool[0] + 30  # bluish


def test_mp4_is_faststart(tmp_path: Path) -> None:
    data = make_clip(tmp_path / "fs.mp4", seconds=1.0).read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat"), "moov must precede mdat for streaming"


def test_black_until_produces_black_opening(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "b.mp4", seconds=2.0, black_until=1.0, audio=False)
    assert first_frame_luma(path, at=0.2) < 5
    assert first_frame_luma(path, at=1.5) > 60


def test_make_clip_without_audio_and_with_custom_size(tmp_path: Path) -> None:
    path = make_clip(
        tmp_path / "q.webm", seconds=1.0, width=128, height=96, fps=12, codec="vp9", audio=False
    )
    result = probe(path)
    assert (result.width, result.height, result.audio_codec) == (128, 96, None)


def test_failed_clip_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        make_clip(tmp_path / "odd.mp4", width=321)
    assert list(tmp_path.iterdir()) == []


def test_works_without_numpy(tmp_path: Path) -> None:
    # Production installs may lack numpy: make a clip, probe it and thumbnail it with
    # numpy imports forced to fail.
    script = f"""
import subprocess
import sys
sys.modules["numpy"] = None  # any "import numpy" now raises ImportError
from pathlib import Path
from lvs.library.demo import make_clip
from lvs.library.probe import probe
from lvs.library.thumbnails import make_thumbnail
clip = make_clip(Path({str(tmp_path / "n.webm")!r}), seconds=1.0, codec="vp9")
assert probe(clip).video_codec == "vp9"
make_thumbnail(clip, Path({str(tmp_path / "n.jpg")!r}), None)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "n.jpg").is_file()


def test_the_demo_has_a_show_in_seasons_read_in_episode_order(demo_dir: Path) -> None:
    episodes = [
        parse_path(p.relative_to(demo_dir).as_posix()) for p in generate_demo_library(demo_dir)
    ]
    show = [(e.show, e.season, e.episode) for e in episodes if e.show is not None]
    assert sorted(show) == [
        ("The Garden Detectives", 1, 1),
        ("The Garden Detectives", 1, 2),
        ("The Garden Detectives", 2, 1),
    ]
