"""HLS segments made one by one with PyAV, read back as a player would read them.

Every segment of a clip is made on its own (as the converter's worker processes make them, in
any order), then opened with PyAV: what a browser's HLS player needs is checked on the real
bytes. H.264 + AAC stereo 48 kHz in every segment; each segment starts with a keyframe where
the playlist says it starts; picture and sound continue across every boundary with no gap,
overlap, duplicate or drop (Chromium refuses decode times that go back, and audio that
overlaps drifts after a seek); the whole set decodes to the clip's frames.
"""

from __future__ import annotations

import fcntl
import math
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import pytest

from lvs.library.samples import SAMPLE_KINDS, make_samples
from lvs.playback.hls import Segment, fixed_grid, keyframe_grid
from lvs.playback.segment import (
    AUDIO_RATE,
    TS_OFFSET,
    SegmentSpec,
    Timeline,
    keyframe_times,
    timeline,
    write_segment,
)

SECONDS = 12.0
FPS = 25
TICKS = 90_000  # MPEG-TS clock
FRAME = TICKS // FPS  # one frame in ticks
AAC_FRAME = 1024  # samples per AAC frame: the encoder's priming, and the most padding

#: kind -> how the converter makes it
MODES = {
    "h264_ac3_mkv": "remux",
    "h264_ac3_mp4": "remux",
    "hevc_aac_mkv": "transcode",
    "hevc10_aac_mkv": "transcode",
    "mpeg2_mp2_ts": "transcode",
    "mpeg4_mp3_avi": "transcode",
}

