"""The household-format sample clips are what they claim to be, read back with PyAV.

Tests of on-the-fly conversion lean on these facts (codec, tag, bit depth, keyframe grid, a tone
all the way through), so each is checked on the real file rather than trusted.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from array import array
from pathlib import Path

import av
import pytest
from av.video.frame import PictureType

from lvs.library.samples import SAMPLE_KINDS, make_sample, make_samples

SECONDS = 6.0
FPS = 25
GOP_SECONDS = 2.0
RATE = 48_000

# What a reader (FFmpeg's demuxers and decoders) reports for each kind:
# (demuxer, video codec, audio codec, audio channels).
EXPECTED: dict[str, tuple[str, str, str, int]] = {
    "h264_aac_mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac", 2),
    "vp9_opus_webm": ("matroska,webm", "vp9", "opus", 2),
    "hevc_aac_mkv": ("matroska,webm", "hevc", "aac", 2),
    "hevc_hev1_mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "hevc", "aac", 2),
    "hevc_hvc1_mov": ("mov,mp4,m4a,3gp,3g2,mj2", "hevc", "aac", 2),
    "hevc10_aac_mkv": ("matroska,webm", "hevc", "aac", 2),
    "mpeg4_mp3_avi": ("avi", "mpeg4", "mp3", 2),
    "mpeg2_mp2_ts": ("mpegts", "mpeg2video", "mp2", 2),
    "h264_ac3_mp4": ("mov,mp4,m4a,3gp,3g2,mj2", "h264", "ac3", 6),
    "h264_ac3_mkv": ("matroska,webm", "h264", "ac3", 2),
    "wmv2_wma_wmv": ("asf", "wmv2", "wmav2", 2),
}
# Encoders that write B-frames in the wild, and so must here.
WITH_B_FRAMES = {"libx264", "libx265", "mpeg4", "mpeg2video"}

KINDS = sorted(SAMPLE_KINDS)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dest = tmp_path_factory.mktemp("samples")
    return make_samples(dest, seconds=SECONDS, fps=FPS, gop_seconds=GOP_SECONDS)


def _tone_stats(path: Path) -> tuple[int, list[float], float]:
    """Decode all audio as mono s16: (sample count, RMS per 0.25 s window, zero crossings/s)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    pcm = array("h")
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pcm.frombytes(bytes(out.planes[0])[: out.samples * 2])
        for out in resampler.resample(None):
            pcm.frombytes(bytes(out.planes[0])[: out.samples * 2])
    window = RATE // 4
    rms = [
        math.sqrt(sum(s * s for s in pcm[i : i + window]) / window)
        for i in range(0, len(pcm) - window + 1, window)
    ]
    middle = pcm[RATE : 2 * RATE]
    crossings = sum(1 for a, b in itertools.pairwise(middle) if (a < 0) != (b < 0))
    return len(pcm), rms, crossings / 2


def test_every_household_kind_is_offered() -> None:
    assert set(EXPECTED) <= set(SAMPLE_KINDS)
    for name, kind in SAMPLE_KINDS.items():
        assert kind.name == name
        assert kind.suffix.startswith(".")
        assert kind.description


