"""Sidecar subtitles: which files belong to a video, how they decode, and SRT → WebVTT."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lvs.library.subtitles import (
    Sidecar,
    SubtitleError,
    find_sidecars,
    load_vtt,
    read_text,
    srt_to_vtt,
    vtt_normalise,
)

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there.

2
00:00:03,000 --> 00:00:04,000
<i>Second</i> line
"""


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text(SRT, encoding="utf-8")


def names(sidecars: list[Sidecar]) -> list[str]:
    return [s.path.name for s in sidecars]


def cues(vtt: str) -> list[tuple[str, str, str]]:
    """``(start, end, text)`` for each cue, the way a player would show them."""
    assert vtt.startswith("WEBVTT")
    found = []
    for block in re.split(r"\n\s*\n", vtt.replace("\r\n", "\n")):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            if "-->" in line:
                start, _, rest = line.partition(" --> ")
                found.append((start, rest.split(" ")[0], "\n".join(lines[i + 1 :])))
                break
    return found


# -- which files belong to which video -----------------------------------------------------------


def test_plain_and_language_sidecars_sorted_no_language_first(tmp_path: Path) -> None:
    touch(tmp_path, "Movie.mp4", "Movie.fr.srt", "Movie.SRT", "Movie.en.vtt", "Movie.pt-br.srt")

    found = find_sidecars(tmp_path / "Movie.mp4")

    assert names(found) == ["Movie.SRT", "Movie.en.vtt", "Movie.fr.srt", "Movie.pt-br.srt"]
    assert [(s.lang, s.label, s.kind) for s in found] == [
        (None, "Subtitles", "srt"),
        ("en", "English", "vtt"),
        ("fr", "French", "srt"),
        ("pt-BR", "Portuguese (pt-BR)", "srt"),
    ]


def test_labels_for_three_letter_and_unknown_codes(tmp_path: Path) -> None:
    touch(tmp_path, "Film.mkv", "Film.ger.srt", "Film.xx.srt", "Film.JPN.vtt")

    found = find_sidecars(tmp_path / "Film.mkv")

    assert {s.lang: s.label for s in found} == {"ger": "German", "jpn": "Japanese", "xx": "xx"}


def test_duplicate_labels_are_told_apart_by_format(tmp_path: Path) -> None:
    touch(tmp_path, "Movie.mp4", "Movie.en.srt", "Movie.en.vtt")

    assert [s.label for s in find_sidecars(tmp_path / "Movie.mp4")] == [
        "English (SRT)",
        "English (VTT)",
    ]


@pytest.mark.parametrize(
    "other",
    [
        "Movie 2.srt",  # another video whose stem starts with this one's
        "Movie2.en.srt",
        "Movie.part2.srt",  # not a language
        "Movie.en.forced.srt",
        "Movie.director's cut.srt",
        "Movie.srt.bak",
        "Movie.txt",
        "Movie.en.sub",
        ".Movie.srt",  # hidden
        "movie.srt",  # another file on a case-sensitive disk
        "Other.srt",
    ],
)
def test_other_files_are_not_listed(tmp_path: Path, other: str) -> None:
    touch(tmp_path, "Movie.mp4", "Movie 2.mp4", "Movie2.mp4", other)

    assert find_sidecars(tmp_path / "Movie.mp4") == []


def test_a_prefix_video_does_not_take_the_longer_ones_subtitles(tmp_path: Path) -> None:
    touch(tmp_path, "Movie.mp4", "Movie 2.mp4", "Movie.srt", "Movie 2.srt", "Movie 2.en.srt")

    assert names(find_sidecars(tmp_path / "Movie.mp4")) == ["Movie.srt"]
    assert names(find_sidecars(tmp_path / "Movie 2.mp4")) == ["Movie 2.srt", "Movie 2.en.srt"]


def test_a_dotted_sibling_video_keeps_its_own_subtitles(tmp_path: Path) -> None:
    touch(tmp_path, "Movie.mp4", "Movie.en.mp4", "Movie.en.srt", "Movie.de.srt")

    assert names(find_sidecars(tmp_path / "Movie.mp4")) == ["Movie.de.srt"]
    assert names(find_sidecars(tmp_path / "Movie.en.mp4")) == ["Movie.en.srt"]


def test_only_the_videos_own_folder_is_looked_at(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "Movie.srt").mkdir()  # a folder, not a file
    touch(tmp_path, "Movie.mp4")
    touch(tmp_path / "sub", "Movie.srt", "Movie.en.srt")

    assert find_sidecars(tmp_path / "Movie.mp4") == []


def test_missing_folder_gives_nothing(tmp_path: Path) -> None:
    assert find_sidecars(tmp_path / "gone" / "Movie.mp4") == []


# -- decoding ------------------------------------------------------------------------------------

