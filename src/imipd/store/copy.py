"""``imipd db copy``: a community's data from an SQLite file into a PostgreSQL database.

Rows are copied as they are (passwords stay encrypted: the target is used with the same
key file, whose check value the copy carries over), table by table in one transaction of
the target, then counted on both sides. The target must hold no accounts (or be emptied
first, with ``force``); the source must be at this imipd's schema.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from . import _postgres_schema
from ._sqlite_schema import SCHEMA_VERSION as SQLITE_SCHEMA
from ._sqlite_schema import user_version
from .base import SchemaError, Unavailable
from .postgres import CONNECT_TIMEOUT, redacted

TABLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("users", ("key", "name", "nick", "password", "created_at"), "key"),
    ("watches", ("watcher", "target", "state", "request_text", "requested_at"), "rowid"),
    ("blocks", ("blocker", "blocked"), "blocker, blocked"),
    ("messages", ("id", "recipient", "sender", "body", "accepted_at", "flight",
                  "delivered_at"), "id"),
    ("meta", ("key", "value"), "key"),
)
"""What is copied, table by table, in an order that keeps the references whole (and the
order of requests: rowid in SQLite, the identity column in PostgreSQL)."""


class CopyError(Exception):
    """The copy cannot be made; the message says why (nothing was changed)."""


@dataclass(frozen=True)
class Copied:
    """Rows per table, the same on both sides."""

    counts: dict[str, int]


async def sqlite_to_postgres(source: Path, target: str, *, force: bool) -> Copied:
    """Copy the SQLite database ``source`` into the PostgreSQL database ``target``."""
    rows = _read_sqlite(source)
    try:
        conn = await asyncpg.connect(target, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.exceptions.PostgresError) as error:
        raise Unavailable(f"cannot reach {redacted(target)}: {error}") from error
    try:
        await _postgres_schema.prepare(conn, upgrade=False)
        async with conn.transaction():
            held = await conn.fetchval("SELECT count(*) FROM users")
            if held and not force:
                raise CopyError(f"{redacted(target)} holds {held} account(s) already: use "
                                "--force to replace what it holds")
            await conn.execute("TRUNCATE users, watches, blocks, messages, meta CASCADE")
            for table, columns, _ in TABLES:
                await conn.copy_records_to_table(table, records=rows[table], columns=columns)
            counts = {table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
                      for table, _, _ in TABLES}
    finally:
        await conn.close()
    wanted = {table: len(rows[table]) for table, _, _ in TABLES}
    if counts != wanted:
        raise CopyError(f"the copy does not add up: {counts} rows, {wanted} wanted")
    return Copied(counts)


def _read_sqlite(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row to copy, in one read transaction of the source."""
    if not path.is_file():
        raise CopyError(f"no database at {path}")
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        found = user_version(conn)
        if found != SQLITE_SCHEMA:
            raise SchemaError(f"{path} has schema version {found}, this imipd copies version "
                              f"{SQLITE_SCHEMA}: run `imipd db upgrade` on it first")
        conn.execute("BEGIN")
        rows = {table: [_value_row(row) for row in conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")]
            for table, columns, order in TABLES}
        conn.execute("COMMIT")
        return rows
    finally:
        conn.close()


def _value_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """SQLite's values as PostgreSQL's columns take them (blobs as bytes)."""
    return tuple(bytes(value) if isinstance(value, memoryview) else value for value in row)
