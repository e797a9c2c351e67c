"""How each video plays: the original bytes (direct), its video copied into HLS with the audio
converted (remux), or converted to H.264 + AAC (transcode).

The server decides from the probe's stream facts and a conservative browser profile, so a page
plays with no script at all. The watch page still lists the original first, typed with its
exact codecs, wherever some browsers can play it (HEVC on Safari, H.264 + AAC in Matroska on
Chromium): the browser itself skips a ``<source>`` whose type it cannot play, so browsers that
can play more get more files directly, without any script reporting what it can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "DEFAULT_PROFILE",
    "Plan",
    "Profile",
    "StreamFacts",
    "codec_label",
    "decide",
]

Mode = Literal["direct", "remux", "transcode"]

_CODEC_LABELS = {
    "h264": "H.264",
    "hevc": "HEVC",
    "vp8": "VP8",
    "vp9": "VP9",
    "av1": "AV1",
    "mpeg4": "MPEG-4 Part 2",
    "msmpeg4v3": "DivX 3",
    "msmpeg4v2": "MS MPEG-4",
    "mpeg2video": "MPEG-2",
    "mpeg1video": "MPEG-1",
    "h263": "H.263",
    "flv1": "Sorenson Spark",
    "wmv1": "WMV 7",
    "wmv2": "WMV 8",
    "wmv3": "WMV 9",
    "vc1": "VC-1",
    "theora": "Theora",
    "prores": "ProRes",
    "mjpeg": "Motion JPEG",
    "aac": "AAC",
    "mp3": "MP3",
    "mp2": "MP2",
    "ac3": "AC-3",
    "eac3": "E-AC-3",
    "dts": "DTS",
    "truehd": "TrueHD",
    "opus": "Opus",
    "vorbis": "Vorbis",
    "flac": "FLAC",
    "wmav1": "WMA",
    "wmav2": "WMA",
    "alac": "ALAC",
}
_CONTAINER_LABELS = {
    "mp4": "MP4",
    "mov": "QuickTime",
    "webm": "WebM",
    "matroska": "Matroska",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
    "mpeg": "MPEG-PS",
    "asf": "ASF",
    "flv": "FLV",
    "ogg": "Ogg",
}
# The original is offered typed with its codecs when the browser may be able to play it.
_MIME = {
    "mp4": "video/mp4",
    "mov": "video/mp4",
    "webm": "video/webm",
    "matroska": "video/x-matroska",
}
_AUDIO_CODECS = {
    "aac": "mp4a.40.2",
    "mp3": "mp4a.69",
    "opus": "opus",
    "vorbis": "vorbis",
    "flac": "flac",
    "ac3": "ac-3",
    "eac3": "ec-3",
}
_EIGHT_BIT_420 = {"yuv420p", "yuvj420p", "nv12"}


def codec_label(codec: str | None) -> str:
    """``hevc`` -> ``HEVC``; unknown names are shown upper-cased."""
    if not codec:
        return "none"
    return _CODEC_LABELS.get(codec, codec.upper())


class StreamFacts(Protocol):
    """What the plan reads (a ``Media`` row or a probe result has all of it)."""

    @property
    def container(self) -> str: ...
    @property
    def video_codec(self) -> str | None: ...
    @property
    def audio_codec(self) -> str | None: ...
    @property
    def video_tag(self) -> str | None: ...
    @property
    def video_profile(self) -> str | None: ...
    @property
    def video_level(self) -> int | None: ...
    @property
    def pix_fmt(self) -> str | None: ...
    @property
    def bit_depth(self) -> int | None: ...
    @property
    def rotation(self) -> int: ...
    @property
    def height(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Profile:
    """Containers and codecs a browser plays as they are."""

    containers: dict[str, tuple[frozenset[str], frozenset[str]]]  # name -> (video, audio)
    #: Audio that may go into the converted stream as it is decoded (HLS carries AAC and MP3).
    hls_audio: frozenset[str] = frozenset({"aac", "mp3"})

    def plays(self, container: str, video: str | None, audio: str | None) -> bool:
        allowed = self.containers.get(container)
        if allowed is None or video not in allowed[0]:
            return False
        return audio is None or audio in allowed[1]

    def plays_audio(self, audio: str | None) -> bool:
        return audio is None or audio in self.hls_audio


#: What every current browser plays: MP4 with H.264 + AAC/MP3; WebM with VP8/VP9/AV1 +
#: Opus/Vorbis. Anything else is converted.
DEFAULT_PROFILE = Profile(
    containers={
        "mp4": (frozenset({"h264"}), frozenset({"aac", "mp3"})),
        "mov": (frozenset({"h264"}), frozenset({"aac", "mp3"})),
        "webm": (frozenset({"vp8", "vp9", "av1"}), frozenset({"opus", "vorbis"})),
    }
)


@dataclass(frozen=True, slots=True)
class Plan:
    mode: Mode
    reasons: tuple[str, ...]  # "HEVC → H.264", "AC-3 → AAC", "Matroska → HLS"
    direct_type: str | None  # <source type> for the original; None: offer no direct source
    variant: str | None  # the conversion's cache key ("remux", "h264-1080"); None if direct

    @property
    def converts(self) -> bool:
        return self.mode != "direct"

    @property
    def summary(self) -> str:
        """For people: how the file is played."""
        if self.mode == "direct":
            return "Plays as it is (the original file)"
        what = ", ".join(self.reasons)
        if self.mode == "remux":
            return f"Repackaged for this browser, picture untouched: {what}"
        return f"Converted for this browser: {what}"


def decide(
    media: StreamFacts, *, max_height: int = 1080, profile: Profile = DEFAULT_PROFILE
) -> Plan:
    """The playback plan of one file for a browser with ``profile``."""
    video, audio, container = media.video_codec, media.audio_codec, media.container
    eight_bit = (media.bit_depth or 8) == 8 and (media.pix_fmt or "yuv420p") in _EIGHT_BIT_420
    # Browsers claim H.264 High 10 and 4:2:2 but most cannot decode them: 8-bit 4:2:0 only.
    video_ok = video != "h264" or eight_bit
    if video_ok and profile.plays(container, video, audio):
        return Plan("direct", (), _MIME.get(container), None)
    direct_type = _typed(media)
    # Copying the picture needs H.264 that browsers decode, and no rotation flag (MPEG-TS has
    # nowhere to carry it: an upright phone video would play sideways).
    if video == "h264" and eight_bit and not media.rotation:
        reasons = []
        if container not in profile.containers:
            reasons.append(f"{_CONTAINER_LABELS.get(container, container)} → HLS")
        if not profile.plays_audio(audio):
            reasons.append(f"{codec_label(audio)} → AAC")
        return Plan("remux", tuple(reasons) or ("HLS",), direct_type, "remux")
    depth = f"{media.bit_depth}-bit " if media.bit_depth and media.bit_depth != 8 else ""
    if video == "h264" and not depth and not eight_bit:
        reasons = [f"H.264 {media.pix_fmt} → 4:2:0"]
    elif video == "h264" and not depth:
        reasons = [f"rotated {media.rotation}° → upright"]
    else:
        reasons = [f"{depth}{codec_label(video)} → H.264"]
    if media.height and media.height > max_height:
        reasons.append(f"{media.height}p → {max_height}p")
    if audio and not profile.plays_audio(audio):
        reasons.append(f"{codec_label(audio)} → AAC")
    return Plan("transcode", tuple(reasons), direct_type, f"h264-{max_height}")


def _typed(media: StreamFacts) -> str | None:
    """``video/mp4; codecs="hvc1.1.6.L93.B0,mp4a.40.2"`` where some browser may play the
    original (the browser skips it if it cannot); None where none can or it is unknown."""
    mime = _MIME.get(media.container)
    video = _video_codec_string(media)
    if mime is None or video is None:
        return None
    codecs = [video]
    if media.audio_codec:
        audio = _AUDIO_CODECS.get(media.audio_codec)
        if audio is None:
            return None
        codecs.append(audio)
    return f'{mime}; codecs="{",".join(codecs)}"'


_AVC_PROFILES = {"baseline": "42", "constrained baseline": "42", "main": "4d", "high": "64"}


def _video_codec_string(media: StreamFacts) -> str | None:
    profile = (media.video_profile or "").lower()
    level = media.video_level
    if media.video_codec == "h264":
        # 8-bit 4:2:0 only: browsers claim High 10 and 4:2:2 but most cannot decode them.
        if (media.bit_depth or 8) != 8 or profile not in _AVC_PROFILES:
            return None
        return f"avc1.{_AVC_PROFILES[profile]}00{(level or 40):02x}"
    if media.video_codec == "hevc":
        tag = "hev1" if media.video_tag == "hev1" else "hvc1"
        general = "2.4" if "10" in profile or (media.bit_depth or 8) > 8 else "1.6"
        return f"{tag}.{general}.L{level or 120}.B0"
    if media.video_codec == "vp9":
        return "vp09.00.10.08" if (media.bit_depth or 8) == 8 else "vp09.02.10.10"
    if media.video_codec == "av1":
        return f"av01.0.08M.{(media.bit_depth or 8):02d}"
    if media.video_codec == "vp8":
        return "vp8"
    return None
