"""HLS arithmetic: the segment grids and the VOD playlist a player reads.

A player trusts the playlist: its durations place every segment on the timeline, so they must
add up to the video's length, follow each other without gaps, and match the real cuts.
"""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from lvs.playback.hls import (
    SEGMENT_SECONDS,
    TRANSCODE_SECONDS,
    Segment,
    fixed_grid,
    keyframe_grid,
    playlist,
)

#: The fixed grid's arithmetic is checked with 4 s segments, whatever the default.
FOUR = 4.0


def assert_contiguous(segments: list[Segment], duration: float) -> None:
    """Indexes 0, 1, 2 ...; from 0 to ``duration`` with no gap or overlap; nothing empty."""
    assert [s.index for s in segments] == list(range(len(segments)))
    assert segments[0].start == 0.0
    assert segments[-1].end == pytest.approx(duration, abs=1e-9)
    for a, b in pairwise(segments):
        assert a.end == b.start
    assert all(s.duration > 0 for s in segments)
    assert sum(s.duration for s in segments) == pytest.approx(duration, abs=1e-9)


# -- the fixed grid (transcode) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (12.0, [4.0, 4.0, 4.0]),
        (12.021, [4.0, 4.0, 4.021]),  # a sliver of a tail joins the last segment
        (12.9, [4.0, 4.0, 4.9]),
        (13.0, [4.0, 4.0, 4.0, 1.0]),  # one second is long enough to stand alone
        (13.5, [4.0, 4.0, 4.0, 1.5]),
        (4.0, [4.0]),
        (4.5, [4.5]),
        (3.0, [3.0]),
        (0.04, [0.04]),  # a one-frame clip
        (8.000000001, [4.0, 4.000000001]),  # float noise never makes an empty segment
    ],
)
def test_fixed_grid(duration: float, expected: list[float]) -> None:
    segments = fixed_grid(duration, FOUR)

    assert [s.duration for s in segments] == pytest.approx(expected)
    assert_contiguous(segments, duration)


@pytest.mark.parametrize("duration", [0.0, -1.0])
def test_fixed_grid_of_nothing_is_empty(duration: float) -> None:
    assert fixed_grid(duration) == []


@pytest.mark.parametrize("duration", [0.5, 3.999, 4.001, 7.3, 60.0, 3600.04, 7201.3])
def test_fixed_grid_segments_are_the_target_length_except_the_last(duration: float) -> None:
    segments = fixed_grid(duration)

    assert_contiguous(segments, duration)
    assert all(s.duration == pytest.approx(TRANSCODE_SECONDS) for s in segments[:-1])
    assert segments[-1].duration < TRANSCODE_SECONDS + 1.0
    if len(segments) > 1:
        assert segments[-1].duration >= 1.0


def test_fixed_grid_other_lengths() -> None:
    segments = fixed_grid(10.0, seconds=6.0)
    assert [(s.start, s.end) for s in segments] == [(0.0, 6.0), (6.0, 10.0)]


def test_fixed_grid_cuts_do_not_drift_over_hours() -> None:
    # Cuts are multiples of the length, not sums of it: segment 2000 starts at 8000 s exactly.
    segments = fixed_grid(3 * 3600.0, FOUR)
    assert segments[2000].start == 8000.0
    assert len(segments) == 2700


# -- the keyframe grid (remux) -----------------------------------------------------------------


def test_transcode_segments_are_short_for_a_quick_first_picture() -> None:
    # A transcode's first picture waits for a whole segment to be encoded.
    assert TRANSCODE_SECONDS <= SEGMENT_SECONDS
    assert fixed_grid(60.0) == fixed_grid(60.0, TRANSCODE_SECONDS)


def test_keyframe_grid_cuts_at_keyframes_at_least_the_target_apart() -> None:
    keys = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    segments = keyframe_grid(keys, 12.0, seconds=FOUR)

    assert [(s.start, s.end) for s in segments] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]


def test_keyframe_grid_with_irregular_keyframes() -> None:
    keys = [0.0, 1.5, 3.0, 4.5, 5.0, 9.2, 9.9, 14.0, 15.1]
    segments = keyframe_grid(keys, 16.0, seconds=FOUR)

    # 4.5 is the first keyframe >= 4 s after 0; then 9.2 (>= 8.5), then 14.0 (>= 13.2);
    # the tail from 14.0 is 2 s: long enough to stand alone.
    assert [s.start for s in segments] == [0.0, 4.5, 9.2, 14.0]
    assert_contiguous(segments, 16.0)


def test_keyframe_grid_every_cut_is_a_keyframe_and_long_enough() -> None:
    keys = [i * 0.7 for i in range(100)]  # every 0.7 s
    duration = 70.0
    segments = keyframe_grid(keys, duration)

    assert_contiguous(segments, duration)
    for s in segments[1:]:
        assert min(abs(s.start - k) for k in keys) < 1e-9
    assert all(s.duration >= SEGMENT_SECONDS - 1e-6 for s in segments[:-1])
    # No longer than needed: the cut is the first keyframe past the target.
    assert all(s.duration < SEGMENT_SECONDS + 0.7 for s in segments[:-1])


def test_keyframe_grid_sparse_keyframes_make_long_segments() -> None:
    # A camera that writes a keyframe every 10 s: a copied picture can only be cut there.
    segments = keyframe_grid([0.0, 10.0, 20.0, 30.0], 35.0)
    assert [s.duration for s in segments] == [10.0, 10.0, 10.0, 5.0]


