"""The SQLite file: how it is opened, its numbered migrations, and first-run creation.

The schema version lives in ``PRAGMA user_version``. A fresh file gets every
migration at once; an older file is refused until ``imipd db upgrade`` runs;
a newer file is always refused. Several processes may open a fresh data
directory at once: schema creation happens under ``BEGIN IMMEDIATE`` (SQLite's
write lock) after re-reading the version, so exactly one process creates the
schema and the others find it done.

Everything here is synchronous; ``sqlite.SqliteStore`` runs it on its own thread.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from .base import SchemaError
from .keyfile import PasswordBox, ensure_data_dir

log = logging.getLogger(__name__)

DB_FILE_NAME = "imipd.sqlite3"
BUSY_TIMEOUT_MS = 5000
SYNCHRONOUS_MODES = ("full", "normal")
_KEY_CHECK = "key_check"

_V1 = (
    """CREATE TABLE users (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        nick TEXT NOT NULL,
        password BLOB NOT NULL,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE watches (
        watcher TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        target TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        state TEXT NOT NULL CHECK (state IN ('pending', 'granted')),
        request_text BLOB,
        requested_at REAL,
        PRIMARY KEY (watcher, target)
    )""",
    "CREATE INDEX watches_by_target ON watches (target, state)",
    """CREATE TABLE blocks (
        blocker TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        blocked TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        PRIMARY KEY (blocker, blocked)
    )""",
    "CREATE INDEX blocks_by_blocked ON blocks (blocked)",
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        sender TEXT NOT NULL,
        body BLOB NOT NULL,
        accepted_at REAL NOT NULL
    )""",
    "CREATE INDEX messages_by_recipient ON messages (recipient, id)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_V2 = (
    # stored messages are delivered in the order they were accepted: a message that goes
    # back to the store (its connection closed before the recipient had it) keeps its place
    "CREATE INDEX messages_by_acceptance ON messages (recipient, accepted_at, id)",
)

