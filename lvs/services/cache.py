"""Rating summaries in a Litestar store, tolerant of the store being away.

The cache only saves work: when its Redis cannot be reached, reads fall through to the database
and the failure is logged (once a minute), instead of the page failing."""

from __future__ import annotations

import logging
import time

from litestar.stores.base import Store

__all__ = ["SummaryCache"]

log = logging.getLogger(__name__)


class SummaryCache:
    def __init__(self, store: Store, ttl: int) -> None:
        self.store = store
        self.ttl = ttl
        self._warned_at = 0.0

    def _warn(self, action: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning("summary cache unavailable (%s): %s; using the database", action, exc)

    async def get(self, key: str) -> bytes | None:
        try:
            return await self.store.get(key)
        except Exception as exc:
            self._warn("get", exc)
            return None

    async def set(self, key: str, value: bytes) -> None:
        try:
            await self.store.set(key, value, expires_in=self.ttl)
        except Exception as exc:
            self._warn("set", exc)

    async def delete(self, key: str) -> None:
        try:
            await self.store.delete(key)
        except Exception as exc:
            self._warn("delete", exc)
