"""``Store`` on PostgreSQL, for several nodes sharing one database (asyncpg, a pool).

Every method is one transaction on a connection of the pool. The rules are the ones
of ``_sqlite_ops``, written for an engine without a database-wide write lock: a rule
that reads and then writes locks the rows of the users it concerns first
(``SELECT … FOR UPDATE``, in key order, so two transactions on the same pair never
deadlock), and inserts are ``INSERT … ON CONFLICT``. Passwords are encrypted with the
service's key (``keyfile``) exactly as on SQLite, and the database keeps a check value
so that a node with another key is refused at start.

A database that cannot be reached, a connection lost, a full disk: the write (or read)
raises ``Unavailable``, the store says so once in the log, and the next call tries again
on a fresh connection.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from . import _postgres_schema as schema
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
    UserExists,
    WatchState,
    name_key,
)
from .keyfile import PasswordBox

log = logging.getLogger(__name__)

T = TypeVar("T")
Claim = tuple[int, str, str, bytes, float, int]
"""A message in flight: id, recipient key, sender, body, accepted at, the connection's record."""
Retired = tuple[int, int]
"""A message its peer acknowledged: the connection's record, the message's id."""
Conn = Any
"""An asyncpg connection (asyncpg ships no type hints)."""

POOL_SIZE = 8
"""Connections per node: a single one caps at about 2,000 commits a second here, four
reach three times that."""
COMMAND_TIMEOUT = 10.0
"""Seconds a statement may take before the call fails (``Unavailable``)."""
CONNECT_TIMEOUT = 5.0
_NEXT_NUMBER = "next_number"
_INCARNATION = "incarnation"
_KEY_CHECK = "key_check"

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError, asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.CannotConnectNowError,
)
"""What "not now" looks like: unreachable, connection lost or closed, a timeout, a full disk
(class 53), the server shutting down or starting up (class 57)."""


SCHEMA_VERSION = schema.SCHEMA_VERSION


async def schema_versions(url: str) -> tuple[int, int]:
    """(version of the database's schema, version this imipd needs); (0, n): none yet.
    Raises ``Unavailable`` when the database cannot be reached."""
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (*_UNAVAILABLE, asyncpg.exceptions.PostgresError) as error:
        raise Unavailable(f"cannot reach {redacted(url)}: {error}") from error
    try:
        return await schema.version(conn), SCHEMA_VERSION
    finally:
        await conn.close()


def redacted(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, at, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}{at}{host}"


