from __future__ import annotations

import errno
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageStat

from lvs.library import thumbnails
from lvs.library.demo import make_clip
from lvs.library.thumbnails import ThumbnailError, make_thumbnail, thumbnail_path

BRIGHT = 60.0  # clearly not black (demo frames average ~150)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("thumb_clips")
    return {
        "h264": make_clip(d / "park.mp4", seconds=3.0, width=640, height=360, hue=30),
        "vp9": make_clip(d / "lake.webm", seconds=2.0, width=320, height=240, codec="vp9"),
        "black_start": make_clip(d / "fade_in.mp4", seconds=4.0, black_until=1.5, audio=False),
        "all_black": make_clip(d / "night.mp4", seconds=1.0, black_until=10.0, audio=False),
        "small": make_clip(d / "tiny.mp4", seconds=1.0, width=160, height=90, audio=False),
    }


def luminance(img: Image.Image) -> float:
    return float(ImageStat.Stat(img.convert("L")).mean[0])


def open_jpeg(path: Path) -> Image.Image:
    img = Image.open(path)
    img.load()
    assert img.format == "JPEG"
    return img


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_thumbnail_is_bright_jpeg_320_wide(clips: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "t" / "park.jpg"
    make_thumbnail(clips["h264"], dest, 3.0)
    img = open_jpeg(dest)
    assert img.size == (320, 180)  # 640x360 scaled down, 16:9 kept
    assert luminance(img) > BRIGHT
    # ... and a 640 px copy of the same frame for dense screens; no temp files left behind
    assert leftovers(dest.parent) == ["park-640.jpg", "park.jpg"]
    big = open_jpeg(dest.parent / "park-640.jpg")
    assert big.size == (640, 360)
    assert abs(luminance(big) - luminance(img)) < 3


def test_a_small_video_is_never_scaled_up(clips: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "small.jpg"
    make_thumbnail(clips["small"], dest, 1.0)
    assert open_jpeg(dest.parent / "small-640.jpg").size == open_jpeg(dest).size


def test_vp9_four_by_three(clips: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "lake.jpg"
    make_thumbnail(clips["vp9"], dest, None)
    img = open_jpeg(dest)
    assert img.size == (320, 240)
    assert luminance(img) > BRIGHT


def test_custom_width_and_unknown_duration(clips: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "park_small.jpg"
    make_thumbnail(clips["h264"], dest, None, width=160)
    assert open_jpeg(dest).size == (160, 90)


def test_small_video_is_not_upscaled(clips: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "tiny.jpg"
    make_thumbnail(clips["small"], dest, 1.0)
    assert open_jpeg(dest).size == (160, 90)


def test_black_opening_is_skipped(clips: dict[str, Path], tmp_path: Path) -> None:
    # 15 % and 30 % of 4 s land in the black first 1.5 s; a later frame must be used.
    dest = tmp_path / "fade_in.jpg"
    make_thumbnail(clips["black_start"], dest, 4.0)
    assert luminance(open_jpeg(dest)) > BRIGHT


def test_black_opening_is_skipped_without_duration_hint(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    dest = tmp_path / "fade_in.jpg"
    make_thumbnail(clips["black_start"], dest, None)
    assert luminance(open_jpeg(dest)) > BRIGHT


def test_entirely_dark_video_still_gets_a_thumbnail(clips: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "night.jpg"
    make_thumbnail(clips["all_black"], dest, 1.0)
    assert open_jpeg(dest).size == (320, 180)


def test_rotated_phone_video_gives_upright_thumbnail(tmp_path: Path) -> None:
    src = tmp_path / "portrait.mp4"
    with av.open(str(src), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.set_display_rotation(-90)  # a phone held upright: display rotated 90° clockwise
        img = Image.new("RGB", (320, 180), (230, 20, 20))
        img.paste((20, 20, 230), (160, 0, 320, 180))  # left red, right blue
        rgba = img.convert("RGBA").tobytes()
        for i in range(10):
            frame = av.VideoFrame.from_bytes(rgba, 320, 180, format="rgba")
            frame.pts = i
            frame.time_base = Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    dest = tmp_path / "portrait.jpg"
    make_thumbnail(src, dest, None)
    thumb = open_jpeg(dest).convert("RGB")
    assert thumb.size == (180, 320)  # portrait, as browsers show it
    top = thumb.getpixel((90, 20))
    bottom = thumb.getpixel((90, 300))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 150
    assert top[2] < 100
    assert bottom[2] > 150
    assert bottom[0] < 100


def test_corrupt_input_raises_and_leaves_no_file(tmp_path: Path) -> None:
    src = tmp_path / "broken.mp4"
    src.write_bytes(os.urandom(50_000))
    out = tmp_path / "thumbs"
    out.mkdir()
    with pytest.raises(ThumbnailError) as info:
        make_thumbnail(src, out / "broken.jpg", 10.0)
    assert info.value.reason
    assert leftovers(out) == []


def test_missing_source_raises(tmp_path: Path) -> None:
    with pytest.raises(ThumbnailError):
        make_thumbnail(tmp_path / "gone.mp4", tmp_path / "gone.jpg", None)
    assert not (tmp_path / "gone.jpg").exists()


def test_destination_under_a_file_raises(clips: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(ThumbnailError):
        make_thumbnail(clips["h264"], blocker / "ab" / "t.jpg", 3.0)
    assert blocker.read_text() == "x"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_read_only_destination_dir_raises(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(ThumbnailError):
            make_thumbnail(clips["h264"], out / "t.jpg", 3.0)
        assert leftovers(out) == []
    finally:
        out.chmod(0o755)


def test_disk_full_leaves_no_partial_file_and_keeps_old_thumbnail(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "thumbs"
    out.mkdir()
    dest = out / "park.jpg"
    dest.write_bytes(b"old thumbnail")

    real_save = Image.Image.save

    def save_then_fail(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        real_save(self, fp, *args, **kwargs)  # bytes hit the temp file...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk fills

    monkeypatch.setattr(Image.Image, "save", save_then_fail)
    with pytest.raises(ThumbnailError) as info:
        make_thumbnail(clips["h264"], dest, 3.0)
    assert "No space left" in info.value.reason
    assert leftovers(out) == ["park.jpg"]
    assert dest.read_bytes() == b"old thumbnail"


def test_success_replaces_existing_thumbnail(clips: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "park.jpg"
    dest.write_bytes(b"stale")
    make_thumbnail(clips["h264"], dest, 3.0)
    assert open_jpeg(dest).width == 320


def test_thumbnail_path_uses_hashed_subfolders(tmp_path: Path) -> None:
    h = "abcdef0123456789"
    assert thumbnail_path(tmp_path, h) == tmp_path / "ab" / "cd" / f"{h}.jpg"
    assert thumbnail_path(tmp_path, h, 320) == tmp_path / "ab" / "cd" / f"{h}.jpg"
    assert thumbnail_path(tmp_path, h, 640) == tmp_path / "ab" / "cd" / f"{h}-640.jpg"


@pytest.mark.parametrize("bad", ["", "ab", "../../etc/passwd", "ab/cd/ef", "abcd\x00ef"])
def test_thumbnail_path_rejects_unsafe_hashes(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="media hash"):
        thumbnail_path(tmp_path, bad)


def test_thumbnail_path_and_make_thumbnail_work_together(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    dest = thumbnail_path(tmp_path / "thumbs", "0123456789abcdef")
    make_thumbnail(clips["vp9"], dest, 2.0)  # creates the hashed subfolders
    assert open_jpeg(dest).width == 320
    assert thumbnail_path(tmp_path / "thumbs", "0123456789abcdef", 640).is_file()


def test_black_threshold_is_meaningful() -> None:
    assert 5 < thumbnails.BLACK_THRESHOLD < BRIGHT
