"""HTTP byte-range file responses (RFC 9110), for streaming videos to browsers.

Litestar's ``File`` response does not handle ``Range`` requests, so video seeking
would not work without this. :class:`RangeFileResponse` is a plain ASGI app that a
Litestar handler returns, annotated ``-> ASGIApp``::

    from litestar import route
    from litestar.types import ASGIApp

    @route("/media/{media_id:int}/stream", http_method=["GET", "HEAD"])
    async def stream(media_id: int) -> ASGIApp:
        path = ...  # look the path up in the DB by id
        return RangeFileResponse(path, media_type=media_type_for(path))

HEAD routing in Litestar 2.25: Litestar never turns a GET handler into a HEAD
handler by itself (a HEAD to a ``@get`` route is answered 405). The ``@head``
decorator refuses handlers that return anything but ``None``, ``File`` or
``ASGIFileResponse``, so it cannot return this class. A single
``@route(..., http_method=["GET", "HEAD"])`` handler is accepted, and Litestar
passes the ASGI callable through unchanged; this class then answers HEAD itself
(same headers as GET, no body).

What the response does:

* ``Accept-Ranges: bytes``, an ``ETag`` built from size and mtime, ``Last-Modified``.
* Single ranges -> 206 with ``Content-Range``; several -> ``multipart/byteranges``;
  unsatisfiable -> 416 ``bytes */SIZE``; an unknown unit, invalid syntax, too many
  ranges or an oversized header -> the whole file with 200.
* ``If-Match`` / ``If-Unmodified-Since`` -> 412, ``If-None-Match`` /
  ``If-Modified-Since`` -> 304, ``If-Range`` -> 200 with the whole file on mismatch.
* The file is read in chunks: with ``preadv(..., RWF_NOWAIT)`` straight from the page
  cache when the data is there, otherwise in a worker thread, so the event loop
  never waits on the disk. A client that goes away stops the reading.
* A full-file GET uses the ASGI ``http.response.pathsend`` extension when the
  server offers it (granian), so the server sends the file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, cast

from litestar.enums import ScopeType

from lvs.library.walk import VIDEO_TYPES

if TYPE_CHECKING:
    from litestar.types import HTTPScope, Message, Receive, Scope, Send

__all__ = ["RangeFileResponse", "RangeNotSatisfiable", "media_type_for", "parse_range"]

logger = logging.getLogger(__name__)

#: Range headers longer than this are ignored (the whole file is sent instead).
MAX_RANGE_HEADER_LENGTH: Final = 1024

_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)
_NOWAIT_UNSUPPORTED: Final = frozenset(
    {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS, errno.EBADF}
)
_OWS: Final = " \t"

_MEDIA_TYPES: Final[Mapping[str, str]] = {
    **VIDEO_TYPES,
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


class RangeNotSatisfiable(Exception):
    """A ``Range`` header is valid but none of its ranges overlaps the file."""


def media_type_for(path: str | os.PathLike[str]) -> str:
    """Return the ``Content-Type`` for a file, judged by its extension."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    return _MEDIA_TYPES.get(ext, "application/octet-stream")


def _uint(text: str) -> int | None:
    """Parse ``1*DIGIT`` (ASCII digits only: no sign, spaces, ``_`` or other scripts)."""
    if text and text.isascii() and text.isdigit():
        return int(text)
    return None


def parse_range(
    header: str | None, size: int, *, max_ranges: int = 16
) -> list[tuple[int, int]] | None:
    """Parse a ``Range`` header for a file of ``size`` bytes.

    Returns sorted, coalesced, inclusive ``(first, last)`` byte positions clamped to
    the file, or ``None`` when the header must be ignored and the whole file sent:
    no header, a unit other than ``bytes``, invalid syntax, a header longer than
    :data:`MAX_RANGE_HEADER_LENGTH`, or more than ``max_ranges`` ranges left after
    merging. Raises :class:`RangeNotSatisfiable` when the header is valid but no
    range overlaps the file (on an empty file nothing is satisfiable).
    """
    if header is None or len(header) > MAX_RANGE_HEADER_LENGTH:
        return None
    unit, eq, range_set = header.strip(_OWS).partition("=")
    if not eq or unit.lower() != "bytes":
        return None
    wanted: list[tuple[int, int]] = []
    seen_spec = False
    for element in range_set.split(","):
        spec = element.strip(_OWS)
        if not spec:  # empty list elements are allowed and ignored
            continue
        first_text, dash, last_text = spec.partition("-")
        if not dash:
            return None
        if first_text:
            first = _uint(first_text)
            if first is None:
                return None
            if last_text:
                last = _uint(last_text)
                if last is None or last < first:
                    return None
            else:
                last = size - 1
            if first < size:
                wanted.append((first, min(last, size - 1)))
        else:
            suffix = _uint(last_text)
            if suffix is None:
                return None
            if suffix > 0 and size > 0:
                wanted.append((max(0, size - suffix), size - 1))
        seen_spec = True
    if not seen_spec:
        return None
    if not wanted:
        raise RangeNotSatisfiable(header)
    wanted.sort()
    merged = [wanted[0]]
    for first, last in wanted[1:]:
        prev_first, prev_last = merged[-1]
        if first <= prev_last + 1:
            if last > prev_last:
                merged[-1] = (prev_first, last)
        else:
            merged.append((first, last))
    if len(merged) > max_ranges:
        return None
    return merged