class PostgresStore:
    """``Store`` on a PostgreSQL database. Build it with ``await PostgresStore.open(url,
    box)``; the method contracts are those documented on ``Store``."""

    def __init__(self, pool: Any, box: PasswordBox, url: str) -> None:
        """Private: use ``open``."""
        self._pool = pool
        self._box = box
        self.url = url
        self._write_failure: str | None = None
        self._calls = 0
        """Calls under way: ``close`` lets them finish."""
        self._no_calls = asyncio.Event()
        self._no_calls.set()
        self._closed = False

    @classmethod
    async def open(cls, url: str, box: PasswordBox, *, upgrade: bool = False,
                   create: bool = True) -> PostgresStore:
        """Connect to ``url`` (``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``), bring its
        schema to this imipd's version (a database without imipd's tables only with
        ``create``; an older schema only with ``upgrade``), and check that ``box`` holds
        the key its passwords were encrypted with. Raises ``SchemaError``, ``Unavailable``
        (unreachable) and ``keyfile.DecryptError``."""
        try:  # (no floor of connections: after an outage they are made again when needed)
            pool = await asyncpg.create_pool(url, min_size=0, max_size=POOL_SIZE,
                                             command_timeout=COMMAND_TIMEOUT,
                                             timeout=CONNECT_TIMEOUT)
        except _UNAVAILABLE as error:
            raise Unavailable(f"cannot reach {redacted(url)}: {error}") from error
        except asyncpg.exceptions.PostgresError as error:
            raise Unavailable(f"{redacted(url)}: {error}") from error
        store = cls(pool, box, url)
        try:
            async with pool.acquire() as conn:
                await schema.prepare(conn, upgrade=upgrade, create=create)
                await _check_key(conn, box, redacted(url))
        except BaseException:
            await pool.close()
            raise
        log.info("opened %s", redacted(url))
        return store

    @property
    def write_failure(self) -> str | None:
        return self._write_failure

    async def close(self) -> None:
        """Let the calls under way finish, then close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._no_calls.wait()
        await self._pool.close()
        log.info("closed %s", redacted(self.url))

    # -- running transactions -------------------------------------------------------------

    async def _run(self, write: bool, body: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``body(conn, *args)`` as one transaction; "not now" becomes ``Unavailable``."""
        if self._closed:
            raise RuntimeError(f"the store {redacted(self.url)} is closed")
        started = time.perf_counter()
        self._calls += 1
        self._no_calls.clear()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                result = await body(conn, *args)
        except _UNAVAILABLE as error:
            self._failed(write, error)
            raise Unavailable(f"the store cannot {'write' if write else 'read'} now: "
                              f"{error or type(error).__name__}") from error
        except asyncpg.exceptions.PostgresError as error:
            if error.sqlstate[:2] not in ("53", "57", "08"):
                raise
            self._failed(write, error)
            raise Unavailable(f"the store cannot {'write' if write else 'read'} now: "
                              f"{error}") from error
        finally:
            self._calls -= 1
            if not self._calls:
                self._no_calls.set()
        if write and self._write_failure is not None:
            self._write_failure = None
            log.warning("store writes again")
        log.debug("store %s took %.1f ms", body.__name__, (time.perf_counter() - started) * 1000)
        return result

    def _failed(self, write: bool, error: BaseException) -> None:
        reason = str(error) or type(error).__name__
        if write and self._write_failure is None:
            log.error("store cannot write: %s (retried, or refused, until it can)", reason)
        if write:
            self._write_failure = reason

    async def _read(self, body: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await self._run(False, body, *args)

    async def _write(self, body: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await self._run(True, body, *args)

    # -- accounts ---------------------------------------------------------------------

    async def create_user(self, name: str, password: str, nick: str) -> Account:
        account = await self._write(self._insert_user, name, password, nick)
        if account is None:
            raise UserExists(name)
        return account

    async def create_numbered_user(self, password: str, nick: str, first: int) -> Account:
        if first < 0:
            raise ValueError(f"numbered accounts start at a number >= 0, not {first}")
        return await self._write(self._create_numbered, password, nick, first)

    async def _create_numbered(self, conn: Conn, password: str, nick: str,
                               first: int) -> Account:
        await conn.execute("INSERT INTO meta (key, value) VALUES ($1, '0') "
                           "ON CONFLICT (key) DO NOTHING", _NEXT_NUMBER)
        counter = await conn.fetchval(  # one number at a time
            "SELECT value FROM meta WHERE key = $1 FOR UPDATE", _NEXT_NUMBER)
        number = max(first, int(counter))
        while (account := await self._insert_user(conn, str(number), password, nick)) is None:
            number += 1  # taken by hand
        await conn.execute("UPDATE meta SET value = $1 WHERE key = $2", str(number + 1),
                           _NEXT_NUMBER)
        return account

    async def _insert_user(self, conn: Conn, name: str, password: str,
                           nick: str) -> Account | None:
        key = name_key(name)
        created_at = time.time()
        done = await conn.fetchval(
            "INSERT INTO users (key, name, nick, password, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING RETURNING 1",
            key, name, nick, self._box.encrypt(password, key), created_at)
        return Account(name, nick, created_at) if done else None

    async def get_user(self, name: str) -> Account | None:
        row = await self._read(_fetchrow, "SELECT name, nick, created_at FROM users "
                               "WHERE key = $1", name_key(name))
        return None if row is None else Account(*row)

    async def credentials(self, name: str) -> Credentials | None:
        key = name_key(name)
        row = await self._read(_fetchrow, "SELECT name, nick, created_at, password FROM users "
                               "WHERE key = $1", key)
        if row is None:
            return None
        name, nick, created_at, sealed = row
        return Credentials(Account(name, nick, created_at), self._box.decrypt(bytes(sealed), key))

    _SUMMARIES = ("SELECT u.name, u.nick, (SELECT count(*) FROM messages AS m "
                  "WHERE m.recipient = u.key AND m.flight IS NULL), u.created_at FROM users AS u")

    async def account_summaries(self) -> list[AccountSummary]:
        rows = await self._read(_fetch, f"{self._SUMMARIES} ORDER BY u.key")
        return [AccountSummary(*row) for row in rows]

    async def account_summary(self, name: str) -> AccountSummary | None:
        row = await self._read(_fetchrow, f"{self._SUMMARIES} WHERE u.key = $1", name_key(name))
        return None if row is None else AccountSummary(*row)

    async def set_password(self, name: str, password: str) -> bool:
        key = name_key(name)
        return bool(await self._write(
            _fetchval, "UPDATE users SET password = $1 WHERE key = $2 RETURNING 1",
            self._box.encrypt(password, key), key))

    async def delete_user(self, name: str) -> bool:
        return bool(await self._write(_fetchval, "DELETE FROM users WHERE key = $1 RETURNING 1",
                                      name_key(name)))

    # -- contacts and permissions ------------------------------------------------------

    async def ask(self, watcher: str, target: str, text: bytes, at: float) -> Asked | None:
        return await self._write(_ask, name_key(watcher), name_key(target), text, at)

    async def grant(self, watcher: str, target: str) -> Granted | None:
        return await self._write(_grant_and_tell, name_key(watcher), name_key(target))

    async def decline(self, watcher: str, target: str) -> bool:
        return bool(await self._write(
            _fetchval, "DELETE FROM watches WHERE watcher = $1 AND target = $2 "
            "AND state = 'pending' RETURNING 1", name_key(watcher), name_key(target)))

    async def remove_watch(self, watcher: str, target: str) -> bool:
        return bool(await self._write(
            _fetchval, "DELETE FROM watches WHERE watcher = $1 AND target = $2 RETURNING 1",
            name_key(watcher), name_key(target)))

    async def set_blocked(self, blocker: str, blocked: str, on: bool) -> BlockChange | None:
        return await self._write(_set_blocked, name_key(blocker), name_key(blocked), on)

    async def watch_state(self, watcher: str, target: str) -> WatchState | None:
        return await self._read(_watch_state, name_key(watcher), name_key(target))

    async def is_blocked(self, blocker: str, blocked: str) -> bool:
        return await self._read(_is_blocked, name_key(blocker), name_key(blocked))

    async def watchers(self, target: str) -> list[str]:
        return await self._read(_watchers, name_key(target))

    async def contacts(self, watcher: str) -> list[ContactEntry]:
        return await self._read(_contacts, name_key(watcher))

    async def pending_requests(self, target: str) -> list[PendingRequest]:
        return await self._read(_requests, name_key(target), "")

    async def blocked(self, blocker: str) -> list[BlockedEntry]:
        rows = await self._read(
            _fetch, "SELECT u.name, u.nick FROM blocks AS b JOIN users AS u "
            "ON u.key = b.blocked WHERE b.blocker = $1 ORDER BY b.blocked", name_key(blocker))
        return [BlockedEntry(*row) for row in rows]

    async def snapshot(self, key: str) -> Snapshot:
        return await self._read(_snapshot, name_key(key))

    # -- stored messages ----------------------------------------------------------------

    async def accept_message(self, id: int, sender: str, recipient: str, body: bytes,
                             at: float, cap: int) -> Accepted:
        return await self._write(_accept_message, id, name_key(sender), sender,
                                 name_key(recipient), body, at, cap)

    async def keep_messages(self, messages: Sequence[KeptMessage], flight: int) -> int:
        if not messages:
            return 0
        return await self._write(_keep_messages, messages, flight)

    async def stored_messages(self, recipient: str, limit: int) -> list[StoredMessage]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        rows = await self._read(
            _fetch, "SELECT id, sender, body, accepted_at FROM messages WHERE recipient = $1 "
            "AND flight IS NULL ORDER BY accepted_at, id LIMIT $2", name_key(recipient), limit)
        return [StoredMessage(id_, sender, bytes(body), at) for id_, sender, body, at in rows]

    async def delete_messages(self, recipient: str, ids: Sequence[int], flight: int,
                              at: float) -> int:
        if not ids:
            return 0
        return int(await self._write(
            _fetchval, "WITH done AS (UPDATE messages SET body = ''::bytea, flight = $1, "
            "delivered_at = $2 WHERE recipient = $3 AND id = ANY($4::bigint[]) "
            "AND flight IS NULL RETURNING 1) SELECT count(*) FROM done",
            flight, at, name_key(recipient), list(ids)))

    async def forget_deliveries(self, before: float) -> int:
        return int(await self._write(
            _fetchval, "WITH gone AS (DELETE FROM messages WHERE flight IS NOT NULL "
            "AND delivered_at < $1 RETURNING 1) SELECT count(*) FROM gone", before))

    async def new_incarnation(self) -> int:
        return await self._write(_new_incarnation)

    # -- the journal of messages in flight (shared_journal) ------------------------------

    async def record_in_flight(self, claims: Sequence[Claim], retired: Sequence[Retired],
                               released: Sequence[int], at: float) -> dict[int, int]:
        """One commit of a node's journal: messages handed to connections (``claims``: a
        row in flight on that connection, taken out of the store if it waited there),
        messages their peers acknowledged (``retired``: kept a day without their body),
        and connections that ended (``released``: what they still had waits again).
        Returns, per released connection, how many of its messages wait again."""
        return await self._write(_record_in_flight, claims, retired, released, at)

    async def recover_in_flight(self, incarnation: int, *, others: bool = False) -> list[str]:
        """What the connections of a node's ``incarnation`` had in flight (of every other
        incarnation, with ``others``) waits in the store again: the key of its recipient,
        once per message."""
        rows = await self._write(
            _fetch, "UPDATE messages SET flight = NULL WHERE flight IS NOT NULL "
            "AND delivered_at IS NULL AND (flight >> 40) "
            + ("<> $1" if others else "= $1") + " RETURNING recipient", incarnation)
        return [str(row[0]) for row in rows]

    async def count_stored(self, recipient: str | None = None) -> int:
        if recipient is None:
            return int(await self._read(
                _fetchval, "SELECT count(*) FROM messages WHERE flight IS NULL"))
        return await self._read(_count, name_key(recipient))


# -- transaction bodies (each runs inside ``PostgresStore._run``'s transaction) --------------


async def _fetch(conn: Conn, sql: str, *args: Any) -> list[Any]:
    return list(await conn.fetch(sql, *args))


async def _fetchrow(conn: Conn, sql: str, *args: Any) -> Any:
    return await conn.fetchrow(sql, *args)


async def _fetchval(conn: Conn, sql: str, *args: Any) -> Any:
    return await conn.fetchval(sql, *args)


async def _lock_users(conn: Conn, *keys: str) -> set[str]:
    """Which of these users exist, their rows locked until the transaction ends."""
    rows = await conn.fetch("SELECT key FROM users WHERE key = ANY($1::text[]) ORDER BY key "
                            "FOR UPDATE", sorted(set(keys)))
    return {str(row[0]) for row in rows}


async def _ask(conn: Conn, asker: str, asked: str, text: bytes, at: float) -> Asked | None:
    if len(await _lock_users(conn, asker, asked)) < 2:
        return None
    granted_back = await _grant(conn, asked, asker)
    requested = await conn.fetchval(
        "INSERT INTO watches (watcher, target, state, request_text, requested_at) "
        "VALUES ($1, $2, 'pending', $3, $4) ON CONFLICT (watcher, target) DO UPDATE SET "
        "request_text = excluded.request_text, requested_at = excluded.requested_at "
        "WHERE watches.state = 'pending' RETURNING 1", asker, asked, text, at)
    return Asked(granted_back=granted_back, requested=bool(requested),
                 hidden=await _is_blocked(conn, asked, asker),
                 blocks_target=await _is_blocked(conn, asker, asked))


async def _grant(conn: Conn, watcher: str, target: str) -> bool:
    return bool(await conn.fetchval(
        "UPDATE watches SET state = 'granted', request_text = NULL WHERE watcher = $1 "
        "AND target = $2 AND state = 'pending' RETURNING 1", watcher, target))


async def _grant_and_tell(conn: Conn, watcher: str, target: str) -> Granted | None:
    if not await _grant(conn, watcher, target):
        return None
    return Granted(hidden=await _is_blocked(conn, target, watcher))


async def _set_blocked(conn: Conn, blocker: str, blocked: str, on: bool) -> BlockChange | None:
    if len(await _lock_users(conn, blocker, blocked)) < 2:
        return None
    if on:
        sql = ("INSERT INTO blocks (blocker, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING "
               "RETURNING 1")
    else:
        sql = "DELETE FROM blocks WHERE blocker = $1 AND blocked = $2 RETURNING 1"
    changed = bool(await conn.fetchval(sql, blocker, blocked))
    return BlockChange(changed=changed, watching=await _watch_state(conn, blocked, blocker)
                       is WatchState.GRANTED)


async def _watch_state(conn: Conn, watcher: str, target: str) -> WatchState | None:
    state = await conn.fetchval("SELECT state FROM watches WHERE watcher = $1 AND target = $2",
                                watcher, target)
    return None if state is None else WatchState(state)


async def _is_blocked(conn: Conn, blocker: str, blocked: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = $2)",
        blocker, blocked))


