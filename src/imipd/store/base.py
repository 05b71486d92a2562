"""The ``Store`` interface and the value types that cross it.

Users are identified by their *key*: the user name in lower case (docs/protocol.md §4.2:
names match case-insensitively). Values handed back carry the *name* as the
account was created, which is what the server writes on the wire. Every method
is one transaction: when it returns, its effect is durable (committed).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from ..protocol import ascii_lower

name_key = ascii_lower
"""The key a user name is stored and matched under: lower case, in ASCII only (a name
with any other character is no valid user name, and matches only itself)."""


class UserExists(Exception):
    """An account with this name (in any casing) already exists."""


class SchemaError(Exception):
    """The database's schema is not the one this imipd uses; the message says what to run."""


class Unavailable(Exception):
    """What must be recorded cannot be now (the disk is full, the database does not answer):
    nothing was done, and the same request may succeed later. The store raises it for a
    write it could not commit; the service raises it for a message its journal has no room
    for. The message says why, for people."""


class WatchState(enum.Enum):
    """Where a permission to watch someone's presence stands."""

    PENDING = "pending"
    GRANTED = "granted"


@dataclass(frozen=True, slots=True)
class Account:
    """A user account as everyone may see it: never the password (``Credentials``)."""

    name: str
    nick: str
    created_at: float
    key: str = field(init=False, repr=False, compare=False)
    """The name's key (looked up on every relayed message: computed once)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", name_key(self.name))


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account with its password: what a login checks, and nothing else reads."""

    account: Account
    password: str


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """What operators see of an account in a listing: never the password."""

    name: str
    nick: str
    waiting: int
    """Stored messages waiting for the user's next login."""
    created_at: float


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """One user on a watcher's buddy list."""

    name: str
    nick: str
    state: WatchState
    blocks_watcher: bool = False
    """The contact blocks the watcher, who therefore sees them offline."""


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
    """The message's identity, given when it was accepted (``identity``); also what
    ``delete_messages`` is told."""
    sender: str
    """The sender's name as created."""
    body: bytes
    accepted_at: float
    """Unix time when the server accepted it."""


class KeptMessage(NamedTuple):
    """A message the service accepted already, going (back) to the store: from a connection
    that closed before the recipient had it, or from the journal after a crash. (A named
    tuple: the journal makes one for every message in flight.)"""

    id: int
    """Its identity since it was accepted: a second copy is never stored."""
    recipient: str
    """The recipient's key."""
    sender: str
    body: bytes
    accepted_at: float


@dataclass(frozen=True, slots=True)
class Asked:
    """What ``Store.ask`` did."""

    granted_back: bool
    """The target had asked the asker: asking back granted that request."""
    requested: bool
    """A request is now pending (False: the asker was already granted)."""
    hidden: bool
    """The target blocks the asker: the request is never shown to them."""
    blocks_target: bool
    """The asker blocks the target (who, granted back, sees the asker offline)."""


@dataclass(frozen=True, slots=True)
class Granted:
    """A pending request turned into a permission."""

    hidden: bool
    """The one who granted blocks the watcher (who sees them offline)."""


@dataclass(frozen=True, slots=True)
class BlockChange:
    """What ``Store.set_blocked`` did."""

    changed: bool
    """False when the block was already as asked."""
    watching: bool
    """The blocked user is granted to watch the blocker."""


class Accepted(enum.Enum):
    """What became of a message handed to ``Store.accept_message``."""

    STORED = "stored"
    """Committed for later delivery."""
    BLOCKED = "blocked"
    """The recipient blocks the sender: dropped (the sender is answered as if stored)."""
    FULL = "full"
    """The recipient has as many messages waiting as the cap allows: refused."""
    NO_SUCH_USER = "no such user"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the first ``STAT`` of a session shows and needs, read in one transaction."""

    blocks: frozenset[str]
    """Keys of the users this user blocks."""
    watchers: tuple[str, ...]
    """Keys of the users granted to watch this user and not blocked by them, ordered."""
    contacts: tuple[ContactEntry, ...]
    """This user's buddy list, ordered by key."""
    requests: tuple[PendingRequest, ...]
    """Requests waiting for this user's answer, oldest first, but for those from users
    this user blocks."""


