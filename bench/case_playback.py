"""playback: converted playback through a real ``lvs serve`` — first picture, seek, transcode
speed, and one viewer more than the conversion limit."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.common import Context, Goal, Metric, fmt, print_metrics, ready_marker
from bench.servers import LvsServer, Nginx, lvs_command, lvs_env

NAME = "playback"
SUMMARY = "first picture (direct, remux, transcode), seek, transcode speed, N+1 viewers"

# (file name, sample kind, height): what a household has, at the sizes that cost the most
CLIPS = (
    ("direct-720.mp4", "h264_aac_mp4", 720),
    ("remux-1080.mkv", "h264_ac3_mkv", 1080),
    ("transcode-720.mkv", "hevc_aac_mkv", 720),
    ("transcode-1080.mkv", "hevc_aac_mkv", 1080),
)


def prepare(ctx: Context) -> Path:
    """The clips, made once with PyAV and kept in the benchmark cache."""
    seconds = ctx.pick(30.0, 12.0)
    root = ctx.cache / "playback"
    library = root / "library"
    root.mkdir(parents=True, exist_ok=True)
    is_ready, mark_ready = ready_marker(root, {"seconds": seconds, "clips": CLIPS, "v": 1})
    if not is_ready():
        from lvs.library.samples import make_sample

        shutil.rmtree(library, ignore_errors=True)
        library.mkdir(parents=True)
        for name, kind, height in CLIPS:
            print(f"making {name} ({seconds:.0f} s, {height}p) ...", flush=True)
            make_sample(
                library / name,
                kind,
                seconds=seconds,
                width=height * 16 // 9,
                height=height,
                fps=25,
                gop_seconds=2.0,
            )
        mark_ready()
    return library


def _ids(base: str) -> dict[str, int]:
    found = httpx.get(f"{base}/api/media", timeout=10).json()
    return {Path(m["path"]).name: int(m["id"]) for m in found["items"]}


def _first_picture(client: httpx.Client, base: str, media_id: int, direct: bool) -> float:
    """Seconds from asking for the watch page's media to holding the first segment (or the
    first 1 MiB of the original): what a player needs before it can show a picture."""
    start = time.perf_counter()
    if direct:
        r = client.get(f"{base}/media/{media_id}/stream", headers={"Range": "bytes=0-1048575"})
        r.raise_for_status()
        return time.perf_counter() - start
    playlist = client.get(f"{base}/media/{media_id}/hls/index.m3u8")
    playlist.raise_for_status()
    first = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
    client.get(f"{base}{first}").raise_for_status()
    return time.perf_counter() - start


def _segment_uris(client: httpx.Client, base: str, media_id: int) -> list[str]:
    text = client.get(f"{base}/media/{media_id}/hls/index.m3u8").text
    return [line for line in text.splitlines() if line.endswith(".ts")]


def run(ctx: Context) -> list[Goal]:
    library = prepare(ctx)
    data = ctx.cache / "playback" / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = lvs_env(data, library)
    subprocess.run([*lvs_command(), "scan"], env=env, cwd=data, check=True, capture_output=True)
    print(
        f"clips: {', '.join(n for n, _k, _h in CLIPS)} (PyAV-made, {ctx.pick(30, 12)} s, 25 fps)\n"
        "first picture: GET playlist + first segment (converted) or the first MiB (direct), "
        "segment cache emptied before each round, worker processes already running\n"
        "reference: nginx sending the first MiB of the same original file"
    )
    first = {
        kind: Metric(f"first picture, {kind}", "s")
        for kind in ("direct 720p", "remux 1080p", "transcode 720p", "transcode 1080p")
    }
    first["direct 720p"].ref_name = "nginx 1st MiB"
    seek = Metric("seek to 70 %, transcode 1080p", "s")
    cold = Metric("first picture after start-up (cold workers), transcode 720p", "s")
    speed = {h: Metric(f"transcode speed {h}p (x realtime)", "x") for h in (720, 1080)}
    busy = Metric("viewer N+1: answered 503 with Retry-After", "s")
    conversions = data / "conversions"
    with LvsServer(data, library, LVS_TRUSTED_PROXIES="127.0.0.1") as lvs:
        base = lvs.url("")
        ids = _ids(base)
        with httpx.Client(timeout=120) as client:
            client.get(f"{base}/media/{ids['transcode-720.mkv']}")  # a watch page warms workers
            start = time.perf_counter()
            _first_picture(client, base, ids["transcode-720.mkv"], False)
            cold.lvs.append(time.perf_counter() - start)
            time.sleep(16)  # the conversion's slot frees after 15 s idle
            for _ in range(ctx.rounds):
                for name, kind in (
                    ("direct-720.mp4", "direct 720p"),
                    ("remux-1080.mkv", "remux 1080p"),
                    ("transcode-720.mkv", "transcode 720p"),
                    ("transcode-1080.mkv", "transcode 1080p"),
                ):
                    # Let the previous clip's look-ahead (up to three 1080p segments) finish:
                    # this measures the first segment on an idle server.
                    time.sleep(5.0)
                    shutil.rmtree(conversions, ignore_errors=True)
                    first[kind].lvs.append(
                        _first_picture(client, base, ids[name], name.startswith("direct"))
                    )
                uris = _segment_uris(client, base, ids["transcode-1080.mkv"])
                target = uris[int(len(uris) * 0.7)]
                time.sleep(5.0)
                start = time.perf_counter()
                client.get(f"{base}{target}").raise_for_status()
                seek.lvs.append(time.perf_counter() - start)
            # N+1 viewers (distinct client addresses through the trusted proxy): the limit
            # holds, the extra one is told when to come back instead of slowing everyone.
            time.sleep(16)
            limit = max(1, (os.cpu_count() or 1) // 2)
            shutil.rmtree(conversions, ignore_errors=True)
            uris = _segment_uris(client, base, ids["transcode-1080.mkv"])

            def viewer(n: int) -> tuple[int, str, float]:
                t0 = time.perf_counter()
                r = client.get(f"{base}{uris[n]}", headers={"X-Forwarded-For": f"10.0.0.{n + 1}"})
                return r.status_code, r.headers.get("retry-after", ""), time.perf_counter() - t0

            with ThreadPoolExecutor(limit + 1) as pool:
                outcomes = list(pool.map(viewer, range(limit + 1)))
            for status, retry, took in outcomes:
                print(f"viewer: {status} retry-after={retry or '-'} in {took:.3f} s")
            refused = [o for o in outcomes if o[0] == 503 and o[1]]
            busy.lvs.extend(o[2] for o in refused)
    for _ in range(ctx.rounds):
        with Nginx(
            f"        location /files/ {{ alias {Nginx.quote(str(library) + '/')}; }}"
        ) as nginx:
            start = time.perf_counter()
            httpx.get(
                nginx.url("/files/direct-720.mp4"), headers={"Range": "bytes=0-1048575"}
            ).raise_for_status()
            first["direct 720p"].ref.append(time.perf_counter() - start)
    for height in (720, 1080):
        speed[height].lvs.append(_transcode_speed(library / f"transcode-{height}.mkv", data))
    print_metrics("Playback", [*first.values(), seek, cold, *speed.values(), busy])
    return [
        _goal("remux first segment <= 300 ms", first["remux 1080p"], 0.3),
        _goal("transcode first segment <= 1.5 s (1080p)", first["transcode 1080p"], 1.5),
        _goal("seek-to-picture <= 2 s (transcode 1080p)", seek, 2.0),
        Goal(
            "1080p software transcode >= 1.5x real time (x264 veryfast)",
            f"{fmt(speed[1080].lvs_median)}x",
            speed[1080].lvs_median >= 1.5,
        ),
        Goal(
            f"{limit} + 1 viewers at the limit: the extra one gets 503 + Retry-After",
            f"{len(refused)} refused of {limit + 1}",
            len(refused) == 1,
        ),
    ]


def _goal(text: str, metric: Metric, limit: float) -> Goal:
    value = metric.lvs_median
    return Goal(text, f"{fmt(value)} s", value <= limit)


def _transcode_speed(path: Path, data: Path) -> float:
    """Seconds of video converted per second of wall time, one conversion making its segments
    in order as the server does (same encoder settings and threads)."""
    from lvs.playback.converter import Converter, MemorySlots
    from lvs.playback.hls import fixed_grid
    from lvs.playback.segment import SegmentSpec, timeline, write_segment

    converter = Converter(data / "speed", slots=MemorySlots(), max_conversions=1)
    line = timeline(str(path), keyframes=False)
    segments = fixed_grid(line.duration)
    out = data / "speed"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    for seg in segments:
        write_segment(
            SegmentSpec(
                source=str(path),
                out=str(out / f"{seg.index}.ts"),
                mode="transcode",
                start=seg.start,
                end=seg.end,
                origin=line.origin,
                last=seg.index == len(segments) - 1,
                threads=converter.threads,
            )
        )
    return line.duration / (time.perf_counter() - start)
