"""Read basic facts about a video file with PyAV."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
from av.stream import Disposition

__all__ = [
    "OPEN_OPTIONS",
    "OPEN_TIMEOUT",
    "ProbeError",
    "ProbeResult",
    "describe_av_error",
    "probe",
]

#: Seconds PyAV may block opening / reading before giving up (mainly for network mounts).
OPEN_TIMEOUT = 15.0
#: Demuxer options: bounded probing so a strange file cannot keep us busy.
OPEN_OPTIONS: dict[str, str] = {"probesize": "10000000", "analyzeduration": "10000000"}
#: At most this many video packets are fed to the decoder looking for a first frame.
_MAX_PACKETS = 300


#: Bumped when the probe learns to record more: a rescan re-probes rows made by an older one.
PROBE_VERSION = 2


@dataclass(frozen=True, slots=True)
class ProbeResult:
    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    container: str
    # What a playback plan needs to know (lvs.playback.plan): all optional, None when unknown.
    video_tag: str | None = None  # the container's codec tag: "hvc1", "hev1", "avc1", "XVID"
    video_profile: str | None = None  # "High", "Main 10", ...
    pix_fmt: str | None = None  # "yuv420p", "yuv420p10le", ...
    bit_depth: int | None = None
    frame_rate: float | None = None
    video_level: int | None = None
    rotation: int = 0  # degrees clockwise to display upright: 0, 90, 180, 270
    interlaced: bool = False
    audio_channels: int | None = None
    audio_sample_rate: int | None = None


class ProbeError(Exception):
    """The file is not a playable video; ``reason`` is short and human readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_av_error(exc: BaseException) -> str:
    """A short message for a PyAV / OS error, without the file path."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _container_name(format_name: str, path: Path) -> str:
    names = set(format_name.split(","))
    suffix = path.suffix.lower()
    if "mov" in names or "mp4" in names:
        return "mov" if suffix == ".mov" else "mp4"
    if "matroska" in names or "webm" in names:
        return "webm" if suffix == ".webm" else "matroska"
    for known in ("avi", "ogg", "mpegts", "flv", "asf"):
        if known in names:
            return known
    return format_name.split(",")[0]


def _positive(value: float | None) -> float | None:
    return value if value is not None and value > 0 else None


def probe(path: str | os.PathLike[str]) -> ProbeResult:
    """Probe ``path``; raise :class:`ProbeError` if it is not a readable video.

    Width and height are the display size: a 90° rotation flag swaps them.
    Never lets a PyAV exception escape.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ProbeError(f"unreadable: {describe_av_error(exc)}") from exc
    if size == 0:
        raise ProbeError("empty file")
    try:
        return _probe(path)
    except ProbeError:
        raise
    except Exception as exc:
        raise ProbeError(f"corrupt or unreadable: {describe_av_error(exc)}") from exc


def _probe(path: Path) -> ProbeResult:
    with av.open(str(path), mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT) as container:
        format_name = container.format.name
        if format_name.endswith("_pipe") or format_name in ("image2", "gif", "webp"):
            raise ProbeError("not a video: still image")
        videos = [
            s
            for s in container.streams.video
            if not s.disposition & (Disposition.attached_pic | Disposition.still_image)
        ]
        if not videos:
            raise ProbeError("no video stream")
        vstream = videos[0]
        astream = container.streams.audio[0] if container.streams.audio else None

        # Decode one frame: proves the data is really there (catches truncated files).
        first = None
        for count, packet in enumerate(container.demux(vstream), start=1):
            for frame in packet.decode():
                first = frame
                break
            if first is not None or count >= _MAX_PACKETS:
                break
        if first is None:
            raise ProbeError("corrupt or unreadable: no decodable video frame")

        duration = _positive(container.duration / 1_000_000 if container.duration else None)
        if duration is None and vstream.duration and vstream.time_base:
            duration = _positive(float(vstream.duration * vstream.time_base))

        ctx = vstream.codec_context
        width: int | None = ctx.width or first.width or None
        height: int | None = ctx.height or first.height or None
        if abs(first.rotation) == 90:
            width, height = height, width
        actx = astream.codec_context if astream else None

        return ProbeResult(
            duration=duration,
            width=width,
            height=height,
            video_codec=ctx.codec.canonical_name,
            audio_codec=actx.codec.canonical_name if actx else None,
            container=_container_name(format_name, path),
            video_tag=_tag(ctx.codec_tag),
            video_profile=_text(vstream.profile),
            pix_fmt=first.format.name,
            bit_depth=_bit_depth(first.format.name),
            frame_rate=_rate(vstream.average_rate or vstream.guessed_rate),
            video_level=ctx.level if isinstance(ctx.level, int) and ctx.level > 0 else None,
            rotation=(-round(first.rotation)) % 360,
            interlaced=bool(first.interlaced_frame),
            audio_channels=(actx.channels or None) if actx else None,
            audio_sample_rate=(actx.sample_rate or None) if actx else None,
        )


def _tag(tag: object) -> str | None:
    text = str(tag or "").strip("\x00 ")
    return text if text.isprintable() and 0 < len(text) <= 8 else None


def _text(value: object) -> str | None:
    return str(value)[:32] if value else None


def _rate(value: object) -> float | None:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return round(rate, 3) if 0 < rate < 1000 else None


def _bit_depth(pix_fmt: str) -> int:
    """``yuv420p10le`` -> 10; ``yuv420p`` / ``nv12`` / ``yuvj420p`` -> 8."""
    for depth in (16, 14, 12, 10, 9):
        if f"p{depth}" in pix_fmt:
            return depth
    return 8
