"""The scanner against real clips and a real database (SQLite and PostgreSQL): what a rescan
finds and what it keeps."""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import db_execute, db_query, run_scan
from PIL import Image
from sqlalchemy import select

import lvs.services.scanner as scanner_module
from lvs.db.models import Media
from lvs.library.demo import make_clip
from lvs.library.thumbnails import thumbnail_path
from lvs.settings import Settings

CLIPS = {"Alpha.mp4", "Bravo.webm", "sub/Charlie.mp4"}
MEDIA = Media.__table__


def media_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every row of the media table, keyed by path relative to its root."""
    names = [column.name for column in MEDIA.columns]
    rows = [dict(zip(names, row, strict=True)) for row in db_query(settings, select(MEDIA))]
    return {row["rel_path"]: row for row in rows}


def skipped_rows(settings: Settings) -> dict[str, str]:
    return dict(db_query(settings, "SELECT path, reason FROM skipped_files"))


def replace_with_new_clip(path: Path, **clip: Any) -> None:
    """Swap ``path`` for a different real clip, atomically (like a re-encode saved in place)."""
    tmp = path.parent / f"new-{path.name}"
    make_clip(tmp, **clip)
    os.replace(tmp, path)


class CallCounter:
    """Wraps a function of the scanner module and records the paths it was called with."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.calls: list[Path] = []
        real = getattr(scanner_module, name)

        def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(Path(path))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(scanner_module, name, wrapper)


def test_first_scan_indexes_every_clip_with_its_facts(settings: Settings) -> None:
    report = run_scan(settings)

    assert report.summary() == (
        "3 files: 3 new, 0 unchanged, 0 updated, 0 moved, 0 skipped, 0 missing"
    )
    assert report.skipped == []
    assert report.missing_roots == []
    rows = media_rows(settings)
    assert set(rows) == CLIPS

    alpha, bravo, charlie = rows["Alpha.mp4"], rows["Bravo.webm"], rows["sub/Charlie.mp4"]
    assert alpha["duration"] == pytest.approx(2.0, abs=0.1)
    assert (alpha["width"], alpha["height"]) == (320, 180)
    assert (alpha["video_codec"], alpha["audio_codec"]) == ("h264", "aac")
    assert alpha["container"] == "mp4"
    assert alpha["title"] == "Alpha"

    assert bravo["duration"] == pytest.approx(2.0, abs=0.1)
    assert (bravo["width"], bravo["height"]) == (320, 180)
    assert (bravo["video_codec"], bravo["audio_codec"]) == ("vp9", "opus")
    assert bravo["container"] == "webm"

    assert charlie["duration"] == pytest.approx(3.0, abs=0.1)
    assert (charlie["width"], charlie["height"]) == (256, 144)
    assert charlie["title"] == "Charlie"

    for row in rows.values():
        assert len(row["media_hash"]) == 16
        assert row["missing"] == 0
        assert Path(row["path"]).is_file()
    assert len({row["media_hash"] for row in rows.values()}) == 3


def test_rescan_reports_every_file_unchanged_and_keeps_the_rows(settings: Settings) -> None:
    run_scan(settings)
    before = media_rows(settings)

    report = run_scan(settings)

    assert report.summary() == (
        "3 files: 0 new, 3 unchanged, 0 updated, 0 moved, 0 skipped, 0 missing"
    )
    after = media_rows(settings)
    assert {k: (v["id"], v["media_hash"]) for k, v in after.items()} == {
        k: (v["id"], v["media_hash"]) for k, v in before.items()
    }


