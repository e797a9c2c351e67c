"""Making one HLS segment (MPEG-TS) of a video with PyAV, and finding its keyframes.

Runs in a worker process (see :mod:`lvs.playback.converter`), never in the event loop.

Every segment is made on its own, so any viewer can start or seek anywhere, and segments made
by different processes or at different times fit together. What makes that work in Chromium's
native HLS (measured, see shared/notes/hls-facts.md):

* one timeline for every segment: a timestamp is ``source time - origin + TS_OFFSET``, where
  ``origin`` is fixed per file (the plan's), so a segment's first timestamps continue exactly
  where the previous segment's end; ``TS_OFFSET`` keeps copied B-frames' decode times above
  zero without the muxer shifting one segment on its own;
* transcoded video has no B-frames, so a segment's first decode time is never before the
  previous segment's last one;
* audio is decoded from before the cut and trimmed sample-exactly to the segment's
  ``[start, end)``, and the AAC encoder's priming packet (stamped before the start) is dropped,
  so neighbouring segments neither overlap nor leave a gap, and audio cannot drift away from
  the picture after a seek. (With the overlap, Chromium left a gap in its buffered timeline at
  every boundary of a remux: measured, tests/browser/test_conversion_browser.py.)
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.video.frame import VideoFrame

from lvs.library.probe import OPEN_OPTIONS, OPEN_TIMEOUT

__all__ = [
    "AUDIO_RATE",
    "TS_OFFSET",
    "SegmentError",
    "SegmentSpec",
    "Timeline",
    "keyframe_times",
    "timeline",
    "write_progressive",
    "write_segment",
]

log = logging.getLogger(__name__)

#: Seconds added to every output timestamp (see the module's docstring).
TS_OFFSET = 10.0
#: Converted audio: AAC, stereo, 48 kHz.
AUDIO_RATE = 48_000
_TS_CLOCK = 90_000  # MPEG-TS timestamps tick at 90 kHz
_TB = Fraction(1, _TS_CLOCK)
#: How far before a cut decoding starts when the container's seek is not exact (MPEG-TS).
_SEEK_BACK = (0.0, 3.0, 12.0)


class SegmentError(Exception):
    """The segment could not be made (unreadable source, encoder failure)."""


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """Everything a worker process needs to make one segment (picklable)."""

    source: str
    out: str
    mode: str  # "remux": copy the video packets; "transcode": encode H.264
    start: float  # media seconds (relative to origin), inclusive
    end: float  # media seconds, exclusive
    origin: float  # source seconds that media time 0 stands for
    last: bool = False  # the final segment: take everything up to the end of the file
    max_height: int = 1080
    threads: int = 0  # encoder threads (0: the encoder's own choice)
    encoder: str = "libx264"
    crf: int = 23
    preset: str = "veryfast"
    ts_offset: float = TS_OFFSET  # 0 for a whole progressive file (MP4 has edit lists)


def write_segment(spec: SegmentSpec) -> int:
    """Make the segment described by ``spec`` at ``spec.out`` (atomically); return its size.

    A lock file beside it makes another process (another server worker) that asks for the same
    segment at the same time wait for this one and reuse it instead of making it twice. A
    hardware encoder that fails falls back to libx264.
    """
    out = Path(spec.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(f"{out.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if out.exists():
            return out.stat().st_size
        try:
            return _write(spec, out)
        except SegmentError as exc:
            if spec.encoder == "libx264" or spec.mode != "transcode":
                raise
            log.warning("encoder %s failed (%s); using libx264", spec.encoder, exc)
            return _write(replace(spec, encoder="libx264"), out)


class Stopped(Exception):
    """The reader of a progressive file went away."""


#: A progressive file's writer stays at most this far ahead of its reader.
PROGRESSIVE_AHEAD = 8 * 1024 * 1024
#: ... and stops when the reader has not moved for this long (a closed tab).
PROGRESSIVE_IDLE = 15.0


def write_progressive(spec: SegmentSpec, control: str) -> int:
    """Write the whole video from ``spec.start`` as fragmented MP4 at ``spec.out`` while a
    reader streams it: for browsers with neither native HLS nor scripts (Firefox without
    JavaScript), which then play it from the start. The reader writes how far it has read
    into ``control`` (or ``stop``); the writer keeps at most PROGRESSIVE_AHEAD bytes ahead and
    stops when the reader stops or goes quiet."""
    out = Path(spec.out)
    state = {"checked": 0.0}

    def pace() -> None:
        now = time.monotonic()
        if now - state["checked"] < 0.05:
            return
        while True:
            state["checked"] = now = time.monotonic()
            try:
                text = Path(control).read_text().strip()
                seen = os.stat(control).st_mtime
            except OSError:
                raise Stopped from None
            if text == "stop" or time.time() - seen > PROGRESSIVE_IDLE:
                raise Stopped
            written = out.stat().st_size if out.exists() else 0
            if written - int(text or 0) < PROGRESSIVE_AHEAD:
                return
            time.sleep(0.1)

    try:
        with (
            av.open(spec.source, mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT) as src,
            av.open(
                str(out),
                mode="w",
                format="mp4",
                options={"movflags": "frag_keyframe+empty_moov+default_base_moof"},
            ) as dst,
        ):
            _Segmenter(spec, src, dst, pace).run()
    except Stopped:
        pass
    except Exception as exc:
        raise SegmentError(f"{type(exc).__name__}: {exc}") from exc
    return out.stat().st_size if out.exists() else 0


def _write(spec: SegmentSpec, out: Path) -> int:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with (
            av.open(spec.source, mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT) as src,
            av.open(str(tmp), mode="w", format="mpegts") as dst,
        ):
            _Segmenter(spec, src, dst).run()
        size = tmp.stat().st_size
        os.replace(tmp, out)
        return size
    except SegmentError:
        raise
    except Exception as exc:
        raise SegmentError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@dataclass(frozen=True, slots=True)
class Timeline:
    """Where media time 0 is in the source (``origin``, source seconds), how long the media
    runs from there, and (for a remux) its keyframes in media seconds."""

    origin: float
    duration: float
    keyframes: tuple[float, ...] = ()


def timeline(source: str, *, keyframes: bool) -> Timeline:
    """The timeline of ``source``; with ``keyframes`` (remux), media time 0 is the first
    video keyframe, since a copied picture can only start there. Raises SegmentError."""
    try:
        return _timeline(source, keyframes=keyframes)
    except SegmentError:
        raise
    except Exception as exc:  # unreadable, vanished, damaged: one kind of failure for callers
        raise SegmentError(f"{type(exc).__name__}: {exc}") from exc


def _timeline(source: str, *, keyframes: bool) -> Timeline:
    with av.open(source, mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT) as src:
        video = src.streams.video[0]
        start = src.start_time / 1_000_000 if src.start_time is not None else None
        if video.start_time is not None and video.time_base:
            start = float(video.start_time * video.time_base)
        end = None
        if src.duration:
            end = (src.start_time or 0) / 1_000_000 + src.duration / 1_000_000
        elif video.duration and video.time_base:
            end = (start or 0.0) + float(video.duration * video.time_base)
    origin = start or 0.0
    keys: tuple[float, ...] = ()
    if keyframes:
        times = keyframe_times(source)
        if not times:
            raise SegmentError("no keyframes found")
        origin = times[0]
        keys = tuple(t - origin for t in times)
    if end is None or end <= origin:
        raise SegmentError("unknown duration")
    return Timeline(origin=origin, duration=end - origin, keyframes=keys)


def keyframe_times(source: str) -> list[float]:
    """Presentation times (source seconds, ascending) of the video keyframes of ``source``.

    The container's own index when it has one that covers the file (MKV cues, MP4 sample
    tables); otherwise one pass over the packets, reading no picture data (MPEG-TS, AVI ...).
    """
    with av.open(source, mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT) as src:
        video = src.streams.video[0]
        tb = float(video.time_base or Fraction(1, 90_000))
        names = set(src.format.name.split(","))
        times: set[float] = set()
        if names & {"matroska", "webm", "mov", "mp4"}:
            with contextlib.suppress(Exception):
                src.seek(0, stream=video)  # Matroska reads its cues on the first seek
                entries = video.index_entries
                if entries is not None:
                    times = {e.timestamp * tb for e in entries if e.is_keyframe}
        if times and _index_covers(times, video, src):
            if names & {"mov", "mp4"}:
                # MP4's sample table holds decode times: a keyframe is shown as much later as
                # the B-frames' reordering delays it, the same for every keyframe.
                first = next(
                    (p.pts for p in src.demux(video) if p.is_keyframe and p.pts is not None),
                    None,
                )
                shift = first * tb - min(times) if first is not None else 0.0
                return sorted(t + shift for t in times)
            return sorted(times)
        times = set()
        for packet in src.demux(video):
            if packet.is_keyframe and packet.pts is not None:
                times.add(packet.pts * tb)
        return sorted(times)


def _index_covers(times: set[float], video: Any, src: Any) -> bool:
    """The container's index is trusted only where it reaches the end of the file: MKV cues
    written every few seconds would otherwise make very long segments."""
    duration = src.duration / 1_000_000 if src.duration else None
    if duration is None:
        return False
    if len(times) == 1:
        return bool(duration < 2)
    ordered = sorted(times)
    widest = max(b - a for a, b in itertools.pairwise(ordered))
    return bool(ordered[-1] >= ordered[0] + duration - max(widest, 10.0) and widest <= 30)


class _Segmenter:
    def __init__(
        self, spec: SegmentSpec, src: Any, dst: Any, pace: Callable[[], None] | None = None
    ) -> None:
        self.spec = spec
        self.pace = pace
        self.src = src
        self.dst = dst
        self.vin = src.streams.video[0]
        if spec.mode == "transcode":
            self.vin.thread_type = "AUTO"  # frame threads: decoding HEVC is a third of the work
        self.ain = src.streams.audio[0] if src.streams.audio else None
        self.abs_start = spec.origin + spec.start
        self.abs_end = float("inf") if spec.last else spec.origin + spec.end
        self.vout: Any = None
        self.aout: Any = None
        self.graph: Any = None
        self.video_done = False
        self.audio_done = self.ain is None
        # audio: samples are counted on the output clock (48 kHz) from the first decoded frame
        self.a_first = round(spec.start * AUDIO_RATE)
        self.a_last = None if spec.last else round(spec.end * AUDIO_RATE)
        self.a_pos: int | None = None  # media sample position of the next resampled sample
        self.a_written = self.a_first
        self.resampler: AudioResampler | None = None
        self._pending = []

    # -- set-up ---------------------------------------------------------------------------------

    def _open_outputs(self) -> None:
        spec = self.spec
        if spec.mode == "remux":
            self.vout = self.dst.add_stream_from_template(self.vin)
        else:
            rate = self.vin.average_rate or self.vin.guessed_rate or Fraction(25)
            self.vout = self.dst.add_stream(spec.encoder, rate=rate)
            ctx = self.vout.codec_context
            width, height = self._output_size(self._display_rotation())
            ctx.width, ctx.height = width, height
            ctx.pix_fmt = "yuv420p"
            ctx.time_base = _TB
            ctx.max_b_frames = 0
            ctx.gop_size = max(1, round(float(rate) * 4))
            options = {"bf": "0"}
            if spec.encoder == "libx264":
                options |= {"preset": spec.preset, "crf": str(spec.crf), "profile": "high"}
            if spec.threads:
                options["threads"] = str(spec.threads)
            self.vout.options = options
        if self.ain is not None:
            self.aout = self.dst.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            self.aout.bit_rate = 160_000 if (self.ain.codec_context.channels or 2) > 1 else 96_000
            self.aout.codec_context.time_base = Fraction(1, AUDIO_RATE)
            self.resampler = AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)

    def _output_size(self, rotation: int) -> tuple[int, int]:
        """The picture as people see it: square pixels, upright, at most max_height lines."""
        ctx = self.vin.codec_context
        width, height = ctx.width, ctx.height
        sar = ctx.sample_aspect_ratio
        if sar and sar > 0 and sar != 1:  # anamorphic (DVD, TV): square pixels out
            width = round(width * float(sar))
        if rotation in (90, 270):  # a phone held upright
            width, height = height, width
        cap = self.spec.max_height
        if height > cap:
            width = round(width * cap / height)
            height = cap
        return max(2, width // 2 * 2), max(2, height // 2 * 2)

    def _filter(self, frame: VideoFrame) -> list[VideoFrame]:
        if self.graph is None:
            graph = av.filter.Graph()
            chain = [
                graph.add_buffer(
                    width=frame.width,
                    height=frame.height,
                    format=frame.format,
                    time_base=frame.time_base or self.vin.time_base,
                )
            ]
            if frame.interlaced_frame:
                chain.append(graph.add("bwdif", "mode=send_frame:deint=interlaced"))
            rotation = frame.rotation % 360
            if rotation == 90:
                chain.append(graph.add("transpose", "cclock"))
            elif rotation == 270:
                chain.append(graph.add("transpose", "clock"))
            elif rotation == 180:
                chain.append(graph.add("hflip"))
                chain.append(graph.add("vflip"))
            width, height = self.vout.codec_context.width, self.vout.codec_context.height
            chain.append(graph.add("scale", f"{width}:{height}:flags=bicubic"))
            chain.append(graph.add("format", "yuv420p"))
            chain.append(graph.add("buffersink"))
            graph.link_nodes(*chain)
            graph.configure()
            self.graph = graph
        self.graph.vpush(frame)
        frames = []
        while True:
            try:
                frames.append(self.graph.vpull())
            except (av.error.BlockingIOError, av.error.EOFError):
                break
        return frames

    # -- the work -------------------------------------------------------------------------------

    def run(self) -> None:
        self._open_outputs()
        try:
            for back in _SEEK_BACK:
                if self._seek_and_go(back):
                    break
            else:
                raise SegmentError("could not find the segment's start in the file")
            self._flush()
        finally:
            if self._reopened is not None:
                self._reopened.close()

    _reopened: Any = None

    def _rewind(self) -> None:
        """Read again from the start of the file, for a container that cannot seek: the
        frames before the cut are decoded and dropped as after any seek."""
        if self._reopened is not None:
            self._reopened.close()
        self._reopened = av.open(
            self.spec.source, mode="r", options=OPEN_OPTIONS, timeout=OPEN_TIMEOUT
        )
        self.src = self._reopened
        self.vin = self.src.streams.video[0]
        self.ain = self.src.streams.audio[0] if self.src.streams.audio else None
        if self.spec.mode == "transcode":
            self.vin.thread_type = "AUTO"

    def _display_rotation(self) -> int:
        for packet in self.src.demux(self.vin):
            for frame in packet.decode():
                rotation: int = frame.rotation % 360
                return rotation
        return 0

    def _seek_and_go(self, back: float) -> bool:
        """Seek to a keyframe at or before the cut (``back`` seconds earlier still) and make the
        segment. False when the container's seek landed after the cut (imprecise seek)."""
        target = max(0.0, self.abs_start - back - 0.001)
        try:
            self.src.seek(int(target / self.vin.time_base), stream=self.vin, backward=True)
        except (av.error.FFmpegError, OSError):  # cannot seek (FLV without an index)
            self._rewind()
        for codec in (self.vin.codec_context, self.ain.codec_context if self.ain else None):
            if codec is not None:
                with contextlib.suppress(Exception):
                    codec.flush_buffers()
        streams = [self.vin] + ([self.ain] if self.ain is not None else [])
        first_checked = False
        held: list[Any] = []
        for packet in self.src.demux(*streams):
            if packet.stream is self.vin:
                if self.video_done:
                    pass
                elif self.spec.mode == "remux":
                    if not first_checked and packet.pts is not None:
                        first_checked = True
                        if packet.pts * self.vin.time_base > self.abs_start + 0.001 and back < 12:
                            return False
                    self._copy_video(packet)
                else:
                    for frame in self._decode(packet):
                        if not first_checked:
                            first_checked = True
                            if frame.time > self.abs_start + 0.02 and back < 12:
                                return False
                        self._encode_video(frame)
            elif packet.stream is self.ain and not self.audio_done:
                if not first_checked:  # the seek may still be retried: hold the audio
                    held.append(packet)
                    continue
                for aframe in self._decode_all(held, packet):
                    self._audio(aframe)
            if self.video_done and self.audio_done:
                break
        else:
            # end of file: drain the decoders
            if not self.video_done and self.spec.mode == "transcode":
                for frame in self._decode(None, self.vin):
                    self._encode_video(frame)
            if not self.audio_done and self.ain is not None:
                for aframe in self._decode_all(held, None):
                    self._audio(aframe)
                for aframe in self._decode(None, self.ain):
                    self._audio(aframe)
        return True

    def _decode_all(self, held: list[Any], packet: Any) -> list[Any]:
        frames = []
        while held:
            frames.extend(self._decode(held.pop(0)))
        if packet is not None:
            frames.extend(self._decode(packet))
        return frames

    def _decode(self, packet: Any, stream: Any = None) -> list[Any]:
        try:
            if packet is None:
                return list(stream.codec_context.decode(None))
            return list(packet.decode())
        except av.error.FFmpegError as exc:  # a damaged packet: skip it, as players do
            log.debug("decode error: %s", exc)
            return []

    # -- video ----------------------------------------------------------------------------------

    def _copy_video(self, packet: Any) -> None:
        if packet.pts is None or packet.size == 0:
            return
        t = float(packet.pts * self.vin.time_base)
        if packet.is_keyframe and t >= self.abs_end - 0.001:
            self._mux_pending(None)
            self.video_done = True
            return
        if not self._copy_started:
            if not packet.is_keyframe or t < self.abs_start - 0.001:
                return
            self._copy_started = True
        if packet.dts is None:
            # Matroska stores no decode times, and the demuxer can only work them out once
            # it has seen the reordering: hold these until the next packet that has one.
            self._pending.append(packet)
            return
        self._mux_pending(packet.dts)
        self._mux_copy(packet)

    def _mux_pending(self, next_dts: int | None) -> None:
        """Give held packets decode times one frame apart, ending a frame before
        ``next_dts`` (or continuing after the last one muxed)."""
        if not self._pending:
            return
        step = self._frame_ticks()
        if next_dts is None:
            base = (self._last_dts + step) if self._last_dts is not None else None
            for i, packet in enumerate(self._pending):
                packet.dts = packet.pts if base is None else min(packet.pts, base + i * step)
        else:
            count = len(self._pending)
            for i, packet in enumerate(self._pending):
                packet.dts = next_dts - (count - i) * step
        for packet in self._pending:
            self._mux_copy(packet)
        self._pending = []

    def _frame_ticks(self) -> int:
        rate = self.vin.average_rate or self.vin.guessed_rate or Fraction(25)
        ticks: int = max(1, round(1 / (float(rate) * self.vin.time_base)))
        return ticks

    def _mux_copy(self, packet: Any) -> None:
        if self.pace is not None:
            self.pace()
        shift = round((self.spec.ts_offset - self.spec.origin) / self.vin.time_base)
        self._last_dts = packet.dts
        packet.pts += shift
        packet.dts += shift
        packet.stream = self.vout
        self.dst.mux(packet)

    _copy_started = False
    _pending: list[Any]
    _last_dts: int | None = None

    def _encode_video(self, frame: VideoFrame) -> None:
        if frame.pts is None:
            return
        t = frame.time
        if t < self.abs_start - 0.0005:
            return
        if t >= self.abs_end - 0.0005:
            self.video_done = True
            return
        if self.pace is not None:
            self.pace()
        for out in self._filter(frame):
            out.pts = round((t - self.spec.origin + self.spec.ts_offset) * _TS_CLOCK)
            out.time_base = _TB
            out.pict_type = av.video.frame.PictureType.NONE
            self.dst.mux(self.vout.encode(out))

    # -- audio ----------------------------------------------------------------------------------

    def _audio(self, frame: AudioFrame) -> None:
        assert self.resampler is not None
        if self.a_pos is None:
            if frame.pts is None or frame.time is None:
                return
            self.a_pos = round((frame.time - self.spec.origin) * AUDIO_RATE)
        for out in self.resampler.resample(frame):
            self._take_samples(out)

    def _take_samples(self, frame: AudioFrame) -> None:
        assert self.a_pos is not None
        start, n = self.a_pos, frame.samples
        self.a_pos += n
        lo = max(start, self.a_written)
        hi = start + n if self.a_last is None else min(start + n, self.a_last)
        if hi <= lo:
            if self.a_last is not None and start >= self.a_last:
                self.audio_done = True
            return
        if lo > self.a_written:  # a hole in the source's audio: fill it with silence
            self._emit_silence(lo - self.a_written)
        frame = _slice(frame, lo - start, hi - lo)
        frame.pts = self.a_written + round(self.spec.ts_offset * AUDIO_RATE)
        frame.time_base = Fraction(1, AUDIO_RATE)
        self.a_written += frame.samples
        self._mux_audio(self.aout.encode(frame))
        if self.a_last is not None and self.a_written >= self.a_last:
            self.audio_done = True

    def _mux_audio(self, packets: list[Any]) -> None:
        """Mux encoded audio, without the AAC encoder's priming: its first packet is stamped a
        frame before the segment starts, and MPEG-TS cannot tell a player to discard it, so
        each segment's audio would overlap the previous one's end. Chromium leaves a gap in
        the buffered timeline at every such overlap when the picture is copied with B-frames."""
        start = self.spec.start + self.spec.ts_offset - 1e-6
        for packet in packets:
            if packet.pts is not None and packet.pts * packet.time_base < start:
                continue
            self.dst.mux(packet)

    def _emit_silence(self, count: int) -> None:
        while count > 0:
            n = min(count, 1024)
            frame = AudioFrame(format="fltp", layout="stereo", samples=n)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.a_written + round(self.spec.ts_offset * AUDIO_RATE)
            frame.time_base = Fraction(1, AUDIO_RATE)
            self.a_written += n
            count -= n
            self._mux_audio(self.aout.encode(frame))

    def _flush(self) -> None:
        if self.aout is not None:
            if self.resampler is not None and self.a_pos is not None:
                for out in self.resampler.resample(None):
                    self._take_samples(out)
            if self.a_last is not None and self.a_written < self.a_last:
                # the source's audio ended before the picture: silence to the cut
                self._emit_silence(self.a_last - self.a_written)
            self._mux_audio(self.aout.encode(None))
        if self.spec.mode == "transcode" and self.vout is not None:
            self.dst.mux(self.vout.encode(None))
        elif self.spec.mode == "remux":
            self._mux_pending(None)


def _slice(frame: AudioFrame, offset: int, count: int) -> AudioFrame:
    """Samples ``[offset, offset + count)`` of a planar float frame."""
    if offset == 0 and count == frame.samples:
        return frame
    out = AudioFrame(format="fltp", layout="stereo", samples=count)
    for src_plane, dst_plane in zip(frame.planes, out.planes, strict=True):
        data = bytes(src_plane)[offset * 4 : (offset + count) * 4]
        dst_plane.update(data + bytes(dst_plane.buffer_size - len(data)))
    out.sample_rate = frame.sample_rate
    return out
