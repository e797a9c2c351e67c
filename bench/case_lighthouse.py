"""lighthouse: every page of a household-sized library through Lighthouse's mobile preset.

A library of 60 short real clips (a show in seasons, holidays, phone uploads, films), scanned
with thumbnails, served by ``lvs serve``; Lighthouse (npm ``lighthouse``) drives Debian's
Chromium (``CHROME_PATH``, default /usr/bin/chromium) against each page and this prints the
performance, accessibility and best-practices scores. Lighthouse is found as ``$LIGHTHOUSE``,
else ``lighthouse`` on PATH, else ``npx --yes lighthouse@12``. Slow (about 15 s a page): not a
test, run it by hand: ``python -m bench lighthouse``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Context, Goal, print_table, ready_marker
from bench.servers import LvsServer, lvs_command, lvs_env

NAME = "lighthouse"
SUMMARY = "Lighthouse (mobile preset) on every page of a 60-video library"

CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices")
GOALS = {"performance": 95, "accessibility": 100, "best-practices": 100}

#: The pages measured, as (name, path); ``{media}``: the first video, ``{show}``: a show's key.
PAGES: list[tuple[str, str]] = [
    ("home", "/"),
    ("library", "/library"),
    ("favorites", "/library?favorites=1"),
    ("tag", "/library?tag=holiday"),
    ("search", "/library?q=garden"),
    ("history", "/history"),
    ("shows", "/shows"),
    ("folders", "/folders"),
    ("tags", "/tags"),
    ("help", "/help"),
    ("watch", "/media/{media}"),
    ("playlists", "/playlists"),
    ("profiles", "/profiles"),
    ("status", "/status"),
]


def _names() -> list[str]:
    """60 paths a household might have."""
    names = [
        f"The Garden Detectives/Season {s}/The Garden Detectives S{s:02d}E{e:02d}.mp4"
        for s in (1, 2)
        for e in range(1, 9)
    ]
    names += [f"Holidays/Brittany 2024/Beach day {n:02d}.mp4" for n in range(1, 13)]
    names += [f"Kids/School play {n}.mp4" for n in range(1, 9)]
    names += [f"Phone/VID_20250{m}1{n}_1204{n}.mp4" for m in range(1, 7) for n in range(2)]
    names += [f"Films/A Film Called {w} (19{80 + n}).mp4" for n, w in enumerate("ABCDEFGHIJKL")]
    return names[:60]


def prepare(ctx: Context) -> tuple[Path, Path]:
    from lvs.library.demo import make_clip

    folder = ctx.cache / "lighthouse"
    data, library = folder / "data", folder / "library"
    is_ready, mark_ready = ready_marker(folder, {"clips": 60, "layout": 1})
    if not is_ready():
        shutil.rmtree(folder, ignore_errors=True)
        data.mkdir(parents=True)
        print(f"making 60 clips in {library} and scanning them ...", flush=True)
        for n, rel in enumerate(_names()):
            path = library / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            make_clip(path, seconds=2.0, width=640, height=360, fps=10, hue=(n * 37) % 360)
        subprocess.run(
            [*lvs_command(), "scan"],
            env=lvs_env(data, library),
            cwd=data,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        mark_ready()
    return data, library


def lighthouse_command() -> list[str]:
    if found := os.environ.get("LIGHTHOUSE"):
        return [found]
    if found := shutil.which("lighthouse"):
        return [found]
    return ["npx", "--yes", "lighthouse@12"]


def audit(url: str, tries: int = 3) -> dict[str, Any]:
    """One Lighthouse run (mobile preset: the default form factor and throttling), tried again
    when Lighthouse itself fails (on a busy machine it sometimes loses the trace: NO_NAVSTART)."""
    for attempt in range(1, tries + 1):
        try:
            return _audit_once(url)
        except subprocess.CalledProcessError:
            if attempt == tries:
                raise
            print(f"  lighthouse failed on {url}; trying again", flush=True)
    raise AssertionError("unreachable")


def _audit_once(url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lvs-lighthouse-") as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                *lighthouse_command(),
                url,
                "--quiet",
                "--output=json",
                f"--output-path={report}",
                f"--only-categories={','.join(CATEGORIES)}",
                "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            ],
            env={**os.environ, "CHROME_PATH": CHROME},
            check=True,
            timeout=300,
        )
        result: dict[str, Any] = json.loads(report.read_text())
    return result


def failing_audits(report: dict[str, Any], category: str) -> list[str]:
    refs = report["categories"][category]["auditRefs"]
    audits = report["audits"]
    return [
        r["id"] for r in refs if r.get("weight", 0) > 0 and (audits[r["id"]].get("score") or 0) < 1
    ]


def run(ctx: Context) -> list[Goal]:
    data, library = prepare(ctx)
    scores: dict[str, dict[str, int]] = {}
    misses: dict[str, list[str]] = {}
    with LvsServer(data, library) as server:
        media = _first_id(data)
        for name, path in PAGES:
            report = audit(server.url(path.format(media=media)))
            scores[name] = {
                c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES
            }
            for c in CATEGORIES:
                if scores[name][c] < GOALS[c]:
                    misses[f"{name} {c}"] = failing_audits(report, c)
    print_table(
        ["page", *CATEGORIES],
        [[name, *(str(s[c]) for c in CATEGORIES)] for name, s in scores.items()],
        "l" + "r" * len(CATEGORIES),
    )
    for what, audits in misses.items():
        print(f"  {what}: {', '.join(audits)}")
    return [
        Goal(
            f"{c} ≥ {GOALS[c]} on every page (mobile)",
            f"lowest {min(s[c] for s in scores.values())}",
            all(s[c] >= GOALS[c] for s in scores.values()),
        )
        for c in CATEGORIES
    ]


def _first_id(data: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(data / "lvs.db")
    try:
        (media_id,) = conn.execute("SELECT min(id) FROM media").fetchone()
    finally:
        conn.close()
    return int(media_id)
