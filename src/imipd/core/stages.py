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
    """What a session does with a presence or a request."""

    SHOW = "show"
    HOLD = "hold"
    """Kept until the snapshot has been shown (then shown, unless it is old news)."""
    DROP = "drop"
    """Not taken: the first presence's snapshot shows what is current."""


NOTICES: dict[Stage, Take] = {
    Stage.SIGNED_IN: Take.DROP,
    Stage.SNAPSHOT: Take.HOLD,
    Stage.BACKLOG: Take.SHOW,
    Stage.LIVE: Take.SHOW,
    Stage.CLOSED: Take.DROP,
}
"""What a session does with presences and requests, by stage."""

MESSAGES: dict[Stage, Outcome] = {
    Stage.SIGNED_IN: Outcome.NOT_ONLINE,
    Stage.SNAPSHOT: Outcome.BACKLOG,
    Stage.BACKLOG: Outcome.BACKLOG,
    Stage.LIVE: Outcome.TAKEN,
    Stage.CLOSED: Outcome.NOT_ONLINE,
}
"""What becomes of a live message, by stage, when the user does not block the sender
(and appears online: else ``UNSEEN``)."""

UNSEEN = {Outcome.TAKEN: Outcome.TAKEN_UNSEEN, Outcome.BACKLOG: Outcome.BACKLOG_UNSEEN,
          Outcome.NOT_ONLINE: Outcome.NOT_ONLINE}