def test_keyframe_grid_short_tail_joins_the_last_segment() -> None:
    # The keyframe at 8.5 leaves 0.5 s after it: too short to stand alone.
    segments = keyframe_grid([0.0, 4.0, 8.5], 9.0, seconds=FOUR)
    assert [(s.start, s.end) for s in segments] == [(0.0, 4.0), (4.0, 9.0)]


def test_keyframe_grid_ignores_keyframes_at_or_past_the_end() -> None:
    segments = keyframe_grid([0.0, 4.0, 8.0, 12.0, 16.0], 12.0, seconds=FOUR)
    assert [(s.start, s.end) for s in segments] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]


@pytest.mark.parametrize("keys", [[], [0.0]])
def test_keyframe_grid_with_one_keyframe_is_one_segment(keys: list[float]) -> None:
    segments = keyframe_grid(keys, 30.0)
    assert [(s.start, s.end) for s in segments] == [(0.0, 30.0)]


def test_keyframe_grid_tiny_and_zero() -> None:
    assert [(s.start, s.end) for s in keyframe_grid([0.0], 0.04)] == [(0.0, 0.04)]
    assert keyframe_grid([0.0], 0.0) == []


def test_keyframe_grid_of_regular_keyframes_matches_the_fixed_grid() -> None:
    keys = [i * 2.0 for i in range(30)]
    by_keys = keyframe_grid(keys, 60.0, seconds=FOUR)
    fixed = fixed_grid(60.0, FOUR)
    assert [(s.start, s.end) for s in by_keys] == [(s.start, s.end) for s in fixed]


# -- the playlist ------------------------------------------------------------------------------


def parse(text: str) -> tuple[dict[str, str], list[tuple[float, str]]]:
    """Tags (``#EXT-X-...`` name -> value) and ``(EXTINF seconds, URI)`` pairs in order, reading
    the text line by line as a player does."""
    lines = text.split("\n")
    assert lines[0] == "#EXTM3U"
    assert lines[-1] == ""  # ends with a newline
    tags: dict[str, str] = {}
    entries: list[tuple[float, str]] = []
    pending: float | None = None
    for line in lines[1:-1]:
        assert line == line.strip() and line, f"stray whitespace or blank line: {line!r}"
        if line.startswith("#EXTINF:"):
            assert pending is None, "two EXTINF in a row"
            value, title = line[len("#EXTINF:") :].split(",", 1)
            assert title == ""
            pending = float(value)
        elif line.startswith("#EXT-X-"):
            name, _, value = line[1:].partition(":")
            assert name not in tags, f"{name} twice"
            tags[name] = value
        else:
            assert not line.startswith("#")
            assert pending is not None, f"URI {line!r} without EXTINF"
            entries.append((pending, line))
            pending = None
    assert pending is None
    return tags, entries


def uri(segment: Segment) -> str:
    return f"/media/7/hls/h264-1080/{segment.index}.ts"


@pytest.mark.parametrize("duration", [0.04, 4.0, 12.021, 13.0, 61.3, 5400.0])
def test_playlist_lists_every_segment_with_its_duration(duration: float) -> None:
    segments = fixed_grid(duration)
    tags, entries = parse(playlist(segments, uri))

    assert tags["EXT-X-PLAYLIST-TYPE"] == "VOD"
    assert "EXT-X-ENDLIST" in tags
    assert tags["EXT-X-MEDIA-SEQUENCE"] == "0"
    assert int(tags["EXT-X-VERSION"]) >= 3  # decimal EXTINF values need version 3
    assert [u for _, u in entries] == [uri(s) for s in segments]
    assert [d for d, _ in entries] == pytest.approx([s.duration for s in segments], abs=1e-6)
    assert sum(d for d, _ in entries) == pytest.approx(duration, abs=1e-5)


@pytest.mark.parametrize(
    "segments",
    [
        fixed_grid(12.021),
        fixed_grid(13.9),
        keyframe_grid([0.0, 10.0, 20.0], 24.5),
        keyframe_grid([0.0, 4.6, 9.2], 13.0, seconds=FOUR),
        [Segment(0, 0.0, 0.2)],
    ],
)
def test_target_duration_covers_every_segment(segments: list[Segment]) -> None:
    tags, entries = parse(playlist(segments, uri))
    target = int(tags["EXT-X-TARGETDURATION"])

    assert target >= 1
    for seconds, _ in entries:
        # RFC 8216 4.3.3.1: each EXTINF, rounded to the nearest integer, <= the target.
        assert round(seconds) <= target
        assert math.ceil(seconds - 1e-3) <= target
    assert target == max(math.ceil(s.duration - 1e-3) for s in segments)


def test_target_duration_of_exact_segments_is_not_rounded_up() -> None:
    # 4.000000 must give 4, not 5: a too-large target makes some players buffer more.
    tags, _ = parse(playlist(fixed_grid(12.0, FOUR), uri))
    assert tags["EXT-X-TARGETDURATION"] == "4"


def test_playlist_header_comes_before_the_segments_and_endlist_last() -> None:
    lines = playlist(fixed_grid(9.0), uri).splitlines()

    first_extinf = next(i for i, line in enumerate(lines) if line.startswith("#EXTINF"))
    header = lines[:first_extinf]
    assert {line.split(":")[0] for line in header} >= {
        "#EXTM3U",
        "#EXT-X-VERSION",
        "#EXT-X-PLAYLIST-TYPE",
        "#EXT-X-TARGETDURATION",
        "#EXT-X-MEDIA-SEQUENCE",
    }
    assert lines[-1] == "#EXT-X-ENDLIST"


def test_empty_playlist_is_still_valid() -> None:
    tags, entries = parse(playlist([], uri))
    assert entries == []
    assert tags["EXT-X-TARGETDURATION"] == "1"
    assert "EXT-X-ENDLIST" in tags