_V3 = (
    # a message's id is its identity, given when it was accepted (store.identity): a copy
    # put back twice is stored once. Rows stored before keep their ids (below 2**40). A
    # delivered message stays a day as a row without its body, naming the record of
    # messages in flight that took it: only that one may put it back (a journal replayed
    # late must not deliver it twice).
    """CREATE TABLE messages_v3 (
        id INTEGER PRIMARY KEY,
        recipient TEXT NOT NULL REFERENCES users(key) ON DELETE CASCADE,
        sender TEXT NOT NULL,
        body BLOB NOT NULL,
        accepted_at REAL NOT NULL,
        flight INTEGER,
        delivered_at REAL
    )""",
    "INSERT INTO messages_v3 (id, recipient, sender, body, accepted_at) "
    "SELECT id, recipient, sender, body, accepted_at FROM messages",
    "DROP TABLE messages",
    "ALTER TABLE messages_v3 RENAME TO messages",
    "CREATE INDEX messages_waiting ON messages (recipient, accepted_at, id) WHERE flight IS NULL",
    "CREATE INDEX messages_delivered ON messages (delivered_at) WHERE flight IS NOT NULL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
"""``MIGRATIONS[n]`` takes a database from version n to n + 1. Append only."""
SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code reads and writes."""


def connect(path: Path, synchronous: str, *, create: bool = True) -> sqlite3.Connection:
    """Open (creating, mode 0600, unless ``create`` is false) the database file with imipd's
    connection settings. Without ``create`` a missing file is ``FileNotFoundError``.

    The connection is in autocommit mode: callers issue BEGIN and COMMIT.
    """
    synchronous = check_synchronous(synchronous)
    if create:
        ensure_data_dir(path.parent)
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    os.close(os.open(path, flags, 0o600))  # -wal and -shm inherit its mode
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        _configure(conn, synchronous)
    except BaseException:
        conn.close()
        raise
    return conn


def check_synchronous(mode: str) -> str:
    """The normalised ``PRAGMA synchronous`` value, or ``ValueError``."""
    if mode.lower() not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {mode!r}")
    return mode.lower()


def _configure(conn: sqlite3.Connection, synchronous: str) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = _enable_wal(conn)
    if mode != "wal":
        log.warning("SQLite refused WAL mode (journal_mode is %s); writers block readers", mode)
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys = ON")


def _enable_wal(conn: sqlite3.Connection) -> str:
    """Switch the file to WAL (a lasting property of the file); returns the mode in force.

    Switching needs an exclusive lock and SQLite answers "database is locked" at
    once, without its busy handler, when processes race to switch a fresh file;
    so this retries until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return str(mode).lower()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(random.uniform(0.001, 0.02))


def _is_busy(exc: sqlite3.Error) -> bool:
    return exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
    """One transaction: BEGIN (IMMEDIATE when it will write), COMMIT on success,
    ROLLBACK on any error. IMMEDIATE takes the write lock up front (waiting up to
    the busy timeout), so a read-then-write body cannot race another writer."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a fresh file)."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def too_old_message(found: int) -> str:
    """What to tell an operator whose database needs ``imipd db upgrade``."""
    return (
        f"database schema is version {found}, this imipd needs {SCHEMA_VERSION}: "
        "run `imipd db upgrade`"
    )


def too_new_message(found: int) -> str:
    """What to tell an operator running an imipd older than its database."""
    return (
        f"database schema is version {found}, this imipd needs {SCHEMA_VERSION}: "
        "this imipd is older than the database; run a newer imipd"
    )


def prepare_schema(conn: sqlite3.Connection, *, upgrade: bool) -> int:
    """Make the schema current or raise ``SchemaError``; returns the version found.

    A fresh file is always brought up to date; an older one only if ``upgrade``.
    """
    found = user_version(conn)
    _refuse(found, upgrade)
    if found == SCHEMA_VERSION:
        return found
    with transaction(conn):
        found = user_version(conn)  # another process may have migrated meanwhile
        _refuse(found, upgrade)
        if found == 0 and _has_tables(conn):
            raise SchemaError("database has tables but no imipd schema version: not an imipd file?")
        for version in range(found, SCHEMA_VERSION):
            _apply(conn, version)
    return found


def _refuse(found: int, upgrade: bool) -> None:
    if found > SCHEMA_VERSION:
        raise SchemaError(too_new_message(found))
    if 0 < found < SCHEMA_VERSION and not upgrade:
        raise SchemaError(too_old_message(found))


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1"
    ).fetchone()
    return row is not None


def _apply(conn: sqlite3.Connection, version: int) -> None:
    log.info("applying schema migration %d -> %d", version, version + 1)
    for statement in MIGRATIONS[version]:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version + 1}")


def check_key(conn: sqlite3.Connection, box: PasswordBox, db_file: Path) -> None:
    """Fail at startup, not at the first login, when the key file is not this database's.

    The database keeps a value sealed with its key; a database without one (created
    by ``upgrade_schema``) gets it now. Raises ``DecryptError``.
    """
    what = f"the key check of {db_file}"
    with transaction(conn):
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_KEY_CHECK,)).fetchone()
        if row is not None:
            box.verify_check(base64.b64decode(row[0]), what)
            return
        _verify_any_password(conn, box)
        check = base64.b64encode(box.make_check()).decode("ascii")
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_KEY_CHECK, check))


def _verify_any_password(conn: sqlite3.Connection, box: PasswordBox) -> None:
    row = conn.execute("SELECT key, password FROM users LIMIT 1").fetchone()
    if row is not None:
        box.decrypt(bytes(row[1]), str(row[0]))


def schema_status(path: Path) -> tuple[int, int]:
    """(version in the file, version this code needs); (0, n) when there is no file yet.

    Synchronous and read-only, for ``imipd check``.
    """
    if not path.exists():
        return 0, SCHEMA_VERSION
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return user_version(conn), SCHEMA_VERSION
    finally:
        conn.close()


def upgrade_schema(path: Path, *, synchronous: str = "full") -> tuple[int, int]:
    """Apply the missing migrations in one transaction: ``imipd db upgrade``.

    Returns (version before, version after). Raises ``SchemaError`` when the file is
    newer than this code or is not an imipd database.
    """
    conn = connect(path, synchronous)
    try:
        before = prepare_schema(conn, upgrade=True)
        return before, user_version(conn)
    finally:
        conn.close()
