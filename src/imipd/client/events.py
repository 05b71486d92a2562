"""What ``Client.events()`` yields: one small frozen dataclass per kind of news.

Typed classes rather than string-named callbacks, so a program dispatches with
``match``/``isinstance`` and mypy checks every field it reads (as in aioxmpp).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import ImipError
from .values import Presence


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A ``MESG`` from ``sender``. ``date`` is set only for a message that was stored
    while this user was away (the server's ``Date``, when it accepted it)."""

    sender: str
    text: str
    date: datetime | None = None
    to: str = ""


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """A watched contact's presence or status text changed (``STAT`` with ``From``)."""

    user: str
    presence: Presence
    text: str = ""


@dataclass(frozen=True, slots=True)
class PermissionRequested:
    """``requester`` asks to watch this user's presence.

    Answer with ``Client.grant(event)`` or ``Client.decline(event)``. ``request_id`` is
    the ID of the ``LIST ADD`` block on the connection it came on: after a reconnect
    the server shows a still-unanswered request again, with a new ID.
    """

    requester: str
    nick: str
    text: str
    request_id: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection ended. ``will_reconnect`` tells whether the client tries again;
    when it is False this is the last event and ``events()`` stops after it.

    ``server_reason`` is the body of the server's ``DISC`` when the server ended the
    session (one of the fixed texts of ``imipd.protocol.reasons``, or an operator's
    own words), and None when it did not say goodbye. ``error`` is the refusal that made
    the client stop reconnecting: :class:`LoginFailed` (e.g. the password was changed
    while the server was down) or :class:`UnsupportedProtocol`.
    """

    reason: str
    will_reconnect: bool = False
    server_reason: str | None = None
    error: ImipError | None = None


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The client is connected and logged in again (presence re-sent if one was set)."""


Event = MessageReceived | PresenceChanged | PermissionRequested | Disconnected | Reconnected
"""Everything ``Client.events()`` can yield."""
