"""A library that keeps itself up to date: one process watches the library folders, indexes what
changed through the scanner (identity by fingerprint; a vanished file is marked missing, never
deleted with its data), rescans periodically for changes no event reports, and has scrub
previews and thumbnails made in the background by the job runner.

Change events are hints. A file is read only once its size and modification time have been
still for LVS_WATCH_SETTLE_SECONDS (the scanner holds back the others), and the scanner's probe
then has to open it with PyAV, so a file still being copied is never indexed half-way; one the
probe cannot read yet is recorded as skipped with its size and time, and read again when they
change.

What the watcher does is written to ``$LVS_DATA_DIR/watch-status.json`` every few seconds, for
the status page of every web worker (:func:`read_status`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lvs.db.models import Media
from lvs.jobs import JobRunner, PermanentJobError, RedisJobLocks, RedisLeader
from lvs.library.sprites import SpriteError, failure_path, make_previews, previews_ready
from lvs.library.thumbnails import ThumbnailError, make_thumbnail, thumbnail_path
from lvs.library.walk import FoundFile
from lvs.library.watcher import (
    Folder,
    LeaderLock,
    SettleTracker,
    classify_folders,
    is_video_path,
    recently_modified,
    watch_changes,
)
from lvs.services.scanner import Scanner, ScanReport
from lvs.settings import Settings

__all__ = [
    "STATUS_FILE",
    "LibraryWatcher",
    "WatchStatus",
    "make_preview",
    "read_status",
    "run_watcher",
]

log = logging.getLogger(__name__)

STATUS_FILE = "watch-status.json"
#: Seconds between status writes; a status older than a few of these means no watcher runs.
#: Seconds between checks for a change worth writing; an unchanged status is written again only
#: every KEEPALIVE seconds (no disk write every 2 s for a library where nothing happens).
HEARTBEAT = 2.0
KEEPALIVE = 10.0
STALE_AFTER = 3 * KEEPALIVE
#: A deletion or folder change waits at most this long for added files to settle before the
#: scan runs anyway (a move is best seen whole: the old path gone and the new one settled).
DIRTY_PATIENCE = 30.0
#: Scrub previews queued at a time; more as the queue runs low.
PREVIEW_BATCH = 500


def make_preview(src: Path, previews_dir: Path, media_hash: str, duration: float | None) -> None:
    """The job body for ("sprite", hash): make the previews unless they exist or failed."""
    if previews_ready(previews_dir, media_hash):
        return
    try:
        make_previews(src, previews_dir, media_hash, duration)
    except SpriteError as exc:
        reason = str(exc)
        if isinstance(exc.__cause__, OSError) and not src.is_file():
            raise  # the file went away meanwhile: the next scan decides; try again then
        with contextlib.suppress(OSError):
            marker = failure_path(previews_dir, media_hash)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(reason + "\n", encoding="utf-8")
        raise PermanentJobError(reason) from exc


def make_thumbnail_file(
    src: Path, thumbs_dir: Path, media_hash: str, duration: float | None
) -> str | None:
    """The job body for ("thumbnail", hash): the JPEG, or why none can be made (kept on the
    row). A failure on our side (disk full, permissions) raises, so it is retried."""
    dest = thumbnail_path(thumbs_dir, media_hash)
    if dest.is_file():
        return None
    try:
        make_thumbnail(src, dest, duration)
    except ThumbnailError as exc:
        if exc.reason.startswith("cannot write thumbnail"):
            raise
        return exc.reason[:512]
    return None


def _needs_preview(previews_dir: Path, media_hash: str) -> bool:
    try:
        return not previews_ready(previews_dir, media_hash) and not (
            failure_path(previews_dir, media_hash).exists()
        )
    except ValueError:  # not a fingerprint lvs makes
        return False


@dataclass(frozen=True, slots=True)
class PassSummary:
    at: str  # ISO time
    reason: str
    seconds: float
    summary: str
    new: int
    updated: int
    moved: int
    missing: int
    skipped: int
    held: int


@dataclass(slots=True)
class WatchStatus:
    """What the status page shows about the watcher (serialised to JSON)."""

    pid: int
    host: str
    started_at: str
    heartbeat: float  # time.time()
    folders: list[dict[str, Any]]
    rescan_minutes: int
    settle_seconds: float
    scanning: str | None = None  # the reason of the pass now running
    last_pass: dict[str, Any] | None = None
    settling: int = 0  # files waiting to be still
    jobs: dict[str, Any] | None = None

    @property
    def alive(self) -> bool:
        return time.time() - self.heartbeat < STALE_AFTER


def read_status(data_dir: Path) -> WatchStatus | None:
    """The watcher's last written status, or None when none was ever written or it is not
    readable (a watcher that stopped leaves one that is no longer ``alive``)."""
    try:
        raw = json.loads((data_dir / STATUS_FILE).read_text(encoding="utf-8"))
        return WatchStatus(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class LibraryWatcher:
    """Watches ``settings.library``; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        runner: JobRunner,
        *,
        rescan_seconds: float | None = None,
        tick: float = 0.5,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.scanner = Scanner(sessions, settings.thumbs_dir)
        self._sessions = sessions
        self.tracker = SettleTracker(settings.watch_settle_seconds)
        self.rescan_seconds = (
            settings.rescan_minutes * 60.0 if rescan_seconds is None else rescan_seconds
        )
        self._tick = tick
        self._lock = asyncio.Lock()
        self._dirty_since: float | None = None
        self._written: dict[str, Any] | None = None  # the status last written, less heartbeat
        self._backlog = False  # videos without previews beyond the last batch queued
        self.folders: list[Folder] = classify_folders(
            settings.library, rescan_minutes=settings.rescan_minutes
        )
        self.status = WatchStatus(
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            heartbeat=time.time(),
            folders=[asdict(f) for f in self.folders],
            rescan_minutes=settings.rescan_minutes,
            settle_seconds=settings.watch_settle_seconds,
        )

    # -- one pass ---------------------------------------------------------------------------

    def _hold(self, found: FoundFile) -> bool:
        """Leave a file alone this pass: it changed lately, or is still changing."""
        path = str(found.path)
        if path in self.tracker.waiting():
            return True
        if recently_modified(found.mtime_ns, self.settings.watch_settle_seconds):
            self.tracker.touch(path)  # changed without an event (a network mount): wait
            return True
        return False

    async def rescan(self, reason: str = "periodic") -> ScanReport:
        """One incremental pass over every folder (unchanged files are not read again), then
        previews for what it found. Passes never overlap."""
        async with self._lock:
            self.status.scanning = reason
            self.write_status()
            started = time.monotonic()
            try:
                report = await self.scanner.scan(
                    self.settings.library, hold=self._hold, thumbnails=False
                )
            finally:
                self.status.scanning = None
            self.record(report, reason, time.monotonic() - started)
            if report.new or report.updated or report.moved:
                log.info("library %s: %s", reason, report.summary())
                await self.enqueue_thumbnails()
                await self.enqueue_previews()
            self.write_status()
            return report

    def record(self, report: ScanReport, reason: str, seconds: float) -> None:
        """Remember a pass for the status page."""
        self.status.last_pass = asdict(
            PassSummary(
                at=datetime.now(UTC).isoformat(timespec="seconds"),
                reason=reason,
                seconds=round(seconds, 2),
                summary=report.summary(),
                new=report.new,
                updated=report.updated,
                moved=report.moved,
                missing=report.missing,
                skipped=len(report.skipped),
                held=len(report.held),
            )
        )

    async def enqueue_thumbnails(self) -> int:
        """Queue a thumbnail for every present video that has none and no known reason why
        (before any scrub preview: they are what the pages show first)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Media.path, Media.media_hash, Media.duration).where(
                        Media.has_thumbnail.is_(False),
                        Media.thumbnail_error.is_(None),
                        Media.missing.is_(False),
                    )
                )
            ).all()
        queued = 0
        for r in rows:
            queued += self.runner.submit(
                ("thumbnail", r.media_hash),
                make_thumbnail_file,
                Path(r.path),
                self.settings.thumbs_dir,
                r.media_hash,
                r.duration,
                then=self._thumbnail_done(r.media_hash),
                priority=0,
            )
        return queued

    def _thumbnail_done(self, media_hash: str) -> Callable[[str | None], Awaitable[None]]:
        async def record(error: str | None) -> None:
            values: dict[str, Any] = (
                {"has_thumbnail": True} if error is None else {"thumbnail_error": error}
            )
            async with self._sessions() as session:
                await session.execute(
                    update(Media).where(Media.media_hash == media_hash).values(**values)
                )
                await session.commit()

        return record

    async def enqueue_previews(self, batch: int | None = None) -> int:
        """Queue previews for up to ``batch`` present videos that have none (newest first);
        the rest wait until the queue runs low (a 100 000-video library does not sit in
        memory as 100 000 jobs)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Media.path, Media.media_hash, Media.duration)
                    .where(Media.missing.is_(False))
                    .order_by(Media.created_at.desc(), Media.id.desc())
                )
            ).all()
        previews_dir = self.settings.previews_dir
        todo = await asyncio.to_thread(
            lambda: [r for r in rows if _needs_preview(previews_dir, r.media_hash)]
        )
        batch = PREVIEW_BATCH if batch is None else batch
        queued = 0
        for r in todo:
            if queued >= batch:
                break
            queued += self.runner.submit(
                ("sprite", r.media_hash),
                make_preview,
                Path(r.path),
                previews_dir,
                r.media_hash,
                r.duration,
            )
        self._backlog = queued < len(todo)
        return queued

    # -- the loops ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, initial_scan: bool = True) -> None:
        tasks = [
            asyncio.create_task(self._settle_loop(stop), name="lvs-watch-settle"),
            asyncio.create_task(self._heartbeat(stop), name="lvs-watch-status"),
        ]
        watched = [f.path for f in self.folders if f.watched]
        if watched:
            tasks.append(asyncio.create_task(self._events(watched, stop), name="lvs-watch"))
        if self.rescan_seconds > 0:
            tasks.append(asyncio.create_task(self._periodic(stop), name="lvs-rescan"))
        try:
            if initial_scan:
                await self.rescan("start")
            else:
                await self.enqueue_thumbnails()
                await self.enqueue_previews()
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _events(self, roots: list[str], stop: asyncio.Event) -> None:
        try:
            async for batch in watch_changes(roots, stop):
                for kind, path in batch:
                    if kind in {"added", "modified"} and is_video_path(path):
                        self.tracker.touch(path)
                    elif self._dirty_since is None:  # deletions, folders moved: rescan soon
                        self._dirty_since = time.monotonic()
        except Exception as exc:  # e.g. the inotify watch limit on a huge tree
            log.warning("cannot watch the library folders (%s); rescans only", exc)
            reason = f"watching failed ({exc}); rescans only"
            self.folders = [
                replace(f, watched=False, reason=reason) if f.watched else f for f in self.folders
            ]
            self.status.folders = [asdict(f) for f in self.folders]
            self.write_status()

    async def _settle_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self._tick)
            ready = self.tracker.poll()
            self.status.settling = len(self.tracker)
            dirty = self._dirty_since is not None and (
                not len(self.tracker) or time.monotonic() - self._dirty_since > DIRTY_PATIENCE
            )
            if ready or dirty:
                self._dirty_since = None
                try:
                    await self.rescan("change")
                except Exception:
                    log.exception("indexing a change failed; the next change or rescan retries")
            elif self._backlog and self.runner.stats().queued < max(1, PREVIEW_BATCH // 10):
                await self.enqueue_previews()  # the next batch

    async def _periodic(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.rescan_seconds)
            try:
                await self.rescan("periodic")
            except Exception:
                log.exception("the periodic rescan failed; trying again next time")

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.write_status(unless_unchanged=True)
            await asyncio.sleep(HEARTBEAT)

    def write_status(self, *, unless_unchanged: bool = False) -> None:
        stats = self.runner.stats()
        self.status.settling = len(self.tracker)
        self.status.jobs = {
            "queued": stats.queued,
            "running": stats.running,
            "done": stats.done,
            "failed": stats.failed,
            "elsewhere": stats.skipped_elsewhere,
            "failures": [{"key": f.key, "error": f.error, "at": f.at} for f in stats.failures[:10]],
        }
        content = asdict(self.status)
        del content["heartbeat"]
        now = time.time()
        if (
            unless_unchanged
            and content == self._written
            and now - self.status.heartbeat < KEEPALIVE
        ):
            return
        self.status.heartbeat = now
        self._written = content
        try:
            _write_json(self.settings.data_dir / STATUS_FILE, asdict(self.status))
        except OSError as exc:
            log.warning("cannot write the watcher's status: %s", exc)


async def run_watcher(
    settings: Settings,
    *,
    first: tuple[ScanReport, float] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """The watching process (``lvs scan --watch``, started by ``lvs serve``): become the one
    leader for this data folder (and, with Redis, for every machine sharing it), then watch
    until SIGTERM/SIGINT or ``stop``. ``first``: the scan just made and its seconds (none is
    made then at the start)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    url = settings.jobs_redis_url
    leader = LeaderLock(settings.data_dir / "watch.lock")
    shared = RedisLeader(url, timeout=settings.redis_timeout) if url else None
    try:
        while not await _lead(leader, shared):
            log.info("another process watches this library; standing by")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 10)
            if stop.is_set():
                return
        await _watch(settings, stop, first)
    finally:
        leader.release()
        if shared is not None:
            await shared.close()


async def _lead(leader: LeaderLock, shared: RedisLeader | None) -> bool:
    """Leader of this data folder, and with Redis of every machine sharing it."""
    if not leader.acquire():
        return False
    if shared is None:
        return True
    try:
        if await shared.acquire():
            return True
    except Exception as exc:  # Redis away: lead this machine at least
        log.warning("leader lock in Redis unavailable (%s): watching from this machine", exc)
        return True
    leader.release()
    return False


async def _watch(
    settings: Settings, stop: asyncio.Event, first: tuple[ScanReport, float] | None
) -> None:
    from lvs.db.config import make_engine

    url = settings.jobs_redis_url
    runner = JobRunner(
        locks=RedisJobLocks(url, timeout=settings.redis_timeout) if url else None,
        lock_ttl=300.0,
    )
    engine = make_engine(settings)
    try:
        async with runner:
            watcher = LibraryWatcher(
                settings, async_sessionmaker(engine, expire_on_commit=False), runner
            )
            if first is not None:
                watcher.record(first[0], "start", first[1])
                for path in first[0].held:  # changed just before: indexed once still
                    watcher.tracker.touch(path)
            await watcher.run(stop, initial_scan=first is None)
    finally:
        await engine.dispose()
