"""Who is asking: an anonymous user id per browser, kept in the signed session cookie.

The id is a UUID that a ``users`` row gets on the first write, so named household profiles can
later take over the same id (a profile is a user with a name)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import SerializationException
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.types import Message, ScopeSession

__all__ = ["SESSION_KEY", "SessionCookieConfig", "current_user_id", "peek_user_id"]

SESSION_KEY = "uid"


def peek_user_id(connection: ASGIConnection[Any, Any, Any, Any]) -> uuid.UUID | None:
    """The browser's user id if it has one (reads never mint an id)."""
    if "session" not in connection.scope:
        return None
    raw = connection.session.get(SESSION_KEY)
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def current_user_id(connection: ASGIConnection[Any, Any, Any, Any]) -> uuid.UUID:
    """The browser's user id, minted (and sent back in the session cookie) on first use."""
    user_id = peek_user_id(connection)
    if user_id is None:
        user_id = uuid.uuid4()
        session = dict(connection.session) if "session" in connection.scope else {}
        session[SESSION_KEY] = str(user_id)
        connection.set_session(session)
    return user_id


_LOADED = "lvs.session_loaded"
"""Scope key: a copy of the session as read from the browser's cookie, to tell a change."""


class _TolerantCookieBackend(ClientSideSessionBackend):
    """Litestar's encrypted cookie session, with two changes:

    * A damaged cookie (cut short, edited, from an old key) is just a new browser: Litestar
      only forgives some of those, and 500s on others.
    * The cookie is sent back only when the session changed. Litestar re-encrypts and re-sends
      it on every answer; a returning browser that only reads (most requests) now gets no
      ``Set-Cookie`` at all. A flash message read, a new user id, a login or logout change the
      session, so they are sent as before. (The cookie's own expiry, ten years, then counts
      from the last change instead of the last request.)"""

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        try:
            data = await super().load_from_connection(connection)
        except (SerializationException, ValueError, KeyError, TypeError):
            return {}
        if data:  # read from a good cookie: remember it (an empty one may be damaged: cleared)
            connection.scope[_LOADED] = dict(data)  # type: ignore[literal-required]
        return data

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        loaded = connection.scope.get(_LOADED)
        if (
            loaded is not None
            and isinstance(scope_session, dict)
            and scope_session
            and scope_session == loaded
        ):
            return  # the browser already holds exactly this session
        await super().store_in_message(scope_session, message, connection)


@dataclass
class SessionCookieConfig(CookieBackendConfig):
    """The session cookie: encrypted and signed (AES-GCM), HttpOnly, SameSite=Lax."""

    _backend_class = _TolerantCookieBackend
