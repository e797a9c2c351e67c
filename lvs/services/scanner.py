"""Indexing the library folders into the database.

The filesystem work (walking, fingerprinting, probing, thumbnails) lives in ``lvs.library``; this
service decides what is new, unchanged, updated, moved, skipped or missing, and writes it in small
batches so that pages show videos while the scan is still running. A file whose path, size and
mtime are unchanged is not read again. Nothing here deletes a row: a vanished file is marked
missing, and per-person data (keyed by content fingerprint) is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lvs.db.models import Media, ScanStatus, SkippedFile
from lvs.library.oshash import oshash
from lvs.library.probe import PROBE_VERSION, ProbeError, ProbeResult, probe
from lvs.library.thumbnails import ThumbnailError, make_thumbnail, thumbnail_path
from lvs.library.titles import TITLES_VERSION, parse_path, top_folder
from lvs.library.walk import FoundFile, walk_videos

__all__ = ["ScanReport", "Scanner", "parsed_values", "title_from_path"]

log = logging.getLogger(__name__)

BATCH = 100
RETRY_LATER = "retry:"
ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phase is "index" or "thumbnails"."""


@dataclass
class ScanReport:
    new: int = 0
    unchanged: int = 0
    updated: int = 0
    moved: int = 0
    missing: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)
    thumbnails: int = 0
    thumbnail_failures: list[tuple[str, str]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # still changing: left for a later pass
    reparsed: int = 0  # rows whose titles were parsed again (a newer parser), files not read

    @property
    def total(self) -> int:
        return self.new + self.unchanged + self.updated + self.moved + len(self.skipped)

    def summary(self) -> str:
        return (
            f"{self.total} files: {self.new} new, {self.unchanged} unchanged, "
            f"{self.updated} updated, {self.moved} moved, {len(self.skipped)} skipped, "
            f"{self.missing} missing"
        )


class _StatusWriter:
    """Keeps the ``scan_status`` row up to date (and passes progress on), so the web workers
    can say that a scan runs and how far it got. At most one write every few seconds."""

    EVERY = 2.0  # seconds between progress writes

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], progress: ProgressFn | None
    ) -> None:
        self._sessions = sessions
        self._progress = progress
        self._last = 0.0

    async def _write(self, **values: Any) -> None:
        values["heartbeat_at"] = datetime.now(UTC)
        try:
            async with self._sessions() as session:
                await session.execute(update(ScanStatus).where(ScanStatus.id == 1).values(**values))
                await session.commit()
        except Exception:  # a busy database must not stop the scan itself
            log.warning("could not record the scan's progress", exc_info=True)

    async def started(self) -> None:
        now = datetime.now(UTC)
        await self._write(started_at=now, finished_at=None, files_found=0, files_done=0)

    async def finished(self) -> None:
        await self._write(finished_at=datetime.now(UTC))

    async def __call__(self, phase: str, done: int, total: int) -> None:
        if self._progress:
            self._progress(phase, done, total)
        now = asyncio.get_running_loop().time()
        if now - self._last >= self.EVERY or (phase == "index" and done == total):
            self._last = now
            if phase == "index":
                await self._write(files_found=total, files_done=done)
            else:  # thumbnails: still alive
                await self._write()


@dataclass(frozen=True, slots=True)
class _Analysed:
    found: FoundFile
    media_hash: str | None = None
    info: ProbeResult | None = None
    error: str | None = None


def title_from_path(path: Path) -> str:
    """A readable title from a file name: ``My_Holiday.2019.mp4`` -> ``My Holiday.2019``."""
    title = path.stem.replace("_", " ").strip()
    return " ".join(title.split()) or path.name


def parsed_values(rel_path: str) -> dict[str, Any]:
    """The columns that the path alone gives (show, season, episode, year, date, top folder)."""
    posix = PurePath(rel_path).as_posix()
    parsed = parse_path(posix)
    return {
        "show_title": parsed.show[:256] if parsed.show else None,
        "show_key": parsed.show_key or None,
        "season": parsed.season,
        "episode": parsed.episode,
        "year": parsed.year,
        "dated_on": parsed.dated_on,
        "top_folder": top_folder(posix),
        "title_version": TITLES_VERSION,
    }


def _analyse(found: FoundFile) -> _Analysed:
    """Fingerprint and probe one file (runs in a worker thread)."""
    if found.size == 0:
        return _Analysed(found, error="empty file")
    try:
        info = probe(found.path)
        media_hash = oshash(found.path)
    except ProbeError as exc:
        return _Analysed(found, error=str(exc))
    except (OSError, ValueError) as exc:
        return _Analysed(found, error=f"unreadable: {exc}")
    return _Analysed(found, media_hash=media_hash, info=info)


