"""The ``Store`` interface and the value types that cross it.

Users are identified by their *key*: the user name in lower case (IMIP.md:
names match case-insensitively). Values handed back carry the *name* as the
account was created, which is what the server writes on the wire. Every method
is one transaction: when it returns, its effect is durable (committed).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


def name_key(name: str) -> str:
    """The key a user name is stored and matched under."""
    return name.lower()


class UserExists(Exception):
    """An account with this name (in any casing) already exists."""


class SchemaError(Exception):
    """The database's schema is not the one this imipd uses; the message says what to run."""


class WatchState(enum.Enum):
    """Where a permission to watch someone's presence stands."""

    PENDING = "pending"
    GRANTED = "granted"


@dataclass(frozen=True, slots=True)
class Account:
    """A user account; ``password`` is the plain password (kept encrypted at rest)."""

    name: str
    nick: str
    password: str
    created_at: float
    key: str = field(init=False, repr=False, compare=False)
    """The name's key (looked up on every relayed message: computed once)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", name_key(self.name))


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """One user on a watcher's buddy list."""

    name: str
    nick: str
    state: WatchState


@dataclass(frozen=True, slots=True)
class BlockedEntry:
    """One user on a blocker's block list."""

    name: str
    nick: str


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A request to watch someone, not yet answered."""

    requester: str
    """The requester's name as created."""
    nick: str
    """The requester's nickname."""
    text: bytes
    requested_at: float


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message accepted for a recipient who was not online."""

    id: int
    """Increasing in the order messages were accepted."""
    sender: str
    """The sender's name as created."""
    body: bytes
    accepted_at: float
    """Unix time when the server accepted it."""


class Store(Protocol):
    """Durable state of the service. Every method commits before it returns.

    Names passed in may have any casing; unknown users are not an error unless
    a method says so (it then returns False or None).
    """

    # -- accounts --------------------------------------------------------
    async def create_user(self, name: str, password: str, nick: str) -> Account:
        """Create an account. Raises ``UserExists``."""
        ...

    async def create_numbered_user(self, password: str, nick: str, first: int) -> Account:
        """Create an account named by the next free number >= ``first`` (self-registration).

        Numbers are handed out by a counter: one taken by hand is skipped, and one
        freed by deleting its account is not given out again."""
        ...

    async def get_user(self, name: str) -> Account | None:
        """The account, or None."""
        ...

    async def list_users(self) -> list[Account]:
        """Every account, ordered by key."""
        ...

    async def set_password(self, name: str, password: str) -> bool:
        """Change a password; False when there is no such user."""
        ...

    async def delete_user(self, name: str) -> bool:
        """Delete an account and everything that is its own (contacts both ways, blocks
        both ways, requests both ways, messages waiting for it); messages it sent to
        others stay. False when there is no such user."""
        ...

    # -- contacts and permissions -----------------------------------------
    async def watch_state(self, watcher: str, target: str) -> WatchState | None:
        """Whether ``watcher`` has asked for / been granted ``target``'s presence."""
        ...

    async def put_request(self, watcher: str, target: str, text: bytes, at: float) -> None:
        """Record (or replace the text and time of) a pending request; never downgrades
        a grant. Does nothing when either user does not exist."""
        ...

    async def grant(self, watcher: str, target: str) -> bool:
        """Turn a pending request into a permission; False when none was pending."""
        ...

    async def remove_watch(self, watcher: str, target: str) -> bool:
        """Delete a request or a permission (decline, or stop watching); False when absent."""
        ...

    async def watchers(self, target: str) -> list[str]:
        """Keys of the users granted to watch ``target``, ordered by key."""
        ...

    async def contacts(self, watcher: str) -> list[ContactEntry]:
        """``watcher``'s buddy list (pending and granted), ordered by key."""
        ...

    async def pending_requests(self, target: str) -> list[PendingRequest]:
        """Requests waiting for ``target``'s answer, oldest first."""
        ...

    async def set_blocked(self, blocker: str, blocked: str, on: bool) -> None:
        """Block or unblock a user (idempotent). Blocking a user who does not exist
        does nothing."""
        ...

    async def is_blocked(self, blocker: str, blocked: str) -> bool:
        """Whether ``blocker`` blocks ``blocked``."""
        ...

    async def blocked(self, blocker: str) -> list[BlockedEntry]:
        """``blocker``'s block list, ordered by key."""
        ...

    async def blocked_by(self, blocked: str) -> list[str]:
        """Keys of the users who block ``blocked``, ordered."""
        ...

    # -- stored messages ----------------------------------------------------
    async def store_message(self, sender: str, recipient: str, body: bytes, at: float) -> int:
        """Keep a message for later delivery; returns its id. Committed on return.

        ``sender`` is recorded as its account's name as created (as given when it has
        no account). Raises ``LookupError`` when ``recipient`` has no account."""
        ...

    async def stored_messages(self, recipient: str, limit: int) -> list[StoredMessage]:
        """The oldest ``limit`` messages waiting for ``recipient``, in acceptance order.

        Raises ``ValueError`` for a negative ``limit``."""
        ...

    async def delete_messages(self, recipient: str, up_to_id: int) -> int:
        """Delete ``recipient``'s stored messages with id <= ``up_to_id``; returns how many."""
        ...

    async def count_stored(self, recipient: str | None = None) -> int:
        """How many messages wait (for one recipient, or in all)."""
        ...

    async def close(self) -> None:
        """Finish pending work and release the database."""
        ...
