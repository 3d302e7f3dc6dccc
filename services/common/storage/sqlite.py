"""The storage port on one SQLite file: WAL mode, JSON bodies, reached through aiosqlite."""

from __future__ import annotations

import asyncio
import builtins
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from services.common.errors import ConflictError, InvalidInputError, UnavailableError
from services.common.storage.port import (
    Document,
    FilterValue,
    Point,
    check_filter,
    check_limit,
    check_name,
    check_points,
    document_id,
    unavailable_on,
)

# A locked, full or vanished database file says nothing about the request.
_unavailable_when_failing = unavailable_on(sqlite3.OperationalError, backend="sqlite")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    body JSON NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS series (
    series TEXT NOT NULL,
    t REAL NOT NULL,
    body JSON NOT NULL
);
CREATE INDEX IF NOT EXISTS series_by_time ON series (series, t);
"""

_UPSERT = """
INSERT INTO documents (collection, id, body) VALUES (?, ?, ?)
ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body
"""


class SqliteStorage:
    """Documents and series in one SQLite file."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        # One connection serves every coroutine; the lock keeps one writer's
        # commit or rollback from taking another writer's statements with it.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStorage:
        """Open (creating if needed) the database file at ``path``."""
        path = Path(path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            # Under WAL, NORMAL never corrupts the file; a power cut may lose
            # the last commits, which a simulator can afford.
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.executescript(_SCHEMA)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    @_unavailable_when_failing
    async def get(self, collection: str, id: str) -> Document | None:
        rows = await self._fetch(
            "SELECT body FROM documents WHERE collection = ? AND id = ?",
            [check_name(collection), id],
        )
        return json.loads(rows[0][0]) if rows else None

    @_unavailable_when_failing
    async def list(
        self, collection: str, where: Mapping[str, Any] | None = None
    ) -> builtins.list[Document]:
        sql = ["SELECT body FROM documents WHERE collection = ?"]
        params: builtins.list[Any] = [check_name(collection)]
        for field, value in check_filter(where).items():
            condition, condition_params = _equals(f"$.{field}", value)
            sql.append(f"AND ({condition})")
            params += condition_params
        sql.append("ORDER BY id")
        rows = await self._fetch(" ".join(sql), params)
        return [json.loads(body) for (body,) in rows]

    @_unavailable_when_failing
    async def insert(self, collection: str, doc: Mapping[str, Any]) -> None:
        row = (check_name(collection), document_id(doc), _encode(doc))
        try:
            async with self._transaction() as db:
                await db.execute(
                    "INSERT INTO documents (collection, id, body) VALUES (?, ?, ?)", row
                )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"{collection}/{row[1]} already exists") from exc

    async def upsert(self, collection: str, doc: Mapping[str, Any]) -> None:
        await self.upsert_many(collection, [doc])

    @_unavailable_when_failing
    async def upsert_many(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> int:
        check_name(collection)
        # Encode everything first so a bad document fails before any write.
        rows = [(collection, document_id(doc), _encode(doc)) for doc in docs]
        if rows:
            async with self._transaction() as db:
                await db.executemany(_UPSERT, rows)
        return len(rows)

    @_unavailable_when_failing
    async def delete(self, collection: str, id: str) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM documents WHERE collection = ? AND id = ?",
                (check_name(collection), id),
            )
        return cursor.rowcount > 0

    @_unavailable_when_failing
    async def append(self, series: str, points: Sequence[tuple[float, Mapping[str, Any]]]) -> None:
        check_name(series)
        rows = [(series, t, _encode(values)) for t, values in check_points(points)]
        if rows:
            async with self._transaction() as db:
                await db.executemany("INSERT INTO series (series, t, body) VALUES (?, ?, ?)", rows)

    @_unavailable_when_failing
    async def range(
        self,
        series: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
    ) -> builtins.list[Point]:
        sql = ["SELECT t, body FROM series WHERE series = ?"]
        params: builtins.list[Any] = [check_name(series)]
        if start is not None:
            sql.append("AND t >= ?")
            params.append(start)
        if end is not None:
            sql.append("AND t < ?")
            params.append(end)
        # rowid breaks ties between equal times in insertion order.
        sql.append("ORDER BY t, rowid")
        if check_limit(limit) is not None:
            sql.append("LIMIT ?")
            params.append(limit)
        rows = await self._fetch(" ".join(sql), params)
        return [(float(t), json.loads(body)) for t, body in rows]

    async def ping(self) -> None:
        try:
            await self._fetch("SELECT 1", [])
        except (sqlite3.Error, ValueError) as exc:  # aiosqlite raises ValueError once closed
            raise UnavailableError(f"sqlite unavailable: {exc}") from exc

    async def close(self) -> None:
        await self._db.close()

    async def _fetch(self, sql: str, params: Sequence[Any]) -> builtins.list[Any]:
        async with self._db.execute(sql, params) as cursor:
            return builtins.list(await cursor.fetchall())

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            try:
                yield self._db
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()


def _encode(value: Mapping[str, Any]) -> str:
    try:
        # NaN and Infinity are not JSON; SQLite's JSON functions would choke on them later.
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"not JSON-compatible: {exc}") from exc


def _equals(path: str, value: FilterValue) -> tuple[str, builtins.list[Any]]:
    """SQL matching the JSON value at ``path`` against ``value`` as MongoDB would."""
    if value is None:
        # JSON null and a missing field both extract as SQL NULL.
        return "json_extract(body, ?) IS NULL", [path]
    if isinstance(value, bool):
        # json_extract turns true/false into 1/0, so ask json_type instead.
        return "json_type(body, ?) = ?", [path, "true" if value else "false"]
    # The type test keeps numbers from matching strings, booleans or arrays'
    # JSON text; within numbers SQLite compares 1 = 1.0 as MongoDB does.
    json_types = "'integer', 'real'" if isinstance(value, int | float) else "'text'"
    return (
        f"json_type(body, ?) IN ({json_types}) AND json_extract(body, ?) = ?",
        [path, path, value],
    )
