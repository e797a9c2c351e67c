"""JPEG thumbnails grabbed from a frame some way into the video."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import VideoFrame
from PIL import Image, ImageStat

from lvs.library.probe import OPEN_OPTIONS, OPEN_TIMEOUT, describe_av_error

__all__ = [
    "BLACK_THRESHOLD",
    "SAFE_HASH",
    "SEEK_POSITIONS",
    "THUMBNAIL_WIDTHS",
    "ThumbnailError",
    "make_thumbnail",
    "thumbnail_path",
]

#: Fractions of the duration tried in turn until a frame is not nearly black.
SEEK_POSITIONS: tuple[float, ...] = (0.15, 0.30, 0.50, 0.70, 0.05)
#: Mean luminance (0-255) below which a frame counts as "nearly black".
BLACK_THRESHOLD = 20.0
JPEG_QUALITY = 80
#: The widths (px) a thumbnail is made in: 320 for a card on a laptop, 640 for a phone's or a
#: TV's denser screen (``srcset``). The first is the original file name (rows from before).
THUMBNAIL_WIDTHS: tuple[int, ...] = (320, 640)
#: Give up on one seek position after decoding this many frames.
_MAX_FRAMES_PER_SEEK = 600
#: Without a known duration, read at most this many frames from the start.
_MAX_FRAMES_NO_DURATION = 900

#: What a fingerprint may look like before it names a file (checked before any path is built).
SAFE_HASH = re.compile(r"^[0-9A-Za-z_-]{4,128}$")


class ThumbnailError(Exception):
    """No thumbnail could be made; ``reason`` is short and human readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def thumbnail_path(thumbs_dir: Path, media_hash: str, width: int = THUMBNAIL_WIDTHS[0]) -> Path:
    """``thumbs_dir/ab/cd/abcd....jpg`` for hash ``abcd...`` (``abcd...-640.jpg`` for a width
    other than the first of ``THUMBNAIL_WIDTHS``)."""
    if not SAFE_HASH.fullmatch(media_hash):
        raise ValueError(f"not a valid media hash: {media_hash!r}")
    name = media_hash if width == THUMBNAIL_WIDTHS[0] else f"{media_hash}-{width}"
    return Path(thumbs_dir) / media_hash[:2] / media_hash[2:4] / f"{name}.jpg"


def _sibling(dest: Path, width: int) -> Path:
    """Where the ``width`` px copy of the thumbnail ``dest`` goes: ``name-640.jpg``."""
    return dest.with_name(f"{dest.stem}-{width}{dest.suffix}")


def _luminance(img: Image.Image) -> float:
    return float(ImageStat.Stat(img.convert("L")).mean[0])


def _to_image(frame: VideoFrame, width: int, sar: Fraction | None) -> Image.Image:
    """Frame -> RGB image at display geometry, at most ``width`` px wide."""
    img: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
    display_w, display_h = float(img.width), float(img.height)
    if sar is not None and sar > 0 and sar != 1:  # non-square pixels (e.g. DVD rips)
        display_w *= float(sar)
    rotation = frame.rotation
    if rotation in (90, -90, 180, -180):
        # PIL rotates counter-clockwise, like FFmpeg's display-matrix angle.
        img = img.rotate(rotation, expand=True)
        if rotation in (90, -90):
            display_w, display_h = display_h, display_w
    target_w = max(2, min(width, round(display_w)))
    target_h = max(2, round(display_h * target_w / display_w))
    return img.resize((target_w, target_h), Image.Resampling.LANCZOS)


def _pick_frame(src: Path, duration: float | None, width: int) -> Image.Image:
    with av.open(str(src), mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT) as container:
        if not container.streams.video:
            raise ThumbnailError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        sar = stream.codec_context.sample_aspect_ratio
        time_base = stream.time_base
        if duration is None or duration <= 0:
            duration = None
            if container.duration and container.duration > 0:
                duration = container.duration / 1_000_000
            elif stream.duration and time_base:
                duration = float(stream.duration * time_base)

        best: Image.Image | None = None
        best_lum = -1.0

        def consider(frame: VideoFrame) -> bool:
            """Keep the brightest candidate; True once one is bright enough."""
            nonlocal best, best_lum
            img = _to_image(frame, width, sar)
            lum = _luminance(img)
            if lum > best_lum:
                best, best_lum = img, lum
            return lum >= BLACK_THRESHOLD

        if duration is not None and time_base:
            start = float((stream.start_time or 0) * time_base)
            for fraction in SEEK_POSITIONS:
                target = start + duration * fraction
                try:
                    container.seek(int(target / time_base), stream=stream, backward=True)
                except av.FFmpegError:
                    continue
                frame = _decode_until(container, stream, target)
                if frame is not None and consider(frame):
                    break
        if best is None:
            # Unknown duration or unseekable file: walk from the start instead.
            if duration is not None:
                with contextlib.suppress(av.FFmpegError):
                    container.seek(0, stream=stream, backward=True)
            for i, frame in enumerate(container.decode(stream)):
                if i % 12 == 0 and consider(frame):
                    break
                if i >= _MAX_FRAMES_NO_DURATION:
                    break
        if best is None:
            raise ThumbnailError("no decodable video frame")
        return best


def _decode_until(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, target: float
) -> VideoFrame | None:
    """First frame at or after ``target`` seconds (or the last one before EOF)."""
    last: VideoFrame | None = None
    for count, frame in enumerate(container.decode(stream)):
        last = frame
        if frame.time is None or frame.time >= target - 1e-3 or count >= _MAX_FRAMES_PER_SEEK:
            return frame
    return last


def make_thumbnail(
    src: Path,
    dest: Path,
    duration: float | None,
    *,
    width: int = THUMBNAIL_WIDTHS[0],
    larger: tuple[int, ...] = THUMBNAIL_WIDTHS[1:],
) -> None:
    """Write a JPEG thumbnail of ``src`` (about ``width`` px wide) to ``dest`` atomically, and
    one per ``larger`` width next to it (``dest``'s name with ``-640``), from the same frame
    (never wider than the video: a small video's larger copies are the same size).

    Tries frames at 15 %, 30 %, 50 %, 70 % and 5 % of ``duration`` and keeps the
    first that is not nearly black (else the brightest one). Raises
    :class:`ThumbnailError` on any failure; ``dest`` is then left untouched and
    no temporary file remains.
    """
    src, dest = Path(src), Path(dest)
    try:
        big = _pick_frame(src, duration, max((width, *larger)))
    except ThumbnailError:
        raise
    except Exception as exc:
        raise ThumbnailError(f"cannot read video: {describe_av_error(exc)}") from exc

    if big.mode != "RGB":
        big = big.convert("RGB")
    for w in sorted(larger, reverse=True):
        _write_jpeg(_scaled(big, w), _sibling(dest, w))
    _write_jpeg(_scaled(big, width), dest)


def _scaled(img: Image.Image, width: int) -> Image.Image:
    if img.width <= width:
        return img
    height = max(2, round(img.height * width / img.width))
    return img.resize((width, height), Image.Resampling.LANCZOS)


def _write_jpeg(img: Image.Image, dest: Path) -> None:
    tmp_name: str | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=".tmp", dir=dest.parent)
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o644)  # mkstemp creates 0600
            img.save(fh, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        os.replace(tmp_name, dest)
        tmp_name = None
    except Exception as exc:
        raise ThumbnailError(f"cannot write thumbnail: {describe_av_error(exc)}") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
