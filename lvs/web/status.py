"""The status page: the library watcher (each folder watched, or rescanned only, and why), the
last scan and the running one's progress, and the background jobs. One handler renders the page
or, for htmx's polling every 2 s, the fragment the page includes; a reload without JavaScript
shows the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import ScanStatus
from lvs.services.watch import WatchStatus, read_status
from lvs.settings import Settings
from lvs.web.deps import SERVICES

__all__ = ["StatusController", "StatusView"]

#: A scan whose progress has not moved for this long has died (its process was killed).
STALE_SCAN = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class ScanView:
    running: bool
    started_at: datetime | None
    finished_at: datetime | None
    files_found: int
    files_done: int


@dataclass(frozen=True, slots=True)
class StatusView:
    watch_enabled: bool
    watcher: WatchStatus | None
    scan: ScanView | None

    @property
    def watcher_alive(self) -> bool:
        return self.watcher is not None and self.watcher.alive

    @property
    def last_pass_at(self) -> datetime | None:
        if self.watcher is None or not self.watcher.last_pass:
            return None
        try:
            return datetime.fromisoformat(self.watcher.last_pass["at"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def jobs(self) -> dict[str, Any]:
        return (self.watcher.jobs if self.watcher_alive and self.watcher else None) or {}


async def scan_view(session: AsyncSession, now: datetime | None = None) -> ScanView | None:
    row = await session.get(ScanStatus, 1)
    if row is None or row.started_at is None:
        return None
    now = now or datetime.now(UTC)
    beat = row.heartbeat_at or row.started_at
    running = row.finished_at is None and now - beat < STALE_SCAN
    return ScanView(running, row.started_at, row.finished_at, row.files_found, row.files_done)


class StatusController(Controller):
    path = "/status"
    dependencies = SERVICES
    include_in_schema = False

    @get("/", name="status")
    async def status(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings
    ) -> Template:
        view = StatusView(
            watch_enabled=settings.watch,
            watcher=read_status(settings.data_dir),
            scan=await scan_view(db_session),
        )
        polled = request.headers.get("hx-request") == "true"  # htmx: the fragment alone
        template = "partials/_status.html" if polled else "pages/status.html"
        return Template(
            template_name=template,
            context={"view": view},
            headers={"cache-control": "no-store"},
        )
