"""Conversions on demand: segments made by worker processes, a few ahead of the viewer, cached on
disk under a size cap, and at most N conversions at once across every server worker.

* A *conversion* is one viewer (a client address) watching a converted video. It holds one of
  ``max_conversions`` slots while its segments are being asked for, and gives the slot back
  ``idle`` seconds after the last request (a closed tab). A viewer who moves on to another
  video keeps the slot, and the look-ahead of the video left behind is dropped. The slots live
  in the app's store (memory, or Redis shared by every worker): a viewer past the limit gets
  :class:`ConversionsBusy` (503 + Retry-After), never a slower server for everyone.
* Segments are made in a process pool, one segment per task, demanded segments before
  look-ahead ones. Look-ahead is a few segments past the last one asked for, so a conversion
  stops by itself within seconds when nobody asks any more; a seek drops the look-ahead that
  was queued for the old position.
* A segment on disk is reused by every viewer, worker and later visit; the cache keeps the
  most recently used segments under ``cache_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import json
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lvs.playback.hls import Segment, fixed_grid, keyframe_grid
from lvs.playback.segment import (
    SegmentError,
    SegmentSpec,
    Timeline,
    timeline,
    write_progressive,
    write_segment,
)

__all__ = [
    "ConversionFailed",
    "ConversionsBusy",
    "Converter",
    "MemorySlots",
    "RedisSlots",
    "Slots",
    "Source",
]

log = logging.getLogger(__name__)

#: Bumped when segments made by older code must not be reused.
FORMAT_VERSION = 1


class ConversionsBusy(Exception):
    """Every conversion slot is taken; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"all conversion slots are busy; retry in {retry_after} s")
        self.retry_after = retry_after


class ConversionFailed(Exception):
    """The source could not be converted (damaged file, unsupported stream)."""


class Slots(Protocol):
    """At most ``limit`` conversions at once, each kept by asking again within ``ttl`` seconds."""

    async def acquire(self, key: str, limit: int, ttl: float) -> float | None:
        """Take or refresh the slot of ``key``; None when taken, else seconds until one frees."""
        ...

    async def release(self, key: str) -> None: ...

    async def busy_for(self, key: str, limit: int) -> float | None:
        """Seconds until ``key`` could start (None: it could start now, or already runs)."""
        ...


