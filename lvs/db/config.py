"""Engine and session configuration. SQLite pragmas are set on every new connection here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from advanced_alchemy.alembic.commands import AlembicCommands
from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
)
from advanced_alchemy.extensions.litestar.plugins.init.config.asyncio import default_handler_maker
from litestar.types import Message, Scope
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from lvs.db.sqlite_driver import one_trip_dbapi
from lvs.resources import resource_dir
from lvs.settings import Settings

__all__ = ["SQLITE_PRAGMAS", "alchemy_config", "make_engine", "migrate"]

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-16000",
)
SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long one statement waits for another process's write lock before "database is locked"."""


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    mode = ""
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
            if pragma.startswith("PRAGMA journal_mode"):
                mode = str(cursor.fetchone()[0]).lower()
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
    finally:
        cursor.close()
    # Cheap reads may run on the event loop's thread (lvs.db.sqlite_driver) only where readers
    # never wait for a writer: in WAL mode. A file system without shared memory (a network
    # share) keeps the rollback journal, whose readers wait for the lock.
    if mode != "wal":
        log.warning("SQLite journal mode is %r, not WAL: reads wait for writes", mode)
    dbapi_connection.inline_reads = mode == "wal"


def _quiet(close: Callable[[Message, Scope], Awaitable[None]]) -> Any:
    """advanced-alchemy's end-of-request session close, except that a connection the database
    already dropped (a restart) must not turn an answer that is on its way into a 500."""

    async def close_quietly(message: Message, scope: Scope) -> None:
        try:
            await close(message, scope)
        except Exception as exc:
            log.warning("closing a database session failed: %s", exc)

    return close_quietly


def make_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """An async engine for the configured database (SQLite gets WAL and friends on connect).

    ``pooled=False`` gives a connection per use, for short-lived work in its own event loop
    (migrations, the scanner's start)."""
    pool: dict[str, Any]
    if settings.is_sqlite:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        pool = {"pool_size": 8, "max_overflow": 8} if pooled else {"poolclass": NullPool}
        # One trip to aiosqlite's thread per statement (lvs.db.sqlite_driver), not four, and
        # none for a cheap read, which runs on the loop's thread (hence check_same_thread).
        engine = create_async_engine(
            settings.db_url,
            module=one_trip_dbapi(),
            connect_args={"check_same_thread": False},
            **pool,
        )
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    pool = (
        {"pool_size": 10, "max_overflow": 10, "pool_recycle": 1800}
        if pooled
        else {"poolclass": NullPool}
    )
    return create_async_engine(settings.db_url, pool_pre_ping=True, **pool)


def alchemy_config(settings: Settings, engine: AsyncEngine | None = None) -> SQLAlchemyAsyncConfig:
    config = _alchemy_config(settings, engine)
    # Each config gets its own session key in the request scope: close that one.
    config.before_send_handler = _quiet(default_handler_maker(config.session_scope_key))
    return config


def _alchemy_config(settings: Settings, engine: AsyncEngine | None) -> SQLAlchemyAsyncConfig:
    """advanced-alchemy's config: one engine, sessions that do not expire on commit, Alembic
    migrations from the top-level ``migrations/`` folder. Nothing here commits on its own:
    services commit explicitly, so a failed commit is reported, not answered with a 2xx."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine or make_engine(settings),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        alembic_config=AlembicAsyncConfig(
            script_location=str(resource_dir("migrations")),
            version_table_name="alembic_version",
            render_as_batch=True,
        ),
        create_all=False,
        # lvs renders its own error pages (lvs.web.errors): no 409 JSON for a lost connection.
        set_default_exception_handler=False,
    )


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the database to ``revision``. Synchronous: call it outside a running event loop
    (Alembic's async env runs its own loop)."""
    config = alchemy_config(settings, make_engine(settings, pooled=False))
    AlembicCommands(sqlalchemy_config=config).upgrade(revision=revision)
