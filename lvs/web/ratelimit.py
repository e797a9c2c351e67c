"""Rate limiting of writes with the ``limits`` package (moving window), per client address.

The client is the socket peer; ``X-Forwarded-For``/``Forwarded`` count only when the peer is a
configured trusted proxy. If the shared storage (Redis) cannot be reached, or does not answer
within LVS_REDIS_TIMEOUT, the limiter fails open with a logged warning, and leaves the storage
alone for a couple of seconds (``Breaker``) so that requests meanwhile do not each wait again: a
household's video server staying usable matters more than a rate limit.

Write routes name their limit with a guard, ``guards=[RATINGS]`` or ``guards=[HOUSEHOLD]``: the
one rule for every write, form or JSON. Guards run before the body is read and before the video
is looked up, so **every write request counts, whatever it carries**: a bad value, an unknown
video or a malformed body costs quota exactly as a good write does (only a refused CSRF token
or an oversized body, stopped by middleware earlier still, does not). Over the limit the guard
raises ``RateLimited``, which ``lvs.web.errors`` answers with 429 and Retry-After.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from lvs.services.cache import Breaker
from lvs.settings import Settings
from lvs.web.security import client_address

__all__ = [
    "HOUSEHOLD",
    "RATINGS",
    "RateLimitDecision",
    "RateLimited",
    "WriteLimit",
    "WriteLimiter",
    "forwarded_for",
]

log = logging.getLogger(__name__)

_FORWARDED_FOR = re.compile(r'for\s*=\s*"?\[?([^\]";,\s]+)', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    allowed: bool
    retry_after: int = 0  # whole seconds until a slot frees


def forwarded_for(connection: ASGIConnection[Any, Any, Any, Any]) -> list[str]:
    """Forwarding hops, oldest first: ``X-Forwarded-For`` values, else RFC 7239 ``Forwarded``."""
    xff = connection.headers.getall("x-forwarded-for", [])
    if xff:
        return list(xff)
    hops: list[str] = []
    for value in connection.headers.getall("forwarded", []):
        for element in value.split(","):
            match = _FORWARDED_FOR.search(element)
            if match:
                host = match.group(1)
                # "192.0.2.1:4711" -> "192.0.2.1" (IPv6 comes bracketed and was unwrapped above)
                if host.count(":") == 1:
                    host = host.split(":", 1)[0]
                hops.append(host)
    return [", ".join(hops)] if hops else []


class WriteLimiter:
    """One per app: ``await limiter.hit(connection)`` counts a write for its client."""

    def __init__(
        self, settings: Settings, namespace: str = "ratings", limit: str | None = None
    ) -> None:
        self.item: RateLimitItem = parse(limit or settings.rate_limit)
        self.namespace = namespace
        self.trusted = settings.proxy_networks
        storage_uri = settings.rate_limit_storage
        options: dict[str, Any] = {}
        if storage_uri.startswith("redis"):
            options = {
                "implementation": "redispy",
                "socket_timeout": settings.redis_timeout,
                "socket_connect_timeout": settings.redis_timeout,
            }
        self.storage = storage_from_string(f"async+{storage_uri}", **options)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.breaker = Breaker("rate limit storage", log)

    def client(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        peer = connection.client.host if connection.client else None
        return client_address(peer, forwarded_for(connection), self.trusted)

    async def hit(self, connection: ASGIConnection[Any, Any, Any, Any]) -> RateLimitDecision:
        return await self.hit_key(self.client(connection))

    async def hit_key(self, key: str) -> RateLimitDecision:
        """Count one against ``key`` (a client address, or e.g. a profile's id)."""
        if self.breaker.open:  # failed moments ago: fail open without waiting again
            return RateLimitDecision(True)
        try:
            if await self.strategy.hit(self.item, self.namespace, key):
                return RateLimitDecision(True)
            stats = await self.strategy.get_window_stats(self.item, self.namespace, key)
        except Exception as exc:  # storage unreachable or hung: fail open, loudly
            self.breaker.failed(f"{self.namespace} hit", exc, "allowing the request")
            return RateLimitDecision(True)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitDecision(False, retry_after)

    async def reset(self) -> None:
        await self.storage.reset()  # type: ignore[misc]


class RateLimited(Exception):
    """Over a write limit: try again in ``retry_after`` seconds. ``what`` names the writes in
    the message ("ratings", "changes")."""

    def __init__(self, retry_after: int, what: str) -> None:
        super().__init__(f"Too many {what} at once. Try again in {retry_after} s.")
        self.retry_after = retry_after
        self.what = what


@dataclass(frozen=True, slots=True)
class WriteLimit:
    """A guard: counts the request against the app's limiter ``state`` (an attribute of
    ``app.state``), and raises ``RateLimited`` past it."""

    state: str
    what: str

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        limiter: WriteLimiter = connection.app.state[self.state]
        decision = await limiter.hit(connection)
        if not decision.allowed:
            raise RateLimited(decision.retry_after, self.what)


RATINGS = WriteLimit("limiter", "ratings")
"""Star ratings, form and JSON (LVS_RATE_LIMIT)."""

HOUSEHOLD = WriteLimit("household_limiter", "changes")
"""Favorites, tags, views and resume positions, form and JSON (LVS_WRITE_RATE_LIMIT)."""