TEXT = "Café – l’été « déjà »"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (TEXT.encode("utf-8"), TEXT),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), TEXT),
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), TEXT),
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), TEXT),
        (TEXT.encode("cp1252"), TEXT),
        ("Señor €".encode("cp1252"), "Señor €"),
        # 0x81 and 0x8d are undefined in cp1252: only latin-1 decodes this
        (b"caf\xe9 \x81\x8d", "café \x81\x8d"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "cp1252", "cp1252-euro", "latin-1"],
)
def test_read_text_decodes(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "x.srt"
    path.write_bytes(data)

    assert read_text(path) == expected


def test_read_text_refuses_big_files(tmp_path: Path) -> None:
    path = tmp_path / "huge.srt"
    path.write_bytes(b"a" * 2001)

    assert read_text(path, max_bytes=2001) == "a" * 2001
    with pytest.raises(SubtitleError):
        read_text(path, max_bytes=2000)


def test_load_vtt_refuses_a_file_over_five_megabytes(tmp_path: Path) -> None:
    path = tmp_path / "Movie.srt"
    block = SRT.encode() + b"\n"
    path.write_bytes(block * (5 * 1024 * 1024 // len(block) + 1))

    with pytest.raises(SubtitleError):
        load_vtt(Sidecar(path, None, "Subtitles", "srt"))


# -- SRT → WebVTT --------------------------------------------------------------------------------


def test_basic_conversion() -> None:
    vtt = srt_to_vtt(SRT)

    assert vtt.startswith("WEBVTT\n\n")
    assert cues(vtt) == [
        ("00:00:01.000", "00:00:02.500", "Hello there."),
        ("00:00:03.000", "00:00:04.000", "<i>Second</i> line"),
    ]


def test_crlf_missing_numbers_extra_blank_lines_and_short_hours() -> None:
    srt = (
        "\r\n\r\n1\r\n0:00:01,5 --> 0:00:02,25\r\nOne\r\nstill one\r\n\r\n\r\n\r\n"
        "00:00:03,000 --> 00:00:04,000\r\nTwo (no number)\r\n\r\n"
        "17\r\n01:02:03,004-->01:02:04,000\r\n<b>Three</b> <u>u</u>\r\n"
    )

    assert cues(srt_to_vtt(srt)) == [
        ("00:00:01.500", "00:00:02.250", "One\nstill one"),
        ("00:00:03.000", "00:00:04.000", "Two (no number)"),
        ("01:02:03.004", "01:02:04.000", "<b>Three</b> <u>u</u>"),
    ]


def test_positions_and_ass_tags_and_font_tags_are_dropped() -> None:
    srt = (
        "1\n00:00:01,000 --> 00:00:02,000  X1:100 X2:600 Y1:50 Y2:80\n"
        '{\\an8}<font color="#ffff00">Top</font> {\\i1}line{\\i0}\n'
    )

    vtt = srt_to_vtt(srt)

    assert cues(vtt) == [("00:00:01.000", "00:00:02.000", "Top line")]
    assert "X1" not in vtt
    assert "{" not in vtt


def test_cue_text_never_contains_an_arrow() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nwait --> here ---> there\n"

    vtt = srt_to_vtt(srt)

    assert cues(vtt) == [("00:00:01.000", "00:00:02.000", "wait -> here -> there")]
    assert sum(line.count("-->") for line in vtt.splitlines()) == 1


def test_stray_angle_brackets_and_ampersands_are_escaped() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nTom & Jerry <3 a < b &amp; <i>ok</i>\n"

    assert cues(srt_to_vtt(srt))[0][2] == "Tom &amp; Jerry &lt;3 a &lt; b &amp; <i>ok</i>"


def test_text_after_a_stray_blank_line_stays_with_its_cue() -> None:
    srt = (
        "1\n00:00:01,000 --> 00:00:02,000\nfirst\n\nsecond\n\n2\n00:00:03,000 --> 00:00:04,000\nB\n"
    )

    assert cues(srt_to_vtt(srt)) == [
        ("00:00:01.000", "00:00:02.000", "first\nsecond"),
        ("00:00:03.000", "00:00:04.000", "B"),
    ]


def test_junk_and_empty_input() -> None:
    assert srt_to_vtt("") == "WEBVTT\n\n"
    assert cues(srt_to_vtt("not subtitles at all\n")) == []
    assert cues(srt_to_vtt("1\n00:00:01,000 --> 00:00:02,000\n\n")) == []  # a cue with no text


def test_vtt_normalise() -> None:
    good = "WEBVTT - title\n\n00:01.000 --> 00:02.000\nHi\n"
    assert vtt_normalise(good) == good
    assert vtt_normalise("\ufeff" + good) == good
    headless = "00:00:01.000 --> 00:00:02.000\nHi\n"
    assert vtt_normalise(headless) == "WEBVTT\n\n" + headless
    # an SRT saved as .vtt: converted, since browsers reject comma timings
    assert cues(vtt_normalise(SRT))[0] == ("00:00:01.000", "00:00:02.500", "Hello there.")
    # "WEBVTTX" is not the signature
    assert vtt_normalise("WEBVTTX\n").startswith("WEBVTT\n\nWEBVTTX")


def test_load_vtt_reads_converts_and_decodes(tmp_path: Path) -> None:
    (tmp_path / "Movie.mp4").write_bytes(b"")
    (tmp_path / "Movie.fr.srt").write_bytes(
        "1\r\n00:00:01,000 --> 00:00:02,000\r\nL’été à Paris\r\n".encode("cp1252")
    )
    (tmp_path / "Movie.vtt").write_bytes(
        b"\xff\xfe" + "WEBVTT\n\n00:01.000 --> 00:02.000\nこんにちは\n".encode("utf-16-le")
    )

    plain, french = find_sidecars(tmp_path / "Movie.mp4")

    assert cues(load_vtt(plain)) == [("00:01.000", "00:02.000", "こんにちは")]
    assert cues(load_vtt(french)) == [("00:00:01.000", "00:00:02.000", "L’été à Paris")]
