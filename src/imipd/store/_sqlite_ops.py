"""The body of each ``Store`` method as plain synchronous SQL over one connection.

Each function runs inside a transaction opened by ``SqliteStore`` on its
database thread, so it may read then write without races; none of them commits.
Names arrive in any casing and are turned into keys here.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from .base import (
    Account,
    BlockedEntry,
    ContactEntry,
    PendingRequest,
    StoredMessage,
    UserExists,
    WatchState,
    name_key,
)
from .keyfile import PasswordBox

_NEXT_NUMBER = "next_number"


@dataclass(frozen=True, slots=True)
class Db:
    """What a transaction body works with: the thread's connection and the password box."""

    conn: sqlite3.Connection
    box: PasswordBox


# -- accounts ----------------------------------------------------------------


def create_user(db: Db, name: str, password: str, nick: str) -> Account:
    if _user_exists(db, name_key(name)):
        raise UserExists(name)
    return _insert_user(db, name, password, nick)


def create_numbered_user(db: Db, password: str, nick: str, first: int) -> Account:
    if first < 0:
        raise ValueError(f"numbered accounts start at a number >= 0, not {first}")
    number = max(first, _next_number(db))
    while _user_exists(db, str(number)):
        number += 1
    account = _insert_user(db, str(number), password, nick)
    db.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (_NEXT_NUMBER, str(number + 1)),
    )
    return account


def get_user(db: Db, name: str) -> Account | None:
    key = name_key(name)
    row = db.conn.execute(
        "SELECT key, name, nick, password, created_at FROM users WHERE key = ?", (key,)
    ).fetchone()
    return None if row is None else _account(db, row)


def list_users(db: Db) -> list[Account]:
    rows = db.conn.execute(
        "SELECT key, name, nick, password, created_at FROM users ORDER BY key"
    ).fetchall()
    return [_account(db, row) for row in rows]


def set_password(db: Db, name: str, password: str) -> bool:
    key = name_key(name)
    sealed = db.box.encrypt(password, key)
    cursor = db.conn.execute("UPDATE users SET password = ? WHERE key = ?", (sealed, key))
    return cursor.rowcount > 0


def delete_user(db: Db, name: str) -> bool:
    cursor = db.conn.execute("DELETE FROM users WHERE key = ?", (name_key(name),))
    return cursor.rowcount > 0


def _user_exists(db: Db, key: str) -> bool:
    return db.conn.execute("SELECT 1 FROM users WHERE key = ?", (key,)).fetchone() is not None


def _insert_user(db: Db, name: str, password: str, nick: str) -> Account:
    key = name_key(name)
    created_at = time.time()
    db.conn.execute(
        "INSERT INTO users (key, name, nick, password, created_at) VALUES (?, ?, ?, ?, ?)",
        (key, name, nick, db.box.encrypt(password, key), created_at),
    )
    return Account(name=name, nick=nick, password=password, created_at=created_at)


def _next_number(db: Db) -> int:
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (_NEXT_NUMBER,)).fetchone()
    return 0 if row is None else int(row[0])


def _account(db: Db, row: tuple[str, str, str, bytes, float]) -> Account:
    key, name, nick, sealed, created_at = row
    return Account(
        name=name, nick=nick, password=db.box.decrypt(bytes(sealed), key), created_at=created_at
    )


# -- contacts and permissions ------------------------------------------------------


def watch_state(db: Db, watcher: str, target: str) -> WatchState | None:
    row = db.conn.execute(
        "SELECT state FROM watches WHERE watcher = ? AND target = ?",
        (name_key(watcher), name_key(target)),
    ).fetchone()
    return None if row is None else WatchState(row[0])


def put_request(db: Db, watcher: str, target: str, text: bytes, at: float) -> None:
    pair = (name_key(watcher), name_key(target))
    state = watch_state(db, *pair)
    if state is WatchState.GRANTED or not _both_exist(db, *pair):
        return
    if state is WatchState.PENDING:
        db.conn.execute(
            "UPDATE watches SET request_text = ?, requested_at = ? "
            "WHERE watcher = ? AND target = ?",
            (text, at, *pair),
        )
        return
    db.conn.execute(
        "INSERT INTO watches (watcher, target, state, request_text, requested_at) "
        "VALUES (?, ?, 'pending', ?, ?)",
        (*pair, text, at),
    )


def grant(db: Db, watcher: str, target: str) -> bool:
    cursor = db.conn.execute(
        "UPDATE watches SET state = 'granted', request_text = NULL "
        "WHERE watcher = ? AND target = ? AND state = 'pending'",
        (name_key(watcher), name_key(target)),
    )
    return cursor.rowcount > 0


def remove_watch(db: Db, watcher: str, target: str) -> bool:
    cursor = db.conn.execute(
        "DELETE FROM watches WHERE watcher = ? AND target = ?",
        (name_key(watcher), name_key(target)),
    )
    return cursor.rowcount > 0


