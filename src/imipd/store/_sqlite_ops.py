"""The body of each ``Store`` method as plain synchronous SQL over one connection.

Each function runs as one transaction opened by ``SqliteStore`` on its database
thread; none of them commits. Names arrive in any casing and are turned into
keys here.

The bodies are written as they must be on an engine without a database-wide
write lock: a rule that reads and then writes first locks the rows of the users
it concerns (``_lock_users``, in key order, so two transactions on the same pair
never deadlock), and inserts use ``ON CONFLICT``. Under SQLite the write
transaction (``BEGIN IMMEDIATE``) already holds the database's lock, so the
locking read is a plain read here; a PostgreSQL store writes it ``FOR UPDATE``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

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
    StoredMessage,
    UserExists,
    WatchState,
    name_key,
)
from .keyfile import PasswordBox

_NEXT_NUMBER = "next_number"
_INCARNATION = "incarnation"
"""The last incarnation handed out (``new_incarnation``)."""


@dataclass(frozen=True, slots=True)
class Db:
    """What a transaction body works with: the thread's connection and the password box."""

    conn: sqlite3.Connection
    box: PasswordBox


def _lock_users(db: Db, *names: str) -> set[str]:
    """Which of these users exist, their rows locked until the transaction ends."""
    keys = sorted({name_key(name) for name in names})
    marks = ", ".join("?" * len(keys))
    rows = db.conn.execute(
        f"SELECT key FROM users WHERE key IN ({marks}) ORDER BY key", keys
    ).fetchall()
    return {str(key) for (key,) in rows}


# -- accounts ----------------------------------------------------------------


def create_user(db: Db, name: str, password: str, nick: str) -> Account:
    account = _insert_user(db, name, password, nick)
    if account is None:
        raise UserExists(name)
    return account


def create_numbered_user(db: Db, password: str, nick: str, first: int) -> Account:
    if first < 0:
        raise ValueError(f"numbered accounts start at a number >= 0, not {first}")
    db.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '0') ON CONFLICT (key) DO NOTHING",
        (_NEXT_NUMBER,),
    )
    (counter,) = db.conn.execute(  # FOR UPDATE on a server engine: one number at a time
        "SELECT value FROM meta WHERE key = ?", (_NEXT_NUMBER,)
    ).fetchone()
    number = max(first, int(counter))
    while (account := _insert_user(db, str(number), password, nick)) is None:
        number += 1  # taken by hand
    db.conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(number + 1), _NEXT_NUMBER))
    return account


_PROFILE = "SELECT name, nick, created_at FROM users"


def get_user(db: Db, name: str) -> Account | None:
    row = db.conn.execute(f"{_PROFILE} WHERE key = ?", (name_key(name),)).fetchone()
    return None if row is None else Account(*row)


