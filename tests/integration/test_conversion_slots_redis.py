"""Conversion slots shared by every worker through Redis: the limit holds across processes, a
viewer keeps and refreshes their own slot, and a Redis that does not answer degrades to one limit
per worker instead of refusing everyone."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
import redis
from conftest import require_service

from lvs.playback.converter import RedisSlots

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("LVS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("redis", f"{REDIS_URL} unreachable: {exc}")
    return REDIS_URL


def test_the_limit_holds_across_workers_and_frees_when_a_viewer_leaves(redis_url: str) -> None:
    name = f"lvs-test:conversions:{uuid.uuid4().hex}"

    async def go() -> None:
        # two server workers: two clients of the same Redis set
        worker_a = RedisSlots(redis_url, name=name)
        worker_b = RedisSlots(redis_url, name=name)
        try:
            assert await worker_a.acquire("10.0.0.1", limit=1, ttl=30) is None
            # the same viewer on the other worker keeps their slot (refresh, not a second one)
            assert await worker_b.acquire("10.0.0.1", limit=1, ttl=30) is None
            wait = await worker_b.acquire("10.0.0.2", limit=1, ttl=30)
            assert wait is not None and 25 < wait <= 30, "told when the slot frees"
            assert await worker_a.busy_for("10.0.0.2", limit=1) is not None
            assert await worker_a.busy_for("10.0.0.1", limit=1) is None, "own slot: not busy"

            await worker_a.release("10.0.0.1")
            assert await worker_b.acquire("10.0.0.2", limit=1, ttl=30) is None
        finally:
            redis.Redis.from_url(redis_url).delete(name)
            await worker_a.close()
            await worker_b.close()

    asyncio.run(go())


def test_an_idle_viewers_slot_expires(redis_url: str) -> None:
    name = f"lvs-test:conversions:{uuid.uuid4().hex}"

    async def go() -> None:
        slots = RedisSlots(redis_url, name=name)
        try:
            assert await slots.acquire("10.0.0.1", limit=1, ttl=0.3) is None
            assert await slots.acquire("10.0.0.2", limit=1, ttl=0.3) is not None
            await asyncio.sleep(0.5)  # the first viewer closed the tab: no more requests
            assert await slots.acquire("10.0.0.2", limit=1, ttl=0.3) is None
        finally:
            redis.Redis.from_url(redis_url).delete(name)
            await slots.close()

    asyncio.run(go())


def test_an_unreachable_redis_limits_per_worker_instead_of_refusing() -> None:
    async def go() -> None:
        # a port nothing listens on: every call fails at once
        slots = RedisSlots("redis://127.0.0.1:9/0", timeout=0.5)
        try:
            assert await slots.acquire("10.0.0.1", limit=1, ttl=30) is None
            assert await slots.acquire("10.0.0.2", limit=1, ttl=30) is not None
            assert await slots.busy_for("10.0.0.2", limit=1) is not None
        finally:
            await slots.close()

    asyncio.run(go())
