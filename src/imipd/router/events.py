"""What the router carries to a user's session: small immutable values, and their encoding.

An event is addressed to a user (by key) and taken or refused by that user's live
session, wherever it runs: on this node it is handed over as it is; between
nodes it travels as the bytes of ``encode`` and comes back through ``decode``.
Each becomes a block (or a stanza) only in the session that shows it.

Events are named tuples: immutable, and cheap to make on the relay's hot path
(a frozen dataclass costs three times as much to build).
"""

from __future__ import annotations

import base64
import functools
import json
import types
from typing import Any, NamedTuple, get_args, get_type_hints


class MessageEvent(NamedTuple):
    """A message for the user."""

    sender: str
    """The sender's name as created."""
    body: bytes
    id: int
    """The message's identity since it was accepted (``store.identity``)."""
    date: str | None = None
    """``Date`` (RFC 5322) of a message that was stored first; None for a live one."""


relayed_message = functools.partial(tuple.__new__, MessageEvent)
"""``relayed_message((sender, body, id, None))`` is ``MessageEvent(sender, body, id)`` made
without a Python-level call: once per relayed message, where that is a tenth of the
server's work."""


class PresenceEvent(NamedTuple):
    """A watched user's presence, as this watcher may see it."""

    user: str
    """The watched user's name as created."""
    presence: str
    """ONLINE, AWAY, BUSY or OFFLINE."""
    text: bytes
    """The status text (empty when offline)."""
    version: int
    """The version of the user's presence this shows: an older one never replaces a newer."""
    always: bool = False
    """Shown even when the watcher already sees exactly this (a grant shows an offline user)."""


class RequestEvent(NamedTuple):
    """Someone asks to watch the user's presence."""

    requester: str
    """The requester's name as created."""
    nick: str
    text: bytes
    at: float
    """When the request was stored: the same request is shown once per connection."""


class KickEvent(NamedTuple):
    """The user's session must end: the reason is said to the client."""

    reason: str


class WaitingEvent(NamedTuple):
    """Messages were stored for the user: a live session delivers them now."""


class HandbackEvent(NamedTuple):
    """The user's previous session has ended, and what it had not delivered is back in
    the store: the session that replaced it may deliver what waits, in order."""


WAITING = WaitingEvent()
HANDED_BACK = HandbackEvent()

Event = MessageEvent | PresenceEvent | RequestEvent | KickEvent | WaitingEvent | HandbackEvent

_KINDS: dict[str, type[Event]] = {
    "message": MessageEvent,
    "presence": PresenceEvent,
    "request": RequestEvent,
    "kick": KickEvent,
    "waiting": WaitingEvent,
    "handback": HandbackEvent,
}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}
_FIELD_TYPES = {cls: get_type_hints(cls) for cls in _KINDS.values()}
_BYTES_FIELDS = frozenset({"body", "text"})


class BadEvent(ValueError):
    """Bytes that are not an encoded event."""


def encode(event: Event) -> bytes:
    """The event as one line of JSON: ``{"kind": …, field: value, …}``, bytes in base64."""
    fields: dict[str, Any] = {"kind": _KIND_OF[type(event)]}
    for name, value in event._asdict().items():
        fields[name] = base64.b64encode(value).decode() if name in _BYTES_FIELDS else value
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def decode(data: bytes) -> Event:
    """The event ``encode`` made. Raises ``BadEvent`` for anything else."""
    try:
        fields = json.loads(data)
        cls = _KINDS[fields.pop("kind")]
        for name in _BYTES_FIELDS.intersection(fields):
            fields[name] = base64.b64decode(fields[name], validate=True)
        event = cls(**fields)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise BadEvent(f"not an encoded event: {data[:80]!r}") from error
    for name, hint in _FIELD_TYPES[cls].items():
        if not _has_type(getattr(event, name), hint):
            raise BadEvent(f"{name} of a {_KIND_OF[cls]} event: {getattr(event, name)!r}")
    return event


def _has_type(value: object, hint: Any) -> bool:
    if isinstance(hint, types.UnionType):
        return any(_has_type(value, each) for each in get_args(hint))
    if isinstance(value, bool):  # a JSON true is no number
        return hint is bool
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)