ALL = list(MODES)
ALIGNED = list(MODES)
TRANSCODED = [k for k, m in MODES.items() if m == "transcode"]
REMUXED = [k for k, m in MODES.items() if m == "remux"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every sample kind, 12 s, keyframes every 2 s (MPEG-2 and XviD: every 51 frames)."""
    return make_samples(tmp_path_factory.mktemp("segments"), seconds=SECONDS, fps=FPS)


@dataclass(frozen=True)
class Read:
    """One segment as PyAV reads it back (timestamps in 90 kHz ticks, as muxed)."""

    video_codec: str
    audio_codec: str
    audio_channels: int
    audio_rate: int
    size: tuple[int, int]
    video: list[tuple[int, int, bool]]  # (pts, dts, keyframe) of each packet, in file order
    audio_first_pts: int
    frames: list[int]  # pts of each decoded picture
    first_frame_key: bool
    samples: int  # decoded audio samples


@dataclass(frozen=True)
class Converted:
    line: Timeline
    segments: list[Segment]
    reads: list[Read]
    files: list[Path]


def read_segment(path: Path) -> Read:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.time_base == a.time_base == Fraction(1, TICKS)
        packets = [p for p in c.demux(v, a) if p.size]
        video = [(p.pts, p.dts, p.is_keyframe) for p in packets if p.stream is v]
        audio_first = next(p.pts for p in packets if p.stream is a)
        info = (
            v.codec_context.name,
            a.codec_context.name,
            a.codec_context.channels,
            a.codec_context.sample_rate,
        )
    with av.open(str(path)) as c:
        pictures = list(c.decode(video=0))
    with av.open(str(path)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    return Read(
        *info,
        size=(pictures[0].width, pictures[0].height),
        video=video,
        audio_first_pts=audio_first,
        frames=[f.pts for f in pictures],
        first_frame_key=bool(pictures[0].key_frame),
        samples=samples,
    )


def make_all(src: Path, mode: str, out: Path, **spec: object) -> Converted:
    """Every segment of ``src``, worked out and made as the converter does, last one first."""
    line = timeline(str(src), keyframes=mode == "remux")
    segments = (
        keyframe_grid(line.keyframes, line.duration)
        if mode == "remux"
        else fixed_grid(line.duration)
    )
    files = [out / f"{s.index:05d}.ts" for s in segments]
    for s in reversed(segments):  # any order: each segment stands on its own
        write_segment(
            SegmentSpec(
                source=str(src),
                out=str(files[s.index]),
                mode=mode,
                start=s.start,
                end=s.end,
                origin=line.origin,
                last=s.index == len(segments) - 1,
                **spec,  # type: ignore[arg-type]
            )
        )
    return Converted(line, segments, [read_segment(f) for f in files], files)


@pytest.fixture(scope="module")
def converted(
    clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Converted]:
    done: dict[str, Converted] = {}

    def get(kind: str) -> Converted:
        if kind not in done:
            out = tmp_path_factory.mktemp(kind)
            done[kind] = make_all(clips[kind], MODES[kind], out)
        return done[kind]

    return get


# -- the timeline ------------------------------------------------------------------------------


def picture_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0)]


def keyframe_presentation_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0) if f.key_frame]


@pytest.mark.parametrize("kind", sorted(SAMPLE_KINDS))
def test_keyframe_times_are_the_keyframes_presentation_times(
    clips: dict[str, Path], kind: str
) -> None:
    found = keyframe_times(str(clips[kind]))

    assert found == pytest.approx(keyframe_presentation_times(clips[kind]), abs=1e-3)


@pytest.mark.parametrize("kind", sorted(SAMPLE_KINDS))
def test_keyframe_times_find_every_keyframe(clips: dict[str, Path], kind: str) -> None:
    found = keyframe_times(str(clips[kind]))
    gop = 51 / FPS if SAMPLE_KINDS[kind].video_codec in ("mpeg2video", "mpeg4") else 2.0

    assert len(found) == math.ceil(round(SECONDS * FPS) / round(gop * FPS))
    assert found == sorted(found)
    assert [b - a for a, b in pairwise(found)] == pytest.approx([gop] * (len(found) - 1), abs=0.13)


@pytest.mark.parametrize("kind", ALIGNED)
def test_timeline_starts_at_the_first_picture(clips: dict[str, Path], kind: str) -> None:
    line = timeline(str(clips[kind]), keyframes=MODES[kind] == "remux")

    pictures = picture_times(clips[kind])
    # Within a frame: an AVI stores no presentation times, and its decoder places the first
    # picture one frame after the stream's start.
    assert line.origin == pytest.approx(pictures[0], abs=1 / FPS + 1e-3)
    # The playlist runs to the end of the last picture (its duration: one frame).
    assert line.origin + line.duration == pytest.approx(pictures[-1] + 1 / FPS, abs=1 / FPS)


def test_remux_timeline_keyframes_are_media_times(clips: dict[str, Path]) -> None:
    line = timeline(str(clips["h264_ac3_mkv"]), keyframes=True)

    assert line.origin == 0.0
    assert line.keyframes == pytest.approx((0.0, 2.0, 4.0, 6.0, 8.0, 10.0))


def test_transcode_timeline_needs_no_keyframes(clips: dict[str, Path]) -> None:
    assert timeline(str(clips["hevc_aac_mkv"]), keyframes=False).keyframes == ()


# -- what is in each segment -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL)
def test_every_segment_is_h264_with_aac_stereo_48k(
    converted: Callable[[str], Converted], kind: str
) -> None:
    result = converted(kind)

    assert len(result.reads) == len(result.segments) >= 3
    for read in result.reads:
        assert (read.video_codec, read.audio_codec) == ("h264", "aac")
        assert (read.audio_channels, read.audio_rate) == (2, AUDIO_RATE)
        assert read.size == (320, 180)


@pytest.mark.parametrize("kind", ALL)
def test_every_segment_starts_with_a_keyframe(
    converted: Callable[[str], Converted], kind: str
) -> None:
    for read in converted(kind).reads:
        assert read.video[0][2], "first video packet is not a keyframe"
        assert read.first_frame_key


@pytest.mark.parametrize("kind", TRANSCODED)
def test_transcoded_video_has_no_b_frames(converted: Callable[[str], Converted], kind: str) -> None:
    for read in converted(kind).reads:
        assert all(pts == dts for pts, dts, _ in read.video)
        assert [pts for pts, _, _ in read.video] == sorted(pts for pts, _, _ in read.video)


@pytest.mark.parametrize("kind", ALL)
def test_decode_times_only_go_forward_across_segments(
    converted: Callable[[str], Converted], kind: str
) -> None:
    # Chromium: "Parsed buffers not in DTS sequence" if a segment's first DTS goes back.
    dts = [d for read in converted(kind).reads for _, d, _ in read.video]
    assert all(b > a for a, b in pairwise(dts))


@pytest.mark.parametrize("kind", ALL)
def test_pictures_continue_across_boundaries_without_gap_or_repeat(
    converted: Callable[[str], Converted], kind: str
) -> None:
    reads = converted(kind).reads
    for before, after in pairwise(reads):
        assert min(after.frames) - max(before.frames) == pytest.approx(FRAME, abs=2)
    every = sorted(pts for read in reads for pts in read.frames)
    assert len(set(every)) == len(every), "a picture appears in two segments"
    assert {b - a for a, b in pairwise(every)} <= set(range(FRAME - 2, FRAME + 3))


@pytest.mark.parametrize("kind", ALL)
def test_all_segments_decode_to_the_clip_s_pictures(
    converted: Callable[[str], Converted], kind: str
) -> None:
    total = sum(len(read.frames) for read in converted(kind).reads)
    assert abs(total - round(SECONDS * FPS)) <= 1


@pytest.mark.parametrize("kind", ALIGNED)
def test_each_segment_is_where_and_as_long_as_the_playlist_says(
    converted: Callable[[str], Converted], kind: str
) -> None:
    result = converted(kind)
    for segment, read in zip(result.segments, result.reads, strict=True):
        first = (min(read.frames) - TS_OFFSET * TICKS) / TICKS
        shown = len(read.frames) / FPS
        within_a_frame = 1 / FPS + 1e-6
        assert first == pytest.approx(segment.start, abs=within_a_frame), segment
        assert shown == pytest.approx(segment.duration, abs=within_a_frame), segment


@pytest.mark.parametrize("kind", ALL)
def test_audio_is_sample_exact_across_boundaries(
    converted: Callable[[str], Converted], kind: str
) -> None:
    result = converted(kind)
    starts = [read.audio_first_pts for read in result.reads]
    # Each segment's audio starts where the previous one's [start, end) ended ...
    for segment, (a, b) in zip(result.segments, pairwise(starts), strict=False):
        assert b - a == round(segment.duration * TICKS)
    # ... less the same AAC priming in every segment (at most one AAC frame), so sound and
    # picture stay together after a seek to any segment.
    pairs = zip(result.segments, starts, strict=True)
    lead = {round((s.start + TS_OFFSET) * TICKS) - a for s, a in pairs}
    assert len(lead) == 1
    priming = lead.pop() * AUDIO_RATE // TICKS
    assert 0 <= priming <= AAC_FRAME
    # The samples decoded are the segment's, plus the priming, plus the last frame's padding.
    for segment, read in zip(result.segments[:-1], result.reads, strict=False):
        content = read.samples - priming
        assert 0 <= content - round(segment.duration * AUDIO_RATE) < AAC_FRAME


@pytest.mark.parametrize("kind", ALIGNED)
def test_sound_and_picture_of_a_segment_span_the_same_time(
    converted: Callable[[str], Converted], kind: str
) -> None:
    for read in converted(kind).reads:
        audio = read.audio_first_pts + AAC_FRAME * TICKS // AUDIO_RATE  # past the priming
        assert abs(audio - min(read.frames)) <= FRAME


def test_converted_height_is_capped(clips: dict[str, Path], tmp_path: Path) -> None:
    result = make_all(clips["hevc_aac_mkv"], "transcode", tmp_path, max_height=120)

    assert {read.size for read in result.reads} == {(212, 120)}


# -- one segment, made once --------------------------------------------------------------------


def one_spec(clips: dict[str, Path], out: Path) -> SegmentSpec:
    return SegmentSpec(
        source=str(clips["hevc_aac_mkv"]),
        out=str(out),
        mode="transcode",
        start=4.0,
        end=8.0,
        origin=0.0,
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix not in (".ts", ".lock"))


def test_making_a_segment_twice_keeps_the_first(clips: dict[str, Path], tmp_path: Path) -> None:
    spec = one_spec(clips, tmp_path / "00001.ts")
    size = write_segment(spec)
    before = os.stat(spec.out)

    assert write_segment(spec) == size
    after = os.stat(spec.out)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert leftovers(tmp_path) == []


def test_a_segment_being_made_elsewhere_is_waited_for_and_reused(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    spec = one_spec(clips, tmp_path / "00001.ts")
    made_elsewhere = b"G" + bytes(187)  # one TS packet, made by "another worker"
    results: list[int] = []
    with open(tmp_path / "00001.ts.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker is making this segment
        waiter = threading.Thread(target=lambda: results.append(write_segment(spec)))
        waiter.start()
        (tmp_path / "00001.ts").write_bytes(made_elsewhere)
        fcntl.flock(lock, fcntl.LOCK_UN)
    waiter.join(timeout=60)

    assert results == [len(made_elsewhere)]
    assert (tmp_path / "00001.ts").read_bytes() == made_elsewhere


def test_two_processes_asking_at_once_make_one_file(clips: dict[str, Path], tmp_path: Path) -> None:
    spec = one_spec(clips, tmp_path / "00001.ts")
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        sizes = list(pool.map(write_segment, [spec, spec]))

    assert sizes[0] == sizes[1] == os.path.getsize(spec.out)
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00001.ts", "00001.ts.lock"]
    read = read_segment(Path(spec.out))
    assert len(read.frames) == 4 * FPS  # [4 s, 8 s)


# -- a file that cannot seek ---------------------------------------------------------------------


def _flv_without_index(path: Path, seconds: int = 8, fps: int = 25) -> Path:
    """An old web download: Sorenson Spark + MP3 in FLV, where FFmpeg cannot seek to the
    start (the first segment's cut lies before the first keyframe it knows of)."""
    with av.open(str(path), "w", format="flv") as c:
        v = c.add_stream("flv", rate=fps)
        v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
        v.codec_context.gop_size = 12
        a = c.add_stream("libmp3lame", rate=44100, layout="mono")
        for i in range(seconds * fps):
            frame = av.VideoFrame(320, 240, "yuv420p")
            for n, plane in enumerate(frame.planes):
                plane.update(bytes([(i * 7 + n * 50) % 256]) * plane.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
        for n in range(0, seconds * 44100, 1152):
            tone = [int(5000 * math.sin(2 * math.pi * 440 * (n + k) / 44100)) for k in range(1152)]
            chunk = av.AudioFrame(format="s16", layout="mono", samples=1152)
            chunk.planes[0].update(b"".join(t.to_bytes(2, "little", signed=True) for t in tone))
            chunk.sample_rate, chunk.pts, chunk.time_base = 44100, n, Fraction(1, 44100)
            c.mux(a.encode(chunk))
        c.mux(a.encode(None))
    return path


def test_a_file_that_cannot_seek_is_read_from_the_start(tmp_path: Path) -> None:
    src = _flv_without_index(tmp_path / "download.flv")
    with av.open(str(src)) as c, pytest.raises((av.error.FFmpegError, OSError)):
        # its first picture is shown at 25 ms: FFmpeg finds no keyframe to seek back to at 0
        c.seek(0, stream=c.streams.video[0], backward=True)

    made = make_all(src, "transcode", tmp_path / "out")

    assert len(made.segments) == 4
    for read, segment in zip(made.reads, made.segments, strict=True):
        assert read.video_codec == "h264"
        assert read.first_frame_key
        assert len(read.frames) == pytest.approx(segment.duration * 25, abs=1)
