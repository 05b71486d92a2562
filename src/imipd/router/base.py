"""The ``Router`` interface: who is online where, their presence, and delivery to them.

The core never touches another user's session. It hands the router an event for
a user and learns what became of it (``Outcome``); the *recipient's* session
decides whether it can take it (``Endpoint.accept``). Presence is a value the
router holds (``View``), with a version per change so that a stale view never
replaces a newer one. Taking over a user's session at a second login and
dropping it (a password change, a deleted account, an operator) are router
operations too.

Methods that may have to reach another node are asynchronous. ``deliver`` is
not: it answers at once when the recipient's session is on this node (the
relay's hot path on one node) and hands back an awaitable only when it is not.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from .events import Event, KickEvent

OFFLINE = "OFFLINE"


class View(NamedTuple):
    """What a watcher who is allowed to see a user sees: presence, status text, version."""

    presence: str
    text: bytes
    version: int
    """Grows with every change of the user's presence (0: never seen online)."""

    @property
    def online(self) -> bool:
        return self.presence != OFFLINE


OFFLINE_VIEW = View(OFFLINE, b"", 0)


class Outcome(enum.Enum):
    """What became of an event handed to a user's session."""

    TAKEN = "taken"
    """A live session took it, and shows the user online."""
    TAKEN_UNSEEN = "taken, unseen"
    """A live session took it; the user appears offline."""
    BACKLOG = "backlog"
    """The session is online but reading what it shows first (its snapshot): a message
    must be stored, and follows what waits."""
    BACKLOG_UNSEEN = "backlog, unseen"
    """As ``BACKLOG``, while the user appears offline."""
    BLOCKED = "blocked"
    """The user blocks the sender: the message is dropped."""
    NOT_ONLINE = "not online"
    """No live session took it (a message must be stored)."""
    UNRECORDED = "unrecorded"
    """The session would take it, but its node cannot record it now (its journal is full):
    nothing was taken, and the sender is told to try again."""

    @property
    def seen_online(self) -> bool:
        """The sender may be told the user is online (``ACK 600``)."""
        return self in (Outcome.TAKEN, Outcome.BACKLOG)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What operators see of a live session (the admin API)."""

    name: str
    nick: str
    online: bool
    """Online since a first ``STAT``."""
    presence: str | None
    """As the user set it (None before the first ``STAT``)."""
    origin: str
    """Where the session comes from (an IMIP client's address)."""
    connection: str


class Endpoint(Protocol):
    """A user's live session as the router sees it: it takes events, or says why not."""

    def accept(self, event: Event) -> Outcome:
        """Take ``event`` now, or refuse it; never blocks, never raises."""
        ...

    def info(self) -> SessionInfo:
        ...


class Router(Protocol):
    """Routes events to users' live sessions and holds their presence."""

    def deliver(self, key: str, event: Event) -> Outcome | Awaitable[Outcome]:
        """Hand ``event`` to the user's live session; an ``Outcome`` at once when the session
        is on this node, else an awaitable of it."""
        ...

    async def attach(self, key: str, endpoint: Endpoint, notice: KickEvent) -> bool:
        """Make ``endpoint`` the user's live session. A session it replaces is handed
        ``notice`` (and ends); True when there was one. The user's presence stays as it
        was: the new session carries it on, so watchers see no gap."""
        ...

    async def detach(self, key: str, endpoint: Endpoint, name: str,
                     watchers: Collection[str]) -> bool:
        """Forget ``endpoint`` if it is still the user's session, and then, at once, make
        the user offline: ``watchers`` and those shown the user online see ``OFFLINE``.
        False (and nothing happens) when another session replaced it meanwhile."""
        ...

    async def kick(self, key: str, reason: str) -> int:
        """End the user's live session, wherever it runs; how many took it (0 or 1: a
        session that is ending already does not)."""
        ...

    async def views(self, keys: Iterable[str]) -> Mapping[str, View]:
        """The current view of each user (``OFFLINE_VIEW`` for one never seen online)."""
        ...

    async def publish(self, key: str, name: str, presence: str, text: bytes,
                      watchers: Collection[str], *, after: int) -> View | None:
        """Set the user's presence and show it to ``watchers`` and to those shown the last
        one (who must see it end too). ``after`` is the version the change was based on:
        when another change came first, nothing happens and None is returned."""
        ...

    async def show_to(self, key: str, name: str, watcher: str, *, hidden: bool,
                      always: bool) -> None:
        """Show ``watcher`` the user's current view (``OFFLINE`` when ``hidden``: the user
        blocks them), and remember whether they were shown it. Unless ``always``, nothing
        is sent while the user is offline."""
        ...

    async def unwatch(self, key: str, watcher: str) -> None:
        """``watcher`` no longer watches the user: not told when the user goes offline."""
        ...

    def sessions(self) -> list[SessionInfo]:
        """The live sessions on this node."""
        ...

    def __len__(self) -> int:
        """How many live sessions this node has."""
        ...


async def delivered(outcome: Outcome | Awaitable[Outcome]) -> Outcome:
    """The outcome of ``Router.deliver``, awaited when it had to be."""
    return outcome if isinstance(outcome, Outcome) else await outcome

