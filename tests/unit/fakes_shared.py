"""Test doubles for the shared tier: a KV namespace in a dict and a D1 database that is a
real sqlite3 database migrated with `migrations/*.sql`, both with fault injection and a
call log. Two D1 fakes over one connection are two isolates sharing one database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from seeding.shared.sql_database import SqlRow, SqlValue

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class FakeKV:
    """`seeding.shared.kv_pages.KeyValueNamespace` over a dict. `get_error` / `put_error` are
    raised by the next calls; `hang` makes calls never answer."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.ttls: dict[str, int | None] = {}
        self.gets: list[str] = []
        self.puts: list[str] = []
        self.get_error: Exception | None = None
        self.put_error: Exception | None = None
        self.hang = False

    async def get(self, key: str) -> bytes | None:
        self.gets.append(key)
        await _maybe_hang(self.hang)
        if self.get_error is not None:
            raise self.get_error
        return self.values.get(key)

    async def put(self, key: str, value: bytes, *, expiration_ttl: int | None) -> None:
        self.puts.append(key)
        await _maybe_hang(self.hang)
        if self.put_error is not None:
            raise self.put_error
        self.values[key] = value
        self.ttls[key] = expiration_ttl


def migrated_database() -> sqlite3.Connection:
    """An in-memory database with every migration applied in order, as
    `wrangler d1 migrations apply` does."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.row_factory = sqlite3.Row
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        connection.executescript(migration.read_text())
    return connection


class SqliteD1:
    """`seeding.shared.sql_database.SqlDatabase` over a sqlite3 connection. `error` is raised
    by every call while set; `hang` makes calls never answer; `calls` logs the SQL."""

    def __init__(self, connection: sqlite3.Connection | None = None) -> None:
        self.connection = connection or migrated_database()
        self.calls: list[str] = []
        self.error: Exception | None = None
        self.hang = False

    async def run(self, sql: str, params: Sequence[SqlValue]) -> int:
        await self._enter(sql)
        return self.connection.execute(sql, tuple(params)).rowcount

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        await self._enter(sql)
        return [dict(row) for row in self.connection.execute(sql, tuple(params))]

    async def _enter(self, sql: str) -> None:
        self.calls.append(" ".join(sql.split())[:60])
        await _maybe_hang(self.hang)
        if self.error is not None:
            raise self.error

    def rows(self, table: str) -> list[dict[str, SqlValue]]:
        return [dict(row) for row in self.connection.execute(f"SELECT * FROM {table}")]


async def _maybe_hang(hang: bool) -> None:
    if hang:
        await asyncio.Event().wait()
    else:
        await asyncio.sleep(0)  # a real binding call is a suspension point