def watchers(db: Db, target: str) -> list[str]:
    rows = db.conn.execute(
        "SELECT watcher FROM watches WHERE target = ? AND state = 'granted' ORDER BY watcher",
        (name_key(target),),
    ).fetchall()
    return [str(row[0]) for row in rows]


def contacts(db: Db, watcher: str) -> list[ContactEntry]:
    rows = db.conn.execute(
        "SELECT u.name, u.nick, w.state FROM watches AS w JOIN users AS u ON u.key = w.target "
        "WHERE w.watcher = ? ORDER BY w.target",
        (name_key(watcher),),
    ).fetchall()
    return [
        ContactEntry(name=name, nick=nick, state=WatchState(state)) for name, nick, state in rows
    ]


def pending_requests(db: Db, target: str) -> list[PendingRequest]:
    rows = db.conn.execute(
        "SELECT u.name, u.nick, w.request_text, w.requested_at "
        "FROM watches AS w JOIN users AS u ON u.key = w.watcher "
        "WHERE w.target = ? AND w.state = 'pending' ORDER BY w.requested_at, w.rowid",
        (name_key(target),),
    ).fetchall()
    return [
        PendingRequest(requester=name, nick=nick, text=bytes(text or b""), requested_at=at)
        for name, nick, text, at in rows
    ]


def set_blocked(db: Db, blocker: str, blocked: str, on: bool) -> None:
    pair = (name_key(blocker), name_key(blocked))
    if not on:
        db.conn.execute("DELETE FROM blocks WHERE blocker = ? AND blocked = ?", pair)
    elif _both_exist(db, *pair):
        db.conn.execute("INSERT OR IGNORE INTO blocks (blocker, blocked) VALUES (?, ?)", pair)


def is_blocked(db: Db, blocker: str, blocked: str) -> bool:
    row = db.conn.execute(
        "SELECT 1 FROM blocks WHERE blocker = ? AND blocked = ?",
        (name_key(blocker), name_key(blocked)),
    ).fetchone()
    return row is not None


def blocked(db: Db, blocker: str) -> list[BlockedEntry]:
    rows = db.conn.execute(
        "SELECT u.name, u.nick FROM blocks AS b JOIN users AS u ON u.key = b.blocked "
        "WHERE b.blocker = ? ORDER BY b.blocked",
        (name_key(blocker),),
    ).fetchall()
    return [BlockedEntry(name=name, nick=nick) for name, nick in rows]


def blocked_by(db: Db, blocked: str) -> list[str]:
    rows = db.conn.execute(
        "SELECT blocker FROM blocks WHERE blocked = ? ORDER BY blocker", (name_key(blocked),)
    ).fetchall()
    return [key for (key,) in rows]


def _both_exist(db: Db, first: str, second: str) -> bool:
    return _user_exists(db, first) and _user_exists(db, second)


# -- stored messages -------------------------------------------------------------


def store_message(db: Db, sender: str, recipient: str, body: bytes, at: float) -> int:
    recipient_key = name_key(recipient)
    if not _user_exists(db, recipient_key):
        raise LookupError(f"no account {recipient!r} to store a message for")
    row = db.conn.execute("SELECT name FROM users WHERE key = ?", (name_key(sender),)).fetchone()
    sender_name = sender if row is None else str(row[0])
    cursor = db.conn.execute(
        "INSERT INTO messages (recipient, sender, body, accepted_at) VALUES (?, ?, ?, ?)",
        (recipient_key, sender_name, body, at),
    )
    if cursor.lastrowid is None:  # cannot happen after an INSERT into a rowid table
        raise RuntimeError("SQLite gave no id for a stored message")
    return cursor.lastrowid


def stored_messages(db: Db, recipient: str, limit: int) -> list[StoredMessage]:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    rows = db.conn.execute(
        "SELECT id, sender, body, accepted_at FROM messages "
        "WHERE recipient = ? ORDER BY id LIMIT ?",
        (name_key(recipient), limit),
    ).fetchall()
    return [
        StoredMessage(id=id_, sender=sender, body=bytes(body), accepted_at=at)
        for id_, sender, body, at in rows
    ]


def delete_messages(db: Db, recipient: str, up_to_id: int) -> int:
    cursor = db.conn.execute(
        "DELETE FROM messages WHERE recipient = ? AND id <= ?", (name_key(recipient), up_to_id)
    )
    return cursor.rowcount


def count_stored(db: Db, recipient: str | None) -> int:
    if recipient is None:
        row = db.conn.execute("SELECT count(*) FROM messages").fetchone()
    else:
        row = db.conn.execute(
            "SELECT count(*) FROM messages WHERE recipient = ?", (name_key(recipient),)
        ).fetchone()
    return int(row[0])
