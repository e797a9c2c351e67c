"""Versioned URLs for static assets: ``asset("css/lvs.css")`` -> ``/static/css/lvs.css?v=<hash>``.

Static files are served with a one-year ``immutable`` Cache-Control, so every URL must change
when its file does: the version is a hash of the file's bytes, computed once per app.

``StaticFileSystem`` is the file system the static router reads: a name the operating system
cannot even look up (a NUL byte, a name longer than NAME_MAX, a file used as a folder) is simply
not there, a 404, instead of the OSError that Litestar turns into a 500.

``PrecompressedStatic`` answers a static text file (CSS, JavaScript, SVG) compressed, brotli or
gzip by the browser's ``Accept-Encoding``, with ``Vary: Accept-Encoding``. Each file is
compressed once per app, at the strongest settings, in a thread, the first time it is asked for
(that answer is sent as it is, so nobody waits); the copies live in memory beside the app, not
in files that could go stale. Everything else (other files, ranges, odd paths, a browser that
takes neither) falls through to the static router."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import mimetypes
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
import brotli
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.file_system import BaseLocalFileSystem
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, PathType, Receive, Scope, Send
from litestar.types.file_types import FileInfo

if TYPE_CHECKING:
    from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, HTTPScope

__all__ = ["AssetManifest", "PrecompressedStatic", "StaticFileSystem", "accepted_encoding"]

log = logging.getLogger(__name__)

COMPRESSIBLE = {".css", ".js", ".svg", ".json", ".map", ".txt"}
MIN_SIZE = 1024  # smaller files gain nothing worth a header


class StaticFileSystem(BaseLocalFileSystem):
    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        try:
            return await super().info(path, **kwargs)
        except (OSError, ValueError) as exc:  # ValueError: "embedded null byte"
            raise FileNotFoundError(str(path)[:200]) from exc


class AssetManifest:
    def __init__(self, static_dir: Path, prefix: str = "/static") -> None:
        self._dir = static_dir.resolve()
        self._prefix = prefix

    def url(self, name: str) -> str:
        return f"{self._prefix}/{name}?v={self._version(name)}"

    @cache  # noqa: B019  (one manifest per app; the cache lives as long as the app)
    def _version(self, name: str) -> str:
        path = (self._dir / name).resolve()
        if not path.is_relative_to(self._dir) or not path.is_file():
            raise FileNotFoundError(f"no static asset {name!r}")
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def accepted_encoding(header: str) -> str | None:
    """``br`` or ``gzip`` (in that order of preference) if ``Accept-Encoding`` takes it."""
    accepted = set()
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip()
        if q.startswith("q="):
            try:
                if float(q[2:]) <= 0:
                    continue
            except ValueError:
                continue
        accepted.add(name.strip())
    for encoding in ("br", "gzip"):
        if encoding in accepted:
            return encoding
    return None


class _Compressed:
    """The brotli and gzip copies of one file, and what to send with them."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        self.bodies = {
            "br": brotli.compress(raw, mode=brotli.MODE_TEXT, quality=11),
            "gzip": gzip.compress(raw, compresslevel=9, mtime=0),
        }
        digest = hashlib.sha256(raw).hexdigest()[:16]
        self.etags = {name: f'"{digest}-{name}"' for name in self.bodies}
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type in {"application/javascript"}:
            media_type += "; charset=utf-8"
        self.media_type = media_type


class PrecompressedStatic(ASGIMiddleware):
    """Compressed answers for ``{prefix}/<text file>`` (see the module's docstring)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, static_dir: Path, prefix: str = "/static", cache_control: str = "") -> None:
        self._dir = static_dir.resolve()
        self._prefix = prefix.rstrip("/") + "/"
        self._cache_control = cache_control
        # The files worth compressing, known up front (they ship with the package): a request
        # for any other name costs nothing here and is the router's to answer.
        self._names = {
            path.relative_to(self._dir).as_posix()
            for path in self._dir.rglob("*")
            if path.suffix in COMPRESSIBLE and path.is_file() and path.stat().st_size >= MIN_SIZE
        }
        self._ready: dict[str, _Compressed | None] = {}  # None: could not be read
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        method = cast("HTTPScope", scope)["method"]
        if not path.startswith(self._prefix) or method not in {"GET", "HEAD"}:
            await next_app(scope, receive, send)
            return
        name = path[len(self._prefix) :]
        if name not in self._names:
            await next_app(scope, receive, send)
            return
        entry = self._ready.get(name)
        headers = Headers.from_scope(scope)
        encoding = accepted_encoding(headers.get("accept-encoding", ""))
        if entry is None or encoding is None or "range" in headers:
            if name not in self._ready and name not in self._pending and encoding is not None:
                self._start(name)  # this answer goes out as it is; the next is compressed
            await next_app(scope, receive, _vary(send))
            return
        body = entry.bodies[encoding]
        etag = entry.etags[encoding]
        out: list[tuple[bytes, bytes]] = [
            (b"content-type", entry.media_type.encode()),
            (b"content-encoding", encoding.encode()),
            (b"vary", b"Accept-Encoding"),
            (b"etag", etag.encode()),
        ]
        if self._cache_control:
            out.append((b"cache-control", self._cache_control.encode()))
        if etag in headers.get("if-none-match", ""):
            status, body = 304, b""
        else:
            status = 200
            out.append((b"content-length", str(len(body)).encode()))
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": status,
            "headers": out,
        }
        await send(start)
        last: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"" if method == "HEAD" else body,
            "more_body": False,
        }
        await send(last)

    def _start(self, name: str) -> None:
        """Compress ``name`` in a worker thread, without waiting for it."""
        self._pending.add(name)
        task = asyncio.get_running_loop().create_task(anyio.to_thread.run_sync(self._prepare, name))
        self._tasks.add(task)  # (a reference, so the task is not collected half-way)
        task.add_done_callback(self._tasks.discard)

    def _prepare(self, name: str) -> None:
        entry: _Compressed | None = None
        try:
            entry = _Compressed(self._dir / name)
        except OSError as exc:  # gone since start-up: the router answers it
            log.warning("not compressing %s: %s", name, exc)
        self._ready[name] = entry
        self._pending.discard(name)


def _vary(send: Send) -> Send:
    """``send`` that adds ``Vary: Accept-Encoding`` to a successful answer."""

    async def send_with_vary(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] < 300:
            MutableScopeHeaders.from_message(message).add("vary", "Accept-Encoding")
        await send(message)

    return send_with_vary
