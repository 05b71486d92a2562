"""The small value types the client's methods take and return (presence, delivery, lists).

They live apart from the connection code so that programs (and the terminal client)
can use them without touching a socket, and so that parsing the server's list and
``From`` formats is written, and tested, once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..protocol import Block
from ..protocol import headers as H


class Presence(enum.StrEnum):
    """A presence of docs/protocol.md §4.3. Sent by a client, ``OFFLINE`` means "appear offline"."""

    ONLINE = "ONLINE"
    AWAY = "AWAY"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


class AckType(enum.StrEnum):
    """The ``ACK-Type`` of a ``MESG``: which answers the sender asks for (docs/protocol.md §6.2)."""

    ALWAYS = "always"
    ERRORS_ONLY = "errors-only"
    NONE = "none"


class Delivery(enum.StrEnum):
    """What became of a sent message, as far as the sender can know."""

    DELIVERED = "delivered"
    """``ACK 600``: handed to the recipient's live session."""
    STORED = "stored"
    """``ACK 601``: the recipient is not (visibly) online; delivered at their next login."""
    ACCEPTED = "accepted"
    """``errors-only``: no error came before the answer to a following ``PING``."""
    SENT = "sent"
    """``none``: written to the connection; the server says nothing either way."""


@dataclass(frozen=True, slots=True)
class Contact:
    """One line of the buddy list: ``<user> "<nick>" <presence>`` (docs/protocol.md §5.5).

    ``pending`` is True while the user has not given permission yet (the server
    writes ``PENDING``); ``presence`` is then ``OFFLINE``.
    """

    user: str
    nick: str
    presence: Presence
    pending: bool = False


@dataclass(frozen=True, slots=True)
class BlockedUser:
    """One line of the block list: ``<user> "<nick>"``."""

    user: str
    nick: str


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server's ``HELO`` said about the service (docs/protocol.md §4.1)."""

    service: str
    display_name: str
    keep_alive: int
    """Seconds between the client's PINGs."""
    registration: str
    capabilities: str
    auth_type: str

    @classmethod
    def from_hello(cls, hello: Block) -> ServerInfo:
        keep_alive = hello.header(H.KEEP_ALIVE) or ""
        return cls(
            service=hello.header(H.SERVICE) or "",
            display_name=hello.header(H.SERVICE_DISPLAY_NAME) or "",
            keep_alive=int(keep_alive) if keep_alive.isdigit() else 0,
            registration=hello.header(H.REGISTRATION) or "",
            capabilities=hello.header(H.CAPABILITIES) or "",
            auth_type=hello.header(H.AUTH_TYPE) or "",
        )


def split_name_nick(text: str) -> tuple[str, str]:
    """``alice "Alice Liddell"`` → (``alice``, ``Alice Liddell``); no nick → the name."""
    name, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if rest.startswith('"'):
        end = rest.find('"', 1)
        return name, rest[1:end] if end > 0 else rest[1:]
    return name, rest or name


def parse_buddy_list(body: bytes) -> list[Contact]:
    """The body of a ``LIST`` answer with ``List: Buddy``; unreadable lines are skipped."""
    contacts = []
    for line in _lines(body):
        head, _, presence = line.rpartition(" ")
        name, nick = split_name_nick(head)
        if not name:
            continue
        if presence.upper() == "PENDING":
            contacts.append(Contact(name, nick, Presence.OFFLINE, pending=True))
        elif presence.upper() in Presence.__members__:
            contacts.append(Contact(name, nick, Presence(presence.upper())))
    return contacts


def parse_block_list(body: bytes) -> list[BlockedUser]:
    """The body of a ``LIST`` answer with ``List: Block``."""
    return [BlockedUser(*split_name_nick(line)) for line in _lines(body)]


def _lines(body: bytes) -> list[str]:
    text = body.decode("utf-8", "replace")
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
