"""Messages: delivered to the recipient's live session, or stored for later (docs/protocol.md §6).

A message gets its identity when it is accepted (from the node's journal). One to a
recipient whose live session takes it is finished before ``send`` returns: no store,
no task, no waiting (the relay's hot path). Anything else is returned as a coroutine
that stores the message, committed before the sender hears of it, and then tells the
recipient's session that messages wait.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Coroutine
from typing import Any

from ..router import WAITING, Outcome, delivered
from ..router.events import relayed_message
from ..store import Accepted, Unavailable, name_key
from .errors import NoSuchUser, RateLimited, RecipientFull
from .names import valid_user_name
from .session import Session


class Sent(enum.Enum):
    """What the sender may be told of a message the service accepted."""

    DELIVERED = "delivered"
    """Handed to the recipient's live session, which shows the recipient online (after
    the stored messages it is delivering, when it has any)."""
    ACCEPTED = "accepted"
    """The recipient is not (visibly) online: it is delivered when they are. Also what a
    sender is told when the recipient appears offline or blocks them."""


_TAKEN, _DELIVERED = Outcome.TAKEN, Sent.DELIVERED
"""Read on every relayed message: as module names (an Enum member as a class attribute is
read through a Python-level lookup, five times slower)."""


def send(session: Session, to: str, body: bytes) -> Sent | Coroutine[Any, Any, Sent]:
    """Send ``body`` to the user named ``to``: the result, or what is left to await.

    Raises (or the coroutine raises) ``RateLimited``, ``NoSuchUser``, ``RecipientFull`` and
    ``Unavailable`` (nothing could be recorded: try again later)."""
    if not session.may_send_message():
        raise RateLimited("too many messages: slow down")
    service = session.service
    key = to.lower() if to.isascii() else name_key(to)  # name_key, without the call
    id = service.journal.next_id()
    outcome = service.router.deliver(key, relayed_message((session.account.name, body, id, None)))
    if outcome is _TAKEN:
        service.stats.messages["delivered"] += 1
        return _DELIVERED
    if outcome is Outcome.NOT_ONLINE and not valid_user_name(to):
        service.stats.messages["rejected"] += 1
        raise NoSuchUser("no such user")
    if isinstance(outcome, Outcome) and (sent := _settled(session, outcome)) is not None:
        return sent
    return _store(session, id, key, body, outcome)


def _settled(session: Session, outcome: Outcome) -> Sent | None:
    """What the sender is told when the recipient's session took the message or dropped
    it; None when it must be stored."""
    stats = session.service.stats.messages
    if outcome is Outcome.TAKEN or outcome is Outcome.TAKEN_UNSEEN:
        stats["delivered"] += 1
        return Sent.DELIVERED if outcome is Outcome.TAKEN else Sent.ACCEPTED
    if outcome is Outcome.BLOCKED:
        stats["dropped"] += 1
        return Sent.ACCEPTED
    if outcome is Outcome.UNRECORDED:
        stats["rejected"] += 1
        raise Unavailable("the server cannot record messages now")
    return None


async def _store(session: Session, id: int, key: str, body: bytes,
                 outcome: Outcome | Awaitable[Outcome]) -> Sent:
    """The rest of ``send``: the message waits for the recipient in the store."""
    outcome = await delivered(outcome)  # at once, unless the recipient is on another node
    if (sent := _settled(session, outcome)) is not None:
        return sent
    service = session.service
    stats = service.stats.messages
    try:
        accepted = await service.store.accept_message(
            id, session.name, key, body, service.clock(), service.settings.max_stored_per_user)
    except Unavailable:
        stats["rejected"] += 1
        raise
    if accepted is Accepted.NO_SUCH_USER:
        stats["rejected"] += 1
        raise NoSuchUser("no such user")
    if accepted is Accepted.FULL:
        stats["rejected"] += 1
        raise RecipientFull("the recipient has too many messages waiting")
    if accepted is Accepted.BLOCKED:
        stats["dropped"] += 1
        return Sent.ACCEPTED
    stats["stored"] += 1
    session.log.debug("stored a message of %d bytes", len(body))
    # committed first, then announced: a session of the recipient delivers it now
    await delivered(service.router.deliver(key, WAITING))
    return Sent.DELIVERED if outcome.seen_online else Sent.ACCEPTED
