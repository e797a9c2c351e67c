"""Shared fixtures: real clips made with PyAV, real databases (a SQLite file in a temp folder,
and a fresh PostgreSQL database), real apps; and helpers to read and write rows on either.

Services that some tests need (PostgreSQL, Redis, Chromium) are required when ``CI=true``: a test
that needs one fails there instead of skipping silently.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bs4 import BeautifulSoup
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Executable, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from lvs.app import create_app
from lvs.db.config import make_engine, migrate
from lvs.library.demo import make_clip
from lvs.services.scanner import Scanner, ScanReport
from lvs.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _redis_db_per_worker() -> None:
    """Under pytest-xdist (`just test` runs one worker per core), give each worker its own Redis
    database, counting down from the one LVS_TEST_REDIS_URL names, so one worker's FLUSHDB never
    empties another's keys. Runs at import, before the test modules read the variable."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    base = os.environ.get("LVS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not worker.startswith("gw"):
        return
    head, _, db = base.rpartition("/")
    if not db.isdigit():
        head, db = base.rstrip("/"), "15"
    os.environ["LVS_TEST_REDIS_URL"] = f"{head}/{int(db) - int(worker[2:]) % 8}"


_redis_db_per_worker()

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _fresh_alchemy_key_registries() -> Iterator[None]:
    """advanced-alchemy gives every config in a process a unique session key, found by a
    recursion as deep as the number of configs made so far: a suite that builds a thousand apps
    would hit Python's recursion limit. Each test's apps are gone after it, so start afresh."""
    yield
    from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

    for name in (
        "_SESSION_SCOPE_KEY_REGISTRY",
        "_ENGINE_APP_STATE_KEY_REGISTRY",
        "_SESSIONMAKER_APP_STATE_KEY_REGISTRY",
    ):
        getattr(SQLAlchemyAsyncConfig, name).clear()


def require_service(name: str, reason: str) -> None:
    """Skip locally when a service is missing; fail in CI, where every test must run."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few tiny real clips, generated once per test session (never committed)."""
    root = tmp_path_factory.mktemp("clips")
    make_clip(root / "Alpha.mp4", seconds=2.0, codec="h264", hue=0)
    make_clip(root / "Bravo.webm", seconds=2.0, codec="vp9", hue=120)
    (root / "sub").mkdir()
    make_clip(root / "sub" / "Charlie.mp4", seconds=3.0, width=256, height=144, hue=240)
    return root


@pytest.fixture
def library(tmp_path: Path, clip_dir: Path) -> Path:
    """A private copy of the clips, free to rename, move and corrupt."""
    dest = tmp_path / "library"
    shutil.copytree(clip_dir, dest)
    return dest


def _admin_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_url(url), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def new_pg_database() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database on the server named by
    LVS_TEST_DATABASE_URL, dropped on exit."""
    base = os.environ.get("LVS_TEST_DATABASE_URL", "")
    if not base:
        require_service("postgresql", "LVS_TEST_DATABASE_URL is not set")
    name = f"lvs_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(base, f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, ImportError) as exc:
        require_service("postgresql", f"cannot reach {base}: {exc}")
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def target(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Another machine for export/import tests: an empty, migrated database on the same backend
    as ``settings`` (its own SQLite file, or its own PostgreSQL database)."""
    data = tmp_path / "new-machine"
    data.mkdir()
    s = replace(settings, data_dir=data, db_path=data / "lvs.db")
    if settings.is_sqlite:
        migrate(s)
        yield s
        return
    with new_pg_database() as url:
        s = replace(s, database_url=url)
        migrate(s)
        yield s


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The database under test: a SQLite file (None), or a fresh PostgreSQL database on the
    server named by LVS_TEST_DATABASE_URL, dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    with new_pg_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, library: Path, db_url: str | None) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    s = Settings(
        library=(library,),
        data_dir=data,
        db_path=data / "test.db",
        database_url=db_url,
        secret_key="test-secret-key-with-at-least-32-characters",
        # the names Litestar's TestClient and schemathesis's ASGI client send
        allowed_hosts=("testserver.local", "testserver"),
    )
    migrate(s)
    return s


def run_scan(settings: Settings, *, thumbnails: bool = True) -> ScanReport:
    async def go() -> ScanReport:
        engine = make_engine(settings)
        try:
            scanner = Scanner(
                async_sessionmaker(engine, expire_on_commit=False), settings.thumbs_dir
            )
            return await scanner.scan(settings.library, thumbnails=thumbnails)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _run_blocking(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, with its own event loop.

    ``asyncio.run`` in this thread when no loop runs here; otherwise (async tests, Playwright's
    sync API) in a worker thread, blocking the caller until it is done."""

    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-helper") as pool:
        return pool.submit(asyncio.run, main()).result()


def _statement(sql: str | Executable) -> Executable:
    return text(sql) if isinstance(sql, str) else sql


def db_query(settings: Settings, sql: str | Executable, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of one statement on the test database (SQLite or PostgreSQL), through SQLAlchemy on
    a connection of its own. ``sql`` is text with named ``:params``, or a SQLAlchemy statement:
    use an ORM select (``select(Rating.user_id)``) for GUID columns, which are raw BLOB(16) on
    SQLite and native uuid on PostgreSQL, so that both give ``uuid.UUID`` values."""

    async def go() -> list[tuple[Any, ...]]:
        engine = make_engine(settings, pooled=False)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(_statement(sql), params)
                return [tuple(row) for row in result]
        finally:
            await engine.dispose()

    return _run_blocking(go)


def db_execute(settings: Settings, sql: str | Executable, **params: Any) -> None:
    """Run one write statement on the test database in its own committed transaction."""

    async def go() -> None:
        engine = make_engine(settings, pooled=False)
        try:
            async with engine.begin() as conn:
                await conn.execute(_statement(sql), params)
        finally:
            await engine.dispose()

    _run_blocking(go)


@pytest.fixture
def scanned(settings: Settings) -> Settings:
    """Settings whose library has been scanned (with thumbnails)."""
    run_scan(settings)
    return settings


@pytest.fixture
def app(scanned: Settings) -> Litestar:
    return create_app(scanned)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as c:
        yield c


def html(response_text: str) -> BeautifulSoup:
    return BeautifulSoup(response_text, "html.parser")


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty SQLite database per session, copied by ``empty_library``."""
    data = tmp_path_factory.mktemp("migrated")
    migrate(Settings(data_dir=data, db_path=data / "lvs.db", secret_key="x" * 40))
    return data / "lvs.db"


@pytest.fixture
def empty_library(tmp_path: Path, _migrated_sqlite: Path) -> Settings:
    """Settings for an empty library on a fresh SQLite database (a copy of a migrated one):
    for pages whose rows tests add by hand (``helpers.add_videos``), no clip needed."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(_migrated_sqlite, data / "lvs.db")
    folder = tmp_path / "videos"
    folder.mkdir()
    return Settings(
        library=(folder,),
        data_dir=data,
        db_path=data / "lvs.db",
        secret_key="test-secret-key-with-at-least-32-characters",
        allowed_hosts=("testserver.local", "testserver"),
    )
