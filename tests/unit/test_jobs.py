"""The job runner: a key runs once at a time, failures are retried with backoff, and two
runners sharing Redis never run the same key at once."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import pytest

from lvs.jobs import JobRunner, PermanentJobError, RedisJobLocks

REDIS_URL = os.environ.get("LVS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Gate:
    """A job body that blocks until released, counting how often it ran."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.runs = 0

    def __call__(self) -> None:
        self.runs += 1
        self.started.set()
        assert self.release.wait(10)


async def wait_for(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10)


async def test_a_key_queued_or_running_is_not_queued_again() -> None:
    async with JobRunner(workers=2) as runner:
        gate = Gate()
        assert runner.submit(("sprite", "aaaa"), gate)
        await wait_for(gate.started)
        assert runner.stats().running == ["sprite:aaaa"]
        assert not runner.submit(("sprite", "aaaa"), gate)  # running: refused
        other = Gate()
        other.release.set()
        assert runner.submit(("sprite", "bbbb"), other)
        gate.release.set()
        await runner.join()
        stats = runner.stats()
        assert (gate.runs, other.runs, stats.done, stats.queued, stats.running) == (1, 1, 2, 0, [])
        assert runner.submit(("sprite", "aaaa"), other)  # done: may run again
        await runner.join()


async def test_jobs_run_in_low_priority_threads() -> None:
    seen: list[int] = []
    async with JobRunner(nice=5) as runner:
        runner.submit(("nice", "x"), lambda: seen.append(os.nice(0)))
        await runner.join()
    assert seen == [os.nice(0) + 5] or seen == [19]


async def test_a_failing_job_is_retried_then_reported() -> None:
    calls: list[str] = []

    def flaky() -> None:
        calls.append("try")
        if calls.count("try") < 3:
            raise OSError("disk busy")

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("always")

    async with JobRunner(max_attempts=3, backoff=0.01) as runner:
        runner.submit(("thumb", "flaky"), flaky)
        runner.submit(("thumb", "broken"), broken)
        await runner.join()
        stats = runner.stats()
    assert calls.count("try") == 3 and calls.count("broken") == 3
    assert (stats.done, stats.failed) == (1, 1)
    assert [(f.key, f.error) for f in stats.failures] == [("thumb:broken", "always")]


async def test_a_permanent_failure_is_not_retried() -> None:
    calls = 0

    def damaged() -> None:
        nonlocal calls
        calls += 1
        raise PermanentJobError("no video stream")

    async with JobRunner(backoff=0.01) as runner:
        runner.submit(("sprite", "bad"), damaged)
        await runner.join()
        assert runner.stats().failures[0].error == "no video stream"
    assert calls == 1


@pytest.mark.redis
async def test_two_runners_sharing_redis_never_run_a_key_twice_at_once() -> None:
    import redis.asyncio as aioredis

    probe = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await probe.ping()
    except Exception as exc:
        from conftest import require_service

        require_service("redis", f"{REDIS_URL} unreachable: {exc}")
    finally:
        await probe.aclose()

    prefix = f"lvs-test:{uuid.uuid4().hex}:"
    first = JobRunner(locks=RedisJobLocks(REDIS_URL, prefix=prefix), lock_ttl=3)
    second = JobRunner(locks=RedisJobLocks(REDIS_URL, prefix=prefix), lock_ttl=3)
    async with first, second:
        gate = Gate()
        first.submit(("sprite", "cafe"), gate)
        await wait_for(gate.started)
        second.submit(("sprite", "cafe"), gate)  # the other worker finds the key locked
        await second.join()
        assert second.stats().skipped_elsewhere == 1
        # Held past its first time-to-live: renewed while the job runs.
        await asyncio.sleep(1.5)
        second.submit(("sprite", "cafe"), gate)
        await second.join()
        assert second.stats().skipped_elsewhere == 2
        gate.release.set()
        await first.join()
        assert gate.runs == 1
        # Released when done: the next one may run it.
        second.submit(("sprite", "cafe"), lambda: None)
        await second.join()
        assert second.stats().done == 1


@pytest.mark.redis
async def test_one_leader_among_processes_sharing_redis() -> None:
    import redis.asyncio as aioredis

    from lvs.jobs import RedisLeader

    probe = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await probe.ping()
    except Exception as exc:
        from conftest import require_service

        require_service("redis", f"{REDIS_URL} unreachable: {exc}")
    finally:
        await probe.aclose()
    name = f"lvs-test:{uuid.uuid4().hex}:leader"
    first, second = RedisLeader(REDIS_URL, name, ttl=3), RedisLeader(REDIS_URL, name, ttl=3)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        await asyncio.sleep(1.5)  # renewed past its first time-to-live's half
        assert not await second.acquire()
        await first.close()  # released on the way out
        assert await second.acquire()
    finally:
        await second.close()


async def test_thumbnails_go_first_and_results_are_recorded_in_the_loop() -> None:
    order: list[str] = []
    recorded: list[str] = []

    async def record(result: str) -> None:
        recorded.append(result)

    async with JobRunner() as runner:
        gate = Gate()
        runner.submit(("busy", "x"), gate)
        await wait_for(gate.started)
        runner.submit(("sprite", "a"), lambda: order.append("sprite"))
        runner.submit(
            ("thumbnail", "a"), lambda: order.append("thumb") or "made", then=record, priority=0
        )
        gate.release.set()
        await runner.join()
    assert order == ["thumb", "sprite"]
    assert recorded == ["made"]
