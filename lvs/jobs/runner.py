"""One runner for background work: an asyncio queue in front of a small thread pool whose
threads run at a lower CPU priority (``os.nice`` is per thread on Linux, and decoder threads
that PyAV starts inherit it), so previews never slow a page or a stream down.

* **Once at a time.** A job has a key such as ``("sprite", media_hash)``; submitting a key that
  is already queued, waiting for a retry or running does nothing. With Redis (LVS_JOBS_URL), a
  lock per key (``SET NX PX``, through redis-py's :class:`~redis.asyncio.lock.Lock`, renewed
  while the job runs) keeps two runners (workers, machines) from running the same key at once:
  the second one skips it, the first one's result serves both.
* **Retries with backoff.** A job that raises is tried again after ``backoff * 2**n`` seconds,
  up to ``max_attempts`` in all; :class:`PermanentJobError` (a damaged file) is not retried.
* **Visible.** :meth:`JobRunner.stats` gives the queue length, what runs, and recent failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "JobLocks",
    "JobRunner",
    "JobStats",
    "PermanentJobError",
    "RedisJobLocks",
    "RedisLeader",
]

log = logging.getLogger(__name__)

JobKey = tuple[str, str]
#: How many failures :meth:`JobRunner.stats` remembers.
RECENT_FAILURES = 20


class PermanentJobError(Exception):
    """The job cannot succeed however often it is tried (unreadable file): no retry."""


class JobLocks(Protocol):
    """Cross-process "one at a time" per job key."""

    async def acquire(self, key: str, ttl: float) -> Any | None:
        """A held lock, or None when someone else holds it."""

    async def renew(self, lock: Any, ttl: float) -> None: ...

    async def release(self, lock: Any) -> None: ...

    async def close(self) -> None: ...


class RedisJobLocks:
    """Job locks in Redis: ``SET lvs:job:<key> <token> NX PX <ttl>``; released only by the
    holder (redis-py checks the token in a Lua script), and expiring if the holder dies."""

    def __init__(self, url: str, *, timeout: float = 2.0, prefix: str = "lvs:job:") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._prefix = prefix

    async def acquire(self, key: str, ttl: float) -> Any | None:
        lock = self._redis.lock(self._prefix + key, timeout=ttl, blocking=False)
        return lock if await lock.acquire() else None

    async def renew(self, lock: Any, ttl: float) -> None:
        await lock.reacquire()

    async def release(self, lock: Any) -> None:
        from redis.exceptions import LockError, RedisError

        with contextlib.suppress(LockError, RedisError):
            await lock.release()

    async def close(self) -> None:
        await self._redis.aclose()


class RedisLeader:
    """One leader among processes on several machines sharing Redis: a lock key that the
    leader renews every ``ttl / 3`` seconds and that expires ``ttl`` seconds after it dies."""

    def __init__(
        self, url: str, name: str = "lvs:watch:leader", *, ttl: float = 30.0, timeout: float = 2.0
    ) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._lock = self._redis.lock(name, timeout=ttl, blocking=False)
        self._ttl = ttl
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self) -> bool:
        if not await self._lock.acquire():
            return False
        self._renewer = asyncio.create_task(self._renew())
        return True

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._lock.reacquire()
            except Exception as exc:
                log.warning("could not renew the leader lock in Redis: %s", exc)

    async def close(self) -> None:
        from redis.exceptions import LockError, RedisError

        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            with contextlib.suppress(LockError, RedisError):
                await self._lock.release()
        await self._redis.aclose()


@dataclass(frozen=True, slots=True)
class Failure:
    key: str
    error: str
    at: float  # time.time()


@dataclass(frozen=True, slots=True)
class JobStats:
    queued: int  # waiting to run, or waiting for a retry
    running: list[str]
    done: int
    failed: int
    skipped_elsewhere: int  # another runner held the key's lock
    failures: list[Failure] = field(default_factory=list)


@dataclass(slots=True)
class _Job:
    key: JobKey
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    then: Callable[[Any], Awaitable[None]] | None = None
    priority: int = 10
    attempts: int = 0


def _lower_priority(increment: int) -> None:
    if increment and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(increment)


def key_name(key: JobKey) -> str:
    return ":".join(key)


class JobRunner:
    """Runs submitted callables (in pool threads) once each, ``workers`` at a time."""

    def __init__(
        self,
        *,
        workers: int = 1,
        nice: int = 10,
        max_attempts: int = 3,
        backoff: float = 2.0,
        locks: JobLocks | None = None,
        lock_ttl: float = 60.0,
    ) -> None:
        self._workers = max(1, workers)
        self._nice = nice
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._locks = locks
        self._lock_ttl = lock_ttl
        # (priority, order, job): lower priorities first, then first come, first served.
        self._queue: asyncio.PriorityQueue[tuple[int, int, _Job]] | None = None
        self._order = 0
        self._pending: dict[JobKey, _Job] = {}  # queued or waiting for a retry
        self._running: dict[JobKey, _Job] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._idle = asyncio.Event()
        self._done = 0
        self._failed = 0
        self._elsewhere = 0
        self._failures: deque[Failure] = deque(maxlen=RECENT_FAILURES)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._queue = asyncio.PriorityQueue()
        self._idle.set()
        self._pool = ThreadPoolExecutor(
            self._workers,
            thread_name_prefix="lvs-job",
            initializer=_lower_priority,
            initargs=(self._nice,),
        )
        self._tasks = [
            asyncio.create_task(self._work(), name=f"lvs-job-{i}") for i in range(self._workers)
        ]

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._locks is not None:
            await self._locks.close()

    async def __aenter__(self) -> JobRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- submitting ---------------------------------------------------------------------------

    def submit(
        self,
        key: JobKey,
        fn: Callable[..., Any],
        *args: Any,
        then: Callable[[Any], Awaitable[None]] | None = None,
        priority: int = 10,
    ) -> bool:
        """Queue ``fn(*args)`` under ``key``; False (and nothing queued) when that key is
        already queued, waiting for a retry, or running in this runner. ``then(result)`` runs
        in the event loop after ``fn`` succeeded (to record the result in the database). Lower
        ``priority`` runs first (thumbnails before scrub previews)."""
        if self._queue is None:
            raise RuntimeError("JobRunner.start() first")
        if key in self._pending or key in self._running:
            return False
        job = _Job(key, fn, args, then, priority)
        self._pending[key] = job
        self._idle.clear()
        self._put(job)
        return True

    def _put(self, job: _Job) -> None:
        assert self._queue is not None
        self._order += 1
        self._queue.put_nowait((job.priority, self._order, job))

    async def join(self) -> None:
        """Wait until nothing is queued, waiting for a retry or running."""
        await self._idle.wait()

    def stats(self) -> JobStats:
        return JobStats(
            queued=len(self._pending),
            running=sorted(key_name(k) for k in self._running),
            done=self._done,
            failed=self._failed,
            skipped_elsewhere=self._elsewhere,
            failures=list(reversed(self._failures)),
        )

    # -- running ------------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            _, _, job = await self._queue.get()
            self._pending.pop(job.key, None)
            self._running[job.key] = job
            try:
                await self._run(job)
            finally:
                self._running.pop(job.key, None)
                self._queue.task_done()
                if not self._pending and not self._running:
                    self._idle.set()

    async def _run(self, job: _Job) -> None:
        name = key_name(job.key)
        lock = None
        if self._locks is not None:
            try:
                lock = await self._locks.acquire(name, self._lock_ttl)
            except Exception as exc:  # Redis away: run here rather than not at all
                log.warning("job lock unavailable (%s): running %s without it", exc, name)
                lock = True
            if lock is None:
                self._elsewhere += 1
                log.debug("job %s runs elsewhere", name)
                return
        renewer = (
            asyncio.create_task(self._renew(lock))
            if self._locks is not None and lock is not True
            else None
        )
        job.attempts += 1
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, lambda: job.fn(*job.args))
            if job.then is not None:
                await job.then(result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed_attempt(job, exc)
        else:
            self._done += 1
        finally:
            if renewer is not None:
                renewer.cancel()
            if self._locks is not None and lock is not None and lock is not True:
                await self._locks.release(lock)

    async def _renew(self, lock: Any) -> None:
        assert self._locks is not None
        while True:
            await asyncio.sleep(self._lock_ttl / 3)
            try:
                await self._locks.renew(lock, self._lock_ttl)
            except Exception as exc:
                log.warning("could not renew a job lock: %s", exc)

    def _failed_attempt(self, job: _Job, exc: Exception) -> None:
        name = key_name(job.key)
        error = str(exc) or type(exc).__name__
        if isinstance(exc, PermanentJobError) or job.attempts >= self._max_attempts:
            self._failed += 1
            self._failures.append(Failure(name, error, time.time()))
            log.warning("job %s failed after %d attempt(s): %s", name, job.attempts, error)
            return
        delay = self._backoff * 2 ** (job.attempts - 1)
        log.info("job %s failed (%s); retrying in %.1f s", name, error, delay)
        self._pending[job.key] = job
        loop = asyncio.get_running_loop()

        def retry() -> None:
            self._timers.discard(timer)
            if self._queue is not None:
                self._put(job)

        timer = loop.call_later(delay, retry)
        self._timers.add(timer)