async def _watchers(conn: Conn, target: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT w.watcher FROM watches AS w WHERE w.target = $1 AND w.state = 'granted' "
        "AND NOT EXISTS (SELECT 1 FROM blocks AS b WHERE b.blocker = w.target "
        "AND b.blocked = w.watcher) ORDER BY w.watcher", target)
    return [str(row[0]) for row in rows]


async def _contacts(conn: Conn, watcher: str) -> list[ContactEntry]:
    rows = await conn.fetch(
        "SELECT u.name, u.nick, w.state, EXISTS (SELECT 1 FROM blocks AS b "
        "WHERE b.blocker = w.target AND b.blocked = w.watcher) "
        "FROM watches AS w JOIN users AS u ON u.key = w.target "
        "WHERE w.watcher = $1 ORDER BY w.target", watcher)
    return [ContactEntry(name, nick, WatchState(state), bool(blocks))
            for name, nick, state, blocks in rows]


async def _requests(conn: Conn, target: str, condition: str) -> list[PendingRequest]:
    rows = await conn.fetch(
        "SELECT u.name, u.nick, w.request_text, w.requested_at "
        "FROM watches AS w JOIN users AS u ON u.key = w.watcher "
        f"WHERE w.target = $1 AND w.state = 'pending' {condition} "
        "ORDER BY w.requested_at, w.seq", target)
    return [PendingRequest(name, nick, bytes(text or b""), at) for name, nick, text, at in rows]


