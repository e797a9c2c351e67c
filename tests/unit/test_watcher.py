"""The library watcher: a file copied in slowly appears once complete and not before, a moved
file keeps its ratings, the periodic rescan finds changes no event reported, network mounts are
recognised, and exactly one process watches a data folder."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import db_execute, db_query, run_scan
from sqlalchemy.ext.asyncio import async_sessionmaker

from lvs.db.config import make_engine
from lvs.jobs import JobRunner
from lvs.library.sprites import previews_ready
from lvs.library.thumbnails import thumbnail_path
from lvs.library.watcher import LeaderLock, SettleTracker, classify_folders, mount_of
from lvs.services.scanner import Scanner
from lvs.services.watch import LibraryWatcher, read_status, run_watcher
from lvs.settings import Settings

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/nas rw,relatime shared:20 - nfs4 nas:/export rw,vers=4.2
41 40 0:36 / /mnt/nas/local\\040disk rw - ext4 /dev/sdb1 rw
42 22 0:37 / /media/share rw - cifs //box/share rw
"""


@pytest.fixture
def db_url() -> None:
    """SQLite only: the watcher drives the scanner, whose SQL is tested on both databases."""
    return None


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Settings with a short settle time, the library scanned once."""
    run_scan(settings, thumbnails=False)
    return replace(settings, watch_settle_seconds=1.5, rescan_minutes=0)


@pytest.fixture
async def watcher(quick: Settings) -> AsyncIterator[LibraryWatcher]:
    """A watcher on the quick settings; ``watcher.start(...)`` runs it until the test ends."""
    engine = make_engine(quick)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    async with JobRunner(nice=0) as runner:
        w = LibraryWatcher(
            quick, async_sessionmaker(engine, expire_on_commit=False), runner, tick=0.2
        )
        w.start = lambda **kw: tasks.append(asyncio.create_task(w.run(stop, **kw)))  # type: ignore[attr-defined]
        yield w
        stop.set()
        await asyncio.gather(*tasks)
    await engine.dispose()


def rows_for(settings: Settings, path: Path) -> list[tuple[object, ...]]:
    return db_query(settings, "SELECT size, missing FROM media WHERE path = :p", p=str(path))


async def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def test_mount_points_and_network_filesystems_come_from_mountinfo(tmp_path: Path) -> None:
    assert mount_of(Path("/home/me/videos"), MOUNTINFO) == ("/", "ext4")
    assert mount_of(Path("/mnt/nas/films/x"), MOUNTINFO) == ("/mnt/nas", "nfs4")
    assert mount_of(Path("/mnt/nas/local disk/a"), MOUNTINFO) == ("/mnt/nas/local disk", "ext4")
    assert mount_of(Path("/mnt/nasty"), MOUNTINFO) == ("/", "ext4")

    local = classify_folders([tmp_path], rescan_minutes=30)
    assert local[0].watched and local[0].fstype != "?"
    gone = classify_folders([tmp_path / "nope"], rescan_minutes=30)
    assert (gone[0].watched, gone[0].reason) == (False, "folder not found")
    fake = MOUNTINFO + f"50 22 0:40 / {tmp_path} rw - cifs //nas/videos rw\n"
    (smb,) = classify_folders([tmp_path], rescan_minutes=30, mountinfo=fake)
    assert (smb.watched, smb.fstype) == (False, "cifs")
    assert "rescanned every 30 min" in smb.reason
    (off,) = classify_folders([tmp_path], rescan_minutes=0, mountinfo=fake)
    assert "not rescanned" in off.reason


def test_a_file_is_ready_once_it_stops_changing(tmp_path: Path) -> None:
    now = [0.0]
    tracker = SettleTracker(5.0, clock=lambda: now[0])
    path = tmp_path / "a.mp4"
    path.write_bytes(b"x")
    tracker.touch(str(path))
    now[0] = 4.0
    assert tracker.poll() == []
    path.write_bytes(b"xx")  # still being written: the clock restarts
    assert tracker.poll() == []
    now[0] = 8.9
    assert tracker.poll() == []
    now[0] = 9.1
    assert tracker.poll() == [str(path)]
    assert len(tracker) == 0


def test_one_watcher_per_data_folder(tmp_path: Path) -> None:
    first, second = LeaderLock(tmp_path / "watch.lock"), LeaderLock(tmp_path / "watch.lock")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


async def test_a_file_copied_in_slowly_appears_once_complete_and_not_before(
    watcher: LibraryWatcher, quick: Settings, clip_dir: Path
) -> None:
    watcher.start(initial_scan=False)  # type: ignore[attr-defined]
    await eventually(lambda: read_status(quick.data_dir) is not None)
    source = (clip_dir / "sub" / "Charlie.mp4").read_bytes()
    dest = quick.library[0] / "Holiday.mp4"
    chunks = 10
    step = -(-len(source) // chunks)
    with dest.open("wb") as out:
        for i in range(chunks):  # ~2.5 s of copying, like a slow USB stick
            out.write(source[i * step : (i + 1) * step])
            out.flush()
            await asyncio.sleep(0.25)
            assert await asyncio.to_thread(rows_for, quick, dest) == [], f"indexed at chunk {i}"
    await eventually(lambda: rows_for(quick, dest) != [])
    assert rows_for(quick, dest) == [(len(source), False)]  # the whole file, once

    await eventually(lambda: getattr(read_status(quick.data_dir), "last_pass", None) is not None)
    status = read_status(quick.data_dir)
    assert status is not None and status.alive
    assert status.folders[0]["watched"] is True
    assert status.last_pass is not None and status.last_pass["new"] == 1
    # ... and its thumbnail and scrub previews are made in the background.
    await watcher.runner.join()
    ((media_hash, has_thumbnail),) = db_query(
        quick, "SELECT media_hash, has_thumbnail FROM media WHERE path = :p", p=str(dest)
    )
    assert has_thumbnail
    assert thumbnail_path(quick.thumbs_dir, media_hash).is_file()
    assert previews_ready(quick.previews_dir, media_hash)


async def test_a_moved_file_keeps_its_ratings(watcher: LibraryWatcher, quick: Settings) -> None:
    library = quick.library[0]
    (alpha_id, alpha_hash) = db_query(
        quick, "SELECT id, media_hash FROM media WHERE title = 'Alpha'"
    )[0]
    user = uuid.uuid4()
    db_execute(
        quick,
        "INSERT INTO users (id, created_at, updated_at) VALUES (:u, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP)",
        u=user.bytes,
    )
    db_execute(
        quick,
        "INSERT INTO ratings (media_hash, user_id, value, created_at, updated_at) "
        "VALUES (:h, :u, 4, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        h=alpha_hash,
        u=user.bytes,
    )
    watcher.start(initial_scan=False)  # type: ignore[attr-defined]
    await asyncio.sleep(0.5)  # the watch is set up
    (library / "Holidays 2024").mkdir()
    new_path = library / "Holidays 2024" / "Alpha.mp4"
    shutil.move(library / "Alpha.mp4", new_path)

    await eventually(lambda: rows_for(quick, new_path) == [(new_path.stat().st_size, False)])
    rows = db_query(
        quick, "SELECT id, path, missing FROM media WHERE media_hash = :h", h=alpha_hash
    )
    assert rows == [(alpha_id, str(new_path), False)]  # the same row, moved; not a new one
    ratings = db_query(quick, "SELECT value FROM ratings WHERE media_hash = :h", h=alpha_hash)
    assert ratings == [(4,)]


async def test_the_periodic_rescan_finds_changes_no_event_reported(
    watcher: LibraryWatcher, quick: Settings, clip_dir: Path
) -> None:
    """As on a network mount: no watching, only the rescan every ``rescan_seconds``."""
    library = quick.library[0]
    watcher.folders = [replace(f, watched=False) for f in watcher.folders]
    watcher.rescan_seconds = 0.3
    watcher.start(initial_scan=False)  # type: ignore[attr-defined]

    dest = library / "Copied on the NAS.mp4"
    shutil.copyfile(clip_dir / "Alpha.mp4", dest)
    old = time.time() - 60
    os.utime(dest, (old, old))  # copied a while ago, elsewhere
    (library / "Bravo.webm").unlink()

    def bravo() -> list[tuple[object, ...]]:
        return db_query(quick, "SELECT missing FROM media WHERE title = 'Bravo'")

    await eventually(lambda: rows_for(quick, dest) != [] and bravo() == [(True,)])
    assert bravo() == [(True,)]  # marked missing, never deleted
    await eventually(lambda: getattr(read_status(quick.data_dir), "last_pass", None) is not None)
    status = read_status(quick.data_dir)
    assert status is not None and status.last_pass is not None
    assert status.last_pass["reason"] == "periodic"


async def test_a_second_watcher_stands_by_while_one_leads(quick: Settings) -> None:
    leading = LeaderLock(quick.data_dir / "watch.lock")
    assert leading.acquire()  # as another `lvs serve` on the same data folder would
    stop = asyncio.Event()
    task = asyncio.create_task(run_watcher(quick, stop=stop))
    await asyncio.sleep(0.5)
    assert not task.done()
    assert read_status(quick.data_dir) is None  # it watches nothing, writes nothing
    stop.set()
    await asyncio.wait_for(task, 15)
    leading.release()


async def test_when_watching_fails_the_folders_say_rescans_only(
    watcher: LibraryWatcher, quick: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_inotify(*_args: object, **_kw: object) -> AsyncIterator[set[tuple[str, str]]]:
        raise OSError(28, "inotify watch limit reached")
        yield set()  # an async generator, like the real one

    monkeypatch.setattr("lvs.services.watch.watch_changes", no_inotify)
    watcher.start(initial_scan=False)  # type: ignore[attr-defined]

    def folders() -> list[dict[str, object]]:
        status = read_status(quick.data_dir)
        return status.folders if status else []

    await eventually(lambda: bool(folders()) and not folders()[0]["watched"])
    assert "inotify watch limit reached" in str(folders()[0]["reason"])


async def test_previews_are_queued_a_batch_at_a_time(
    watcher: LibraryWatcher, quick: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lvs.services.watch.PREVIEW_BATCH", 1)
    watcher.start(initial_scan=False)  # type: ignore[attr-defined]
    hashes = [h for (h,) in db_query(quick, "SELECT media_hash FROM media")]
    assert len(hashes) == 3
    await eventually(lambda: all(previews_ready(quick.previews_dir, h) for h in hashes))
    assert watcher.runner.stats().done >= 3


async def test_a_file_held_back_by_the_first_scan_is_indexed_once_still(
    quick: Settings, clip_dir: Path
) -> None:
    """`lvs serve`'s first scan leaves a file changed a moment ago to the watcher."""
    dest = quick.library[0] / "Just copied.mp4"
    shutil.copyfile(clip_dir / "Alpha.mp4", dest)
    engine = make_engine(quick)
    try:
        scanner = Scanner(async_sessionmaker(engine, expire_on_commit=False), quick.thumbs_dir)
        report = await scanner.scan(quick.library, hold=lambda f: f.path == dest)
    finally:
        await engine.dispose()
    assert report.held == [str(dest)] and rows_for(quick, dest) == []

    stop = asyncio.Event()
    task = asyncio.create_task(run_watcher(quick, first=(report, 0.1), stop=stop))
    try:
        await eventually(lambda: rows_for(quick, dest) != [])
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
