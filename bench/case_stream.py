"""stream: serving one big video file, lvs (/media/{id}/stream) against nginx (sendfile)."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    MB,
    Context,
    Goal,
    Metric,
    MiB,
    fmt,
    fmt_ratio,
    free_port,
    percentile,
    print_metrics,
    ready_marker,
)
from bench.dataset import insert_media, migrate, random_hash, schema_fingerprint, timestamp
from bench.loadgen import Sampler, curl_download, run_wrk, ttfb_samples
from bench.servers import CpuMeter, LvsServer, Nginx, deploy_site, tree_rss_mb

NAME = "stream"
SUMMARY = "byte-range streaming of one big file: full download, random 1 MiB ranges, seek TTFB, RSS"

RANGE_LUA = """
local size = {size}
local chunk = {chunk}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(seed * 7919 + os.time())
end
request = function()
  local a = math.random(0, size - chunk)
  return wrk.format("GET", nil, {{["Range"] = "bytes=" .. a .. "-" .. (a + chunk - 1)}})
end
"""


def prepare(ctx: Context) -> tuple[Path, Path, int]:
    """The big file, and a database with one media row for it: ``(data_dir, file, media_id)``."""
    size_mib = ctx.pick(1024, 64)
    folder = ctx.cache / f"stream-{size_mib}MiB"
    library, data = folder / "library", folder / "data"
    big = library / "big.mp4"
    file_ready, mark_file = ready_marker(folder, {"size_mib": size_mib})
    if not file_ready():
        print(f"preparing {size_mib} MiB of random bytes in {big} ...", flush=True)
        library.mkdir(parents=True, exist_ok=True)
        with big.open("wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(MiB))
        mark_file()
    st = big.stat()
    db_ready, mark_db = ready_marker(
        data,
        {"schema": schema_fingerprint(), "size": st.st_size, "mtime_ns": st.st_mtime_ns},
    )
    if not db_ready():
        db = migrate(data)
        now = timestamp(datetime.now(UTC))
        insert_media(
            db,
            [
                {
                    "path": str(big),
                    "root": str(library),
                    "rel_path": big.name,
                    "title": "big",
                    "media_hash": random_hash(random.Random(size_mib)),
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    "duration": 3600.0,
                    "width": 1920,
                    "height": 1080,
                    "video_codec": "h264",
                    "audio_codec": "aac",
                    "container": "mp4",
                    "has_thumbnail": 0,
                    "missing": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        mark_db()
    with sqlite3.connect(data / "lvs.db") as conn:
        (media_id,) = conn.execute("SELECT id FROM media WHERE path = ?", (str(big),)).fetchone()
    conn.close()
    return data, big, int(media_id)


def _warm_page_cache(path: Path) -> None:
    with path.open("rb", buffering=0) as f:
        while f.read(8 * MiB):
            pass


def run(ctx: Context) -> list[Goal]:
    data, big, media_id = prepare(ctx)
    size = big.stat().st_size
    seconds = ctx.pick(10, 3)
    samples = ctx.pick(200, 50)
    lvs_path = f"/media/{media_id}/stream"
    ref_path = f"/files/{big.name}"
    print(
        f"file: {size / MiB:.0f} MiB of random bytes ({big}), in the page cache\n"
        f"lvs: `lvs serve --no-scan` (one uvicorn worker) at {lvs_path}\n"
        f"reference: nginx, worker_processes {Nginx.WORKERS}, sendfile on, tcp_nopush on, "
        f"serving the same file\n"
        f"(a) full download with curl; (b) random unaligned 1 MiB ranges, wrk -t2 -c4 for "
        f"{seconds} s; (c) TTFB of a 1 MiB range at the middle of the file, {samples} requests on "
        f"one keep-alive connection; (d) lvs RSS (process tree) before, during (b)+(a), after\n"
        f"behind nginx: deploy/nginx/lvs.conf (same nginx process) in front of a second lvs with "
        f"LVS_ACCEL_REDIRECT=/_lvs_media/, (b) and (c) through it against nginx alone\n"
        f"rounds: {ctx.rounds}, interleaved lvs/nginx"
    )
    dl = Metric("full download", "MB/s", ref_name="nginx")
    rps = Metric("ranges 1 MiB, 4 conns", "req/s", ref_name="nginx")
    mbps = Metric("ranges 1 MiB, 4 conns", "MB/s", ref_name="nginx")
    r_p99 = Metric("ranges latency p99", "ms", ref_name="nginx")
    cpu = Metric("ranges server CPU", "% core", ref_name="nginx")
    t50 = Metric("seek TTFB p50", "ms", ref_name="nginx")
    t99 = Metric("seek TTFB p99", "ms", ref_name="nginx")
    px_rps = Metric("behind nginx: ranges 1 MiB", "req/s", ref_name="nginx")
    px_p99 = Metric("behind nginx: ranges p99", "ms", ref_name="nginx")
    px_t50 = Metric("behind nginx: seek TTFB p50", "ms", ref_name="nginx")
    rss_before = Metric("lvs RSS before", "MB")
    rss_during = Metric("lvs RSS peak during", "MB")
    rss_after = Metric("lvs RSS after", "MB")
    errors: list[str] = []
    lua = RANGE_LUA.format(size=size, chunk=MiB)
    middle = size // 2
    all_rss: list[float] = []

    _warm_page_cache(big)
    with ExitStack() as stack:
        lvs = stack.enter_context(LvsServer(data, big.parent))
        accel = stack.enter_context(  # the same database; only nginx talks to this one
            LvsServer(
                data,
                big.parent,
                LVS_ACCEL_REDIRECT="/_lvs_media/",
                LVS_TRUSTED_PROXIES="127.0.0.1",
            )
        )
        site_port = free_port()
        nginx = stack.enter_context(
            Nginx(
                f"        location /files/ {{ alias {Nginx.quote(str(big.parent) + '/')}; }}",
                extra_http=deploy_site(accel.port, site_port),
            )
        )
        servers = (("lvs", lvs.port, lvs_path), ("nginx", nginx.port, ref_path))
        proxied = ("behind nginx", site_port, lvs_path)
        ttfb_samples(site_port, lvs_path, 0, MiB - 1, 3)
        for _name, port, path in servers:  # warm-up and a check that ranges work
            ttfb_samples(port, path, 0, MiB - 1, 3)
        baseline = tree_rss_mb(lvs.pid)
        all_rss.append(baseline)
        for rnd in range(1, ctx.rounds + 1):
            before = tree_rss_mb(lvs.pid)
            with Sampler(lambda: tree_rss_mb(lvs.pid)) as sampler:
                for name, port, path in servers:
                    speed, got = curl_download(f"http://127.0.0.1:{port}{path}")
                    if got != size:
                        raise RuntimeError(f"{name}: downloaded {got} bytes of {size}")
                    (dl.lvs if name == "lvs" else dl.ref).append(speed / MB)
                for name, port, path in servers:
                    with CpuMeter(lvs.pid if name == "lvs" else nginx.pid) as meter:
                        res = run_wrk(
                            f"http://127.0.0.1:{port}{path}",
                            connections=4,
                            threads=2,
                            seconds=seconds,
                            lua=lua,
                        )
                    if res.error_count:
                        errors.append(f"round {rnd} {name}: {res.errors_text()}")
                    side = "lvs" if name == "lvs" else "ref"
                    getattr(cpu, side).append(meter.percent)
                    getattr(rps, side).append(res.rps)
                    getattr(mbps, side).append(res.mb_per_s)
                    getattr(r_p99, side).append(res.p99_ms)
            # behind nginx (X-Accel), right after nginx alone: same load, same nginx worker
            res = run_wrk(
                f"http://127.0.0.1:{proxied[1]}{proxied[2]}",
                connections=4,
                threads=2,
                seconds=seconds,
                lua=lua,
            )
            if res.error_count:
                errors.append(f"round {rnd} behind nginx: {res.errors_text()}")
            px_rps.lvs.append(res.rps)
            px_rps.ref.append(rps.ref[-1])
            px_p99.lvs.append(res.p99_ms)
            px_p99.ref.append(r_p99.ref[-1])
            time.sleep(0.5)
            after = tree_rss_mb(lvs.pid)
            during = max([*sampler.samples, before])
            all_rss += [*sampler.samples, after]
            rss_before.lvs.append(before)
            rss_during.lvs.append(during)
            rss_after.lvs.append(after)
            for name, port, path in servers:
                ms = ttfb_samples(port, path, middle, middle + MiB - 1, samples)
                side = "lvs" if name == "lvs" else "ref"
                getattr(t50, side).append(percentile(ms, 50))
                getattr(t99, side).append(percentile(ms, 99))
            ms = ttfb_samples(proxied[1], proxied[2], middle, middle + MiB - 1, samples)
            px_t50.lvs.append(percentile(ms, 50))
            px_t50.ref.append(t50.ref[-1])
            print(
                f"round {rnd}: download {fmt(dl.lvs[-1])}/{fmt(dl.ref[-1])} MB/s, "
                f"ranges {fmt(rps.lvs[-1])}/{fmt(rps.ref[-1])} req/s "
                f"(behind nginx {fmt(px_rps.lvs[-1])}), "
                f"TTFB p50 {fmt(t50.lvs[-1])}/{fmt(t50.ref[-1])} ms (lvs/nginx), "
                f"lvs RSS {fmt(before)} -> {fmt(during)} -> {fmt(after)} MB",
                flush=True,
            )
        final = tree_rss_mb(lvs.pid)

    print_metrics(
        "Results (medians over rounds)",
        [
            *(dl, rps, mbps, r_p99, cpu, t50, t99),
            *(px_rps, px_p99, px_t50),
            *(rss_before, rss_during, rss_after),
        ],
    )
    print(f"non-2xx / socket errors: {'; '.join(errors) or 'none'}")
    growth = max(all_rss) - baseline
    drift = final - baseline
    return [
        Goal(
            "standalone: ranges ≥ 0.5× nginx req/s",
            f"{fmt_ratio(rps.ratio)} ({fmt(rps.lvs_median)} vs {fmt(rps.ref_median)} req/s)",
            rps.ratio >= 0.5,
        ),
        Goal(
            "standalone: seek TTFB p50 ≤ 0.5 ms",
            f"{fmt(t50.lvs_median)} ms (nginx {fmt(t50.ref_median)} ms)",
            t50.lvs_median <= 0.5,
        ),
        Goal(
            "behind nginx (X-Accel): ranges ≥ 0.95× nginx alone",
            f"{fmt_ratio(px_rps.ratio)} ({fmt(px_rps.lvs_median)} vs {fmt(px_rps.ref_median)} "
            "req/s)",
            px_rps.ratio >= 0.95,
        ),
        Goal(
            "RSS flat (± 20 MB)",
            f"baseline {fmt(baseline)} MB, peak +{fmt(growth)} MB, end {drift:+.1f} MB",
            growth <= 20 and abs(drift) <= 20,
        ),
        Goal("no errors", "; ".join(errors) or "none", not errors),
    ]
