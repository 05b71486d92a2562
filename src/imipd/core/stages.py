"""A session's stages and what it does in each: the tables of its state machine.

A session moves along ``NEXT_STAGES`` only; ``MESSAGES`` and ``NOTICES`` say what it
does with a message, or with a presence or a request, in each stage.
"""

from __future__ import annotations

import enum

from ..router import OFFLINE, Outcome


class Presence(enum.StrEnum):
    """What a user says of themselves (docs/protocol.md §4.3); ``OFFLINE`` means appearing
    offline."""

    ONLINE = "ONLINE"
    AWAY = "AWAY"
    BUSY = "BUSY"
    OFFLINE = OFFLINE


class Stage(enum.Enum):
    """How far a session has come, which decides what it takes (``MESSAGES``, ``NOTICES``)."""

    SIGNED_IN = "signed in"
    """Logged in; not online until the first presence (``STAT``)."""
    SNAPSHOT = "snapshot"
    """Online: the first presence shows contacts and waiting requests."""
    BACKLOG = "backlog"
    """Online: stored messages are being delivered."""
    LIVE = "live"
    """Online, with nothing waiting: events are shown as they come."""
    CLOSED = "closed"
    """The connection is closing or gone: the session takes nothing more."""

    # Members are singletons: hashing by identity is right, and much cheaper than
    # Enum's hash of the name (MESSAGES is looked up for every relayed message).
    __hash__ = object.__hash__


NEXT_STAGES: dict[Stage, frozenset[Stage]] = {
    Stage.SIGNED_IN: frozenset({Stage.SNAPSHOT, Stage.CLOSED}),
    Stage.SNAPSHOT: frozenset({Stage.BACKLOG, Stage.CLOSED}),
    Stage.BACKLOG: frozenset({Stage.LIVE, Stage.CLOSED}),
    Stage.LIVE: frozenset({Stage.BACKLOG, Stage.CLOSED}),
    Stage.CLOSED: frozenset(),
}
"""Where each stage may go: nothing leaves ``CLOSED``."""

ONLINE_STAGES = frozenset({Stage.SNAPSHOT, Stage.BACKLOG, Stage.LIVE})


class Take(enum.Enum):
    """What a session does with an event from another user."""

    SHOW = "show"
    """Shown now (a message: written to the connection, and recorded in the journal)."""
    HOLD = "hold"
    """Kept in order, and shown once what comes before it has been shown: a presence or a
    request after the snapshot (unless it is old news by then); a message after the stored
    ones (recorded in the journal meanwhile: the user took it)."""
    STORE = "store"
    """A message, not taken: the user is online but the snapshot (and with it whom the
    user blocks) is being read, so it goes through the store, which checks."""
    DROP = "drop"
    """Not taken: the user is not online (a message is stored; a presence or a request is
    shown by the first presence's snapshot)."""


NOTICES: dict[Stage, Take] = {
    Stage.SIGNED_IN: Take.DROP,
    Stage.SNAPSHOT: Take.HOLD,
    Stage.BACKLOG: Take.SHOW,
    Stage.LIVE: Take.SHOW,
    Stage.CLOSED: Take.DROP,
}
"""What a session does with presences and requests, by stage."""

MESSAGES: dict[Stage, Take] = {
    Stage.SIGNED_IN: Take.DROP,
    Stage.SNAPSHOT: Take.STORE,
    Stage.BACKLOG: Take.HOLD,
    Stage.LIVE: Take.SHOW,
    Stage.CLOSED: Take.DROP,
}
"""What a session does with a message, by stage, when the user does not block the sender.
Held messages follow the stored ones without going through the store, so that a backlog
ends however fast new messages come (docs/protocol.md §6.3)."""

TAKEN_AS = {Take.SHOW: Outcome.TAKEN, Take.HOLD: Outcome.TAKEN, Take.STORE: Outcome.BACKLOG,
            Take.DROP: Outcome.NOT_ONLINE}
"""The sender's outcome of each way a message is taken, while the user appears online."""

UNSEEN = {Outcome.TAKEN: Outcome.TAKEN_UNSEEN, Outcome.BACKLOG: Outcome.BACKLOG_UNSEEN,
          Outcome.NOT_ONLINE: Outcome.NOT_ONLINE}
"""The same, while the user appears offline."""
