"""lvs.db.sqlite_driver: a read known to be cheap runs on the event loop's thread; a slow read,
a first run and every write go to aiosqlite's thread; results and errors are the same."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from lvs.db import config
from lvs.db.config import make_engine
from lvs.settings import Settings

SLOW = (  # a read of tens of milliseconds: a count to 300 000 in SQL
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
    "SELECT max(x), where_am_i() FROM c"
)


def _fail_on(x: int) -> int:
    if x == 1:
        raise ValueError("asked to fail")
    return x


def _functions(dbapi_connection: Any, _record: Any) -> None:
    raw: sqlite3.Connection = dbapi_connection.driver_connection._conn
    raw.create_function("where_am_i", 0, threading.get_ident)
    raw.create_function("fail_on", 1, _fail_on)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[AsyncEngine]:
    settings = Settings.from_env({"LVS_DATA_DIR": str(tmp_path), "LVS_LIBRARY": str(tmp_path)})
    made = make_engine(settings)
    event.listen(made.sync_engine, "connect", _functions)
    yield made
    asyncio.run(made.dispose())


def _threads(engine: AsyncEngine, sql: str, runs: int = 3, **params: Any) -> list[int]:
    """The thread each of ``runs`` runs of ``sql`` ran on (the last column of its row)."""

    async def run() -> list[int]:
        found = []
        async with engine.connect() as conn:
            for _ in range(runs):
                row = (await conn.execute(text(sql), params)).one()
                found.append(int(row[-1]))
        return found

    return asyncio.run(run())


def test_a_cheap_read_runs_on_the_loops_thread_after_its_first_run(engine: AsyncEngine) -> None:
    loop_thread = threading.get_ident()  # asyncio.run runs the loop on this thread
    first, *later = _threads(engine, "SELECT 41 + 1, where_am_i()")
    assert first != loop_thread  # not known yet: measured on aiosqlite's thread
    assert later == [loop_thread, loop_thread]


def test_a_slow_read_stays_on_aiosqlites_thread(engine: AsyncEngine) -> None:
    loop_thread = threading.get_ident()
    assert loop_thread not in _threads(engine, SLOW)


def test_writes_never_run_on_the_loops_thread(engine: AsyncEngine) -> None:
    loop_thread = threading.get_ident()

    async def run() -> list[int]:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER)"))
            found = []
            for sql in (
                "INSERT INTO t (at) VALUES (where_am_i()) RETURNING at",
                # a write that starts like a read, and reports no row count on Python 3.11
                "WITH n(x) AS (SELECT 1) INSERT INTO t (at) SELECT where_am_i() FROM n "
                "RETURNING at",
            ):
                for _ in range(3):
                    found.append(int((await conn.execute(text(sql))).scalar_one()))
            found.append(int((await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()))
            return found

    *writers, count = asyncio.run(run())
    assert count == 6
    assert loop_thread not in writers


def test_an_error_on_the_loops_thread_is_the_usual_error_and_the_connection_lives_on(
    engine: AsyncEngine,
) -> None:
    async def run() -> tuple[list[int], str, int]:
        async with engine.connect() as conn:
            sql = text("SELECT fail_on(:x), where_am_i()")
            seen = [int((await conn.execute(sql, {"x": 0})).one()[1]) for _ in range(2)]
            with pytest.raises(OperationalError) as failed:
                await conn.execute(sql, {"x": 1})
            after = int((await conn.execute(sql, {"x": 5})).one()[0])
            return seen, str(failed.value), after

    seen, message, after = asyncio.run(run())
    assert seen[1] == threading.get_ident()  # the failing run was on the loop's thread
    assert "user-defined function raised exception" in message
    assert after == 5


def test_a_read_that_was_once_slow_stays_on_aiosqlites_thread(engine: AsyncEngine) -> None:
    """The same SQL is cheap or slow by its parameters (a narrow or a broad search): once a run
    cost over SLOW_SECONDS (this one: tens of ms), the statement is not run on the loop again."""
    loop_thread = threading.get_ident()
    sql = (
        "SELECT CASE WHEN :slow THEN (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
        "SELECT x + 1 FROM c WHERE x < 300000) SELECT max(x) FROM c) ELSE 1 END, where_am_i()"
    )
    cheap = _threads(engine, sql, runs=2, slow=0)
    assert cheap[1] == loop_thread
    _threads(engine, sql, runs=1, slow=1)  # on the loop, measured slow
    assert loop_thread not in _threads(engine, sql, runs=3, slow=0)


def test_no_read_runs_on_the_loop_without_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside WAL mode (a network share without shared memory) readers wait for writers."""
    pragmas = tuple(
        "PRAGMA journal_mode=DELETE" if p.startswith("PRAGMA journal_mode") else p
        for p in config.SQLITE_PRAGMAS
    )
    monkeypatch.setattr(config, "SQLITE_PRAGMAS", pragmas)
    settings = Settings.from_env({"LVS_DATA_DIR": str(tmp_path), "LVS_LIBRARY": str(tmp_path)})
    made = make_engine(settings)
    event.listen(made.sync_engine, "connect", _functions)
    try:
        threads = _threads(made, "SELECT 7 * 6, where_am_i()", runs=3)
    finally:
        asyncio.run(made.dispose())
    assert threading.get_ident() not in threads
