"""previews: scrub-preview sprite generation (seconds per hour of 1080p video) and the library
watcher's delay from "copy finished" to "on the home page"."""

from __future__ import annotations

import http.client
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import Context, Goal, Metric, fmt, free_port, print_metrics, ready_marker
from bench.servers import _stop, lvs_command, lvs_env, wait_for_200

NAME = "previews"
SUMMARY = "sprite sheets per hour of 1080p video; watcher delay from copy finished to home page"

#: An hour of video gets the 200-tile cap (a tile every 18 s).
TILES_PER_HOUR = 200


def clip_seconds(ctx: Context) -> float:
    return float(ctx.pick(24, 8))


def prepare(ctx: Context) -> tuple[Path, Path]:
    """A 1080p H.264 clip (25 fps, a keyframe every 2 s, like a phone or a web download) and a
    small one to copy into a watched folder."""
    from lvs.library.samples import make_sample

    seconds = clip_seconds(ctx)
    folder = ctx.cache / f"previews-{seconds:.0f}s"
    big, small = folder / "1080p.mp4", folder / "small.mp4"
    params = {"seconds": seconds, "size": "1920x1080", "fps": 25, "gop": 2.0, "layout": 1}
    is_ready, mark_ready = ready_marker(folder, params)
    if not is_ready():
        print(f"preparing a {seconds:.0f} s 1080p clip in {folder} ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        make_sample(big, "h264_aac_mp4", seconds=seconds, width=1920, height=1080)
        make_sample(small, "h264_aac_mp4", seconds=4, width=640, height=360)
        mark_ready()
    return big, small


def _sprites(ctx: Context, clip: Path, seconds: float) -> tuple[Metric, Metric]:
    from lvs.library.sprites import make_previews

    exact = Metric("sprite, exact frames: s per hour of 1080p", "s")
    keys = Metric("sprite, keyframes only: s per hour of 1080p", "s")
    with tempfile.TemporaryDirectory(prefix="lvs-bench-previews-") as tmp:
        for round_no in range(ctx.rounds):
            for metric, keyframes_only in ((exact, False), (keys, True)):
                out = Path(tmp) / f"{round_no}-{keyframes_only}"
                start = time.perf_counter()
                sheet = make_previews(
                    clip, out, "0123456789abcdef", seconds, keyframes_only=keyframes_only
                )
                took = time.perf_counter() - start
                metric.lvs.append(took / len(sheet.cues) * TILES_PER_HOUR)
            print(
                f"round {round_no + 1}: {len(sheet.cues)} tiles of {sheet.tile_width}x"
                f"{sheet.tile_height}; exact {fmt(exact.lvs[-1])} s/h, keyframes only "
                f"{fmt(keys.lvs[-1])} s/h",
                flush=True,
            )
    return exact, keys


def _get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode("utf-8", "replace")
    finally:
        conn.close()


def _watcher(ctx: Context, small: Path) -> Metric:
    """``lvs serve`` (scan, then watch, default settings) on a small library; copy a clip in,
    then poll GET / every 100 ms until its title shows."""
    delay = Metric('watcher: copy finished -> on the home page ("/")', "s")
    with tempfile.TemporaryDirectory(prefix="lvs-bench-watch-") as tmp:
        data, library = Path(tmp) / "data", Path(tmp) / "library"
        data.mkdir()
        library.mkdir()
        shutil.copyfile(small, library / "Already here.mp4")
        port = free_port()
        log = data / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*lvs_command(), "serve", "--port", str(port)],
                env=lvs_env(data, library),
                cwd=data,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_for_200(port, proc=proc)
            deadline = time.monotonic() + 60
            while "watch-running" not in _get(port, "/status"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the watcher did not start:\n" + log.read_text()[-2000:])
                time.sleep(0.2)
            body = small.read_bytes()
            for round_no in range(ctx.rounds):
                title = f"Copied in {round_no + 1}"
                dest = library / f"{title}.mp4"
                with dest.open("wb") as f:  # a plain copy, in 1 MiB writes
                    for i in range(0, len(body), 1 << 20):
                        f.write(body[i : i + (1 << 20)])
                done = time.perf_counter()
                while title not in _get(port, "/"):
                    if time.perf_counter() - done > 120:
                        raise RuntimeError(f"{title} not on the home page after 120 s")
                    time.sleep(0.1)
                delay.lvs.append(time.perf_counter() - done)
                took = fmt(delay.lvs[-1])
                print(f"round {round_no + 1}: on the home page {took} s after the copy")
        finally:
            _stop(proc, signal.SIGTERM)
    return delay


def run(ctx: Context) -> list[Goal]:
    big, small = prepare(ctx)
    seconds = clip_seconds(ctx)
    print(
        f"sprites: make_previews on a {seconds:.0f} s 1920x1080 H.264 clip (25 fps, keyframe "
        f"every 2 s), in this process at normal priority; seconds per tile x {TILES_PER_HOUR} "
        f"tiles (an hour gets the {TILES_PER_HOUR}-tile cap)\n"
        "watcher: `lvs serve` with default LVS_WATCH_SETTLE_SECONDS (5), a 4 s clip written "
        "into the watched folder, GET / polled every 100 ms until its title appears"
    )
    exact, keys = _sprites(ctx, big, seconds)
    delay = _watcher(ctx, small)
    print_metrics("Previews and watching", [exact, keys, delay])
    return [
        Goal(
            "sprite sheet for an hour of 1080p <= 120 s (exact frames)",
            f"{fmt(exact.lvs_median)} s",
            exact.lvs_median <= 120,
        ),
        Goal(
            "a copied video on the home page within a minute of the copy",
            f"{fmt(max(delay.lvs))} s (worst)",
            max(delay.lvs) <= 60,
        ),
    ]