async def _snapshot(conn: Conn, key: str) -> Snapshot:
    rows = await conn.fetch("SELECT blocked FROM blocks WHERE blocker = $1", key)
    return Snapshot(
        blocks=frozenset(str(row[0]) for row in rows),
        watchers=tuple(await _watchers(conn, key)),
        contacts=tuple(await _contacts(conn, key)),
        requests=tuple(await _requests(conn, key, "AND NOT EXISTS (SELECT 1 FROM blocks AS b "
                                                  "WHERE b.blocker = w.target "
                                                  "AND b.blocked = w.watcher)")),
    )


async def _count(conn: Conn, recipient: str) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM messages WHERE recipient = $1 AND flight IS NULL", recipient))


async def _accept_message(conn: Conn, id: int, sender_key: str, sender: str, recipient: str,
                          body: bytes, at: float, cap: int) -> Accepted:
    if recipient not in await _lock_users(conn, recipient):  # one sender at a time: the cap
        return Accepted.NO_SUCH_USER
    if await _is_blocked(conn, recipient, sender_key):
        return Accepted.BLOCKED
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1)", id):
        return Accepted.STORED  # this very message: stored (or delivered) already
    if await _count(conn, recipient) >= cap:
        return Accepted.FULL
    name = await conn.fetchval("SELECT name FROM users WHERE key = $1", sender_key)
    await conn.execute(
        "INSERT INTO messages (id, recipient, sender, body, accepted_at) "
        "VALUES ($1, $2, $3, $4, $5)", id, recipient, sender if name is None else name, body, at)
    return Accepted.STORED