# --- conditional request helpers -------------------------------------------------


def _parse_http_date(value: str) -> int | None:
    """An HTTP-date (any of the three RFC 9110 forms) as POSIX seconds, else ``None``."""
    if value.count(",") > 1:  # a list of dates is invalid
        return None
    try:
        parsed = parsedate_to_datetime(value.strip(_OWS))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def _parse_etags(value: str) -> list[tuple[bool, str]] | None:
    """Parse ``1#entity-tag`` into ``(weak, opaque)`` pairs; ``None`` on bad syntax."""
    tags: list[tuple[bool, str]] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] in " \t,":
            i += 1
            continue
        weak = value.startswith("W/", i)
        if weak:
            i += 2
        if i >= n or value[i] != '"':
            return None
        end = value.find('"', i + 1)
        if end < 0:
            return None
        tags.append((weak, value[i + 1 : end]))
        i = end + 1
    return tags


def _etag_matches(value: str, opaque: str, *, weak: bool) -> bool:
    """Evaluate an ``If-Match``/``If-None-Match`` list against our (strong) ETag."""
    if value.strip(_OWS) == "*":
        return True
    tags = _parse_etags(value)
    if not tags:
        return False
    return any(tag == opaque and (weak or not is_weak) for is_weak, tag in tags)


def _if_range_holds(value: str, opaque: str, mtime_s: int) -> bool:
    """``If-Range``: a strong ETag match, or a date equal to Last-Modified."""
    value = value.strip(_OWS)
    if value.startswith(('"', "W/")):
        tags = _parse_etags(value)
        return tags is not None and len(tags) == 1 and tags[0] == (False, opaque)
    return _parse_http_date(value) == mtime_s


def _precondition_status(
    req: Mapping[str, str], opaque: str, mtime_s: int, method: str
) -> int | None:
    """RFC 9110 13.2.2 steps 1-4: 412, 304, or ``None`` to carry on."""
    if_match = req.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, opaque, weak=False):
            return 412
    else:
        since = req.get("if-unmodified-since")
        if since is not None:
            date = _parse_http_date(since)
            if date is not None and mtime_s > date:
                return 412
    if method not in ("GET", "HEAD"):
        return None
    if_none_match = req.get("if-none-match")
    if if_none_match is not None:
        return 304 if _etag_matches(if_none_match, opaque, weak=True) else None
    modified_since = req.get("if-modified-since")
    if modified_since is not None:
        date = _parse_http_date(modified_since)
        if date is not None and mtime_s <= date:
            return 304
    return None


# --- file access -----------------------------------------------------------------


def _open_regular(path: str) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only; raise ``FileNotFoundError`` unless it is a regular file."""
    # O_NONBLOCK: opening a FIFO planted at the path must not hang a worker thread.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _close_fd_when_done(fut: asyncio.Future[Any], close: Callable[[], None]) -> None:
    def done(f: asyncio.Future[Any]) -> None:
        if not f.cancelled():
            f.exception()  # mark retrieved
        close()

    fut.add_done_callback(done)


class _Reader:
    """Chunked positional reads that never block the event loop on the disk."""

    def __init__(self, fd: int, chunk_size: int) -> None:
        self.fd = fd
        self.chunk_size = chunk_size
        self.nowait = _RWF_NOWAIT is not None
        self.pending: asyncio.Future[bytes] | None = None
        self._buf: bytearray | None = None

    async def read(self, offset: int, length: int) -> bytes:
        """Read up to ``length`` bytes at ``offset``; shorter only at end of file."""
        if self.nowait:
            head = self._read_cached(offset, length)
            if len(head) == length:
                return head
            if head:
                return head + await self._read_in_thread(offset + len(head), length - len(head))
        return await self._read_in_thread(offset, length)

    def _read_cached(self, offset: int, length: int) -> bytes:
        """What the page cache holds at ``offset`` right now, without waiting on I/O."""
        assert _RWF_NOWAIT is not None
        if self._buf is None:
            self._buf = bytearray(self.chunk_size)
        with memoryview(self._buf) as view, view[:length] as window:
            try:
                count = os.preadv(self.fd, [window], offset, _RWF_NOWAIT)
            except BlockingIOError:
                return b""
            except OSError as exc:
                if exc.errno in _NOWAIT_UNSUPPORTED:  # e.g. tmpfs: EOPNOTSUPP
                    self.nowait = False
                    return b""
                raise
            # The buffer is reused for the next read, and ASGI servers may keep what
            # they are given until it is written: hand out an independent copy.
            return bytes(window[:count])

    async def _read_in_thread(self, offset: int, length: int) -> bytes:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, os.pread, self.fd, length, offset)
        self.pending = fut
        # shield: if we are cancelled the read still finishes, and the caller sees
        # ``pending`` unfinished and closes the fd only afterwards.
        data = await asyncio.shield(fut)
        self.pending = None
        return data


# --- the response ----------------------------------------------------------------


def _enc(value: str) -> bytes:
    return value.encode("latin-1")


def _request_headers(scope: HTTPScope) -> dict[str, str]:
    """Request headers, lower-cased names, repeated fields joined with ``", "``."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