class MemorySlots:
    """Slots for one process (one server worker)."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    async def acquire(self, key: str, limit: int, ttl: float) -> float | None:
        now = time.monotonic()
        self._expiry = {k: t for k, t in self._expiry.items() if t > now}
        if key in self._expiry or len(self._expiry) < limit:
            self._expiry[key] = now + ttl
            return None
        return min(self._expiry.values()) - now

    async def release(self, key: str) -> None:
        self._expiry.pop(key, None)

    async def busy_for(self, key: str, limit: int) -> float | None:
        now = time.monotonic()
        live = [t for k, t in self._expiry.items() if t > now and k != key]
        if (key in self._expiry and self._expiry[key] > now) or len(live) < limit:
            return None
        return min(live) - now

    def active(self) -> list[str]:
        now = time.monotonic()
        return [k for k, t in self._expiry.items() if t > now]


class RedisSlots:
    """Slots shared by every server worker (and machine) through Redis: a sorted set of
    conversion keys scored by expiry, taken and refreshed atomically by one script. When Redis
    does not answer, each worker falls back to its own slots (the limit then holds per worker)
    and says so in the log."""

    _SCRIPT = """
    local now = tonumber(ARGV[1])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    local mine = redis.call('ZSCORE', KEYS[1], ARGV[2])
    if mine or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
      redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4]) * 1000) + 1000)
      return -1
    end
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return tostring(tonumber(first[2]) - now)
    """

    def __init__(self, url: str, *, timeout: float = 2.0, name: str = "lvs:conversions") -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._name = name
        self._fallback = MemorySlots()
        self._warned = 0.0

    async def acquire(self, key: str, limit: int, ttl: float) -> float | None:
        try:
            result = await self._client.eval(
                self._SCRIPT, 1, self._name, time.time(), key, limit, ttl
            )
        except Exception as exc:  # any Redis trouble: keep converting, limited per worker
            self._warn(exc)
            return await self._fallback.acquire(key, limit, ttl)
        wait = float(result)
        return None if wait < 0 else wait

    async def release(self, key: str) -> None:
        with contextlib.suppress(Exception):
            await self._client.zrem(self._name, key)

    async def busy_for(self, key: str, limit: int) -> float | None:
        try:
            now = time.time()
            entries: list[Any] = list(
                await self._client.zrangebyscore(self._name, now, "+inf", withscores=True)
            )
        except Exception as exc:
            self._warn(exc)
            return await self._fallback.busy_for(key, limit)
        others = [float(score) for name, score in entries if name.decode() != key]
        if len(others) < limit or len(others) < len(entries):
            return None
        return min(others) - now

    def _warn(self, exc: BaseException) -> None:
        if time.monotonic() - self._warned > 60:
            self._warned = time.monotonic()
            log.warning("conversion slots: Redis unavailable (%s); limiting per worker", exc)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()


@dataclass(frozen=True, slots=True)
class Source:
    """The file to convert, as the plan sees it."""

    media_hash: str
    path: str
    mode: str  # "remux" | "transcode"
    variant: str  # cache key of the conversion ("remux", "h264-1080")

    @property
    def key(self) -> str:
        return f"{self.media_hash}/{self.variant}"


@dataclass(order=True)
class _Task:
    priority: tuple[int, int]
    seq: int
    key: tuple[str, int] = field(compare=False)
    spec: SegmentSpec = field(compare=False)
    future: asyncio.Future[Path] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


def _warm() -> int:
    """Runs in a new worker process: import the codecs now, not on the first segment."""
    import av  # noqa: F401

    return os.getpid()


class Converter:
    """One per app (per server worker)."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        slots: Slots,
        max_conversions: int = 1,
        cache_bytes: int = 5 * 10**9,
        max_height: int = 1080,
        encoder: str = "libx264",
        lookahead: int = 3,
        idle: float = 15.0,
        processes: int | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.slots = slots
        self.max_conversions = max_conversions
        self.cache_bytes = cache_bytes
        self.max_height = max_height
        self.encoder = encoder
        self.lookahead = lookahead
        self.idle = idle
        cores = os.cpu_count() or 1
        self.processes = processes or max(1, min(max_conversions + 1, cores))
        # x264 threads per segment: share the cores between the conversions allowed at once
        self.threads = max(1, cores // max(1, max_conversions))
        self._pool: ProcessPoolExecutor | None = None
        self._queue: list[_Task] = []
        self._inflight: dict[tuple[str, int], _Task] = {}
        self._running = 0
        self._demanded = 0  # running tasks that somebody is waiting for
        self._seq = itertools.count()
        self._wanted: dict[str, int] = {}  # conversion key -> last segment index asked for
        self._viewing: dict[str, str] = {}  # viewer -> conversion key they last asked for
        self._timelines: dict[str, asyncio.Future[Timeline]] = {}
        self._cache_used: int | None = None
        self._sweeping = False
        self.made = 0  # segments made by this process's pool (for tests and status)

    # -- life cycle -----------------------------------------------------------------------------

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # A fork of a process that runs an event loop and threads is not safe, and a
            # spawned process would import the whole server again (a second or so before its
            # first segment): workers fork from a small server process that has imported the
            # codecs once.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["__main__", "lvs.playback.segment"])
            self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
        return self._pool

    def warm(self) -> None:
        """Start the worker processes ahead of the first segment (a watch page that will need
        a conversion calls this, so the player's first request finds them ready)."""
        if self._pool is None:
            pool = self._executor()
            for _ in range(self.processes):
                pool.submit(_warm)

    async def close(self) -> None:
        closer = getattr(self.slots, "close", None)
        if closer is not None:
            await closer()
        for task in self._queue:
            task.cancelled = True
            if not task.future.done():
                task.future.cancel()
        self._queue.clear()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def busy_for(self, viewer: str) -> int | None:
        """Whole seconds until ``viewer`` could start a conversion; None if they can now."""
        wait = await self.slots.busy_for(viewer, self.max_conversions)
        return None if wait is None else max(1, round(wait))

    # -- the timeline and the segment list ------------------------------------------------------

    def _dir(self, source: Source) -> Path:
        return self.cache_dir / f"v{FORMAT_VERSION}" / source.media_hash / source.variant

    async def timeline(self, source: Source) -> Timeline:
        """Origin, duration and keyframes of the source: worked out once (in a thread: a remux
        may read the whole file), then kept beside its segments."""
        key = f"{source.media_hash}/{source.mode}"
        pending = self._timelines.get(key)
        if pending is None or (pending.done() and pending.exception() is not None):
            pending = asyncio.ensure_future(self._load_timeline(source))
            self._timelines[key] = pending
            if len(self._timelines) > 256:
                self._timelines.pop(next(iter(self._timelines)))
        return await asyncio.shield(pending)

    async def _load_timeline(self, source: Source) -> Timeline:
        file = self.cache_dir / f"v{FORMAT_VERSION}" / source.media_hash / f"{source.mode}.json"
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(await asyncio.to_thread(file.read_text))
            return Timeline(data["origin"], data["duration"], tuple(data["keyframes"]))
        try:  # reading, not converting: a thread will do, and needs no worker process yet
            found = await asyncio.to_thread(timeline, source.path, keyframes=source.mode == "remux")
        except SegmentError as exc:
            raise ConversionFailed(str(exc)) from exc
        await asyncio.to_thread(_write_json, file, asdict(found))
        return found

    async def segments(self, source: Source) -> list[Segment]:
        line = await self.timeline(source)
        if source.mode == "remux":
            return keyframe_grid(line.keyframes, line.duration)
        return fixed_grid(line.duration)

    # -- segments -------------------------------------------------------------------------------

    def segment_path(self, source: Source, index: int) -> Path:
        return self._dir(source) / f"{index:05d}.ts"

    async def segment(self, source: Source, index: int, viewer: str = "") -> Path:
        """The path of segment ``index``, made now if needed (then a few after it, too).

        Raises :class:`ConversionsBusy` past the limit, :class:`ConversionFailed` if the file
        cannot be converted, IndexError for a segment past the end."""
        segments = await self.segments(source)
        if not 0 <= index < len(segments):
            raise IndexError(index)
        path = self.segment_path(source, index)
        self._wanted[source.key] = index
        previous = self._viewing.get(viewer)
        if previous is not None and previous != source.key:
            self._wanted.pop(previous, None)  # its queued look-ahead is now stale
        self._viewing[viewer] = source.key
        if len(self._viewing) > 1024:
            self._viewing.pop(next(iter(self._viewing)))
        wait = await self.slots.acquire(viewer, self.max_conversions, self.idle)
        if path.is_file():  # made before: anyone may have it; look ahead only with a slot
            _touch(path)
            if wait is None:
                self._prefetch(source, segments, index)
            return path
        if wait is not None:
            raise ConversionsBusy(max(1, round(wait)))
        line = await self.timeline(source)
        task = self._submit(source, segments, index, line, priority=0)
        self._prefetch(source, segments, index)
        try:
            return await asyncio.shield(task.future)
        except SegmentError as exc:
            raise ConversionFailed(str(exc)) from exc

    def _prefetch(self, source: Source, segments: list[Segment], index: int) -> None:
        """Queue the next few segments; drop queued look-ahead of this conversion that a seek
        has left behind."""
        keep = range(index, index + self.lookahead + 1)
        for task in self._queue:
            if task.key[0] == source.key and task.key[1] not in keep and task.priority[0] > 0:
                task.cancelled = True
        line_future = self._timelines.get(f"{source.media_hash}/{source.mode}")
        if line_future is None or not line_future.done() or line_future.exception():
            return
        line = line_future.result()
        for ahead in range(index + 1, min(index + self.lookahead + 1, len(segments))):
            if not self.segment_path(source, ahead).is_file():
                self._submit(source, segments, ahead, line, priority=ahead - index)

    def _submit(
        self, source: Source, segments: list[Segment], index: int, line: Timeline, priority: int
    ) -> _Task:
        key = (source.key, index)
        task = self._inflight.get(key)
        if task is not None and not task.cancelled:
            if priority < task.priority[0] and task in self._queue:
                task.priority = (priority, task.priority[1])
                heapq.heapify(self._queue)
            return task
        segment = segments[index]
        spec = SegmentSpec(
            source=source.path,
            out=str(self.segment_path(source, index)),
            mode=source.mode,
            start=segment.start,
            end=segment.end,
            origin=line.origin,
            last=index == len(segments) - 1,
            max_height=self.max_height,
            threads=self.threads,
            encoder=self.encoder,
        )
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        task = _Task((priority, next(self._seq)), next(self._seq), key, spec, future)
        self._inflight[key] = task
        heapq.heappush(self._queue, task)
        self._dispatch()
        return task

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue and self._running < self.processes:
            if self._queue[0].priority[0] > 0 and self._demanded:
                # Look-ahead waits while somebody waits for a segment: the encoder of the one
                # being waited for gets every core (first picture and seeks come twice as fast).
                break
            task = heapq.heappop(self._queue)
            if task.cancelled or self._stale(task):
                self._inflight.pop(task.key, None)
                if not task.future.done():
                    task.future.cancel()
                continue
            self._running += 1
            self._demanded += task.priority[0] == 0
            try:
                running = loop.run_in_executor(self._executor(), write_segment, task.spec)
            except BrokenProcessPool:  # a worker died (killed, out of memory): start afresh
                self._pool = None
                running = loop.run_in_executor(self._executor(), write_segment, task.spec)
            running.add_done_callback(functools.partial(self._finished, task))

    def _stale(self, task: _Task) -> bool:
        """Look-ahead nobody will want: the viewer moved on (seeked) or left."""
        if task.priority[0] == 0:
            return False
        wanted = self._wanted.get(task.key[0])
        return wanted is None or not wanted <= task.key[1] <= wanted + self.lookahead

    def _finished(self, task: _Task, done: asyncio.Future[int]) -> None:
        self._running -= 1
        self._demanded -= task.priority[0] == 0
        self._inflight.pop(task.key, None)
        if done.cancelled():
            if not task.future.done():
                task.future.cancel()
        elif (exc := done.exception()) is not None:
            if isinstance(exc, BrokenProcessPool):
                log.error("a conversion worker process died; starting new ones")
                self._pool = None
            if not isinstance(exc, SegmentError):
                log.error("segment %s failed: %r", task.key, exc)
                exc = SegmentError(str(exc) or type(exc).__name__)
            else:
                log.warning("segment %s of %s failed: %s", task.key[1], task.spec.source, exc)
            if not task.future.done():
                task.future.set_exception(exc)
            task.future.exception()  # retrieved: no "never retrieved" warning for look-ahead
        else:
            self.made += 1
            size = done.result()
            if not task.future.done():
                task.future.set_result(Path(task.spec.out))
            self._account(size)
        self._dispatch()

    # -- a progressive file -----------------------------------------------------------------------

    async def progressive(self, source: Source, viewer: str) -> AsyncIterator[bytes]:
        """The whole video as fragmented MP4, streamed while a worker process makes it (for
        browsers with neither native HLS nor scripts; it plays from the start, without seeks).
        Holds the viewer's conversion slot while it streams; stops the worker when the
        client goes away."""
        wait = await self.slots.acquire(viewer, self.max_conversions, self.idle)
        if wait is not None:
            raise ConversionsBusy(max(1, round(wait)))
        line = await self.timeline(source)
        folder = self.cache_dir / "progressive"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        name = f"{source.media_hash}-{os.getpid()}-{next(self._seq)}"
        out, control = folder / f"{name}.mp4", folder / f"{name}.read"
        await asyncio.to_thread(control.write_text, "0")
        spec = SegmentSpec(
            source=source.path,
            out=str(out),
            mode=source.mode,
            start=0.0,
            end=line.duration,
            origin=line.origin,
            last=True,
            max_height=self.max_height,
            threads=self.threads,
            encoder=self.encoder,
            ts_offset=0.0,
        )
        loop = asyncio.get_running_loop()
        writer = loop.run_in_executor(self._executor(), write_progressive, spec, str(control))
        return self._stream_growing(out, control, writer, viewer)

    async def _stream_growing(
        self, out: Path, control: Path, writer: asyncio.Future[int], viewer: str
    ) -> AsyncIterator[bytes]:
        sent = 0
        try:
            while True:
                finished = writer.done()
                chunk = await asyncio.to_thread(_read_from, out, sent, 256 * 1024)
                if chunk:
                    sent += len(chunk)
                    await asyncio.to_thread(control.write_text, str(sent))
                    await self.slots.acquire(viewer, self.max_conversions, self.idle)
                    yield chunk
                elif finished:
                    if writer.exception() is not None:
                        log.warning("progressive conversion failed: %s", writer.exception())
                    return
                else:
                    await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(OSError):
                # tiny, and an async generator being closed must not wait on a thread here
                control.write_text("stop")  # noqa: ASYNC240
            if not writer.done():
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(writer), timeout=5)
            for path in (out, control):
                with contextlib.suppress(OSError):
                    path.unlink()

    # -- the cache ------------------------------------------------------------------------------

    def _account(self, size: int) -> None:
        if self._cache_used is not None:
            self._cache_used += size
        if (self._cache_used is None or self._cache_used > self.cache_bytes) and not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        try:
            self._cache_used = await asyncio.to_thread(
                _evict, self.cache_dir, self.cache_bytes, set(self._wanted)
            )
        finally:
            self._sweeping = False


def _read_from(path: Path, offset: int, size: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(size)
    except FileNotFoundError:
        return b""


def _write_json(file: Path, data: dict[str, Any]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, file)


def _touch(path: Path) -> None:
    """Mark a cached segment as just used (the cache evicts the least recently used)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _evict(cache_dir: Path, cap: int, active: set[str]) -> int:
    """Delete the least recently used segments until the cache is under 80 % of ``cap``;
    return the bytes left. Segments of conversions being watched go last."""
    files: list[tuple[bool, float, int, Path]] = []
    total = 0
    for path in cache_dir.glob("v*/*/*/*.ts"):
        try:
            st = path.stat()
        except OSError:
            continue
        total += st.st_size
        key = f"{path.parent.parent.name}/{path.parent.name}"
        files.append((key in active, st.st_mtime, st.st_size, path))
    if total <= cap:
        return total
    files.sort()
    goal = int(cap * 0.8)
    for _active, _mtime, size, path in files:
        if total <= goal:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            with contextlib.suppress(OSError):
                path.with_name(f"{path.name}.lock").unlink()
    return total
