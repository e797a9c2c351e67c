from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from lvs.library.demo import make_clip
from lvs.library.probe import ProbeError, ProbeResult, probe


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probe_clips")
    return {
        "h264": make_clip(d / "beach.mp4", seconds=2.0, width=320, height=180, codec="h264"),
        "vp9": make_clip(d / "snow.webm", seconds=3.0, width=256, height=144, codec="vp9", hue=200),
        "mov": make_clip(d / "phone.MOV", seconds=1.0, width=160, height=120, audio=False),
        "mkv": make_clip(d / "film.mkv", seconds=1.5, codec="vp9", hue=90),
    }


def test_h264_mp4(clips: dict[str, Path]) -> None:
    result = probe(clips["h264"])
    assert isinstance(result, ProbeResult)
    assert result.duration == pytest.approx(2.0, abs=0.15)
    assert (result.width, result.height) == (320, 180)
    assert result.video_codec == "h264"
    assert result.audio_codec == "aac"
    assert result.container == "mp4"


def test_vp9_webm(clips: dict[str, Path]) -> None:
    result = probe(clips["vp9"])
    assert result.duration == pytest.approx(3.0, abs=0.15)
    assert (result.width, result.height) == (256, 144)
    assert result.video_codec == "vp9"
    assert result.audio_codec == "opus"
    assert result.container == "webm"


def test_mov_without_audio(clips: dict[str, Path]) -> None:
    result = probe(clips["mov"])
    assert result.container == "mov"
    assert result.audio_codec is None
    assert (result.width, result.height) == (160, 120)
    assert result.duration == pytest.approx(1.0, abs=0.15)


def test_matroska(clips: dict[str, Path]) -> None:
    result = probe(clips["mkv"])
    assert result.container == "matroska"
    assert result.video_codec == "vp9"


def test_accepts_str_path(clips: dict[str, Path]) -> None:
    assert probe(str(clips["h264"])).video_codec == "h264"


def test_result_is_frozen(clips: dict[str, Path]) -> None:
    result = probe(clips["h264"])
    with pytest.raises(AttributeError):
        result.width = 1  # type: ignore[misc]


def assert_probe_error(path: Path, *fragments: str) -> ProbeError:
    with pytest.raises(ProbeError) as info:
        probe(path)
    reason = info.value.reason
    assert reason
    assert len(reason) < 300
    assert str(info.value) == reason
    assert any(f in reason for f in fragments), reason
    assert not isinstance(info.value, av.FFmpegError)
    return info.value


def test_random_bytes_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "random.mp4"
    path.write_bytes(os.urandom(64 * 1024))
    assert_probe_error(path, "corrupt or unreadable")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    assert_probe_error(path, "empty file")


def test_text_file_renamed_mkv(tmp_path: Path) -> None:
    path = tmp_path / "notes.mkv"
    path.write_text("shopping list:\n- milk\n- eggs\n" * 20)
    assert_probe_error(path, "corrupt or unreadable")


def test_truncated_mp4(clips: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "truncated.mp4"
    path.write_bytes(clips["h264"].read_bytes()[:1024])
    assert_probe_error(path, "corrupt or unreadable")


def test_missing_file(tmp_path: Path) -> None:
    assert_probe_error(tmp_path / "gone.mp4", "unreadable")


def test_still_image_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "photo.mp4"
    Image.new("RGB", (64, 48), (200, 100, 50)).save(path, format="PNG")
    assert_probe_error(path, "not a video")


def test_audio_only_file(tmp_path: Path) -> None:
    path = tmp_path / "song.mp4"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=48_000, layout="mono")
        for i in range(20):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.planes[0].update(bytes(4 * 1024))
            frame.sample_rate = 48_000
            frame.pts = i * 1024
            frame.time_base = Fraction(1, 48_000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert_probe_error(path, "no video stream")


def test_rotated_phone_video_reports_display_size(tmp_path: Path) -> None:
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.set_display_rotation(-90)  # what a phone held upright records
        img = Image.new("RGBA", (320, 180), (90, 160, 220, 255))
        for i in range(5):
            frame = av.VideoFrame.from_bytes(img.tobytes(), 320, 180, format="rgba")
            frame.pts = i
            frame.time_base = Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    result = probe(path)
    assert (result.width, result.height) == (180, 320)
