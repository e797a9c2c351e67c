"""How each file plays: the decision table over real household clips, then edge cases.

The clips are made with PyAV and probed like the scanner probes them, so the table checks the
whole chain a viewer depends on: what the probe records, and what the plan makes of it (the
original offered as it is, repackaged, or converted), down to the ``<source type>`` a browser
uses to skip what it cannot play and the words the watch page shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pytest

from lvs.library.probe import ProbeResult, probe
from lvs.library.samples import SAMPLE_KINDS, make_samples
from lvs.playback.plan import decide

KINDS = sorted(SAMPLE_KINDS)

#: kind -> (mode, reasons, direct type as a pattern or None, variant)
TABLE: dict[str, tuple[str, tuple[str, ...], str | None, str | None]] = {
    "h264_aac_mp4": ("direct", (), r"video/mp4", None),
    "vp9_opus_webm": ("direct", (), r"video/webm", None),
    "h264_ac3_mp4": (
        "remux",
        ("AC-3 → AAC",),
        r'video/mp4; codecs="avc1\.4d00[0-9a-f]{2},ac-3"',
        "remux",
    ),
    "h264_ac3_mkv": (
        "remux",
        ("Matroska → HLS", "AC-3 → AAC"),
        r'video/x-matroska; codecs="avc1\.4d00[0-9a-f]{2},ac-3"',
        "remux",
    ),
    "hevc_aac_mkv": (
        "transcode",
        ("HEVC → H.264",),
        r'video/x-matroska; codecs="hvc1\.1\.6\.L{level}\.B0,mp4a\.40\.2"',
        "h264-1080",
    ),
    "hevc_hev1_mp4": (
        "transcode",
        ("HEVC → H.264",),
        r'video/mp4; codecs="hev1\.1\.6\.L{level}\.B0,mp4a\.40\.2"',
        "h264-1080",
    ),
    "hevc_hvc1_mov": (
        "transcode",
        ("HEVC → H.264",),
        r'video/mp4; codecs="hvc1\.1\.6\.L{level}\.B0,mp4a\.40\.2"',
        "h264-1080",
    ),
    "hevc10_aac_mkv": (
        "transcode",
        ("10-bit HEVC → H.264",),
        r'video/x-matroska; codecs="hvc1\.2\.4\.L{level}\.B0,mp4a\.40\.2"',
        "h264-1080",
    ),
    # MP3 plays everywhere: only the picture is converted.
    "mpeg4_mp3_avi": ("transcode", ("MPEG-4 Part 2 → H.264",), None, "h264-1080"),
    "mpeg2_mp2_ts": ("transcode", ("MPEG-2 → H.264", "MP2 → AAC"), None, "h264-1080"),
    "wmv2_wma_wmv": ("transcode", ("WMV 8 → H.264", "WMA → AAC"), None, "h264-1080"),
}


def test_the_table_covers_every_sample_kind() -> None:
    assert sorted(TABLE) == KINDS


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProbeResult]:
    """Each kind as the scanner records it: a short real clip, probed once."""
    paths = make_samples(tmp_path_factory.mktemp("plan"), seconds=1.0, gop_seconds=0.5)
    return {name: probe(path) for name, path in paths.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_decision_table(facts: dict[str, ProbeResult], kind: str) -> None:
    mode, reasons, direct, variant = TABLE[kind]
    plan = decide(facts[kind])

    assert plan.mode == mode
    assert plan.reasons == reasons
    assert plan.variant == variant
    assert plan.converts == (mode != "direct")
    if direct is None:
        assert plan.direct_type is None  # no browser plays the original: offer only the HLS
    else:
        assert plan.direct_type is not None
        assert re.fullmatch(
            direct.replace("{level}", str(facts[kind].video_level)), plan.direct_type
        )


@pytest.mark.parametrize("kind", KINDS)
def test_summary_tells_people_how_the_file_plays(facts: dict[str, ProbeResult], kind: str) -> None:
    mode, reasons, _direct, _variant = TABLE[kind]
    summary = decide(facts[kind]).summary

    if mode == "direct":
        assert summary == "Plays as it is (the original file)"
    elif mode == "remux":
        assert summary == f"Repackaged for this browser, picture untouched: {', '.join(reasons)}"
    else:
        assert summary == f"Converted for this browser: {', '.join(reasons)}"


def test_ten_bit_hevc_says_ten_bit(facts: dict[str, ProbeResult]) -> None:
    assert facts["hevc10_aac_mkv"].bit_depth == 10
    assert "10-bit" in decide(facts["hevc10_aac_mkv"]).summary
    assert "10-bit" not in decide(facts["hevc_aac_mkv"]).summary


@pytest.mark.parametrize("kind", ["hevc_aac_mkv", "mpeg2_mp2_ts", "wmv2_wma_wmv"])
def test_transcode_variant_names_the_height_cap(facts: dict[str, ProbeResult], kind: str) -> None:
    assert decide(facts[kind], max_height=720).variant == "h264-720"
    assert decide(facts[kind], max_height=480).variant == "h264-480"


@pytest.mark.parametrize("kind", ["h264_ac3_mp4", "h264_ac3_mkv"])
def test_remux_variant_ignores_the_height_cap(facts: dict[str, ProbeResult], kind: str) -> None:
    # A copied picture keeps its size: one cache entry whatever the setting.
    assert decide(facts[kind], max_height=720).variant == "remux"


def test_remux_and_transcode_of_the_same_file_never_share_a_cache_key(
    facts: dict[str, ProbeResult],
) -> None:
    variants = {decide(f, max_height=h).variant for f in facts.values() for h in (480, 720, 1080)}
    assert variants == {None, "remux", "h264-480", "h264-720", "h264-1080"}


# -- edge cases, on facts as a Media row holds them ---------------------------------------------


@dataclass(frozen=True)
class Facts:
    """Stands in for a ``Media`` row: a 1080p H.264 High + AAC MP4 unless told otherwise."""

    container: str = "mp4"
    video_codec: str | None = "h264"
    audio_codec: str | None = "aac"
    video_tag: str | None = "avc1"
    video_profile: str | None = "High"
    video_level: int | None = 40
    pix_fmt: str | None = "yuv420p"
    bit_depth: int | None = 8
    rotation: int = 0
    height: int | None = 1080


PHONE = Facts()
HIGH10 = Facts(video_profile="High 10", pix_fmt="yuv420p10le", bit_depth=10)
HEVC_4K = Facts(
    container="matroska",
    video_codec="hevc",
    video_tag=None,
    video_profile="Main",
    video_level=153,  # level 5.1, as general_level_idc
    height=2160,
)


def test_plain_mp4_plays_direct_typed_for_the_browser() -> None:
    plan = decide(PHONE)
    assert (plan.mode, plan.variant, plan.direct_type) == ("direct", None, "video/mp4")


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_h264_in_mp4_plays_direct(rotation: int) -> None:
    # Browsers honour an MP4's rotation matrix themselves.
    assert decide(replace(PHONE, rotation=rotation)).mode == "direct"


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_h264_in_matroska_is_transcoded_upright(rotation: int) -> None:
    # MPEG-TS has nowhere to carry the rotation: copying the picture would play it sideways.
    plan = decide(replace(PHONE, container="matroska", video_tag=None, rotation=rotation))

    assert plan.mode == "transcode"
    assert plan.variant == "h264-1080"
    assert plan.direct_type == 'video/x-matroska; codecs="avc1.640028,mp4a.40.2"'


def test_rotated_h264_transcode_says_why() -> None:
    plan = decide(replace(PHONE, container="matroska", video_tag=None, rotation=90))

    assert "H.264 → H.264" not in plan.summary
    assert "rotat" in plan.summary.lower()


def test_unrotated_h264_in_matroska_is_only_repackaged() -> None:
    plan = decide(replace(PHONE, container="matroska", video_tag=None))
    assert (plan.mode, plan.reasons, plan.variant) == ("remux", ("Matroska → HLS",), "remux")


@pytest.mark.parametrize("container", ["mp4", "matroska"])
def test_h264_high10_is_transcoded_and_never_offered_as_is(container: str) -> None:
    # Browsers claim High 10 in canPlayType but most cannot decode it: no typed original.
    plan = decide(replace(HIGH10, container=container))

    assert plan.mode == "transcode"
    assert plan.reasons == ("10-bit H.264 → H.264",)
    assert plan.direct_type is None


def test_h264_422_is_transcoded() -> None:
    plan = decide(replace(PHONE, video_profile="High 4:2:2", pix_fmt="yuv422p"))
    assert plan.mode == "transcode"
    assert plan.direct_type is None


def test_a_height_over_the_cap_is_named() -> None:
    plan = decide(HEVC_4K, max_height=1080)

    assert plan.reasons == ("HEVC → H.264", "2160p → 1080p")
    assert plan.variant == "h264-1080"
    assert "2160p → 1080p" in plan.summary


def test_a_height_within_the_cap_is_not_mentioned() -> None:
    plan = decide(HEVC_4K, max_height=2160)
    assert plan.reasons == ("HEVC → H.264",)
    assert plan.variant == "h264-2160"


def test_big_h264_is_repackaged_at_its_own_size() -> None:
    # The cap is for converted pictures; a copied one stays as it is.
    plan = decide(replace(PHONE, container="matroska", video_tag=None, height=2160), max_height=720)
    assert (plan.mode, plan.variant) == ("remux", "remux")


def test_no_audio_stream() -> None:
    silent = replace(PHONE, audio_codec=None)
    assert decide(silent).mode == "direct"

    remux = decide(replace(silent, container="matroska", video_tag=None))
    assert (remux.mode, remux.reasons) == ("remux", ("Matroska → HLS",))
    assert remux.direct_type == 'video/x-matroska; codecs="avc1.640028"'

    hevc = decide(replace(HEVC_4K, audio_codec=None, height=720))
    assert (hevc.mode, hevc.reasons) == ("transcode", ("HEVC → H.264",))
    assert hevc.direct_type == 'video/x-matroska; codecs="hvc1.1.6.L153.B0"'


def test_opus_in_mp4_is_offered_typed_and_repackaged() -> None:
    # Current browsers do play Opus in MP4: the typed original lets them; others get AAC.
    plan = decide(replace(PHONE, audio_codec="opus"))

    assert (plan.mode, plan.reasons, plan.variant) == ("remux", ("Opus → AAC",), "remux")
    assert plan.direct_type == 'video/mp4; codecs="avc1.640028,opus"'


def test_vp9_with_opus_in_webm_plays_direct_at_any_height() -> None:
    plan = decide(
        Facts(container="webm", video_codec="vp9", audio_codec="opus", video_tag=None, height=2160)
    )
    assert plan.mode == "direct"


def test_unknown_video_codec_is_transcoded_with_its_name_shown() -> None:
    plan = decide(replace(PHONE, container="avi", video_codec="cinepak", audio_codec="pcm_u8"))

    assert plan.mode == "transcode"
    assert plan.reasons == ("CINEPAK → H.264", "PCM_U8 → AAC")
    assert plan.direct_type is None


def test_unknown_audio_codec_with_h264_is_repackaged_untyped() -> None:
    # No codecs string for the audio: the original cannot be typed, so it is not offered.
    plan = decide(replace(PHONE, container="mov", audio_codec="pcm_s16le"))

    assert plan.mode == "remux"
    assert plan.reasons == ("PCM_S16LE → AAC",)
    assert plan.direct_type is None


def test_unknown_container_with_playable_codecs_is_repackaged() -> None:
    plan = decide(replace(PHONE, container="flv"))
    assert (plan.mode, plan.reasons, plan.direct_type) == ("remux", ("FLV → HLS",), None)


def test_missing_facts_of_an_old_row_still_give_a_plan() -> None:
    # A row probed before stream facts were recorded (until the next scan fills them).
    old = Facts(
        container="matroska",
        video_codec="hevc",
        video_tag=None,
        video_profile=None,
        video_level=None,
        pix_fmt=None,
        bit_depth=None,
        height=None,
    )
    plan = decide(old)
    assert plan.mode == "transcode"
    assert plan.reasons == ("HEVC → H.264",)


def test_h264_codec_string_carries_profile_and_level() -> None:
    baseline = decide(
        replace(PHONE, container="matroska", video_profile="Baseline", video_level=30)
    )
    main = decide(replace(PHONE, container="matroska", video_profile="Main", video_level=31))

    assert baseline.direct_type == 'video/x-matroska; codecs="avc1.42001e,mp4a.40.2"'
    assert main.direct_type == 'video/x-matroska; codecs="avc1.4d001f,mp4a.40.2"'