async def _keep_messages(conn: Conn, messages: Sequence[KeptMessage], flight: int) -> int:
    kept = 0
    for message in messages:
        # new, or waiting again if this record took it out of the store last; else unchanged
        done = await conn.fetchval(
            "INSERT INTO messages (id, recipient, sender, body, accepted_at) "
            "SELECT $1, key, $2, $3, $4 FROM users WHERE key = $5 "
            "ON CONFLICT (id) DO UPDATE SET body = excluded.body, flight = NULL, "
            "delivered_at = NULL WHERE messages.flight = $6 RETURNING 1",
            message.id, message.sender, message.body, message.accepted_at,
            name_key(message.recipient), flight)
        kept += 1 if done else 0
    return kept


async def _record_in_flight(conn: Conn, claims: Sequence[Claim], retired: Sequence[Retired],
                            released: Sequence[int], at: float) -> dict[int, int]:
    if claims:
        last = {claim[0]: claim for claim in claims}  # (a message moved twice: where it is)
        columns = list(zip(*last.values(), strict=True))
        # in flight on its connection: new, or out of the store, or moved between two
        # connections of this node (held, then shown)
        await conn.execute(
            "INSERT INTO messages (id, recipient, sender, body, accepted_at, flight) "
            "SELECT c.id, c.recipient, c.sender, c.body, c.at, c.flight FROM unnest("
            "$1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::float8[], $6::bigint[]) "
            "AS c(id, recipient, sender, body, at, flight) JOIN users ON users.key = c.recipient "
            "ON CONFLICT (id) DO UPDATE SET flight = excluded.flight, body = excluded.body "
            "WHERE messages.flight IS NULL OR (messages.delivered_at IS NULL "
            "AND messages.flight >> 40 = excluded.flight >> 40)", *columns)
    if retired:
        flights, ids = zip(*retired, strict=True)
        await conn.execute(
            "UPDATE messages SET body = ''::bytea, delivered_at = $3 FROM unnest($1::bigint[], "
            "$2::bigint[]) AS r(flight, id) WHERE messages.id = r.id "
            "AND messages.flight = r.flight AND messages.delivered_at IS NULL",
            list(flights), list(ids), at)
    back: dict[int, int] = dict.fromkeys(released, 0)
    if released:
        for row in await conn.fetch(
                "WITH back AS (SELECT id, flight FROM messages WHERE flight = ANY($1::bigint[]) "
                "AND delivered_at IS NULL FOR UPDATE) UPDATE messages SET flight = NULL "
                "FROM back WHERE messages.id = back.id RETURNING back.flight", list(released)):
            back[int(row[0])] += 1
    return back


async def _new_incarnation(conn: Conn) -> int:
    await conn.execute("INSERT INTO meta (key, value) VALUES ($1, '0') "
                       "ON CONFLICT (key) DO NOTHING", _INCARNATION)
    return int(await conn.fetchval(
        "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = $1 RETURNING value",
        _INCARNATION))


async def _check_key(conn: Conn, box: PasswordBox, where: str) -> None:
    """Fail at start, not at the first login, when ``box`` is not the database's key."""
    what = f"the key check of {where}"
    async with conn.transaction():
        value = await conn.fetchval("SELECT value FROM meta WHERE key = $1 FOR UPDATE",
                                    _KEY_CHECK)
        if value is not None:
            box.verify_check(base64.b64decode(value), what)
            return
        row = await conn.fetchrow("SELECT key, password FROM users LIMIT 1")
        if row is not None:
            box.decrypt(bytes(row[1]), str(row[0]))
        check = base64.b64encode(box.make_check()).decode("ascii")
        await conn.execute("INSERT INTO meta (key, value) VALUES ($1, $2) "
                           "ON CONFLICT (key) DO NOTHING", _KEY_CHECK, check)


if TYPE_CHECKING:
    _CONFORMS: type[Store] = PostgresStore