class InFlight(Protocol):
    """The messages handed to one connection, in order, that its peer has not acknowledged
    yet: what the server still answers for (docs/protocol.md §6.4). Each is known by where it ends
    in the connection's output (its mark). A session also keeps the messages it holds back
    behind its stored ones in one (their marks count them from 1 until they are shown)."""

    number: int
    """The record's identity (from the same counter as message identities): the store
    remembers which record took a stored message, so that only that one puts it back."""

    def __len__(self) -> int:
        ...

    def add(self, mark: int, id: int, sender: str, body: bytes, accepted_at: float) -> None:
        """A message handed to the connection, ending at ``mark``."""
        ...

    def acknowledge(self, mark: int) -> None:
        """The peer has everything up to ``mark`` (or, of held messages, those up to ``mark``
        are shown now, and on another record): those messages are retired."""
        ...

    def messages(self) -> list[KeptMessage]:
        """The messages still in flight, oldest first (to go back to the store)."""
        ...

    async def release(self, store: Store) -> int:
        """The connection is over: what is still in flight goes back to ``store`` (in the
        order it was accepted, with its time), and the record is closed; how many went
        back. Raises ``Unavailable`` (nothing is lost: call it again)."""
        ...


class Journal(Protocol):
    """The record of the messages in flight of every connection of a node, which survives
    the node: ``journal.FileJournal`` in the data directory (one node), or
    ``shared_journal.StoreJournal`` in a PostgreSQL store, where the other nodes find it
    when this one dies. It also hands out the identities of the messages the node accepts
    (``identity``)."""

    next_id: Callable[[], int]
    """A new identity for an accepted message (or an ``InFlight``); never given twice."""

    full: bool
    """No message can be recorded now (the disk is full, the database out of reach): a
    message must not be taken until this is False again (``Unavailable``)."""

    recorded: int
    """How many messages were recorded (``InFlight.add``) so far, where recording is not
    done at once (``committed`` tells how many are on record); 0 where it is."""

    committed: int
    """Of ``recorded``, how many are on record: an answer for a message (its ``600``, or a
    later answer that proves an errors-only message accepted) waits until it is."""

    claims: bool
    """Recording a stored message that is shown takes it out of the store already
    (``Store.delete_messages`` is not needed)."""

    def in_flight(self, recipient: str) -> InFlight:
        """A new connection's messages in flight, for ``recipient`` (a user key)."""
        ...

    @property
    def pending(self) -> bool:
        """Whether something recorded waits for ``flush``."""
        ...

    def flush(self) -> None:
        """Make what was recorded survive the process (a file: written before any answer
        for it; a database: a commit begins, ``committed`` follows). Never raises: what
        cannot be written is kept, tried again, and marks the journal ``full`` meanwhile
        (logged once)."""
        ...

    def when_committed(self, count: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` once ``committed`` reaches ``count``."""
        ...

    async def settled(self) -> None:
        """Until what was recorded so far is committed."""
        ...

    async def room(self) -> None:
        """Until the journal is not ``full``."""
        ...

    async def close(self) -> None:
        """Write what waits, and release what holds the record."""
        ...


class Store(Protocol):
    """Durable state of the service: one method, one transaction, one rule.

    Every method commits before it returns and is correct when other transactions run
    at the same time on an engine without a database-wide write lock (rows are locked
    with ``SELECT … FOR UPDATE`` in key order, inserts are ``INSERT … ON CONFLICT``).
    Names passed in may have any casing; unknown users are not an error unless a
    method says so. A write that cannot be committed now (a full disk) raises
    ``Unavailable``, and has done nothing.
    """

    @property
    def write_failure(self) -> str | None:
        """Why the last write could not be committed, or None since one was: what
        ``/healthz`` and ``/metrics`` show (a change is logged once)."""
        ...

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
        """The account (its public profile), or None."""
        ...

    async def credentials(self, name: str) -> Credentials | None:
        """The account with its password, for a login only; None when there is none."""
        ...

    async def account_summaries(self) -> list[AccountSummary]:
        """Every account with its count of waiting messages, ordered by key."""
        ...

    async def account_summary(self, name: str) -> AccountSummary | None:
        """One account with its count of waiting messages, or None."""
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
    async def ask(self, watcher: str, target: str, text: bytes, at: float) -> Asked | None:
        """``watcher`` asks to watch ``target`` (docs/protocol.md §5); None when either user does
        not exist.

        A pending request of ``target`` to watch ``watcher`` is granted first (asking
        back). Then, unless ``watcher`` is already granted, the request is recorded, or
        its text and time replaced when one was pending. Two users asking each other at
        the same time both end up granted."""
        ...

    async def grant(self, watcher: str, target: str) -> Granted | None:
        """``target`` grants ``watcher``'s pending request; None when none was pending."""
        ...

    async def decline(self, watcher: str, target: str) -> bool:
        """``target`` declines ``watcher``'s pending request (deleted: it may be asked
        again); False when none was pending. A permission already given stays."""
        ...

    async def remove_watch(self, watcher: str, target: str) -> bool:
        """``watcher`` stops watching ``target`` (request or permission); False when absent."""
        ...

    async def set_blocked(self, blocker: str, blocked: str, on: bool) -> BlockChange | None:
        """Block or unblock a user; None when either user does not exist."""
        ...

    async def watch_state(self, watcher: str, target: str) -> WatchState | None:
        """Whether ``watcher`` has asked for / been granted ``target``'s presence."""
        ...

    async def is_blocked(self, blocker: str, blocked: str) -> bool:
        """Whether ``blocker`` blocks ``blocked``."""
        ...

    async def watchers(self, target: str) -> list[str]:
        """Keys of the users granted to watch ``target`` and not blocked by ``target``,
        ordered: who is shown ``target``'s presence."""
        ...

    async def contacts(self, watcher: str) -> list[ContactEntry]:
        """``watcher``'s buddy list (pending and granted), ordered by key."""
        ...

    async def pending_requests(self, target: str) -> list[PendingRequest]:
        """Requests waiting for ``target``'s answer, oldest first."""
        ...

    async def blocked(self, blocker: str) -> list[BlockedEntry]:
        """``blocker``'s block list, ordered by key."""
        ...

    async def snapshot(self, key: str) -> Snapshot:
        """What the first ``STAT`` of ``key``'s session shows, in one transaction."""
        ...

    # -- stored messages ----------------------------------------------------
    async def accept_message(
        self, id: int, sender: str, recipient: str, body: bytes, at: float, cap: int
    ) -> Accepted:
        """Keep a message for later delivery unless the recipient blocks the sender or
        already has ``cap`` messages waiting; committed on return when ``STORED``.

        ``id`` is the message's identity: when a message of that identity is stored
        already, or was delivered from the store (``delete_messages``), nothing is stored
        again and the answer is ``STORED``. ``sender`` is recorded as its account's name
        as created (as given when it has no account). Senders at the same time never
        take the recipient past ``cap``. Raises ``Unavailable``."""
        ...

    async def keep_messages(self, messages: Sequence[KeptMessage], flight: int) -> int:
        """Put back messages the service accepted already, which the record of messages in
        flight ``flight`` held (no cap, no block: they were accepted); how many were stored.

        Idempotent, so that nothing is stored twice: a message is skipped when its
        identity is stored already, when it was delivered from the store by another
        record than ``flight`` (``delete_messages``), or when its recipient has no account
        any more. Raises ``Unavailable``."""
        ...

    async def stored_messages(self, recipient: str, limit: int) -> list[StoredMessage]:
        """The oldest ``limit`` messages waiting for ``recipient``: in the order they were
        accepted (then by id).

        Raises ``ValueError`` for a negative ``limit``."""
        ...

    async def delete_messages(self, recipient: str, ids: Sequence[int], flight: int,
                              at: float) -> int:
        """Delete exactly these messages of ``recipient``, handed to the record of messages
        in flight ``flight`` at ``at``, and remember that ``flight`` has them: only it may
        put them back (``keep_messages``). Returns how many were there. Raises
        ``Unavailable``."""
        ...

    async def forget_deliveries(self, before: float) -> int:
        """Forget which record took the messages delivered before ``before`` (once no
        record that old can be put back); how many were forgotten."""
        ...

    async def new_incarnation(self) -> int:
        """A number >= 1 never returned before by this database: the first part of the
        identities a node gives the messages it accepts while it runs (``identity``)."""
        ...

    async def count_stored(self, recipient: str | None = None) -> int:
        """How many messages wait (for one recipient, or in all)."""
        ...

    async def close(self) -> None:
        """Finish pending work and release the database."""
        ...