def _media_values(a: _Analysed) -> dict[str, Any]:
    assert a.info is not None and a.media_hash is not None
    found, info = a.found, a.info
    rel_path = str(found.path.relative_to(found.root))
    return {
        "path": str(found.path),
        "root": str(found.root),
        "rel_path": rel_path,
        "title": title_from_path(found.path),
        "media_hash": a.media_hash,
        "size": found.size,
        "mtime_ns": found.mtime_ns,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "container": info.container,
        "video_tag": info.video_tag,
        "video_profile": info.video_profile,
        "video_level": info.video_level,
        "pix_fmt": info.pix_fmt,
        "bit_depth": info.bit_depth,
        "frame_rate": info.frame_rate,
        "rotation": info.rotation,
        "interlaced": info.interlaced,
        "audio_channels": info.audio_channels,
        "audio_sample_rate": info.audio_sample_rate,
        "probe_version": PROBE_VERSION,
        "missing": False,
        **parsed_values(rel_path),
    }


class Scanner:
    """Indexes ``roots`` into the database behind ``sessions``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        thumbs_dir: Path,
        *,
        workers: int | None = None,
    ) -> None:
        self._sessions = sessions
        self._thumbs_dir = thumbs_dir
        self._workers = workers or min(4, (os.cpu_count() or 1) + 1)

    async def scan(
        self,
        roots: Sequence[Path],
        *,
        progress: ProgressFn | None = None,
        thumbnails: bool = True,
        hold: Callable[[FoundFile], bool] | None = None,
    ) -> ScanReport:
        """Index every video below ``roots``. ``hold(file)`` True leaves that file as it is for
        this pass: not read, not marked missing (the watcher holds files still being copied)."""
        report = ScanReport()
        resolved: list[Path] = []
        for root in roots:
            if root.is_dir():
                resolved.append(root.resolve())
            else:
                report.missing_roots.append(str(root))
        loop = asyncio.get_running_loop()
        status = _StatusWriter(self._sessions, progress)
        await status.started()
        try:
            with ThreadPoolExecutor(self._workers, thread_name_prefix="lvs-scan") as pool:
                found = await loop.run_in_executor(pool, lambda: list(walk_videos(resolved)))
                if hold is not None:
                    report.held = [str(f.path) for f in found if hold(f)]
                    held = set(report.held)
                    found = [f for f in found if str(f.path) not in held]
                await self._index(found, report, pool, status)
                await self.parse_titles(report)
                if report.new or report.updated or report.moved or report.missing:
                    await self.analyze()
                if thumbnails:
                    await self.make_thumbnails(report, pool, status)
        finally:
            await asyncio.shield(status.finished())
        return report

    async def parse_titles(self, report: ScanReport | None = None) -> int:
        """Fill in what the path says for rows parsed by an older parser (or none): from
        ``rel_path`` alone, without reading a file. Returns how many rows it updated."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Media.id, Media.rel_path).where(Media.title_version < TITLES_VERSION)
                )
            ).all()
        for start in range(0, len(rows), BATCH * 10):
            async with self._sessions() as session:
                # The ORM's bulk UPDATE by primary key: one executemany per batch.
                await session.execute(
                    update(Media),
                    [
                        {"id": r.id, **parsed_values(r.rel_path)}
                        for r in rows[start : start + BATCH * 10]
                    ],
                )
                await session.commit()
        if report is not None:
            report.reparsed = len(rows)
        return len(rows)

    async def analyze(self) -> None:
        """Refresh the query planner's statistics after the library changed: without them
        SQLite may walk the 100 000-entry ``missing`` index to find one fingerprint."""
        async with self._sessions() as session:
            await session.execute(text("ANALYZE"))
            await session.commit()

    async def _index(
        self,
        found: list[FoundFile],
        report: ScanReport,
        pool: ThreadPoolExecutor,
        status: _StatusWriter,
    ) -> None:
        async with self._sessions() as session:
            known = {
                row.path: row
                for row in (
                    await session.execute(
                        select(
                            Media.id,
                            Media.path,
                            Media.size,
                            Media.mtime_ns,
                            Media.missing,
                            Media.media_hash,
                            Media.probe_version,
                        )
                    )
                ).all()
            }
            skipped_known = {
                row.path: row
                for row in (
                    await session.execute(
                        select(
                            SkippedFile.path,
                            SkippedFile.size,
                            SkippedFile.mtime_ns,
                            SkippedFile.reason,
                        )
                    )
                ).all()
            }

        found_paths = {str(f.path) for f in found}.union(report.held)
        # Rows whose file is gone: candidates for a move (same fingerprint at a new path).
        gone_by_hash: dict[str, list[int]] = {}
        for path, row in known.items():
            if path not in found_paths:
                gone_by_hash.setdefault(row.media_hash, []).append(row.id)

        to_analyse: list[FoundFile] = []
        unmissing: list[int] = []
        for f in found:
            key = str(f.path)
            old = known.get(key)
            if (
                old is not None
                and old.size == f.size
                and old.mtime_ns == f.mtime_ns
                and old.probe_version >= PROBE_VERSION  # else: probe again, for new facts
            ):
                report.unchanged += 1
                if old.missing:
                    unmissing.append(old.id)
                continue
            skip = skipped_known.get(key)
            if skip is not None and skip.size == f.size and skip.mtime_ns == f.mtime_ns:
                report.skipped.append((key, skip.reason))
                continue
            to_analyse.append(f)

        total = len(found)
        done = total - len(to_analyse)
        await status("index", done, total)
        if unmissing:
            async with self._sessions() as session:
                await session.execute(
                    update(Media).where(Media.id.in_(unmissing)).values(missing=False)
                )
                await session.commit()

        loop = asyncio.get_running_loop()
        for start in range(0, len(to_analyse), BATCH):
            chunk = to_analyse[start : start + BATCH]
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, _analyse, f) for f in chunk)
            )
            await self._write_batch(results, known, gone_by_hash, report)
            done += len(chunk)
            await status("index", done, total)

        still_gone = [i for ids in gone_by_hash.values() for i in ids]
        if still_gone:
            async with self._sessions() as session:
                result = await session.execute(
                    update(Media)
                    .where(Media.id.in_(still_gone), Media.missing.is_(False))
                    .values(missing=True)
                )
                await session.commit()
                report.missing = int(getattr(result, "rowcount", 0) or 0)

    async def _write_batch(
        self,
        results: Iterable[_Analysed],
        known: dict[str, Any],
        gone_by_hash: dict[str, list[int]],
        report: ScanReport,
    ) -> None:
        now = datetime.now(UTC)
        inserts: list[dict[str, Any]] = []
        async with self._sessions() as session:
            for a in results:
                path = str(a.found.path)
                if a.error is not None:
                    report.skipped.append((path, a.error))
                    log.info("skipped %s: %s", path, a.error)
                    await session.execute(delete(SkippedFile).where(SkippedFile.path == path))
                    await session.execute(
                        insert(SkippedFile).values(
                            path=path,
                            size=a.found.size,
                            mtime_ns=a.found.mtime_ns,
                            reason=a.error[:512],
                        )
                    )
                    if path in known:  # it was a video; now it is not readable
                        await session.execute(
                            update(Media).where(Media.path == path).values(missing=True)
                        )
                    continue
                values = _media_values(a)
                await session.execute(delete(SkippedFile).where(SkippedFile.path == path))
                existing = known.get(path)
                assert a.media_hash is not None
                if existing is not None:
                    row = existing
                    changed = row.media_hash != a.media_hash
                    await session.execute(
                        update(Media)
                        .where(Media.id == row.id)
                        .values(
                            **values,
                            updated_at=now,
                            **(
                                {"has_thumbnail": False, "thumbnail_error": None} if changed else {}
                            ),
                        )
                    )
                    report.updated += 1
                elif gone_by_hash.get(a.media_hash):
                    moved_id = gone_by_hash[a.media_hash].pop()
                    await session.execute(
                        update(Media).where(Media.id == moved_id).values(**values, updated_at=now)
                    )
                    report.moved += 1
                else:
                    inserts.append(values)
                    report.new += 1
            if inserts:
                await session.execute(insert(Media), inserts)
            await session.commit()

    async def make_thumbnails(
        self,
        report: ScanReport,
        pool: ThreadPoolExecutor,
        progress: ProgressFn | _StatusWriter | None = None,
    ) -> None:
        """Thumbnails for present videos that have none yet (one per fingerprint)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Media.id, Media.path, Media.media_hash, Media.duration).where(
                        Media.has_thumbnail.is_(False),
                        Media.thumbnail_error.is_(None),
                        Media.missing.is_(False),
                    )
                )
            ).all()
        loop = asyncio.get_running_loop()
        total = len(rows)
        for start in range(0, total, 8):
            chunk = rows[start : start + 8]
            outcomes = await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool, self._thumbnail, Path(r.path), r.media_hash, r.duration
                    )
                    for r in chunk
                )
            )
            async with self._sessions() as session:
                for r, error in zip(chunk, outcomes, strict=True):
                    if error is None:
                        report.thumbnails += 1
                        values: dict[str, Any] = {"has_thumbnail": True}
                    elif error.startswith(RETRY_LATER):
                        report.thumbnail_failures.append((r.path, error[len(RETRY_LATER) :]))
                        continue
                    else:
                        report.thumbnail_failures.append((r.path, error))
                        values = {"thumbnail_error": error[:512]}
                    await session.execute(update(Media).where(Media.id == r.id).values(**values))
                await session.commit()
            if isinstance(progress, _StatusWriter):
                await progress("thumbnails", min(start + 8, total), total)
            elif progress:
                progress("thumbnails", min(start + 8, total), total)

    def _thumbnail(self, src: Path, media_hash: str, duration: float | None) -> str | None:
        dest = thumbnail_path(self._thumbs_dir, media_hash)
        if dest.is_file():
            return None
        try:
            make_thumbnail(src, dest, duration)
        except ThumbnailError as exc:
            log.warning("no thumbnail for %s: %s", src, exc)
            if str(exc).startswith("cannot write thumbnail"):
                # Our side failed (disk full, permissions on the data folder): try again on
                # the next scan instead of marking the video as having no thumbnail for good.
                return RETRY_LATER + str(exc)
            return str(exc)
        return None
