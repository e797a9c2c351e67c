"""HLS (VOD) arithmetic: where segments start and end, and the playlist that lists them all.

The playlist lists every segment of the whole file up front, so the player knows the full
duration at once and a seek anywhere asks for that one segment. Its durations are the real
cuts: for a remux, the source's own keyframes (a copied picture can only be cut there); for a
transcode, a fixed grid (the encoder starts every segment with a keyframe).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "SEGMENT_SECONDS",
    "TRANSCODE_SECONDS",
    "Segment",
    "fixed_grid",
    "keyframe_grid",
    "playlist",
]

#: Segment length of a remux (at least; cut at the source's keyframes). Copying the picture is
#: nearly free; converting the sound to AAC is what a segment costs (about 30 ms per second of
#: stereo), so a short segment is what makes the first picture and a seek quick.
SEGMENT_SECONDS = 2.0
#: Segment length of a transcode: the first picture and a seek wait for one whole segment to
#: be encoded (1080p H.264 runs at about twice real time on two cores), so short; long enough
#: that a segment's fixed costs (open, seek back to a keyframe, encoder start) stay small.
TRANSCODE_SECONDS = 2.0
#: A last piece shorter than this joins the segment before it.
_MIN_LAST = 1.0


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    start: float  # media seconds, inclusive
    end: float  # media seconds, exclusive

    @property
    def duration(self) -> float:
        return self.end - self.start


def fixed_grid(duration: float, seconds: float = TRANSCODE_SECONDS) -> list[Segment]:
    """``[0, s), [s, 2s), ...`` up to ``duration``; a short tail joins the last segment."""
    if duration <= 0:
        return []
    count = max(1, math.ceil(duration / seconds - 1e-9))
    cuts = [i * seconds for i in range(count)]
    if len(cuts) > 1 and duration - cuts[-1] < _MIN_LAST:
        cuts.pop()
    return _segments(cuts, duration)


def keyframe_grid(
    keyframes: Sequence[float], duration: float, seconds: float = SEGMENT_SECONDS
) -> list[Segment]:
    """Cut at keyframes (media seconds, ascending, the first at 0), each segment at least
    ``seconds`` long where the keyframes allow; a short tail joins the last segment."""
    if duration <= 0:
        return []
    cuts = [0.0]
    for key in keyframes:
        if key >= cuts[-1] + seconds - 1e-6 and key < duration:
            cuts.append(key)
    if len(cuts) > 1 and duration - cuts[-1] < _MIN_LAST:
        cuts.pop()
    return _segments(cuts, duration)


def _segments(cuts: list[float], duration: float) -> list[Segment]:
    ends = [*cuts[1:], duration]
    return [Segment(i, a, b) for i, (a, b) in enumerate(zip(cuts, ends, strict=True))]


def playlist(segments: Sequence[Segment], uri: Callable[[Segment], str]) -> str:
    """An HLS VOD media playlist listing every segment (RFC 8216)."""
    target = max((math.ceil(s.duration - 1e-3) for s in segments), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for segment in segments:
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        lines.append(uri(segment))
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
