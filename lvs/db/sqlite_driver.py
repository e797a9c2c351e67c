"""SQLite through aiosqlite, one trip to its thread per statement instead of four.

aiosqlite runs each call on a sqlite3 connection in its own thread, and SQLAlchemy's adapter
makes four calls per statement: open a cursor, execute, fetch the rows, close the cursor. Each
is a thread hand-off and a wake-up of the event loop (the GIL changing hands twice), which cost
more than the statement itself for the small indexed reads of a page: a library page was about
20 of them. This adapter's cursor does the four on the connection's thread in one call.

It is the same sqlite3 connection and the same SQL in the same order, so transactions, errors
(still translated by SQLAlchemy's adapter) and results are unchanged. It plugs in through the
engine's documented ``module=`` argument (see ``lvs.db.config.make_engine``); the two private
names it relies on (aiosqlite's ``Connection._execute`` and ``_conn``) are pinned by the aiosqlite
range in pyproject.toml and covered by every test that touches SQLite.

Cheap reads take no trip at all. A read (a SELECT that changed no row) whose last run cost
under ``INLINE_SECONDS`` runs on the event loop's own thread: its thread hop cost more than
the read (a library page's four reads took 3 ms of hops and GIL hand-offs for 1 ms of SQLite).
Only on a connection in WAL mode (``inline_reads``, set by lvs.db.config), where readers never
wait for a writer, so such a read blocks the loop for about the time it was measured at. Every
other statement, and any read not known to be cheap (the first run of each; one whose last run
was slow; one that once cost over ``SLOW_SECONDS``, such as a broad search, whose SQL is the
same as a narrow one's), goes to aiosqlite's thread as before. Costs are the CPU a statement
took (neither a wait for the GIL nor a preemption of the process is its cost), or the time it
held the loop when that was long (a cold disk, a lock)."""

from __future__ import annotations

import collections
import re
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

__all__ = ["INLINE_SECONDS", "SLOW_SECONDS", "STALL_SECONDS", "one_trip_dbapi"]

INLINE_SECONDS = 0.001
"""A read measured under this runs on the event loop's thread (the longest it may block it)."""

SLOW_SECONDS = 0.01
"""A read that once cost this much never runs on the loop again."""

STALL_SECONDS = 0.02
"""A read that held the loop this long counts as slow whatever its CPU (a preemption of the
process, which wall time also counts, is rarely this long; a wait for the disk can be)."""

_MAX_KNOWN = 4096  # distinct read statements remembered (an app has a few hundred)

_Outcome = tuple[Any, list[Any], int, int | None, bool, float, bool]

_read_cost: dict[str, float] = {}
"""Seconds each read statement (by its SQL) took the last time it ran (or once: see below)."""

_READ = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)


def _cheap(operation: str) -> bool:
    cost = _read_cost.get(operation)
    return cost is not None and cost < INLINE_SECONDS


def _remember(operation: str, outcome: _Outcome, changed: bool) -> None:
    """Keep the cost of a read's last run; or, once a run cost over ``SLOW_SECONDS`` (a broad
    search: the same SQL as a narrow one), mark it slow for good. A first run on a new
    connection, whose cache is cold, may cost a few ms once and does not count as slow. A
    statement that changed rows, or is not a SELECT, is never kept."""
    description, cost = outcome[0], outcome[5]
    if changed or description is None or not _READ.match(operation):
        _read_cost.pop(operation, None)
        return
    if len(_read_cost) >= _MAX_KNOWN and operation not in _read_cost:
        _read_cost.clear()
    if _read_cost.get(operation, 0.0) < SLOW_SECONDS:
        _read_cost[operation] = cost


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool = False) -> _Outcome:
    """On aiosqlite's thread: the whole statement, rows included, and the CPU it took there
    (a wait for the GIL is not the statement's cost)."""
    start, changes = time.thread_time(), conn.total_changes
    outcome = _statement(conn, operation, parameters, many)
    return *outcome, time.thread_time() - start, conn.total_changes != changes


def _run_here(conn: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """On the event loop's thread: the whole read, and its cost: the CPU it took, or, if it
    held the loop longer than ``STALL_SECONDS`` (a cold disk, a lock), that time."""
    start, cpu, changes = time.perf_counter(), time.thread_time(), conn.total_changes
    outcome = _statement(conn, operation, parameters, False)
    held, cost = time.perf_counter() - start, time.thread_time() - cpu
    return *outcome, held if held > STALL_SECONDS else cost, conn.total_changes != changes


def _statement(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None, bool]:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call on aiosqlite's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor is opened here (that was a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._trip(operation, () if parameters is None else parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._trip(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _trip(self, operation: str, parameters: Any, many: bool = False) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        outcome: _Outcome
        inline = getattr(self._adapt_connection, "inline_reads", False)
        async with self._adapt_connection._execute_mutex:
            if inline and not many and _cheap(operation):
                outcome = _run_here(connection._conn, operation, parameters)
            else:
                outcome = await connection._execute(  # type: ignore[no-untyped-call]
                    _run, connection._conn, operation, parameters, many
                )
        if not many:
            _remember(operation, outcome, changed=outcome[6])
        self._description, rows, self._rowcount, self._lastrowid, in_transaction = outcome[:5]
        self._rows = collections.deque(rows)
        self._adapt_connection._in_transaction = in_transaction  # type: ignore[attr-defined]

    async def _async_soft_close(self) -> None:
        return  # nothing is open on the other side

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        return None


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_in_transaction", "inline_reads")
    _cursor_cls = _OneTripCursor  # type: ignore[assignment]

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # aiosqlite's own cursor: its statements are not seen here
            self._in_transaction = True
        return super().cursor(server_side)

    def rollback(self) -> None:
        # A request that only read (sqlite3 opens a transaction only for writes) has nothing
        # to roll back: skip the trip. The state is the one its last statement left, read on
        # the connection's own thread; until a first statement, it is "maybe", so roll back.
        if getattr(self, "_in_transaction", True):
            super().rollback()
            self._in_transaction = False

    def commit(self) -> None:
        super().commit()
        self._in_transaction = False


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DB-API module to hand ``create_async_engine(..., module=...)`` for SQLite."""
    return _OneTripDBAPI(aiosqlite, sqlite3)
