"""The status page: the watcher's folders (watched, or rescanned only and why), the last scan,
the job queue; the same handler gives htmx's polling the fragment alone."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict

import pytest
from conftest import html
from litestar import Litestar
from litestar.testing import TestClient

from lvs.services.watch import STATUS_FILE, WatchStatus
from lvs.settings import Settings


@pytest.fixture
def db_url() -> None:
    """SQLite only: the page reads one row and a file."""
    return None


def write_status(settings: Settings, *, heartbeat: float) -> None:
    status = WatchStatus(
        pid=os.getpid(),
        host="nas-box",
        started_at="2026-12-04T09:00:00+00:00",
        heartbeat=heartbeat,
        folders=[
            {"path": "/home/me/Videos", "fstype": "ext4", "watched": True, "reason": "watched"},
            {
                "path": "/mnt/films",
                "fstype": "cifs",
                "watched": False,
                "reason": "network mount (cifs) sends no change events: rescanned every 30 min",
            },
        ],
        rescan_minutes=30,
        settle_seconds=5.0,
        last_pass={
            "at": "2026-12-04T09:10:00+00:00",
            "reason": "change",
            "seconds": 0.4,
            "summary": "4 files: 1 new, 3 unchanged, 0 updated, 0 moved, 0 skipped, 0 missing",
            "new": 1,
            "updated": 0,
            "moved": 0,
            "missing": 0,
            "skipped": 0,
            "held": 1,
        },
        settling=1,
        jobs={
            "queued": 7,
            "running": ["sprite:abcd"],
            "done": 12,
            "failed": 1,
            "elsewhere": 0,
            "failures": [{"key": "sprite:dead", "error": "no video stream", "at": 0}],
        },
    )
    (settings.data_dir / STATUS_FILE).write_text(json.dumps(asdict(status)))


def test_without_a_watcher_the_page_says_so_and_shows_the_last_scan(
    scanned: Settings, client: TestClient[Litestar]
) -> None:
    response = client.get("/status")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    page = html(response.text)
    assert page.select_one("h1").get_text() == "Status"
    assert page.select_one(".scan-done") is not None  # the fixture's scan
    assert "3 files" in page.select_one(".scan-done").get_text()
    assert page.select_one(".watch-none") is not None
    assert page.select_one(".jobs-none") is not None
    fragment = page.select_one("#status")
    assert (fragment["hx-get"], fragment["hx-trigger"]) == ("/status", "every 2s")
    # Every page links it from the footer.
    footer = html(client.get("/help").text).select_one("footer a[href='/status']")
    assert footer is not None


def test_a_running_watcher_shows_its_folders_passes_and_jobs(
    scanned: Settings, client: TestClient[Litestar]
) -> None:
    write_status(scanned, heartbeat=time.time())
    page = html(client.get("/status").text)
    assert "process" in page.select_one(".watch-running").get_text()
    rows = {
        tr.select("td")[0].get_text(): (tr["class"][0], tr.select("td")[2].get_text())
        for tr in page.select("table.folders tbody tr")
    }
    assert rows["/home/me/Videos"][0] == "watched"
    kind, why = rows["/mnt/films"]
    assert kind == "polled"
    assert why.startswith("Rescans only: network mount (cifs)")
    last = page.select_one(".last-pass").get_text(" ", strip=True)
    assert "after a change" in last and "1 new" in last and "1 still being copied" in last
    assert page.select_one(".jobs").get_text(strip=True) == (
        "7 queued, 1 running, 12 done, 1 failed."
    )
    assert [li.get_text() for li in page.select(".job-failures li")] == [
        "sprite:dead: no video stream"
    ]

    # htmx polls the same URL: the fragment alone, which replaces itself.
    fragment = client.get("/status", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    part = html(fragment.text)
    assert part.select_one("html") is None and part.select_one("h1") is None
    root = part.find(True)
    assert root is not None and root["id"] == "status" and root["hx-swap"] == "outerHTML"
    assert part.select_one("table.folders tr.polled") is not None


def test_a_watcher_that_stopped_is_not_shown_as_running(
    scanned: Settings, client: TestClient[Litestar]
) -> None:
    write_status(scanned, heartbeat=time.time() - 3600)
    page = html(client.get("/status").text)
    assert page.select_one(".watch-running") is None
    assert page.select_one(".watch-none") is not None
    assert page.select_one(".jobs-none") is not None
