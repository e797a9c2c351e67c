"""Who is asking: a user id per browser, kept in the signed session cookie.

The id is a UUID that a ``users`` row gets on the first write. It is this browser's own
anonymous user (the guest) until the browser picks a household profile: then it is the
profile's id (a profile is a user with a name), on every device that picks it, and the guest's
id is kept aside until the browser goes back to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import SerializationException
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.types import Message, ScopeSession

__all__ = [
    "SESSION_KEY",
    "SessionCookieConfig",
    "current_user_id",
    "has_chosen",
    "peek_user_id",
    "pick_guest",
    "pick_profile",
    "picked_profile",
]

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


# -- household profiles ---------------------------------------------------------------------------

PROFILE_KEY = "profile"
"""Session key: set while ``uid`` is a named profile this browser picked; holds its name and
avatar for the header (what it may see is read from the database on each request)."""

GUEST_KEY = "guest"
"""Session key: this browser's own anonymous user id, kept while a profile is picked, so going
back to "this browser" (the guest) finds its ratings, favorites and history again."""

CHOSEN_KEY = "chosen"
"""Session key: this browser answered "Who's watching?" (a profile, or guest): no more picker."""


def picked_profile(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, str] | None:
    """The profile this browser picked (``{"name", "avatar"}``), None for the guest."""
    if "session" not in connection.scope:
        return None
    found = connection.session.get(PROFILE_KEY)
    return found if isinstance(found, dict) else None


def has_chosen(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return "session" in connection.scope and bool(connection.session.get(CHOSEN_KEY))


def pick_profile(
    connection: ASGIConnection[Any, Any, Any, Any], profile_id: uuid.UUID, name: str, avatar: str
) -> None:
    """From now on this browser is the profile: every read and write uses its id."""
    session = dict(connection.session)
    if not session.get(PROFILE_KEY) and session.get(SESSION_KEY):
        session[GUEST_KEY] = session[SESSION_KEY]  # this browser's own id, kept for later
    session[SESSION_KEY] = str(profile_id)
    session[PROFILE_KEY] = {"name": name, "avatar": avatar}
    session[CHOSEN_KEY] = True
    connection.set_session(session)


def pick_guest(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Back to this browser's own anonymous identity (a new one if it never had one)."""
    session = dict(connection.session)
    if session.pop(PROFILE_KEY, None):
        guest = session.pop(GUEST_KEY, None)
        if guest:
            session[SESSION_KEY] = guest
        else:
            session.pop(SESSION_KEY, None)
    session[CHOSEN_KEY] = True
    connection.set_session(session)
