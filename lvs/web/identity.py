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


class _TolerantCookieBackend(ClientSideSessionBackend):
    """Litestar's encrypted cookie session, but a damaged cookie (cut short, edited, from an
    old key) is just a new browser: Litestar only forgives some of those, and 500s on others."""

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        try:
            return await super().load_from_connection(connection)
        except (SerializationException, ValueError, KeyError, TypeError):
            return {}


@dataclass
class SessionCookieConfig(CookieBackendConfig):
    """The session cookie: encrypted and signed (AES-GCM), HttpOnly, SameSite=Lax."""

    _backend_class = _TolerantCookieBackend
