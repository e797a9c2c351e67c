"""Scrub previews: a sprite sheet of small frames and a WebVTT index whose cues point into it.

For each video, one JPEG of tiles :data:`TILE_WIDTH` px wide, :data:`COLUMNS` to a row, one
tile every :data:`INTERVAL` seconds (more often for short clips, so there are at least
:data:`MIN_FRAMES`; at most :data:`MAX_FRAMES` for long ones), and a WebVTT file whose cue for
each stretch of time names its tile as ``previews.jpg#xywh=x,y,w,h`` (the media-fragment form
that Stash, Jellyfin's web player and video.js plugins read). Players that read the track show
the tile while seeking; lvs's own scripts (static/js/scrub.js, previews.js) read it too.

Each frame is found by seeking to its time and decoding up to it. A file that seeks slowly (a
long GOP, a huge bitrate) switches to keyframe-only decoding (the keyframe at or before each
time) once the exact way would overrun the per-file time limit; past the limit, it gives up.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
from av.video.frame import VideoFrame
from PIL import Image

from lvs.library.probe import OPEN_OPTIONS, OPEN_TIMEOUT, describe_av_error
from lvs.library.thumbnails import SAFE_HASH, thumbnail_path

__all__ = [
    "COLUMNS",
    "INTERVAL",
    "MAX_FRAMES",
    "MIN_FRAMES",
    "TILE_WIDTH",
    "Cue",
    "SpriteError",
    "SpriteSheet",
    "failure_path",
    "frame_times",
    "make_previews",
    "preview_paths",
    "previews_ready",
]

TILE_WIDTH = 160
COLUMNS = 10
INTERVAL = 10.0
MIN_FRAMES = 20
MAX_FRAMES = 200
JPEG_QUALITY = 70
#: Seconds one file may take before it is given up on.
TIME_LIMIT = 120.0
#: Decode at most this many frames after a seek looking for the wanted time.
_MAX_FRAMES_PER_SEEK = 300
#: The name the VTT's cues use for the sprite, relative to the VTT's own URL.
SPRITE_NAME = "previews.jpg"


class SpriteError(Exception):
    """No previews could be made; the message is short and human readable."""


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class SpriteSheet:
    """What was written: the tiles' geometry and the cues (also for tests and the bench)."""

    width: int
    height: int
    tile_width: int
    tile_height: int
    cues: list[Cue]
    keyframes_only: bool


def frame_times(duration: float) -> list[float]:
    """Start time of each tile: every 10 s; shorter steps so a short clip still gets 20 tiles;
    longer ones so a long film gets at most 200."""
    if not duration > 0 or not math.isfinite(duration):
        return [0.0]
    step = min(INTERVAL, duration / MIN_FRAMES)
    count = math.ceil(duration / step - 1e-9)
    if count > MAX_FRAMES:
        step, count = duration / MAX_FRAMES, MAX_FRAMES
    return [round(i * step, 3) for i in range(count)]


def preview_paths(previews_dir: Path, media_hash: str) -> tuple[Path, Path]:
    """``(sprite.jpg, index.vtt)`` for this fingerprint, sharded like thumbnails."""
    base = thumbnail_path(previews_dir, media_hash)  # validates the hash
    return base, base.with_suffix(".vtt")


def failure_path(previews_dir: Path, media_hash: str) -> Path:
    """Where the reason previews cannot be made for this fingerprint is kept (so a damaged
    file is not tried again on every rescan; a changed file has a new fingerprint)."""
    return preview_paths(previews_dir, media_hash)[0].with_suffix(".err")


def previews_ready(previews_dir: Path, media_hash: str) -> bool:
    """True once the VTT index exists: it is written after the sprite, so both do. Asked once
    per card on every page, so one ``stat`` on a string path (no ``Path`` objects: 2 µs, not
    50)."""
    if not SAFE_HASH.fullmatch(media_hash):
        raise ValueError(f"not a valid media hash: {media_hash!r}")
    return os.path.isfile(f"{previews_dir}/{media_hash[:2]}/{media_hash[2:4]}/{media_hash}.vtt")


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def vtt_text(cues: list[Cue], sprite_name: str = SPRITE_NAME) -> str:
    lines = ["WEBVTT", ""]
    for cue in cues:
        lines += [
            f"{_timestamp(cue.start)} --> {_timestamp(cue.end)}",
            f"{sprite_name}#xywh={cue.x},{cue.y},{cue.w},{cue.h}",
            "",
        ]
    return "\n".join(lines)


def _tile_size(frame: VideoFrame, sar: Fraction | None) -> tuple[int, int, int]:
    """``(decode width, decode height, rotation)``: the frame scaled to TILE_WIDTH display
    pixels wide (before rotation), keeping the display aspect ratio."""
    display_w = frame.width * (float(sar) if sar and sar > 0 else 1.0)
    display_h = float(frame.height)
    rotation = frame.rotation if frame.rotation in (90, -90, 180, -180) else 0
    # The tile is TILE_WIDTH wide after turning.
    scale = TILE_WIDTH / (display_h if rotation in (90, -90) else display_w)
    w = max(2, round(display_w * scale / 2) * 2)
    h = max(2, round(display_h * scale / 2) * 2)
    return w, h, rotation


def _tile(frame: VideoFrame, size: tuple[int, int, int]) -> Image.Image:
    w, h, rotation = size
    img: Image.Image = frame.to_image(  # type: ignore[no-untyped-call]
        width=w, height=h, interpolation="BILINEAR"
    )
    if rotation:
        img = img.rotate(rotation, expand=True)  # counter-clockwise, like FFmpeg's matrix
    return img


