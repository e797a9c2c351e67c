"""The title parser (lvs.library.titles) on names found in real libraries."""

from __future__ import annotations

from datetime import date

import pytest

from lvs.library.titles import ParsedTitle, parse_path, show_key, top_folder

TODAY = date(2026, 12, 4)

E = ParsedTitle  # (show, season, episode, episode_title, year, dated_on)

NAMES: list[tuple[str, ParsedTitle]] = [
    # scene and web releases
    (
        "The.Garden.Detectives.S02E06.1080p.WEB.h264-GRP.mkv",
        E("The Garden Detectives", 2, 6),
    ),
    ("The.Garden.Detectives.S01E05.720p.HDTV.x264-ABC.mkv", E("The Garden Detectives", 1, 5)),
    (
        "The Garden Detectives - S01E01 - The Missing Gnome.mkv",
        E("The Garden Detectives", 1, 1, "The Missing Gnome"),
    ),
    ("show.name.s1e2.avi", E("show name", 1, 2)),
    ("Show_Name_S03E10_Finale.mp4", E("Show Name", 3, 10, "Finale")),
    ("Show Name - S01E01E02 - Pilot.mkv", E("Show Name", 1, 1, "Pilot")),
    ("Show.Name.S10E100.mkv", E("Show Name", 10, 100)),
    ("Doctor.Who.2005.S03E01.mkv", E("Doctor Who 2005", 3, 1, year=2005)),
    ("Show (2019) - S02E03 - Title.mkv", E("Show (2019)", 2, 3, "Title", year=2019)),
    ("show 1x02.avi", E("show", 1, 2)),
    ("Show Name 2x10 The Return.mkv", E("Show Name", 2, 10, "The Return")),
    ("Show.Name.1x02.HDTV.XviD.avi", E("Show Name", 1, 2)),
    # season folders
    ("Show/Season 01/03 - Title.mp4", E("Show", 1, 3, "Title")),
    ("Show/Season 2/Episode 4.mkv", E("Show", 2, 4)),
    (
        "The Garden Detectives/Season 1/E07 The Hedge.mp4",
        E("The Garden Detectives", 1, 7, "The Hedge"),
    ),
    ("Show/Season 1/S01E03 - Title.mkv", E("Show", 1, 3, "Title")),
    ("Show/S02/05.mkv", E("Show", 2, 5)),
    ("Kids TV/Show/Staffel 3/Folge 12.mkv", E("Show", 3, 12)),
    (
        "TV/Some Show/Season 1/Some.Show.S01E02.Title.Here.720p.mkv",
        E("Some Show", 1, 2, "Title Here"),
    ),
    # anime-style
    ("[Group] Show - 05 [1080p].mkv", E("Show", None, 5)),
    ("[SubsPlease] Long Show Name - 112 (1080p) [ABCD1234].mkv", E("Long Show Name", None, 112)),
    ("[Group] Show - 05v2 [720p].mkv", E("Show", None, 5)),
    ("Show Name - 102.mkv", E("Show Name", None, 102)),
    # home videos: dates, camera names
    ("2023-07-14 Beach.mp4", E(year=2023, dated_on=date(2023, 7, 14))),
    ("Holidays/2023-07-14 Beach.mp4", E(year=2023, dated_on=date(2023, 7, 14))),
    ("VID_20230714_101530.mp4", E(year=2023, dated_on=date(2023, 7, 14))),
    ("PXL_20240102_093011123.mp4", E(year=2024, dated_on=date(2024, 1, 2))),
    ("20230714_101530.mp4", E(year=2023, dated_on=date(2023, 7, 14))),
    ("2019.12.25 Christmas morning.mov", E(year=2019, dated_on=date(2019, 12, 25))),
    ("IMG_2041.MOV", E()),
    ("IMG_2019.MOV", E()),
    ("MVI_0001.AVI", E()),
    ("GOPR0042.MP4", E()),
    ("DSC_2018.mov", E()),
    ("Kids/Birthday party.mp4", E()),
    ("Birthday - 2.mp4", E()),
    ("Holidays/2019/Beach day.mp4", E()),
    ("Holiday 2019 - Day 1.mp4", E(year=2019)),
    ("Phone/2023-02-30 not a date.mp4", E(year=2023)),
    # movies
    ("Movie.Name.2019.1080p.mkv", E(year=2019)),
    ("Movie Name (2019).mp4", E(year=2019)),
    ("Blade.Runner.2049.2017.2160p.mkv", E(year=2017)),
    ("2012.mkv", E()),
    ("Future.Film.2041.mkv", E()),
    ("Alpha.mp4", E()),
    ("sub/Charlie.mp4", E()),
    ("1920x1080 test.mp4", E()),
    # names in other scripts
    ("Le.Château.S01E01.mkv", E("Le Château", 1, 1)),
    ("進撃の巨人 S02E03.mkv", E("進撃の巨人", 2, 3)),
    ("Ünïcödé Show 1x03 Ärger.mkv", E("Ünïcödé Show", 1, 3, "Ärger")),
    ("Семья/Сезон 1/01 - Начало.mp4", E("Семья", 1, 1, "Начало")),
    ("Семья.S01E02.Дом.mkv", E("Семья", 1, 2, "Дом")),
]


@pytest.mark.parametrize(("rel_path", "expected"), NAMES, ids=[n for n, _ in NAMES])
def test_parses_real_world_names(rel_path: str, expected: ParsedTitle) -> None:
    assert parse_path(rel_path, today=TODAY) == expected


def test_the_table_is_broad() -> None:
    assert len(NAMES) >= 40
    assert sum(1 for _, p in NAMES if p.episode is not None) >= 20


@pytest.mark.parametrize(
    ("show", "key"),
    [
        ("The Garden Detectives", "the-garden-detectives"),
        ("the garden detectives", "the-garden-detectives"),
        ("The.Garden  Detectives!", "the-garden-detectives"),
        ("Grey's Anatomy", "greys-anatomy"),
        ("Le Château", "le-château"),
        ("Show (2019)", "show-2019"),
    ],
)
def test_show_keys_group_spellings_and_make_urls(show: str, key: str) -> None:
    assert show_key(show) == key


def test_top_folder_is_the_first_folder_only() -> None:
    assert top_folder("Holidays/2019/Beach.mp4") == "Holidays"
    assert top_folder("Alpha.mp4") is None