def credentials(db: Db, name: str) -> Credentials | None:
    key = name_key(name)
    row = db.conn.execute(
        "SELECT name, nick, created_at, password FROM users WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    name, nick, created_at, sealed = row
    return Credentials(Account(name, nick, created_at), db.box.decrypt(bytes(sealed), key))


_SUMMARIES = (
    "SELECT u.name, u.nick, (SELECT count(*) FROM messages AS m WHERE m.recipient = u.key "
    "AND m.flight IS NULL), "
    "u.created_at FROM users AS u"
)


def account_summaries(db: Db) -> list[AccountSummary]:
    rows = db.conn.execute(f"{_SUMMARIES} ORDER BY u.key").fetchall()
    return [AccountSummary(*row) for row in rows]


def account_summary(db: Db, name: str) -> AccountSummary | None:
    row = db.conn.execute(f"{_SUMMARIES} WHERE u.key = ?", (name_key(name),)).fetchone()
    return None if row is None else AccountSummary(*row)


def set_password(db: Db, name: str, password: str) -> bool:
    key = name_key(name)
    sealed = db.box.encrypt(password, key)
    cursor = db.conn.execute("UPDATE users SET password = ? WHERE key = ?", (sealed, key))
    return cursor.rowcount > 0


def delete_user(db: Db, name: str) -> bool:
    cursor = db.conn.execute("DELETE FROM users WHERE key = ?", (name_key(name),))
    return cursor.rowcount > 0


def _insert_user(db: Db, name: str, password: str, nick: str) -> Account | None:
    """The new account, or None when the name is taken (in any casing)."""
    key = name_key(name)
    created_at = time.time()
    cursor = db.conn.execute(
        "INSERT INTO users (key, name, nick, password, created_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING",
        (key, name, nick, db.box.encrypt(password, key), created_at),
    )
    return Account(name, nick, created_at) if cursor.rowcount > 0 else None


# -- contacts and permissions ------------------------------------------------------


def ask(db: Db, watcher: str, target: str, text: bytes, at: float) -> Asked | None:
    asker, asked = name_key(watcher), name_key(target)
    if len(_lock_users(db, asker, asked)) < 2:
        return None
    granted_back = _grant(db, asked, asker)
    cursor = db.conn.execute(
        "INSERT INTO watches (watcher, target, state, request_text, requested_at) "
        "VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (watcher, target) DO UPDATE SET "
        "request_text = excluded.request_text, requested_at = excluded.requested_at "
        "WHERE watches.state = 'pending'",
        (asker, asked, text, at),
    )
    return Asked(
        granted_back=granted_back,
        requested=cursor.rowcount > 0,
        hidden=_is_blocked(db, asked, asker),
        blocks_target=_is_blocked(db, asker, asked),
    )


def grant(db: Db, watcher: str, target: str) -> Granted | None:
    watcher_key, target_key = name_key(watcher), name_key(target)
    if not _grant(db, watcher_key, target_key):
        return None
    return Granted(hidden=_is_blocked(db, target_key, watcher_key))


def _grant(db: Db, watcher_key: str, target_key: str) -> bool:
    cursor = db.conn.execute(
        "UPDATE watches SET state = 'granted', request_text = NULL "
        "WHERE watcher = ? AND target = ? AND state = 'pending'",
        (watcher_key, target_key),
    )
    return cursor.rowcount > 0


def decline(db: Db, watcher: str, target: str) -> bool:
    cursor = db.conn.execute(
        "DELETE FROM watches WHERE watcher = ? AND target = ? AND state = 'pending'",
        (name_key(watcher), name_key(target)),
    )
    return cursor.rowcount > 0


def remove_watch(db: Db, watcher: str, target: str) -> bool:
    cursor = db.conn.execute(
        "DELETE FROM watches WHERE watcher = ? AND target = ?",
        (name_key(watcher), name_key(target)),
    )
    return cursor.rowcount > 0


def set_blocked(db: Db, blocker: str, blocked: str, on: bool) -> BlockChange | None:
    pair = (name_key(blocker), name_key(blocked))
    if len(_lock_users(db, *pair)) < 2:
        return None
    if on:
        sql = "INSERT INTO blocks (blocker, blocked) VALUES (?, ?) ON CONFLICT DO NOTHING"
    else:
        sql = "DELETE FROM blocks WHERE blocker = ? AND blocked = ?"
    changed = db.conn.execute(sql, pair).rowcount > 0
    return BlockChange(changed=changed,
                       watching=_watch_state(db, pair[1], pair[0]) is WatchState.GRANTED)


def watch_state(db: Db, watcher: str, target: str) -> WatchState | None:
    return _watch_state(db, name_key(watcher), name_key(target))


def _watch_state(db: Db, watcher_key: str, target_key: str) -> WatchState | None:
    row = db.conn.execute(
        "SELECT state FROM watches WHERE watcher = ? AND target = ?", (watcher_key, target_key)
    ).fetchone()
    return None if row is None else WatchState(row[0])


def is_blocked(db: Db, blocker: str, blocked: str) -> bool:
    return _is_blocked(db, name_key(blocker), name_key(blocked))


def _is_blocked(db: Db, blocker_key: str, blocked_key: str) -> bool:
    row = db.conn.execute(
        "SELECT 1 FROM blocks WHERE blocker = ? AND blocked = ?", (blocker_key, blocked_key)
    ).fetchone()
    return row is not None


def watchers(db: Db, target: str) -> list[str]:
    rows = db.conn.execute(
        "SELECT w.watcher FROM watches AS w WHERE w.target = ? AND w.state = 'granted' "
        "AND NOT EXISTS (SELECT 1 FROM blocks AS b WHERE b.blocker = w.target "
        "AND b.blocked = w.watcher) ORDER BY w.watcher",
        (name_key(target),),
    ).fetchall()
    return [str(key) for (key,) in rows]


def contacts(db: Db, watcher: str) -> list[ContactEntry]:
    rows = db.conn.execute(
        "SELECT u.name, u.nick, w.state, EXISTS (SELECT 1 FROM blocks AS b "
        "WHERE b.blocker = w.target AND b.blocked = w.watcher) "
        "FROM watches AS w JOIN users AS u ON u.key = w.target "
        "WHERE w.watcher = ? ORDER BY w.target",
        (name_key(watcher),),
    ).fetchall()
    return [ContactEntry(name, nick, WatchState(state), bool(blocks))
            for name, nick, state, blocks in rows]


def pending_requests(db: Db, target: str) -> list[PendingRequest]:
    return _requests(db, name_key(target), "")


def _requests(db: Db, target_key: str, condition: str) -> list[PendingRequest]:
    rows = db.conn.execute(
        "SELECT u.name, u.nick, w.request_text, w.requested_at "
        "FROM watches AS w JOIN users AS u ON u.key = w.watcher "
        f"WHERE w.target = ? AND w.state = 'pending' {condition} "
        "ORDER BY w.requested_at, w.rowid",
        (target_key,),
    ).fetchall()
    return [PendingRequest(name, nick, bytes(text or b""), at) for name, nick, text, at in rows]


def blocked(db: Db, blocker: str) -> list[BlockedEntry]:
    rows = db.conn.execute(
        "SELECT u.name, u.nick FROM blocks AS b JOIN users AS u ON u.key = b.blocked "
        "WHERE b.blocker = ? ORDER BY b.blocked",
        (name_key(blocker),),
    ).fetchall()
    return [BlockedEntry(name, nick) for name, nick in rows]


def snapshot(db: Db, key: str) -> Snapshot:
    key = name_key(key)
    blocks = db.conn.execute("SELECT blocked FROM blocks WHERE blocker = ?", (key,)).fetchall()
    return Snapshot(
        blocks=frozenset(str(blocked) for (blocked,) in blocks),
        watchers=tuple(watchers(db, key)),
        contacts=tuple(contacts(db, key)),
        requests=tuple(_requests(db, key, "AND NOT EXISTS (SELECT 1 FROM blocks AS b "
                                          "WHERE b.blocker = w.target AND b.blocked = w.watcher)")),
    )


# -- stored messages -------------------------------------------------------------


def accept_message(db: Db, id: int, sender: str, recipient: str, body: bytes, at: float,
                   cap: int) -> Accepted:
    recipient_key, sender_key = name_key(recipient), name_key(sender)
    if recipient_key not in _lock_users(db, recipient_key):  # one sender at a time: the cap
        return Accepted.NO_SUCH_USER
    if _is_blocked(db, recipient_key, sender_key):
        return Accepted.BLOCKED
    if _known(db, id):
        return Accepted.STORED  # this very message: stored (or delivered) already
    if _count(db, recipient_key) >= cap:
        return Accepted.FULL
    row = db.conn.execute("SELECT name FROM users WHERE key = ?", (sender_key,)).fetchone()
    db.conn.execute(
        "INSERT INTO messages (id, recipient, sender, body, accepted_at) VALUES (?, ?, ?, ?, ?)",
        (id, recipient_key, sender if row is None else str(row[0]), body, at),
    )
    return Accepted.STORED


def _known(db: Db, id: int) -> bool:
    """Whether the message ``id`` is stored, or was delivered from the store."""
    return db.conn.execute("SELECT 1 FROM messages WHERE id = ?", (id,)).fetchone() is not None


def keep_messages(db: Db, messages: Sequence[KeptMessage], flight: int) -> int:
    kept = 0
    for message in messages:
        # new, or waiting again if this record took it out of the store last; else unchanged
        cursor = db.conn.execute(
            "INSERT INTO messages (id, recipient, sender, body, accepted_at) "
            "SELECT ?, key, ?, ?, ? FROM users WHERE key = ? "
            "ON CONFLICT (id) DO UPDATE SET body = excluded.body, flight = NULL, "
            "delivered_at = NULL WHERE messages.flight = ?",
            (message.id, message.sender, message.body, message.accepted_at,
             name_key(message.recipient), flight),
        )
        kept += cursor.rowcount
    return kept


def stored_messages(db: Db, recipient: str, limit: int) -> list[StoredMessage]:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    rows = db.conn.execute(
        "SELECT id, sender, body, accepted_at FROM messages "
        "WHERE recipient = ? AND flight IS NULL ORDER BY accepted_at, id LIMIT ?",
        (name_key(recipient), limit),
    ).fetchall()
    return [StoredMessage(id_, sender, bytes(body), at) for id_, sender, body, at in rows]


def delete_messages(db: Db, recipient: str, ids: Sequence[int], flight: int,
                    at: float) -> int:
    key = name_key(recipient)
    deleted = 0
    for start in range(0, len(ids), 500):  # within SQLite's limit of bound parameters
        chunk = list(ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        deleted += db.conn.execute(  # what remains names who took it (keep_messages)
            "UPDATE messages SET body = x'', flight = ?, delivered_at = ? "
            f"WHERE recipient = ? AND id IN ({marks}) AND flight IS NULL",
            (flight, at, key, *chunk)).rowcount
    return deleted


def forget_deliveries(db: Db, before: float) -> int:
    return db.conn.execute(
        "DELETE FROM messages WHERE flight IS NOT NULL AND delivered_at < ?", (before,)
    ).rowcount


def new_incarnation(db: Db) -> int:
    db.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '0') ON CONFLICT (key) DO NOTHING",
        (_INCARNATION,),
    )
    (number,) = db.conn.execute(  # FOR UPDATE on a server engine
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ? RETURNING value",
        (_INCARNATION,),
    ).fetchone()
    return int(number)


def count_stored(db: Db, recipient: str | None) -> int:
    if recipient is None:
        row = db.conn.execute("SELECT count(*) FROM messages WHERE flight IS NULL").fetchone()
        return int(row[0])
    return _count(db, name_key(recipient))


def _count(db: Db, recipient_key: str) -> int:
    row = db.conn.execute(
        "SELECT count(*) FROM messages WHERE recipient = ? AND flight IS NULL", (recipient_key,)
    ).fetchone()
    return int(row[0])
