"""Sending a file: lvs itself (:class:`~lvs.web.ranges.RangeFileResponse`), or, behind nginx
with ``LVS_ACCEL_REDIRECT`` set, an empty answer whose ``X-Accel-Redirect`` header tells nginx
which file to send, so the bytes go out with sendfile and nginx handles ranges, conditional
requests and HEAD itself.

The path always comes from lvs (a database row, the conversion cache), never from the request.
It is percent-encoded byte by byte (everything but ``A-Z a-z 0-9 _ . - ~`` and ``/``): nginx
decodes an ``X-Accel-Redirect`` URI exactly once, splits it at a raw ``?`` and refuses (404) one
with a ``/../`` or a NUL after decoding, so spaces, ``%``, ``?``, ``#`` and non-ASCII names
arrive as they are, and no name can leave the internal location. See deploy/nginx/lvs.conf.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from lvs.settings import IPNetwork, Settings
from lvs.web.ranges import RangeFileResponse

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ["AccelRedirect", "FileSender", "accel_uri"]

#: What lvs's own file responses say about caching; nginx passes Cache-Control on.
STREAM_CACHE_CONTROL: Final = "private, max-age=0, must-revalidate"


def accel_uri(prefix: str, path: str | os.PathLike[str]) -> str:
    """``prefix`` + the absolute, normalised ``path``, percent-encoded for nginx."""
    absolute = os.path.abspath(os.fspath(path))  # also folds any "..": nginx refuses them
    return prefix.rstrip("/") + quote(os.fsencode(absolute), safe="/")


class AccelRedirect:
    """ASGI app: an empty 200 that hands the file over to nginx (GET and HEAD alike)."""

    __slots__ = ("_headers",)

    def __init__(self, uri: str, media_type: str, headers: Mapping[str, str]) -> None:
        self._headers = [
            (b"x-accel-redirect", uri.encode("ascii")),
            (b"content-type", media_type.encode("latin-1")),
            (b"content-length", b"0"),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class FileSender:
    """One per app (``app.state.files``): how the routes that send a whole file answer."""

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.accel_redirect
        self._trusted: tuple[IPNetwork, ...] = settings.proxy_networks
        self._peers: dict[str, bool] = {}  # peer address -> trusted (a handful of proxies)

    def __call__(
        self,
        scope: Scope,
        path: str | os.PathLike[str],
        *,
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> ASGIApp:
        """The answer for ``path``: redirected to nginx when configured and the request came
        through a trusted proxy (a direct client would get an empty body), else lvs's own."""
        if self.prefix and self._via_proxy(scope):
            merged = {"cache-control": STREAM_CACHE_CONTROL, **(headers or {})}
            return AccelRedirect(accel_uri(self.prefix, path), media_type, merged)
        return RangeFileResponse(path, media_type=media_type, headers=headers)

    def _via_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        peer = client[0]
        known = self._peers.get(peer)
        if known is None:
            try:
                ip = ipaddress.ip_address(peer)
            except ValueError:
                known = False
            else:
                known = any(ip in net for net in self._trusted)
            if len(self._peers) < 256:
                self._peers[peer] = known
        return known
