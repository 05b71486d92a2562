"""The verbs of IMIP and which ones each phase of a connection accepts (docs/protocol.md §8)."""

from __future__ import annotations

import enum
from typing import TypeGuard


class Verb(enum.StrEnum):
    """A block type a client may send. Members are strings: a block's verb (a ``str``)
    finds them in the tables below directly."""

    HELO = "HELO"
    LOGN = "LOGN"
    STAT = "STAT"
    LIST = "LIST"
    MESG = "MESG"
    PING = "PING"
    DISC = "DISC"
    ACK = "ACK"


class Phase(enum.Enum):
    """Where a connection's conversation stands (docs/protocol.md §4, §8)."""

    CONNECTED = "connected"
    """Before HELO."""
    GREETED = "greeted"
    """HELO answered, not logged in."""
    LOGGED_IN = "logged-in"
    """LOGN accepted; not online until the first STAT."""
    ONLINE = "online"
    """First STAT done."""

    # Members are singletons: hashing by identity is right, and much cheaper than
    # Enum's hash of the name (ALLOWED is looked up for every block).
    __hash__ = object.__hash__


_SIGNED_IN = frozenset({Verb.STAT, Verb.LIST, Verb.MESG, Verb.PING, Verb.DISC})

ALLOWED: dict[Phase, frozenset[Verb]] = {
    Phase.CONNECTED: frozenset({Verb.HELO, Verb.PING, Verb.DISC}),
    Phase.GREETED: frozenset({Verb.LOGN, Verb.PING, Verb.DISC}),
    Phase.LOGGED_IN: _SIGNED_IN,
    Phase.ONLINE: _SIGNED_IN,
}
"""Which verbs each phase accepts; any other known verb is ``802``. ``ACK`` is never answered."""


def is_valid_id(value: str | None) -> TypeGuard[str]:
    """A block ID is a decimal number."""
    return value is not None and value.isascii() and value.isdigit()
