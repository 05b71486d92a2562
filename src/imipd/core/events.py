"""What one session hands another through the router: small typed events.

Each becomes a block only in the receiving session, which gives it that
connection's next ID.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A watched user's presence, as this watcher is allowed to see it.

    Shown only when it changes what the watcher sees, unless ``always`` (a grant
    tells the new watcher even that the user is offline).
    """

    user: str
    presence: str
    text: bytes
    always: bool = False


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """Someone asks to watch the receiving user's presence."""

    requester: str
    requester_key: str
    nick: str
    text: bytes
    at: float
    """When the request was stored: the same request is shown once per connection."""


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message; ``date`` is set (RFC 5322) only when it was stored first."""

    sender: str
    to: str
    body: bytes
    date: str | None = None


def date_header(accepted_at: float) -> str:
    """The ``Date`` of a stored message: when it was accepted, RFC 5322, ``+0000``."""
    return email.utils.format_datetime(datetime.fromtimestamp(int(accepted_at), UTC))


Event = PresenceEvent | RequestEvent | MessageEvent
