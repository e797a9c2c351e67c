"""Real clips in the formats a household library holds, made with PyAV.

The demo clips (:mod:`lvs.library.demo`) are web-ready H.264/VP9. These are the files browsers
choke on: HEVC from phones (``hev1`` and ``hvc1`` tagged, 8 and 10 bit), XviD AVIs, MPEG-2 TV
recordings, AC-3 soundtracks, WMV. Tests and benchmarks of on-the-fly conversion use them.

Each clip is written like the real thing: a keyframe every ``gop_seconds`` (no scene-cut extras),
B-frames where the real encoders use them, and audio interleaved with the video. Every frame is
visibly different (the demo's scrolling bands and bouncing box, plus a frame counter and a
progress bar) and a sine tone sounds for the whole duration, so a test can tell that picture and
sound were both decoded, and where in the clip it is.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream
from PIL import ImageDraw, ImageFont

from lvs.library.demo import _AUDIO_FRAME, _AUDIO_RATE, _background, _draw_frame, _tone

__all__ = ["SAMPLE_KINDS", "SampleKind", "make_sample", "make_samples"]


@dataclass(frozen=True, slots=True)
class SampleKind:
    """One household format: the container and the encoders that write it.

    ``video_codec`` and ``audio_codec`` are PyAV/FFmpeg *encoder* names (``libx265``), which can
    differ from the codec name a probe reports (``hevc``). ``codec_tag`` is the video FourCC
    written into the container when it matters (``hev1``/``hvc1`` in MP4/MOV, ``XVID`` in AVI);
    ``None`` keeps the muxer's default.
    """

    name: str
    suffix: str
    container_format: str
    video_codec: str
    codec_tag: str | None
    pix_fmt: str
    audio_codec: str | None
    audio_layout: str
    description: str


_KINDS = (
    SampleKind(
        "h264_aac_mp4",
        ".mp4",
        "mp4",
        "libx264",
        None,
        "yuv420p",
        "aac",
        "stereo",
        "H.264 + AAC in MP4: plays directly in every browser",
    ),
    SampleKind(
        "vp9_opus_webm",
        ".webm",
        "webm",
        "libvpx-vp9",
        None,
        "yuv420p",
        "libopus",
        "stereo",
        "VP9 + Opus in WebM: plays directly in every current browser",
    ),
    SampleKind(
        "hevc_aac_mkv",
        ".mkv",
        "matroska",
        "libx265",
        None,  # Matroska names the codec itself (V_MPEGH/ISO/HEVC); there is no FourCC
        "yuv420p",
        "aac",
        "stereo",
        "HEVC + AAC in Matroska: a phone recording, re-wrapped",
    ),
    SampleKind(
        "hevc_hev1_mp4",
        ".mp4",
        "mp4",
        "libx265",
        "hev1",
        "yuv420p",
        "aac",
        "stereo",
        "HEVC tagged hev1 (parameter sets in-band) + AAC in MP4: Safari will not play it",
    ),
    SampleKind(
        "hevc_hvc1_mov",
        ".mov",
        "mov",
        "libx265",
        "hvc1",
        "yuv420p",
        "aac",
        "stereo",
        "HEVC tagged hvc1 + AAC in QuickTime: an iPhone clip",
    ),
    SampleKind(
        "hevc10_aac_mkv",
        ".mkv",
        "matroska",
        "libx265",
        None,
        "yuv420p10le",
        "aac",
        "stereo",
        "10-bit HEVC (Main 10) + AAC in Matroska: HDR-capable phones and cameras",
    ),
    SampleKind(
        "mpeg4_mp3_avi",
        ".avi",
        "avi",
        "mpeg4",
        "XVID",
        "yuv420p",
        "libmp3lame",
        "stereo",
        "MPEG-4 Part 2 (XviD) + MP3 in AVI: an old download",
    ),
    SampleKind(
        "mpeg2_mp2_ts",
        ".ts",
        "mpegts",
        "mpeg2video",
        None,
        "yuv420p",
        "mp2",
        "stereo",
        "MPEG-2 video + MP2 audio in MPEG-TS: a DVB TV recording",
    ),
    SampleKind(
        "h264_ac3_mp4",
        ".mp4",
        "mp4",
        "libx264",
        None,
        "yuv420p",
        "ac3",
        "5.1",
        "H.264 + AC-3 5.1 in MP4: picture but no sound in most browsers",
    ),
    SampleKind(
        "h264_ac3_mkv",
        ".mkv",
        "matroska",
        "libx264",
        None,
        "yuv420p",
        "ac3",
        "stereo",
        "H.264 + AC-3 in Matroska: a ripped film",
    ),
    SampleKind(
        "wmv2_wma_wmv",
        ".wmv",
        "asf",
        "wmv2",
        None,
        "yuv420p",
        "wmav2",
        "stereo",
        "Windows Media Video 8 + WMA 2 in ASF: an old camera or Windows Movie Maker export",
    ),
)

SAMPLE_KINDS: dict[str, SampleKind] = {kind.name: kind for kind in _KINDS}


def _video_options(kind: SampleKind, gop: int) -> dict[str, str]:
    """Encoder options: fast, quiet, a fixed keyframe interval, B-frames as real encoders use."""
    if kind.video_codec == "libx264":
        # ultrafast alone would turn B-frames and CABAC off; phones and cameras use both.
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:b-adapt=0:cabac=1"
        return {"preset": "ultrafast", "crf": "28", "x264-params": params}
    if kind.video_codec == "libx265":
        # Closed GOPs, as phones write them: every keyframe is an IDR a segment can start on.
        params = f"log-level=none:keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:bframes=3"
        if kind.codec_tag == "hev1":
            # What makes hev1 hev1: VPS/SPS/PPS repeated before every keyframe, not only in hvcC.
            params += ":repeat-headers=1"
        return {"preset": "ultrafast", "crf": "30", "x265-params": params}
    if kind.video_codec == "libvpx-vp9":
        return {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "lag-in-frames": "0"}
    return {}


def _add_video(
    container: Any, kind: SampleKind, width: int, height: int, fps: int, gop: int
) -> VideoStream:
    stream = container.add_stream(kind.video_codec, rate=fps)
    if not isinstance(stream, VideoStream):  # pragma: no cover - defensive
        raise TypeError(f"{kind.video_codec} is not a video encoder")
    stream.width = width
    stream.height = height
    stream.pix_fmt = kind.pix_fmt
    stream.codec_context.options = _video_options(kind, gop)
    if kind.codec_tag is not None:
        stream.codec_tag = kind.codec_tag
    ctx = stream.codec_context
    if kind.video_codec in ("mpeg4", "mpeg2video"):
        # XviD and broadcast MPEG-2 code I B B P B B P ...: FFmpeg's encoder keeps that pattern
        # and the keyframe interval regular only when the interval is a multiple of three frames.
        # Its GOPs stay open, as on TV: the B-frames before a keyframe refer across it.
        ctx.max_b_frames = 2
        gop = max(3, 3 * round(gop / 3))
    ctx.gop_size = gop
    if kind.video_codec in ("mpeg4", "mpeg2video", "wmv2", "libvpx-vp9"):
        # About 0.15 bit per pixel: looks fine, like the era's files, and keeps them small.
        stream.bit_rate = max(200_000, width * height * fps * 3 // 20)
    return stream


def _add_audio(container: Any, kind: SampleKind) -> AudioStream | None:
    if kind.audio_codec is None:
        return None
    stream = container.add_stream(kind.audio_codec, rate=_AUDIO_RATE, layout=kind.audio_layout)
    if not isinstance(stream, AudioStream):  # pragma: no cover - defensive
        raise TypeError(f"{kind.audio_codec} is not an audio encoder")
    stream.bit_rate = 384_000 if kind.audio_layout == "5.1" else 128_000
    return stream


def _counter_font(height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=max(height // 8, 10))
    except (ImportError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def make_sample(
    path: Path,
    kind: SampleKind | str,
    *,
    seconds: float = 6.0,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    gop_seconds: float = 2.0,
    hue: int = 0,
) -> Path:
    """Encode a real clip of ``kind`` (a :class:`SampleKind` or its name) and return ``path``.

    The clip holds ``round(seconds * fps)`` frames, each with the frame number drawn top left and
    a progress bar along the bottom, and a continuous sine tone of ``330 + hue`` Hz in every
    channel for the same duration. Keyframes fall exactly every ``round(gop_seconds * fps)``
    frames. The file is written under a hidden temporary name beside ``path`` and renamed into
    place, so a crash never leaves a half-written clip under the final name.
    """
    if isinstance(kind, str):
        try:
            kind = SAMPLE_KINDS[kind]
        except KeyError:
            raise ValueError(f"unknown sample kind {kind!r}") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    if seconds <= 0 or fps <= 0 or gop_seconds <= 0:
        raise ValueError("seconds, fps and gop_seconds must be positive")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    n_frames = max(1, round(seconds * fps))
    gop = max(1, round(gop_seconds * fps))
    background = _background(width, height, hue)
    font = _counter_font(height)
    bar_height = max(height // 30, 2)
    # An integral frequency repeats exactly every second, so one second of tone serves the
    # whole clip (computing it sample by sample for 30 s of 5.1 would dominate the run time).
    freq = 330 + (hue % 360)
    tone = _tone(0, _AUDIO_RATE, freq)
    total_samples = round(n_frames / fps * _AUDIO_RATE)

    # +faststart for downloaded-style MP4s; MOV stays as a camera writes it, index at the end.
    options = {"movflags": "+faststart"} if kind.container_format == "mp4" else {}
    try:
        with av.open(str(tmp), mode="w", format=kind.container_format, options=options) as out:
            vstream = _add_video(out, kind, width, height, fps, gop)
            astream = _add_audio(out, kind)
            channels = astream.layout.nb_channels if astream is not None else 0
            audio_done = 0
            for i in range(n_frames):
                t = i / fps
                img = _draw_frame(background, width, height, t, seconds)
                draw = ImageDraw.Draw(img)
                draw.text((6, 4), f"{i:05d}", fill=(0, 0, 0), font=font)
                bar = (width * (i + 1)) // n_frames
                if bar > 0:  # long clips: the first frames' bar is under a pixel wide
                    draw.rectangle(
                        (0, height - bar_height, bar - 1, height - 1), fill=(255, 40, 40)
                    )
                # from_image copies RGB rows straight in (from_bytes would need RGBA); untyped stub.
                frame: av.VideoFrame = av.VideoFrame.from_image(img)  # type: ignore[no-untyped-call]
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                out.mux(vstream.encode(frame))

                # Audio up to the end of this video frame, so the muxer interleaves as it goes.
                if astream is None:
                    continue
                until = round((i + 1) / fps * _AUDIO_RATE)
                while audio_done < until:
                    count = min(_AUDIO_FRAME, until - audio_done)
                    offset = audio_done % _AUDIO_RATE
                    count = min(count, _AUDIO_RATE - offset)  # do not run past the table
                    chunk = tone[2 * offset : 2 * (offset + count)]
                    aframe = av.AudioFrame(format="s16p", layout=kind.audio_layout, samples=count)
                    for plane in aframe.planes[:channels]:
                        plane.update(chunk)
                    aframe.sample_rate = _AUDIO_RATE
                    aframe.pts = audio_done
                    aframe.time_base = Fraction(1, _AUDIO_RATE)
                    out.mux(astream.encode(aframe))
                    audio_done += count
            out.mux(vstream.encode(None))
            if astream is not None:
                assert audio_done == total_samples
                out.mux(astream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def make_samples(
    dest: Path, kinds: list[str] | tuple[str, ...] | None = None, **kw: Any
) -> dict[str, Path]:
    """Make each of ``kinds`` (default: all of :data:`SAMPLE_KINDS`) as ``dest/<name><suffix>``.

    Keyword arguments go to :func:`make_sample`. Returns the paths by kind name.
    """
    dest = Path(dest)
    names = list(SAMPLE_KINDS) if kinds is None else list(kinds)
    return {
        name: make_sample(dest / f"{name}{SAMPLE_KINDS[name].suffix}", name, **kw) for name in names
    }
