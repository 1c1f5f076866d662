"""What the core needs from a SQL database binding (Cloudflare D1): two calls.

`run(sql, params)` executes one statement and answers how many rows it changed (D1's
`meta.changes`); `all(sql, params)` answers the result rows as plain dicts of column name
to `str | int | float | None`. Parameters are positional (`?1`, `?2`, ... in the SQL).
Either may raise or never answer; the callers bound every call with a timeout. The
Workers bridge adapts `env.DB` (`prepare(sql).bind(*params).run()` / `.all()`, JS results
converted to Python there); tests use sqlite3 behind the same Protocol. The schema lives
in `migrations/*.sql`, applied with `wrangler d1 migrations apply`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

SqlValue = str | int | float | None
SqlRow = dict[str, SqlValue]


class SqlDatabase(Protocol):
    async def run(self, sql: str, params: Sequence[SqlValue]) -> int: ...

    async def all(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]: ...
