"""The HTTP/1.1 protocol lvs serves with: uvicorn's h11 implementation, plus two limits on the
request head that uvicorn lacks.

* Size: a request head (request line and headers) may be at most ``MAX_HEAD`` (16 KiB); a bigger
  one is answered 431 and the connection closed. h11's own limit only applies while a head is
  still incomplete, so a 120 KB head that arrives in one piece would pass it.
* Time: a client that opens a connection, or sends half a request, and then stalls (slowloris)
  is disconnected after ``HEAD_TIMEOUT`` instead of holding a connection forever."""

from __future__ import annotations

import asyncio
import re

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HEAD_TIMEOUT", "MAX_HEAD", "LvsHTTPProtocol"]

MAX_HEAD = 16 * 1024
"""Bytes a request head may have, its blank line included."""

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOO_LARGE = b"Request header fields too large (at most 16 KiB)\n"
_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_TOO_LARGE)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _TOO_LARGE
)

HEAD_TIMEOUT = 10.0
"""Seconds a client has, from connecting or from the previous response, to send a request head."""


class LvsHTTPProtocol(H11Protocol):
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state in (h11.IDLE, h11.DONE) and self._head_too_large(data):
            self._disarm()
            self.transport.write(_TOO_LARGE_RESPONSE)
            self.transport.close()
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request head has arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_too_large(self, data: bytes) -> bool:
        """Whether the next request head (bytes not yet parsed, then ``data``) is over the
        limit: no blank line within the first MAX_HEAD bytes."""
        buffered, _closed = self.conn.trailing_data
        start = (buffered + data)[: MAX_HEAD + 4]
        end = _HEAD_END.search(start.lstrip(b"\r\n"))  # h11 skips blank lines before a request
        if end is None:
            return len(start) > MAX_HEAD
        return end.end() > MAX_HEAD

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(HEAD_TIMEOUT, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
