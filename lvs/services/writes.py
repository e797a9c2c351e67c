"""How every per-person write reaches the database: serialised in-process on SQLite, retried with
bounded, jittered exponential backoff while another process holds the lock, committed before the
caller answers, and refused with ``DatabaseBusy`` (a 503 with Retry-After) rather than lost."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import User
from lvs.services.errors import DatabaseBusy

__all__ = ["DatabaseBusy", "WriteGate", "ensure_user", "insert_for", "run_write"]

RETRIES = 6
BASE_DELAY = 0.05


class WriteGate:
    """Serialises writes within one process when the database is SQLite (one writer at a time is
    all SQLite allows; queueing here is cheaper than lock contention). One per app."""

    def __init__(self, serialise: bool) -> None:
        self._lock: asyncio.Lock | None = asyncio.Lock() if serialise else None

    async def __aenter__(self) -> None:
        if self._lock is not None:
            await self._lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "database is locked" in text or "database is busy" in text


async def run_write(
    session: AsyncSession,
    gate: WriteGate,
    work: Callable[[], Awaitable[None]],
    *,
    retries: int | None = None,
    base_delay: float | None = None,
) -> None:
    """Run ``work`` (statements on ``session``) and commit, as one transaction."""
    attempts = RETRIES if retries is None else retries
    delay0 = BASE_DELAY if base_delay is None else base_delay
    async with gate:
        for attempt in range(attempts):
            try:
                await work()
                await session.commit()
                return
            except OperationalError as exc:
                await session.rollback()
                if not _is_lock_error(exc):
                    raise
                delay = delay0 * (2**attempt)
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
    raise DatabaseBusy()


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT (with ON CONFLICT support) for this session's database."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def ensure_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Give an anonymous browser its ``users`` row on its first write."""
    now = datetime.now(UTC)
    await session.execute(
        insert_for(session)(User)
        .values(id=user_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )
