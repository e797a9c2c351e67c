"""Household logins (LVS_PASSWORD) kept in the database, so every worker accepts the same login
and a logout really ends it.

The session cookie is client-side (signed and encrypted), so on its own a copy of it would stay
valid forever. Each login therefore gets a random token; the cookie carries the token and the
``auth_sessions`` table its SHA-256. A request is logged in only while that row exists and was
made with the current password (``password_tag``, an HMAC of the password under the secret key,
the same in every worker process). Logout deletes the row, "sign out everywhere" deletes all of
them, and a new password makes every older row useless."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lvs.db.models import AuthSession
from lvs.services.writes import WriteGate, run_write

__all__ = ["AuthSessions", "password_tag"]


def password_tag(secret_key: str, password: str) -> str:
    """A deterministic, non-reversible name for ``password`` under ``secret_key``."""
    return hmac.new(secret_key.encode(), b"lvs-password:" + password.encode(), "sha256").hexdigest()


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthSessions:
    """One per app: start, check and end logins."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], gate: WriteGate, tag: str):
        self._sessions = sessions
        self._gate = gate
        self._tag = tag

    async def start(self) -> str:
        """A new login; returns the token for the session cookie. Logins made with another
        password are cleared on the way."""
        token = secrets.token_urlsafe(32)
        async with self._sessions() as session:

            async def work() -> None:
                await session.execute(
                    delete(AuthSession).where(AuthSession.password_tag != self._tag)
                )
                session.add(
                    AuthSession(
                        id=_token_id(token), password_tag=self._tag, created_at=datetime.now(UTC)
                    )
                )

            await run_write(session, self._gate, work)
        return token

    async def valid(self, token: object) -> bool:
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            return False
        async with self._sessions() as session:
            tag = await session.scalar(
                select(AuthSession.password_tag).where(AuthSession.id == _token_id(token))
            )
        return tag is not None and hmac.compare_digest(tag, self._tag)

    async def end(self, token: object) -> None:
        """Logout: this browser's login stops working, wherever the cookie was copied to."""
        if not isinstance(token, str):
            return
        await self._delete(AuthSession.id == _token_id(token))

    async def end_all(self) -> None:
        """Sign out everywhere: every browser has to log in again."""
        await self._delete(None)

    async def _delete(self, where: object) -> None:
        async with self._sessions() as session:

            async def work() -> None:
                stmt = delete(AuthSession)
                await session.execute(stmt if where is None else stmt.where(where))  # type: ignore[arg-type]

            await run_write(session, self._gate, work)
