"""Server-pushed blocks (not answers) turned into events, one function per verb."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from datetime import datetime

from ..protocol import Block
from ..protocol import headers as H
from .events import Event, MessageReceived, PermissionRequested, PresenceChanged
from .values import Presence, split_name_nick

log = logging.getLogger("imipd.client")


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        log.info("unreadable Date %r", value[:64])
        return None


def _mesg(block: Block) -> Event | None:
    """``MESG`` / ``From: alice`` / ``To: bob`` [/ ``Date``] / text."""
    sender = block.header(H.FROM)
    if not sender:
        return None
    return MessageReceived(sender, _text(block.body), _date(block.header(H.DATE)),
                           block.header(H.TO) or "")


def _stat(block: Block) -> Event | None:
    """``STAT AWAY`` / ``From: bob`` / status text."""
    user = block.header(H.FROM)
    if not user or len(block.args) != 1 or block.args[0].upper() not in Presence.__members__:
        return None
    return PresenceChanged(user, Presence(block.args[0].upper()), _text(block.body))


def _list(block: Block) -> Event | None:
    """``LIST ADD`` / ``From: alice "Alice"`` / ``List: Buddy`` / request text."""
    source = block.header(H.FROM)
    block_id = block.header(H.ID)
    if block.args[:1] != ("ADD",) or not source or not block_id:
        return None
    if (block.header(H.LIST) or "Buddy").lower() != "buddy":
        return None
    requester, nick = split_name_nick(source)
    return PermissionRequested(requester, nick, _text(block.body), block_id)


_HANDLERS: dict[str, Callable[[Block], Event | None]] = {
    "MESG": _mesg,
    "STAT": _stat,
    "LIST": _list,
}


def event_for(block: Block) -> Event | None:
    """The event a pushed block means, or None (logged) for anything the client ignores."""
    handler = _HANDLERS.get(block.verb)
    event = handler(block) if handler is not None else None
    if event is None:
        log.info("ignored a %s block from the server", block.type_line[:40])
    return event
