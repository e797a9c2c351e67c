"""scan: indexing 10 000 small real video files, then rescanning them, then thumbnails; against
a bare os.walk + os.stat and an oshash loop over the same tree (the floor of any indexer)."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.common import Context, Goal, Metric, fmt, print_metrics, ready_marker
from bench.dataset import migrate

NAME = "scan"
SUMMARY = "indexing 10 000 small real clips: first scan, unchanged rescan, thumbnails"

WORKERS = min(4, (os.cpu_count() or 1) + 1)  # the Scanner's own default


def file_count(ctx: Context) -> int:
    return int(ctx.pick(10_000, 500))


def prepare(ctx: Context) -> Path:
    """``file_count`` copies of one tiny real clip (0.5 s, 64x64, h264, no audio), each with an
    8-byte counter appended (after zero padding to a multiple of 8 bytes, so that the oshash,
    which then covers the whole file, differs for every copy), spread over up to 100 folders."""
    from lvs.library.demo import make_clip
    from lvs.library.oshash import oshash
    from lvs.library.probe import probe

    count = file_count(ctx)
    folder = ctx.cache / f"scan-{count}"
    library = folder / "library"
    params = {"files": count, "clip": "0.5s 64x64 h264 24fps no audio", "layout": 1}
    is_ready, mark_ready = ready_marker(folder, params)
    if is_ready():
        return library
    print(f"preparing {count} small clips in {library} ...", flush=True)
    shutil.rmtree(library, ignore_errors=True)
    seed = make_clip(
        folder / "seed.mp4", seconds=0.5, width=64, height=64, fps=24, codec="h264", audio=False
    )
    clip = seed.read_bytes()
    clip += b"\0" * (-len(clip) % 8)
    folders = 100 if count >= 1000 else max(1, count // 50)
    paths: list[Path] = []
    for i in range(count):
        path = library / f"folder-{i % folders:03d}" / f"clip-{i:05d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(clip + struct.pack("<Q", i + 1))
        paths.append(path)
    for path in (paths[0], paths[-1]):
        info = probe(path)  # PyAV must still read a copy with bytes appended
        if info.video_codec != "h264":
            raise RuntimeError(f"{path} probes as {info}")
    if len({oshash(p) for p in paths}) != count:
        raise RuntimeError("copies do not all have distinct oshashes")
    mark_ready()
    return library


@dataclass(frozen=True)
class LvsRound:
    first_s: float
    rescan_s: float
    thumbs_s: float
    thumbnails: int


async def _scan_round(library: Path, data: Path, count: int) -> LvsRound:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from lvs.db.config import make_engine
    from lvs.services.scanner import Scanner, ScanReport
    from lvs.settings import Settings

    settings = Settings.from_env({"LVS_DATA_DIR": str(data), "LVS_LIBRARY": str(library)})
    engine = make_engine(settings)
    try:
        scanner = Scanner(
            async_sessionmaker(engine, expire_on_commit=False), settings.thumbs_dir, workers=WORKERS
        )
        start = time.perf_counter()
        first = await scanner.scan(settings.library, thumbnails=False)
        first_s = time.perf_counter() - start
        if first.new != count:
            raise RuntimeError(f"first scan: {first.summary()}; skipped: {first.skipped[:3]}")
        start = time.perf_counter()
        again = await scanner.scan(settings.library, thumbnails=False)
        rescan_s = time.perf_counter() - start
        if again.unchanged != count:
            raise RuntimeError(f"rescan: {again.summary()}")
        thumbs = ScanReport()
        start = time.perf_counter()
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="lvs-scan") as pool:
            await scanner.make_thumbnails(thumbs, pool)
        thumbs_s = time.perf_counter() - start
        if thumbs.thumbnail_failures:
            raise RuntimeError(f"thumbnails failed: {thumbs.thumbnail_failures[:3]}")
        return LvsRound(first_s, rescan_s, thumbs_s, thumbs.thumbnails)
    finally:
        await engine.dispose()


def _walk(library: Path) -> list[str]:
    found = []
    for dirpath, _dirs, files in os.walk(library):
        for name in files:
            path = os.path.join(dirpath, name)
            os.stat(path)
            found.append(path)
    return found


def run(ctx: Context) -> list[Goal]:
    from lvs.library.oshash import oshash

    library = prepare(ctx)
    count = file_count(ctx)
    rescan_budget = count / 10_000  # "10 000 unchanged files in ≤ 1 s", scaled
    sample = Path(_walk(library)[0])
    print(
        f"library: {count} copies of a 0.5 s 64x64 h264 clip ({sample.stat().st_size} bytes "
        f"each, e.g. {sample}) in "
        f"{len(os.listdir(library))} folders, warm in the page cache\n"
        f"lvs: lvs.services.scanner.Scanner in this process (workers={WORKERS}), fresh "
        f"database per round: scan(thumbnails=False), the same again (nothing changed), then "
        f"make_thumbnails\n"
        f"reference: os.walk + os.stat of the tree; one oshash per file in a plain loop\n"
        f"rounds: {ctx.rounds}, interleaved lvs/reference"
    )
    first = Metric("first scan, no thumbnails", "files/s", ref_name="oshash loop")
    first_s = Metric("first scan, no thumbnails", "s", ref_name="oshash loop")
    rescan = Metric("rescan, nothing changed", "s", ref_name="walk + stat")
    thumbs = Metric("thumbnails", "thumbs/s")
    for path in _walk(library):  # page cache
        oshash(path)
    for rnd in range(1, ctx.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="lvs-bench-scan-") as tmp:
            data = Path(tmp)
            migrate(data)
            res = asyncio.run(_scan_round(library, data, count))
        first.lvs.append(count / res.first_s)
        first_s.lvs.append(res.first_s)
        rescan.lvs.append(res.rescan_s)
        thumbs.lvs.append(res.thumbnails / res.thumbs_s)

        start = time.perf_counter()
        paths = _walk(library)
        rescan.ref.append(time.perf_counter() - start)
        start = time.perf_counter()
        for path in paths:
            oshash(path)
        hash_s = time.perf_counter() - start
        first.ref.append(len(paths) / hash_s)
        first_s.ref.append(hash_s)
        print(
            f"round {rnd}: first scan {fmt(res.first_s)} s ({fmt(first.lvs[-1])} files/s), "
            f"rescan {fmt(res.rescan_s)} s, thumbnails {fmt(res.thumbs_s)} s "
            f"({fmt(thumbs.lvs[-1])}/s); walk+stat {fmt(rescan.ref[-1])} s, "
            f"oshash loop {fmt(hash_s)} s",
            flush=True,
        )
    print_metrics("Results (medians over rounds)", [first, first_s, rescan, thumbs])
    return [
        Goal(
            "first scan ≥ 300 files/s (before thumbnails)",
            f"{fmt(first.lvs_median)} files/s",
            first.lvs_median >= 300,
        ),
        Goal(
            f"rescan of {count} unchanged ≤ {fmt(rescan_budget)} s (1 s per 10 000)",
            f"{fmt(rescan.lvs_median)} s",
            rescan.lvs_median <= rescan_budget,
        ),
    ]
