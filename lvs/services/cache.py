"""Rating summaries in a Litestar store, tolerant of the store being away, hung or partitioned.

The cache only saves work: when its Redis cannot be reached, reads fall through to the database
and the failure is logged (once a minute), instead of the page failing. Three rules keep that
fast and correct:

* Every Redis connection has timeouts (LVS_REDIS_TIMEOUT), so a hung Redis costs at most that.
* After a failure the store is left alone for ``Breaker.BACKOFF`` seconds: requests meanwhile go
  straight to the database instead of each waiting for the timeout again.
* An invalidation that did not reach the store is remembered and retried in the background until
  it does; until then this process never reads or writes that key in the store. So a summary
  cached before a partition is deleted within seconds of the partition healing, instead of being
  served, stale, for up to LVS_CACHE_TTL.

One ``SummaryCache`` per app (``app.state.summary_cache``), shared by every request and the
rating writer, so they share what is known about the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import timedelta

from litestar.stores.base import Store

__all__ = ["Breaker", "LocalStore", "SummaryCache", "own_key", "totals_key"]

log = logging.getLogger(__name__)


class Breaker:
    """Remembers that a remote store just failed, so callers skip it for a little while."""

    BACKOFF = 2.0
    """Seconds to leave a failed store alone before trying it again."""

    def __init__(self, name: str, logger: logging.Logger = log) -> None:
        self.name = name
        self.log = logger
        self._down_until = 0.0
        self._warned_at = 0.0

    @property
    def open(self) -> bool:
        """Whether the store is being left alone (it failed less than BACKOFF seconds ago)."""
        return time.monotonic() < self._down_until

    def failed(self, action: str, exc: BaseException, consequence: str) -> None:
        now = time.monotonic()
        self._down_until = now + self.BACKOFF
        if now - self._warned_at > 60:
            self._warned_at = now
            self.log.warning("%s unavailable (%s): %r; %s", self.name, action, exc, consequence)


class LocalStore(Store):
    """An in-process store, for one process's rating summaries (and any other named store).

    Litestar's MemoryStore takes a lock and reads the wall clock with its time zone on every
    get; on one event loop nothing here awaits between reading and writing the dict, so no
    lock is needed, and expiry is kept on the monotonic clock."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float | None, bytes]] = {}

    @staticmethod
    def _deadline(expires_in: int | timedelta | None) -> float | None:
        if expires_in is None:
            return None
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
        return time.monotonic() + seconds

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode("utf-8") if isinstance(value, str) else value
        self._items[key] = (self._deadline(expires_in), data)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        found = self._items.get(key)
        if found is None:
            return None
        deadline, data = found
        if deadline is not None:
            if deadline <= time.monotonic():
                self._items.pop(key, None)
                return None
            if renew_for:
                self._items[key] = (self._deadline(renew_for), data)
        return data

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def delete_all(self) -> None:
        self._items.clear()

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        found = self._items.get(key)
        if found is None or found[0] is None:
            return None
        return max(0, int(found[0] - time.monotonic()))


def totals_key(media_hash: str) -> str:
    """The cache key of a fingerprint's rating totals (present videos only)."""
    return f"rating:{media_hash}"


def own_key(media_hash: str, user_id: uuid.UUID) -> str:
    """The cache key of one person's rating of a fingerprint."""
    return f"rating:{media_hash}:{user_id}"


class SummaryCache:
    def __init__(self, store: Store, ttl: int) -> None:
        self.store = store
        self.ttl = ttl
        self.breaker = Breaker("summary cache")
        self._pending: set[str] = set()  # keys whose invalidation has not reached the store
        self._retry: asyncio.Task[None] | None = None

    async def get(self, key: str) -> bytes | None:
        if key in self._pending or self.breaker.open:
            return None
        try:
            return await self.store.get(key)
        except Exception as exc:
            self.breaker.failed("get", exc, "using the database")
            return None

    async def set(self, key: str, value: bytes) -> None:
        if key in self._pending or self.breaker.open:
            return
        try:
            await self.store.set(key, value, expires_in=self.ttl)
        except Exception as exc:
            self.breaker.failed("set", exc, "using the database")

    async def delete(self, *keys: str) -> None:
        """Invalidate ``keys``: now if the store answers, else as soon as it does."""
        self._pending.update(keys)
        await self._flush()

    @property
    def pending(self) -> frozenset[str]:
        """Invalidations still waiting for the store."""
        return frozenset(self._pending)

    async def _flush(self) -> None:
        await self._send_pending()
        if self._pending and (self._retry is None or self._retry.done()):
            self._retry = asyncio.create_task(self._retry_until_done(), name="lvs-cache-retry")

    async def _send_pending(self) -> None:
        if self.breaker.open:
            return
        for key in sorted(self._pending):
            try:
                await self.store.delete(key)
            except Exception as exc:
                self.breaker.failed("delete", exc, "will retry the invalidation")
                return
            self._pending.discard(key)

    async def _retry_until_done(self) -> None:
        while self._pending:
            await asyncio.sleep(Breaker.BACKOFF)
            await self._send_pending()

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
            self._retry = None