def test_rescan_does_not_read_unchanged_files(
    settings: Settings, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_scan(settings)
    probes = CallCounter(monkeypatch, "probe")
    hashes = CallCounter(monkeypatch, "oshash")
    thumbs = CallCounter(monkeypatch, "make_thumbnail")
    new_clip = make_clip(library / "Delta.mp4", seconds=1.0, hue=60)

    report = run_scan(settings)

    assert (report.new, report.unchanged) == (1, 3)
    # Only the new file was opened: the three known ones were judged by path, size and mtime.
    assert probes.calls == [new_clip]
    assert hashes.calls == [new_clip]
    assert thumbs.calls == [new_clip]


def test_scan_stores_what_the_path_says_and_a_rescan_fills_in_older_rows_without_reading(
    settings: Settings, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    episode = library / "The Garden Detectives" / "Season 2" / "03 - The Hedge.mp4"
    episode.parent.mkdir(parents=True)
    shutil.copy(library / "Alpha.mp4", episode)
    run_scan(settings, thumbnails=False)
    fields = ("show_title", "show_key", "season", "episode", "top_folder", "title_version")
    parsed = {k: tuple(v[f] for f in fields) for k, v in media_rows(settings).items()}
    expected = {
        "Alpha.mp4": (None, None, None, None, None, 1),
        "Bravo.webm": (None, None, None, None, None, 1),
        "sub/Charlie.mp4": (None, None, None, None, "sub", 1),
        "The Garden Detectives/Season 2/03 - The Hedge.mp4": (
            "The Garden Detectives",
            "the-garden-detectives",
            2,
            3,
            "The Garden Detectives",
            1,
        ),
    }
    assert parsed == expected
    (started, finished, found, done) = db_query(
        settings,
        "SELECT started_at, finished_at, files_found, files_done FROM scan_status WHERE id = 1",
    )[0]
    assert started is not None and finished is not None and (found, done) == (4, 4)

    # Rows indexed before titles were parsed (or by an older parser): a rescan parses them
    # from their paths, without opening a single file.
    db_execute(
        settings,
        "UPDATE media SET show_title = NULL, show_key = NULL, season = NULL, episode = NULL,"
        " top_folder = NULL, title_version = 0",
    )
    probes = CallCounter(monkeypatch, "probe")
    hashes = CallCounter(monkeypatch, "oshash")

    report = run_scan(settings, thumbnails=False)

    assert (report.unchanged, report.reparsed) == (4, 4)
    assert probes.calls == [] and hashes.calls == []
    again = {k: tuple(v[f] for f in fields) for k, v in media_rows(settings).items()}
    assert again == expected


def test_renamed_file_keeps_its_hash_and_its_row(settings: Settings, library: Path) -> None:
    run_scan(settings)
    before = media_rows(settings)["Alpha.mp4"]
    (library / "Alpha.mp4").rename(library / "Alpha (director's cut).mp4")

    report = run_scan(settings)

    assert (report.moved, report.new, report.missing, report.unchanged) == (1, 0, 0, 2)
    rows = media_rows(settings)
    assert set(rows) == {"Alpha (director's cut).mp4", "Bravo.webm", "sub/Charlie.mp4"}
    after = rows["Alpha (director's cut).mp4"]
    assert after["id"] == before["id"]
    assert after["media_hash"] == before["media_hash"]
    assert after["title"] == "Alpha (director's cut)"
    assert after["missing"] == 0


def test_file_moved_into_a_subfolder_keeps_its_row(settings: Settings, library: Path) -> None:
    run_scan(settings)
    before = media_rows(settings)["Bravo.webm"]
    (library / "sub" / "deeper").mkdir()
    (library / "Bravo.webm").rename(library / "sub" / "deeper" / "Bravo.webm")

    report = run_scan(settings)

    assert (report.moved, report.new, report.missing) == (1, 0, 0)
    rows = media_rows(settings)
    assert "Bravo.webm" not in rows
    after = rows["sub/deeper/Bravo.webm"]
    assert (after["id"], after["media_hash"]) == (before["id"], before["media_hash"])
    assert after["path"] == str(library.resolve() / "sub" / "deeper" / "Bravo.webm")
    assert len(rows) == 3


def test_changed_file_gets_a_new_hash_and_a_new_thumbnail(
    settings: Settings, library: Path
) -> None:
    run_scan(settings)
    before = media_rows(settings)["Alpha.mp4"]
    replace_with_new_clip(library / "Alpha.mp4", seconds=3.0, width=256, height=144, hue=60)

    report = run_scan(settings)

    assert (report.updated, report.unchanged, report.new, report.moved) == (1, 2, 0, 0)
    after = media_rows(settings)["Alpha.mp4"]
    assert after["id"] == before["id"]
    assert after["media_hash"] != before["media_hash"]
    assert after["duration"] == pytest.approx(3.0, abs=0.1)
    assert (after["width"], after["height"]) == (256, 144)
    assert after["has_thumbnail"] == 1
    assert thumbnail_path(settings.thumbs_dir, after["media_hash"]).is_file()


@pytest.mark.parametrize("keep_mtime", [True, False], ids=["same-mtime", "new-mtime"])
def test_deleted_file_is_marked_missing_and_restoring_it_unmarks_it(
    settings: Settings, library: Path, tmp_path: Path, keep_mtime: bool
) -> None:
    run_scan(settings)
    before = media_rows(settings)["sub/Charlie.mp4"]
    backup = tmp_path / "Charlie.backup"
    shutil.copy2(library / "sub" / "Charlie.mp4", backup)
    (library / "sub" / "Charlie.mp4").unlink()

    report = run_scan(settings)

    assert report.missing == 1
    assert report.summary().endswith("1 missing")
    gone = media_rows(settings)["sub/Charlie.mp4"]
    assert gone["id"] == before["id"]  # the row (and what hangs on its hash) is kept
    assert gone["missing"] == 1

    copy = shutil.copy2 if keep_mtime else shutil.copy
    copy(backup, library / "sub" / "Charlie.mp4")
    report = run_scan(settings)

    assert (report.new, report.missing) == (0, 0)
    back = media_rows(settings)["sub/Charlie.mp4"]
    assert (back["id"], back["media_hash"]) == (before["id"], before["media_hash"])
    assert back["missing"] == 0


def test_unreadable_files_are_skipped_with_reasons_and_the_scan_goes_on(
    settings: Settings, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt = library / "corrupt.mp4"
    # Fixed noise: fresh random bytes now and then look like an audio stream to FFmpeg's probe
    # ("no video stream" instead of "corrupt").
    corrupt.write_bytes(random.Random(257).randbytes(50_000))
    empty = library / "sub" / "empty.mkv"
    empty.write_bytes(b"")
    text = library / "notes.avi"
    text.write_text("Shopping list\n- milk\n- eggs\n" * 20)

    report = run_scan(settings)

    assert (report.new, len(report.skipped)) == (3, 3)
    assert report.summary() == (
        "6 files: 3 new, 0 unchanged, 0 updated, 0 moved, 3 skipped, 0 missing"
    )
    reasons = dict(report.skipped)
    assert set(reasons) == {str(corrupt.resolve()), str(empty.resolve()), str(text.resolve())}
    assert reasons[str(empty.resolve())] == "empty file"
    assert "corrupt" in reasons[str(corrupt.resolve())]
    assert reasons[str(text.resolve())].strip()
    assert set(media_rows(settings)) == CLIPS  # nothing half-indexed
    assert skipped_rows(settings) == reasons

    # A rescan reports them again, from the database, without opening them.
    probes = CallCounter(monkeypatch, "probe")
    again = run_scan(settings)
    assert dict(again.skipped) == reasons
    assert probes.calls == []


def test_hidden_folders_and_files_are_not_indexed(settings: Settings, library: Path) -> None:
    (library / ".trash").mkdir()
    make_clip(library / ".trash" / "Deleted.mp4", seconds=1.0, hue=30)
    make_clip(library / "sub" / ".Secret.mp4", seconds=1.0, hue=90)

    report = run_scan(settings)

    assert report.new == 3
    assert set(media_rows(settings)) == CLIPS


def test_every_present_video_gets_a_thumbnail_on_disk(settings: Settings) -> None:
    report = run_scan(settings)

    assert report.thumbnails == 3
    assert report.thumbnail_failures == []
    for row in media_rows(settings).values():
        assert row["has_thumbnail"] == 1
        thumb = thumbnail_path(settings.thumbs_dir, row["media_hash"])
        assert thumb.is_relative_to(settings.thumbs_dir)
        with Image.open(thumb) as img:
            assert img.format == "JPEG"
            assert 0 < img.width <= 320
            # Same shape as the video (16:9 here), not a squashed frame.
            assert img.width / img.height == pytest.approx(row["width"] / row["height"], rel=0.05)


def test_scan_without_thumbnails_leaves_them_for_later(settings: Settings) -> None:
    run_scan(settings, thumbnails=False)
    assert all(row["has_thumbnail"] == 0 for row in media_rows(settings).values())
    assert not any(settings.thumbs_dir.rglob("*.jpg"))

    report = run_scan(settings)

    assert (report.unchanged, report.thumbnails) == (3, 3)
    assert all(row["has_thumbnail"] == 1 for row in media_rows(settings).values())


def test_a_second_library_root_is_indexed_too(
    settings: Settings, library: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other videos"
    make_clip(other / "Echo.mkv", seconds=1.0, codec="vp9", hue=300)
    both = replace(settings, library=(library, other))

    report = run_scan(both)

    assert report.new == 4
    rows = media_rows(both)
    assert set(rows) == CLIPS | {"Echo.mkv"}
    echo = rows["Echo.mkv"]
    assert echo["root"] == str(other.resolve())
    assert (echo["title"], echo["video_codec"], echo["container"]) == ("Echo", "vp9", "matroska")
    assert {rows[name]["root"] for name in CLIPS} == {str(library.resolve())}


def test_a_missing_root_is_reported_and_the_others_are_still_scanned(
    settings: Settings, library: Path, tmp_path: Path
) -> None:
    nowhere = tmp_path / "unplugged-disk"
    with_missing = replace(settings, library=(nowhere, library))

    report = run_scan(with_missing)

    assert report.missing_roots == [str(nowhere)]
    assert report.new == 3
    assert set(media_rows(settings)) == CLIPS
