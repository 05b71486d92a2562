"""The PostgreSQL schema: its numbered migrations, and how a database is brought to it.

The version lives in the table ``imipd_schema``. A database without imipd's tables gets
every migration at once; an older one is refused until ``imipd db upgrade`` runs; a newer
one is always refused. Several nodes may start on a fresh database at once: migrations
run under an advisory lock, after reading the version again, so one node creates the
schema and the others find it done. Everything lives in the first schema of the
connection's ``search_path`` (``?search_path=NAME`` in the URL chooses another).
"""

from __future__ import annotations

import logging
from typing import Any

from .base import SchemaError

log = logging.getLogger(__name__)

_LOCK = 0x696D6970  # "imip": the advisory lock that serialises migrations

_V1 = (
    """CREATE TABLE users (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        nick TEXT NOT NULL,
        password BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE watches (
        watcher TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        target TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        state TEXT NOT NULL CHECK (state IN ('pending', 'granted')),
        request_text BYTEA,
        requested_at DOUBLE PRECISION,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (watcher, target)
    )""",
    "CREATE INDEX watches_by_target ON watches (target, state)",
    """CREATE TABLE blocks (
        blocker TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        blocked TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        PRIMARY KEY (blocker, blocked)
    )""",
    "CREATE INDEX blocks_by_blocked ON blocks (blocked)",
    # a message's id is its identity (store.identity); a delivered one stays a day without
    # its body, naming the record of messages in flight that took it (as on SQLite)
    """CREATE TABLE messages (
        id BIGINT PRIMARY KEY,
        recipient TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        sender TEXT NOT NULL,
        body BYTEA NOT NULL,
        accepted_at DOUBLE PRECISION NOT NULL,
        flight BIGINT,
        delivered_at DOUBLE PRECISION
    )""",
    "CREATE INDEX messages_waiting ON messages (recipient, accepted_at, id) WHERE flight IS NULL",
    "CREATE INDEX messages_delivered ON messages (delivered_at) WHERE flight IS NOT NULL",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_V2 = (
    # the journal of messages in flight lives in the messages table itself (shared_journal):
    # a row whose flight is set and delivered_at is not is on its way to that connection
    "CREATE INDEX messages_in_flight ON messages (flight) "
    "WHERE flight IS NOT NULL AND delivered_at IS NULL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)
"""``MIGRATIONS[n]`` takes a database from version n to n + 1. Append only."""
SCHEMA_VERSION = len(MIGRATIONS)


def too_old_message(found: int) -> str:
    return (f"database schema is version {found}, this imipd needs {SCHEMA_VERSION}: "
            "run `imipd db upgrade`")


def too_new_message(found: int) -> str:
    return (f"database schema is version {found}, this imipd needs {SCHEMA_VERSION}: "
            "this imipd is older than the database; run a newer imipd")


async def version(conn: Any) -> int:
    """The schema version of the database (0: none yet)."""
    exists = await conn.fetchval("SELECT to_regclass('imipd_schema') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT version FROM imipd_schema"))


async def prepare(conn: Any, *, upgrade: bool, create: bool = True) -> int:
    """Make the schema current, or raise ``SchemaError``; returns the version found. A
    database without imipd's schema is created only with ``create``."""
    found = await version(conn)
    _refuse(found, upgrade, create)
    if found == SCHEMA_VERSION:
        return found
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        found = await version(conn)  # another node may have migrated meanwhile
        _refuse(found, upgrade, create)
        if found == 0:
            if await conn.fetchval("SELECT to_regclass('users') IS NOT NULL"):
                raise SchemaError("database has a users table but no imipd schema version: "
                                  "not an imipd database?")
            await conn.execute("CREATE TABLE imipd_schema (version INTEGER NOT NULL)")
            await conn.execute("INSERT INTO imipd_schema (version) VALUES (0)")
        for step in range(found, SCHEMA_VERSION):
            log.info("applying schema migration %d -> %d", step, step + 1)
            for statement in MIGRATIONS[step]:
                await conn.execute(statement)
            await conn.execute("UPDATE imipd_schema SET version = $1", step + 1)
    return found


def _refuse(found: int, upgrade: bool, create: bool) -> None:
    if found > SCHEMA_VERSION:
        raise SchemaError(too_new_message(found))
    if 0 < found < SCHEMA_VERSION and not upgrade:
        raise SchemaError(too_old_message(found))
    if found == 0 and not create:
        raise SchemaError("the database has no imipd schema yet: run `imipd db upgrade`")