def test_make_samples_names_files_after_kinds(samples: dict[str, Path]) -> None:
    assert set(samples) == set(SAMPLE_KINDS)
    for name, path in samples.items():
        assert path.name == f"{name}{SAMPLE_KINDS[name].suffix}"
        assert path.is_file()
    leftovers = [p for p in next(iter(samples.values())).parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "temporary files are renamed into place"


@pytest.mark.parametrize("name", KINDS)
def test_container_and_streams(samples: dict[str, Path], name: str) -> None:
    kind = SAMPLE_KINDS[name]
    demuxer, video_codec, audio_codec, channels = EXPECTED[name]
    with av.open(str(samples[name])) as container:
        assert container.format.name == demuxer
        if kind.container_format in ("mp4", "mov"):
            brand = container.metadata.get("major_brand", "").strip()
            assert brand == ("qt" if kind.container_format == "mov" else "isom")
        assert container.duration is not None
        # Container-level duration: within a couple of frames (ASF adds a little preroll).
        assert container.duration / av.time_base == pytest.approx(SECONDS, abs=2.5 / FPS)

        (video,) = container.streams.video
        assert video.codec_context.codec.canonical_name == video_codec
        assert (video.width, video.height) == (320, 180)
        assert video.codec_context.pix_fmt == kind.pix_fmt
        if kind.codec_tag is not None:
            assert video.codec_tag == kind.codec_tag
        if kind.pix_fmt == "yuv420p10le":
            assert video.profile == "Main 10"

        (audio,) = container.streams.audio
        assert audio.codec_context.codec.canonical_name == audio_codec
        assert audio.codec_context.channels == channels
        assert audio.sample_rate == RATE


@pytest.mark.parametrize("name", KINDS)
def test_video_decodes_every_frame_with_keyframes_on_the_grid(
    samples: dict[str, Path], name: str
) -> None:
    kind = SAMPLE_KINDS[name]
    n_frames = round(SECONDS * FPS)
    with av.open(str(samples[name])) as container:
        packet_keys = [
            float(packet.pts * packet.time_base)
            for packet in container.demux(video=0)
            if packet.size and packet.is_keyframe and packet.pts is not None
        ]
        container.seek(0)
        times: list[float] = []
        digests: list[bytes] = []
        frame_keys: list[float] = []
        pict_types: set[PictureType] = set()
        for frame in container.decode(video=0):
            assert frame.format.name == kind.pix_fmt
            times.append(frame.time)
            digests.append(hashlib.blake2b(bytes(frame.planes[0]), digest_size=16).digest())
            pict_types.add(frame.pict_type)
            if frame.key_frame:
                frame_keys.append(frame.time)

    assert len(times) == n_frames
    start = times[0]
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(step == pytest.approx(1 / FPS, abs=1e-3) for step in steps)
    assert times[-1] - start + 1 / FPS == pytest.approx(SECONDS, abs=1e-3)
    assert len(set(digests)) == n_frames, "every frame looks different"
    if kind.video_codec in WITH_B_FRAMES:
        assert PictureType.B in pict_types

    # A keyframe about every GOP_SECONDS, nothing in between: what a segmenter cuts on.
    grid = [k * GOP_SECONDS for k in range(math.ceil(SECONDS / GOP_SECONDS))]
    for keys in (packet_keys, frame_keys):
        offsets = [t - start for t in sorted(keys)]
        assert len(offsets) == len(grid), offsets
        for got, want in zip(offsets, grid, strict=True):
            assert got == pytest.approx(want, abs=2.5 / FPS)


@pytest.mark.parametrize("name", KINDS)
def test_tone_sounds_for_the_whole_clip(samples: dict[str, Path], name: str) -> None:
    count, rms, crossings_per_second = _tone_stats(samples[name])
    # Encoder priming and last-frame padding are trimmed or added in whole codec frames.
    assert count == pytest.approx(SECONDS * RATE, abs=0.05 * RATE)
    assert len(rms) >= int(SECONDS * 4) - 1
    assert min(rms) > 1000, "a steady tone in every quarter second"
    assert crossings_per_second == pytest.approx(330, rel=0.03)  # 330 Hz at hue 0


def _nal_types(packet: bytes, length_size: int) -> list[int]:
    types = []
    pos = 0
    while pos + length_size <= len(packet):
        size = int.from_bytes(packet[pos : pos + length_size], "big")
        pos += length_size
        types.append((packet[pos] >> 1) & 0x3F)
        pos += size
    return types


@pytest.mark.parametrize(("name", "in_band"), [("hevc_hev1_mp4", True), ("hevc_hvc1_mov", False)])
def test_hevc_parameter_sets_follow_the_tag(
    samples: dict[str, Path], name: str, in_band: bool
) -> None:
    vps, sps, pps = 32, 33, 34
    with av.open(str(samples[name])) as container:
        video = container.streams.video[0]
        extradata = video.codec_context.extradata
        assert extradata is not None, "hvcC is always there"
        length_size = (extradata[21] & 3) + 1
        keyframes = [
            _nal_types(bytes(packet), length_size)
            for packet in container.demux(video)
            if packet.size and packet.is_keyframe
        ]
    assert keyframes
    for types in keyframes:
        assert ({vps, sps, pps} <= set(types)) is in_band, types


def test_hue_sets_the_tone_and_kind_can_be_given_by_name(tmp_path: Path) -> None:
    path = make_sample(tmp_path / "clip.mp4", SAMPLE_KINDS["h264_aac_mp4"], seconds=2.0, hue=110)
    _, rms, crossings_per_second = _tone_stats(path)
    assert min(rms) > 1000
    assert crossings_per_second == pytest.approx(440, rel=0.03)


def test_bad_arguments_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sample kind"):
        make_sample(tmp_path / "x.avi", "divx_in_a_shoebox")
    with pytest.raises(ValueError, match="even"):
        make_sample(tmp_path / "x.avi", "mpeg4_mp3_avi", width=321)
    with pytest.raises(ValueError, match="positive"):
        make_sample(tmp_path / "x.avi", "mpeg4_mp3_avi", gop_seconds=0)
    assert list(tmp_path.iterdir()) == []
