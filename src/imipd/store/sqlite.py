"""The embedded default ``Store``: one SQLite file in the data directory.

SQLite calls block, so none of them run on the event loop: every store method
becomes one function run as one transaction on a single dedicated thread that
owns the only connection. One thread also means transactions of this process
never wait on each other's locks; other processes (``imipd user add`` next to a
running server) are serialised by SQLite's own locking and the busy timeout.

Files in the data directory: ``imipd.sqlite3`` (plus its ``-wal`` and ``-shm``)
and ``secret.key``, the key passwords are encrypted with (see ``keyfile``).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from . import _sqlite_ops as ops
from ._sqlite_schema import (
    DB_FILE_NAME,
    SCHEMA_VERSION,
    check_key,
    check_synchronous,
    connect,
    prepare_schema,
    schema_status,
    transaction,
    upgrade_schema,
)
from .base import (
    Accepted,
    Account,
    AccountSummary,
    Asked,
    BlockChange,
    BlockedEntry,
    ContactEntry,
    Credentials,
    Granted,
    KeptMessage,
    PendingRequest,
    Snapshot,
    Store,
    StoredMessage,
    Unavailable,
    WatchState,
)
from .dbthread import DbThread
from .keyfile import PasswordBox, key_path, load_or_create_key, read_key

__all__ = [
    "DB_FILE_NAME", "SCHEMA_VERSION", "NoStore", "SqliteStore", "schema_status", "upgrade_schema",
]

log = logging.getLogger(__name__)

_UNAVAILABLE = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY,
                          sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN})
"""SQLite's primary result codes for "not now": a full disk, an I/O error, another process
holding the lock past the busy timeout. Anything else is a bug, and raised as it is."""

P = ParamSpec("P")
T = TypeVar("T")


class NoStore(Exception):
    """``open(..., create=False)`` found no database (or no data directory) at ``path``."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no database at {path}")
        self.path = path