async def _send_ok(send: Send, message: Mapping[str, Any]) -> bool:
    """Send; ``False`` if the client is gone (whatever the server raised)."""
    try:
        await send(cast("Message", message))
    except Exception as exc:
        # uvicorn's ClientDisconnected, OSError, anyio errors ...: end of stream.
        logger.debug("send failed, client went away: %r", exc)
        return False
    return True


_PROTECTED = frozenset({"content-length", "content-range", "content-type", "transfer-encoding"})


class RangeFileResponse:
    """ASGI app serving one file with byte ranges and conditional requests.

    ``path`` is opened when the app is called; if it is missing (or not a regular
    file) the answer is a plain 404. Only GET and HEAD are served (405 otherwise).
    ``headers`` are added to every response except 404/405 and may override the
    defaults, save the framing ones (Content-Length/-Range/-Type).
    """

    __slots__ = ("_chunk_size", "_extra_headers", "_media_type", "_path")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        media_type: str,
        chunk_size: int = 256 * 1024,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._path = os.path.abspath(os.fspath(path))
        self._media_type = media_type
        self._chunk_size = chunk_size
        self._extra_headers = [
            (name.lower(), value)
            for name, value in (headers or {}).items()
            if name.lower() not in _PROTECTED
        ]

    @property
    def path(self) -> str:
        return self._path

    @property
    def media_type(self) -> str:
        return self._media_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            raise TypeError(f"RangeFileResponse only serves HTTP, not {scope['type']!r}")
        http_scope: HTTPScope = scope
        method = http_scope["method"].upper()
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, _open_regular, self._path)
        try:
            fd, st = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                logger.warning("cannot open %s: %s", self._path, exc)
            await _plain(send, 404, b"Not Found")
            return
        reader = _Reader(fd, self._chunk_size)
        try:
            await self._respond(http_scope, receive, send, method, st, reader)
        finally:
            pending = reader.pending
            if pending is not None and not pending.done():
                # A worker thread is still reading this fd: close it when it is done,
                # so the number cannot be reused underneath that read.
                _close_fd_when_done(pending, lambda: os.close(fd))
            else:
                os.close(fd)

    async def _respond(
        self,
        scope: HTTPScope,
        receive: Receive,
        send: Send,
        method: str,
        st: os.stat_result,
        reader: _Reader,
    ) -> None:
        size = st.st_size
        mtime_s = st.st_mtime_ns // 1_000_000_000
        opaque = f"{size:x}-{st.st_mtime_ns:x}"
        common: dict[str, str] = {
            "accept-ranges": "bytes",
            "etag": f'"{opaque}"',
            "last-modified": formatdate(mtime_s, usegmt=True),
            "cache-control": "private, max-age=0, must-revalidate",
        }
        common.update(self._extra_headers)

        req = _request_headers(scope)
        status = _precondition_status(req, opaque, mtime_s, method)
        if status == 304:
            await _start(send, 304, common, {})
            await _send_ok(send, {"type": "http.response.body", "body": b"", "more_body": False})
            return
        if status == 412:
            await _start(send, 412, common, {"content-length": "0"})
            await _send_ok(send, {"type": "http.response.body", "body": b"", "more_body": False})
            return

        ranges: list[tuple[int, int]] | None = None
        range_header = req.get("range")
        if_range = req.get("if-range")
        if range_header is not None and (
            if_range is None or _if_range_holds(if_range, opaque, mtime_s)
        ):
            try:
                ranges = parse_range(range_header, size)
            except RangeNotSatisfiable:
                await _start(
                    send, 416, common, {"content-range": f"bytes */{size}", "content-length": "0"}
                )
                await _send_ok(
                    send, {"type": "http.response.body", "body": b"", "more_body": False}
                )
                return

        parts: list[tuple[bytes, int, int]]
        trailer = b""
        if ranges is None:
            status = 200
            framing = {"content-type": self._media_type, "content-length": str(size)}
            parts = [(b"", 0, size - 1)] if size else []
        elif len(ranges) == 1:
            status = 206
            first, last = ranges[0]
            framing = {
                "content-type": self._media_type,
                "content-range": f"bytes {first}-{last}/{size}",
                "content-length": str(last - first + 1),
            }
            parts = [(b"", first, last)]
        else:
            status = 206
            boundary = secrets.token_hex(16)
            parts = []
            CRLF = "\r\n"
            for index, (first, last) in enumerate(ranges):
                head = (
                    f"{CRLF if index else ''}--{boundary}\r\n"
                    f"Content-Type: {self._media_type}\r\n"
                    f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
                )
                parts.append((_enc(head), first, last))
            trailer = _enc(f"\r\n--{boundary}--\r\n")
            length = len(trailer) + sum(len(h) + last - first + 1 for h, first, last in parts)
            framing = {
                "content-type": f"multipart/byteranges; boundary={boundary}",
                "content-length": str(length),
            }

        if not await _start(send, status, common, framing):
            return
        if method == "HEAD":
            await _send_ok(send, {"type": "http.response.body", "body": b"", "more_body": False})
            return
        extensions = scope.get("extensions") or {}
        if status == 200 and "http.response.pathsend" in extensions:
            await _send_ok(send, {"type": "http.response.pathsend", "path": self._path})
            return
        await self._stream(receive, send, reader, parts, trailer)

    async def _stream(
        self,
        receive: Receive,
        send: Send,
        reader: _Reader,
        parts: list[tuple[bytes, int, int]],
        trailer: bytes,
    ) -> None:
        if not parts:
            await _send_ok(send, {"type": "http.response.body", "body": b"", "more_body": False})
            return
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):
                os.posix_fadvise(reader.fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        try:
            await self._send_parts(send, reader, parts, trailer, gone)
        finally:
            watcher.cancel()
            await asyncio.wait([watcher])

    async def _send_parts(
        self,
        send: Send,
        reader: _Reader,
        parts: list[tuple[bytes, int, int]],
        trailer: bytes,
        gone: asyncio.Event,
    ) -> None:
        last_part = len(parts) - 1
        for index, (head, first, last) in enumerate(parts):
            if head and not await _send_ok(
                send, {"type": "http.response.body", "body": head, "more_body": True}
            ):
                return
            pos = first
            while pos <= last:
                if gone.is_set():
                    logger.debug("client went away; stopped reading %s at %d", self._path, pos)
                    return
                want = min(self._chunk_size, last - pos + 1)
                try:
                    data = await reader.read(pos, want)
                except OSError as exc:
                    logger.warning("reading %s at %d failed: %s", self._path, pos, exc)
                    return  # response left incomplete: the server drops the connection
                if len(data) < want:
                    logger.info(
                        "%s shrank while being sent: wanted %d bytes at offset %d, got %d",
                        self._path,
                        want,
                        pos,
                        len(data),
                    )
                    if data:
                        await _send_ok(
                            send, {"type": "http.response.body", "body": data, "more_body": True}
                        )
                    # Never complete the response: the client must see it cut short.
                    return
                pos += want
                final = index == last_part and pos > last and not trailer
                if not await _send_ok(
                    send, {"type": "http.response.body", "body": data, "more_body": not final}
                ):
                    return
                # A page-cache read plus a send that does not block may never suspend:
                # yield so the disconnect watcher and other requests get to run.
                await asyncio.sleep(0)
        if trailer:
            await _send_ok(
                send, {"type": "http.response.body", "body": trailer, "more_body": False}
            )


def _close_opened(opening: asyncio.Future[tuple[int, os.stat_result]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        os.close(opening.result()[0])


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
    except Exception as exc:  # a broken receive means the connection is gone too
        logger.debug("receive failed: %r", exc)
    gone.set()


async def _start(
    send: Send, status: int, common: Mapping[str, str], framing: Mapping[str, str]
) -> bool:
    headers = [(_enc(k), _enc(v)) for k, v in framing.items()]
    headers += [(_enc(k), _enc(v)) for k, v in common.items()]
    return await _send_ok(
        send, {"type": "http.response.start", "status": status, "headers": headers}
    )


async def _plain(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    if await _send_ok(send, {"type": "http.response.start", "status": status, "headers": headers}):
        await _send_ok(send, {"type": "http.response.body", "body": body, "more_body": False})
