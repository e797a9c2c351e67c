from __future__ import annotations

import os
from pathlib import Path

import pytest

from lvs.library.walk import VIDEO_EXTENSIONS, FoundFile, walk_videos


def touch(path: Path, data: bytes = b"video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(found: list[FoundFile], root: Path) -> set[str]:
    return {f.path.relative_to(root).as_posix() for f in found}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "Videos"
    touch(root / "a.mp4")
    touch(root / "Holidays" / "2023" / "beach.MKV")
    touch(root / "Holidays" / "2023" / "deep" / "deeper" / "cave.webm")
    touch(root / "Holidays" / "notes.txt")
    touch(root / "Holidays" / "cover.jpg")
    touch(root / "Holidays" / "movie.srt")
    touch(root / "noext")
    touch(root / ".hidden.mp4")
    touch(root / ".Trash" / "deleted.mp4")
    touch(root / "Kids" / ".thumbnails" / "x.mp4")
    touch(root / "Kids" / "Party.Mov")
    return root


def test_finds_nested_videos_and_skips_the_rest(library: Path) -> None:
    found = list(walk_videos([library]))
    assert names(found, library) == {
        "a.mp4",
        "Holidays/2023/beach.MKV",
        "Holidays/2023/deep/deeper/cave.webm",
        "Kids/Party.Mov",
    }


def test_found_file_details(library: Path) -> None:
    touch(library / "sized.avi", b"x" * 1234)
    os.utime(library / "sized.avi", ns=(1_600_000_000_000_000_000, 1_700_000_000_123_456_789))
    (f,) = [f for f in walk_videos([library]) if f.path.name == "sized.avi"]
    assert f.size == 1234
    assert f.mtime_ns == 1_700_000_000_123_456_789
    assert f.root == library.resolve()
    assert f.path.is_absolute()
    assert f.path == library.resolve() / "sized.avi"


@pytest.mark.parametrize("ext", sorted(VIDEO_EXTENSIONS))
def test_every_extension_any_case(tmp_path: Path, ext: str) -> None:
    variants = {ext, ext.upper(), ext[:2].upper() + ext[2:]}  # ".3g2": fewer distinct spellings
    for variant in variants:
        touch(tmp_path / f"clip_{variant[1:]}{variant}")
    found = list(walk_videos([tmp_path]))
    assert len(found) == len(variants)


def test_extension_list() -> None:
    browser_formats = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".ogv"}
    # TV recordings, DVDs, camcorders, old phones and Windows: converted on the fly (issue 9)
    household_formats = {".ts", ".m2ts", ".mts", ".mpg", ".mpeg", ".vob", ".wmv", ".asf"}
    household_formats |= {".flv", ".3gp", ".3g2", ".divx", ".f4v"}
    assert browser_formats | household_formats == VIDEO_EXTENSIONS


def test_relative_root_is_made_absolute(library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(library.parent)
    found = list(walk_videos([Path("Videos")]))
    assert len(found) == 4
    assert all(f.path.is_absolute() and f.root == library.resolve() for f in found)


def test_missing_root_yields_nothing_but_other_roots_still_walk(
    library: Path, tmp_path: Path
) -> None:
    found = list(walk_videos([tmp_path / "unplugged-drive", library]))
    assert len(found) == 4


def test_root_that_is_a_file_yields_nothing(tmp_path: Path) -> None:
    f = touch(tmp_path / "movie.mp4")
    assert list(walk_videos([f])) == []


def test_symlink_cycle_does_not_loop(library: Path) -> None:
    (library / "Holidays" / "2023" / "loop").symlink_to(library, target_is_directory=True)
    (library / "self").symlink_to(".", target_is_directory=True)
    found = list(walk_videos([library]))
    assert len(found) == 4


def test_directory_symlinks_are_not_followed(library: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside / "elsewhere.mp4")
    (library / "link").symlink_to(outside, target_is_directory=True)
    assert "link/elsewhere.mp4" not in names(list(walk_videos([library])), library)


def test_file_symlink_is_reported_and_broken_symlink_skipped(library: Path, tmp_path: Path) -> None:
    target = touch(tmp_path / "real.mp4", b"12345")
    (library / "shortcut.mp4").symlink_to(target)
    (library / "dangling.mp4").symlink_to(tmp_path / "nothing-here.mp4")
    found = {f.path.name: f for f in walk_videos([library])}
    assert found["shortcut.mp4"].size == 5
    assert "dangling.mp4" not in found


def test_root_given_as_symlink_is_resolved(library: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(library, target_is_directory=True)
    found = list(walk_videos([alias]))
    assert len(found) == 4
    assert all(f.root == library.resolve() for f in found)


def test_nested_or_repeated_roots_report_each_file_once(library: Path) -> None:
    found = list(walk_videos([library, library / "Holidays", library]))
    paths = [f.path for f in found]
    assert len(paths) == len(set(paths)) == 4


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_unreadable_folder_is_skipped(library: Path) -> None:
    locked = library / "Locked"
    touch(locked / "secret.mp4")
    locked.chmod(0)
    try:
        found = list(walk_videos([library]))
    finally:
        locked.chmod(0o755)
    assert len(found) == 4


def test_scandir_permission_error_is_skipped(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scandir = os.scandir
    locked = str(library.resolve() / "Kids")

    def fake_scandir(path: str) -> object:
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    found = list(walk_videos([library]))
    assert names(found, library.resolve()) == {
        "a.mp4",
        "Holidays/2023/beach.MKV",
        "Holidays/2023/deep/deeper/cave.webm",
    }


def test_files_vanishing_mid_walk_are_skipped(library: Path) -> None:
    walker = walk_videos([library])
    first = next(walker)  # files directly in the root come first
    assert first.path.name == "a.mp4"
    (library / "Kids" / "Party.Mov").unlink()
    rest = list(walker)
    assert {f.path.name for f in rest} == {"beach.MKV", "cave.webm"}


def test_vanished_between_listing_and_stat(library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(library / "b.mp4")
    real_scandir = os.scandir
    root = str(library.resolve())

    class Listing:
        def __init__(self, path: str) -> None:
            self._it = real_scandir(path)
            self._path = path

        def __enter__(self) -> Listing:
            return self

        def __exit__(self, *exc: object) -> None:
            self._it.close()

        def __iter__(self) -> Listing:
            return self

        def __next__(self) -> os.DirEntry[str]:
            entry = next(self._it)
            if self._path == root and entry.name == "b.mp4":
                os.unlink(entry.path)  # deleted after listing, before stat()
            return entry

    monkeypatch.setattr(os, "scandir", Listing)
    found = names(list(walk_videos([library])), library.resolve())
    assert "b.mp4" not in found
    assert "a.mp4" in found
