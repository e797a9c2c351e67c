"""Generate real, playable video clips with PyAV (no numpy needed).

Used by the app's demo library and by the test-suite. Frames are drawn with
Pillow: a scrolling colour gradient (shifted by ``hue``) with a bouncing white
box, so thumbnails are meaningful and clips look different from each other.
"""

from __future__ import annotations

import contextlib
import math
import os
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from av.audio.stream import AudioStream
from PIL import Image, ImageDraw

__all__ = ["DEMO_CLIPS", "DemoClip", "generate_demo_library", "make_clip"]

Codec = Literal["h264", "vp9"]

_AUDIO_RATE = 48_000
_AUDIO_FRAME = 960  # 20 ms at 48 kHz; the encoder re-chunks as needed


def _opus_encoder() -> str:
    return "libopus" if "libopus" in av.codecs_available else "opus"


def _container_format(path: Path, codec: Codec) -> str:
    suffix = path.suffix.lower()
    if codec == "h264":
        return "mov" if suffix == ".mov" else "mp4"
    return "matroska" if suffix == ".mkv" else "webm"


def _background(width: int, height: int, hue: int) -> Image.Image:
    """Colour bands around ``hue`` (degrees), two seamless periods wide so it can scroll."""
    centre = (hue % 360) * 256 // 360
    row = bytearray()
    for x in range(2 * width):
        phase = (x % width) / width  # 0..1 over one period
        tri = 1 - abs(2 * phase - 1)  # 0 -> 1 -> 0, so the two periods join seamlessly
        row.append((centre - 40 + int(80 * tri)) % 256)
    h = Image.frombytes("L", (2 * width, 1), bytes(row)).resize(
        (2 * width, height), Image.Resampling.NEAREST
    )
    # Saturation fades a little from top to bottom, value stays bright.
    col = bytes(235 - (y * 110) // max(height - 1, 1) for y in range(height))
    s = Image.frombytes("L", (1, height), col).resize((2 * width, height), Image.Resampling.NEAREST)
    # Vertical bars of alternating brightness make motion easy to see.
    bars = bytes(235 if (x * 8 // width) % 2 else 190 for x in range(2 * width))
    v = Image.frombytes("L", (2 * width, 1), bars).resize(
        (2 * width, height), Image.Resampling.NEAREST
    )
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def _draw_frame(
    background: Image.Image, width: int, height: int, t: float, seconds: float
) -> Image.Image:
    shift = int(t * width / 2) % width  # scroll half a screen per second
    img = background.crop((shift, 0, shift + width, height))
    box = max(min(width, height) // 4, 4)
    # Bounce the box left-right and up-down.
    phase_x = (t / max(seconds, 0.1) * 2) % 2
    phase_y = (t * 1.3) % 2
    x = int((phase_x if phase_x <= 1 else 2 - phase_x) * (width - box))
    y = int((phase_y if phase_y <= 1 else 2 - phase_y) * (height - box))
    draw = ImageDraw.Draw(img)
    draw.rectangle((x, y, x + box - 1, y + box - 1), fill=(255, 255, 255), outline=(0, 0, 0))
    return img


def _tone(start: int, count: int, freq: float) -> bytes:
    amp = 0.12 * 32767
    step = 2 * math.pi * freq / _AUDIO_RATE
    samples = array("h", (int(amp * math.sin(step * (start + i))) for i in range(count)))
    # FFmpeg's "s16" is native-endian 16-bit, exactly what array("h") holds.
    return samples.tobytes()


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 180,
    fps: int = 24,
    codec: Codec = "h264",
    audio: bool = True,
    hue: int = 0,
    black_until: float = 0.0,
) -> Path:
    """Encode a short, real clip playable in Chromium and return ``path``.

    ``codec="h264"`` writes MP4 (MOV if the suffix is ``.mov``) with libx264 +
    AAC and ``+faststart``; ``codec="vp9"`` writes WebM (Matroska for ``.mkv``)
    with libvpx-vp9 + Opus. Frames before ``black_until`` seconds are pure
    black (handy for testing thumbnail selection). The file is written to a
    hidden temporary name next to ``path`` and renamed into place, so a crash
    never leaves a half-written clip under the final name.
    """
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    if seconds <= 0 or fps <= 0:
        raise ValueError("seconds and fps must be positive")
    if codec not in ("h264", "vp9"):
        raise ValueError(f"unsupported codec {codec!r}")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = _container_format(path, codec)
    tmp = path.with_name(f".{path.name}.partial")
    n_frames = max(1, round(seconds * fps))
    background = _background(width, height, hue)
    black = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    freq = 330.0 + (hue % 360)

    options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
    try:
        with av.open(str(tmp), mode="w", format=fmt, options=options) as container:
            if codec == "h264":
                vstream = container.add_stream("libx264", rate=fps)
                vstream.options = {"preset": "ultrafast", "crf": "28"}
            else:
                vstream = container.add_stream("libvpx-vp9", rate=fps)
                vstream.options = {
                    "deadline": "realtime",
                    "cpu-used": "8",
                    "row-mt": "1",
                    "lag-in-frames": "0",
                }
                vstream.bit_rate = 600_000
            vstream.width = width
            vstream.height = height
            vstream.pix_fmt = "yuv420p"
            vstream.codec_context.gop_size = fps  # a keyframe every second: cheap seeks

            astream: AudioStream | None = None
            if audio:
                acodec = "aac" if codec == "h264" else _opus_encoder()
                added = container.add_stream(acodec, rate=_AUDIO_RATE, layout="mono")
                if not isinstance(added, AudioStream):  # pragma: no cover - defensive
                    raise TypeError(f"{acodec} is not an audio encoder")
                astream = added
                astream.bit_rate = 64_000

            for i in range(n_frames):
                t = i / fps
                img = (
                    black
                    if t < black_until
                    else _draw_frame(background, width, height, t, seconds).convert("RGBA")
                )
                frame = av.VideoFrame.from_bytes(img.tobytes(), width, height, format="rgba")
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode(None))

            if astream is not None:
                total = round(n_frames / fps * _AUDIO_RATE)
                for start in range(0, total, _AUDIO_FRAME):
                    count = min(_AUDIO_FRAME, total - start)
                    aframe = av.AudioFrame(format="s16", layout="mono", samples=count)
                    aframe.planes[0].update(_tone(start, count, freq))
                    aframe.sample_rate = _AUDIO_RATE
                    aframe.pts = start
                    aframe.time_base = Fraction(1, _AUDIO_RATE)
                    container.mux(astream.encode(aframe))
                container.mux(astream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


@dataclass(frozen=True, slots=True)
class DemoClip:
    relative_path: str
    seconds: float
    codec: Codec
    hue: int
    width: int = 320
    height: int = 180
    kind: str | None = None  # a household format from lvs.library.samples, converted to play


DEMO_CLIPS: tuple[DemoClip, ...] = (
    DemoClip("Sunset Over Bars.mp4", 5.0, "h264", 20),
    DemoClip("Ocean Drift.webm", 4.0, "vp9", 200),
    DemoClip("Garden Party/Birthday Candles.mp4", 3.0, "h264", 320),
    DemoClip("Garden Party/Meadow Walk.webm", 6.0, "vp9", 110),
    # Formats browsers cannot play as they are: lvs converts them on the fly.
    DemoClip("Phone Clips/Harbour Lights.mov", 6.0, "h264", 40, kind="hevc_hvc1_mov"),
    DemoClip("TV Recordings/Evening News.ts", 6.0, "h264", 260, kind="mpeg2_mp2_ts"),
    # A show in seasons: the home page's "Next up" and the Shows page have something to show.
    DemoClip(
        "The Garden Detectives/Season 1/The Garden Detectives S01E01 - Snail Trail.mp4",
        3.0,
        "h264",
        90,
    ),
    DemoClip(
        "The Garden Detectives/Season 1/The Garden Detectives S01E02 - Lost Trowel.mp4",
        3.0,
        "h264",
        130,
    ),
    DemoClip(
        "The Garden Detectives/Season 2/The Garden Detectives S02E01 - Night Moths.webm",
        3.0,
        "vp9",
        240,
    ),
)


def generate_demo_library(dest: Path) -> list[Path]:
    """Create a handful of short demo clips under ``dest``; return all their paths.

    Idempotent: clips that already exist are left untouched.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for clip in DEMO_CLIPS:
        target = dest / clip.relative_path
        if not target.exists() and clip.kind is not None:
            from lvs.library.samples import make_sample  # samples builds on this module

            make_sample(
                target,
                clip.kind,
                seconds=clip.seconds,
                width=clip.width,
                height=clip.height,
                hue=clip.hue,
            )
        elif not target.exists():
            make_clip(
                target,
                seconds=clip.seconds,
                width=clip.width,
                height=clip.height,
                codec=clip.codec,
                hue=clip.hue,
            )
        paths.append(target)
    return paths