class _Reader:
    """Frames at given times from one open video stream."""

    def __init__(self, container: av.container.InputContainer, deadline: float) -> None:
        self.container = container
        self.stream = container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.time_base = self.stream.time_base or Fraction(1, 1000)
        self.start = float((self.stream.start_time or 0) * self.time_base)
        self.deadline = deadline
        self.keyframes_only = False
        self.linear: Iterator[VideoFrame] | None = None  # the file cannot seek: read on

    def keyframes(self) -> None:
        self.keyframes_only = True
        self.stream.codec_context.skip_frame = "NONKEY"

    def at(self, t: float) -> VideoFrame | None:
        target = self.start + t
        if self.linear is None:
            try:
                self.container.seek(int(target / self.time_base), stream=self.stream, backward=True)
            except av.FFmpegError:
                self.keyframes()
                with contextlib.suppress(av.FFmpegError):
                    self.container.seek(0, stream=self.stream, backward=True)
                self.linear = self.container.decode(self.stream)
        if self.linear is not None:
            return next((f for f in self.linear if f.time is None or f.time >= target - 1e-3), None)
        last: VideoFrame | None = None
        for count, frame in enumerate(self.container.decode(self.stream)):
            last = frame
            if (
                self.keyframes_only
                or frame.time is None
                or frame.time >= target - 1e-3
                or count >= _MAX_FRAMES_PER_SEEK
                or time.monotonic() > self.deadline
            ):
                return frame
        return last


def _grab(
    src: Path,
    duration: float | None,
    time_limit: float,
    progress: Callable[[int, int], None] | None,
    keyframes_only: bool,
) -> tuple[list[Image.Image], list[float], float, bool]:
    started = time.monotonic()
    deadline = started + time_limit
    with av.open(str(src), mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT) as container:
        if not container.streams.video:
            raise SpriteError("no video stream")
        reader = _Reader(container, deadline)
        if keyframes_only:
            reader.keyframes()
        if not duration or duration <= 0:
            if container.duration and container.duration > 0:
                duration = container.duration / 1_000_000
            elif reader.stream.duration:
                duration = float(reader.stream.duration * reader.time_base)
        if not duration or duration <= 0:
            raise SpriteError("unknown duration")
        times = frame_times(duration)
        sar = reader.stream.codec_context.sample_aspect_ratio
        size: tuple[int, int, int] | None = None
        tiles: list[Image.Image] = []
        for i, t in enumerate(times):
            now = time.monotonic()
            if now > deadline:
                raise SpriteError(f"gave up after {time_limit:.0f} s")
            # Too slow for the exact frames: the keyframe at or before each time will do.
            if i >= 2 and not reader.keyframes_only:
                per_frame = (now - started) / i
                if now + per_frame * (len(times) - i) > started + time_limit * 0.8:
                    reader.keyframes()
            frame = reader.at(t)
            if frame is None:
                if not tiles:
                    raise SpriteError("no decodable video frame")
                tiles.append(tiles[-1])  # past the real end: repeat the last picture
                continue
            if size is None:
                size = _tile_size(frame, sar)
            tiles.append(_tile(frame, size))
            if progress is not None:
                progress(i + 1, len(times))
        return tiles, times, duration, reader.keyframes_only


def make_previews(
    src: Path,
    previews_dir: Path,
    media_hash: str,
    duration: float | None,
    *,
    time_limit: float = TIME_LIMIT,
    progress: Callable[[int, int], None] | None = None,
    keyframes_only: bool = False,
) -> SpriteSheet:
    """Write the sprite sheet and its VTT index for ``src``; raise :class:`SpriteError` when
    the file cannot be read (nothing is left behind then). ``keyframes_only`` starts with the
    fast way instead of switching to it when time runs short. Both files are written under
    temporary names and renamed into place, the VTT last."""
    sprite_path, vtt_path = preview_paths(previews_dir, media_hash)
    try:
        tiles, times, duration, keyframes_only = _grab(
            Path(src), duration, time_limit, progress, keyframes_only
        )
    except SpriteError:
        raise
    except Exception as exc:
        raise SpriteError(f"cannot read video: {describe_av_error(exc)}") from exc

    tile_w, tile_h = tiles[0].size
    columns = min(COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    sheet = Image.new("RGB", (columns * tile_w, rows * tile_h))
    cues: list[Cue] = []
    for i, (tile, start) in enumerate(zip(tiles, times, strict=True)):
        x, y = (i % columns) * tile_w, (i // columns) * tile_h
        if tile.size != (tile_w, tile_h):  # a stream whose size changes mid-way
            tile = tile.resize((tile_w, tile_h))
        sheet.paste(tile, (x, y))
        end = times[i + 1] if i + 1 < len(times) else max(duration, start + 0.001)
        cues.append(Cue(start, round(end, 3), x, y, tile_w, tile_h))

    sprite_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(sprite_path, lambda fh: sheet.save(fh, "JPEG", quality=JPEG_QUALITY))
    _write_atomic(vtt_path, lambda fh: fh.write(vtt_text(cues).encode()))
    return SpriteSheet(sheet.width, sheet.height, tile_w, tile_h, cues, keyframes_only)


def _write_atomic(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o644)
            write(fh)
        os.replace(tmp_name, dest)
        tmp_name = None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