class SqliteStore:
    """``Store`` on an SQLite file, with all disk work on one dedicated thread.

    Build it with ``await SqliteStore.open(database, key_file)``; the method contracts are
    those documented on ``Store``. Reading a password (``credentials``) raises
    ``keyfile.DecryptError`` when ``secret.key`` is not the database's key.
    A cancelled call still runs (and commits) on the thread.
    """

    def __init__(self, thread: DbThread, db: ops.Db, path: Path) -> None:
        """Private: use ``open``, which creates ``db`` on ``thread``."""
        self._thread = thread
        self._db = db
        self.path = path
        """The database file."""
        self._closed = False
        self._write_failure: str | None = None

    @property
    def write_failure(self) -> str | None:
        return self._write_failure

    @classmethod
    async def open(
        cls, database: Path, key_file: Path, *, synchronous: str = "full",
        upgrade: bool = False, create: bool = True,
    ) -> SqliteStore:
        """Open (creating on first run) the database file ``database``, whose passwords are
        encrypted with the key in ``key_file`` (created, with the data directory, when
        missing). With ``create`` false nothing is created: a missing database raises
        ``NoStore`` (a missing key file ``keyfile.KeyFileError``).

        ``synchronous`` is SQLite's durability setting, "full" or "normal". With
        ``upgrade`` an older schema is migrated instead of refused. Raises
        ``SchemaError``, ``keyfile.KeyFileError``, ``keyfile.DecryptError`` (the key
        file does not match the database), ``ValueError`` and ``OSError``.
        """
        check_synchronous(synchronous)
        thread = DbThread("imipd-sqlite")
        try:
            db = await thread.run(_open_db, database, key_file, synchronous, upgrade, create)
        except BaseException:
            await thread.stop()
            raise
        log.info("opened %s", database)
        return cls(thread, db, database)

    @classmethod
    async def open_data_dir(cls, data_dir: Path, *, synchronous: str = "full",
                            upgrade: bool = False, create: bool = True) -> SqliteStore:
        """Open the store of a data directory as laid out by default: its database
        ``imipd.sqlite3`` and its key, side by side."""
        return await cls.open(data_dir / DB_FILE_NAME, key_path(data_dir),
                              synchronous=synchronous, upgrade=upgrade, create=create)

    async def close(self) -> None:
        """Let queued calls finish, close the connection, stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._thread.run(self._db.conn.close)
        finally:
            await self._thread.stop()
        log.info("closed %s", self.path)

    # -- running transactions on the thread ------------------------------------

    async def _read(
        self, body: Callable[Concatenate[ops.Db, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(False, functools.partial(body, self._db, *args, **kwargs))

    async def _write(
        self, body: Callable[Concatenate[ops.Db, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(True, functools.partial(body, self._db, *args, **kwargs))

    async def _run(self, write: bool, call: functools.partial[T]) -> T:
        if self._closed:
            raise RuntimeError(f"the store {self.path} is closed")
        try:
            result: T = await self._thread.run(self._transact, write, call)
        except sqlite3.Error as error:
            code = getattr(error, "sqlite_errorcode", None)
            if code is None or code & 0xFF not in _UNAVAILABLE:
                raise
            reason = str(error)
            if write and self._write_failure is None:
                log.error("store cannot write: %s (retried, or refused, until it can)", reason)
            if write:
                self._write_failure = reason
            raise Unavailable(f"the store cannot write: {reason}") from error
        if write and self._write_failure is not None:
            self._write_failure = None
            log.warning("store writes again")
        return result

    def _transact(self, write: bool, call: functools.partial[T]) -> T:
        """Runs on the database thread: ``call`` as one transaction, named in the log."""
        started = time.perf_counter()
        with transaction(self._db.conn, write=write):
            result = call()
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("store %s took %.1f ms", call.func.__name__, elapsed_ms)
        return result

    # -- accounts ------------------------------------------------------------------

    async def create_user(self, name: str, password: str, nick: str) -> Account:
        return await self._write(ops.create_user, name, password, nick)

    async def create_numbered_user(self, password: str, nick: str, first: int) -> Account:
        return await self._write(ops.create_numbered_user, password, nick, first)

    async def get_user(self, name: str) -> Account | None:
        return await self._read(ops.get_user, name)

    async def credentials(self, name: str) -> Credentials | None:
        return await self._read(ops.credentials, name)

    async def account_summaries(self) -> list[AccountSummary]:
        return await self._read(ops.account_summaries)

    async def account_summary(self, name: str) -> AccountSummary | None:
        return await self._read(ops.account_summary, name)

    async def set_password(self, name: str, password: str) -> bool:
        return await self._write(ops.set_password, name, password)

    async def delete_user(self, name: str) -> bool:
        return await self._write(ops.delete_user, name)

    # -- contacts and permissions -----------------------------------------------

    async def ask(self, watcher: str, target: str, text: bytes, at: float) -> Asked | None:
        return await self._write(ops.ask, watcher, target, text, at)

    async def grant(self, watcher: str, target: str) -> Granted | None:
        return await self._write(ops.grant, watcher, target)

    async def decline(self, watcher: str, target: str) -> bool:
        return await self._write(ops.decline, watcher, target)

    async def remove_watch(self, watcher: str, target: str) -> bool:
        return await self._write(ops.remove_watch, watcher, target)

    async def set_blocked(self, blocker: str, blocked: str, on: bool) -> BlockChange | None:
        return await self._write(ops.set_blocked, blocker, blocked, on)

    async def watch_state(self, watcher: str, target: str) -> WatchState | None:
        return await self._read(ops.watch_state, watcher, target)

    async def is_blocked(self, blocker: str, blocked: str) -> bool:
        return await self._read(ops.is_blocked, blocker, blocked)

    async def watchers(self, target: str) -> list[str]:
        return await self._read(ops.watchers, target)

    async def contacts(self, watcher: str) -> list[ContactEntry]:
        return await self._read(ops.contacts, watcher)

    async def pending_requests(self, target: str) -> list[PendingRequest]:
        return await self._read(ops.pending_requests, target)

    async def blocked(self, blocker: str) -> list[BlockedEntry]:
        return await self._read(ops.blocked, blocker)

    async def snapshot(self, key: str) -> Snapshot:
        return await self._read(ops.snapshot, key)

    # -- stored messages ------------------------------------------------------------

    async def accept_message(
        self, id: int, sender: str, recipient: str, body: bytes, at: float, cap: int
    ) -> Accepted:
        return await self._write(ops.accept_message, id, sender, recipient, body, at, cap)

    async def keep_messages(self, messages: Sequence[KeptMessage], flight: int) -> int:
        return await self._write(ops.keep_messages, messages, flight)

    async def stored_messages(self, recipient: str, limit: int) -> list[StoredMessage]:
        return await self._read(ops.stored_messages, recipient, limit)

    async def delete_messages(self, recipient: str, ids: Sequence[int], flight: int,
                              at: float) -> int:
        return await self._write(ops.delete_messages, recipient, ids, flight, at)

    async def forget_deliveries(self, before: float) -> int:
        return await self._write(ops.forget_deliveries, before)

    async def new_incarnation(self) -> int:
        return await self._write(ops.new_incarnation)

    async def count_stored(self, recipient: str | None = None) -> int:
        return await self._read(ops.count_stored, recipient)


def _open_db(database: Path, key_file: Path, synchronous: str, upgrade: bool,
             create: bool) -> ops.Db:
    """Runs on the database thread: key, connection, schema, key check."""
    if create:
        key = load_or_create_key(key_file)
    elif not database.is_file():
        raise NoStore(database)
    else:
        key = read_key(key_file)
    box = PasswordBox(key, source=key_file)
    try:
        conn = connect(database, synchronous, create=create)
    except FileNotFoundError:
        raise NoStore(database) from None
    try:
        prepare_schema(conn, upgrade=upgrade)
        check_key(conn, box, database)
    except BaseException:
        conn.close()
        raise
    return ops.Db(conn=conn, box=box)


if TYPE_CHECKING:
    _CONFORMS: type[Store] = SqliteStore
