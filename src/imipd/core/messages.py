"""MESG: relay, or store for later, and the ACK-Type rules (IMIP.md §3.5)."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ..protocol import Block, Status
from ..protocol import headers as H
from ..store import name_key
from .errors import BadHeader, NoSuchUser, Reject
from .names import valid_user_name
from .session import Phase

if TYPE_CHECKING:
    from .session import Session

ACK_TYPES = ("errors-only", "always", "none")


def mesg(session: Session, block: Block) -> Coroutine[Any, Any, None] | None:
    """``MESG`` / ``To: bob`` / ``ACK-Type: always`` / text → delivered (600) or stored (601).

    ``errors-only`` (the default) answers failures only; ``none`` answers nothing.
    A stored message is committed before the answer (or the silence). A message to
    a recipient who is online and reachable needs no storage at all: that path
    stays off the database and is done before this returns; anything else
    returns the rest, which waits for the store.
    """
    fields = block.header_map
    ack_type = fields.get(H.ACK_TYPE_KEY)
    ack_type = "errors-only" if ack_type is None else ack_type.lower()
    if ack_type not in ACK_TYPES:
        raise BadHeader("ACK-Type must be errors-only, always or none")
    quiet = ack_type == "none"
    if not session.may_send_message():
        raise Reject("too many messages: slow down", Status.RATE_LIMITED, quiet=quiet)
    service = session.service
    to = fields.get(H.TO_KEY)
    if not to:
        service.stats.messages["rejected"] += 1
        raise BadHeader("MESG needs To", quiet=quiet)
    # A name that is a router key is a valid user name (unless a non-ASCII letter was
    # lower-cased into one): the name check is needed only when the router has no one.
    peer = service.router.get(name_key(to)) if to.isascii() else None
    if peer is None and not valid_user_name(to):
        service.stats.messages["rejected"] += 1
        raise NoSuchUser("no such user", quiet=quiet)
    if (
        peer is not None
        and (blocks := peer.blocks) is not None  # known from the peer's first STAT on
        and peer.phase is Phase.ONLINE
        and session.key not in blocks
        and peer.take_message(session.name, block.body)
    ):
        service.stats.messages["delivered"] += 1
        if ack_type == "always":
            status = Status.OK if peer.visible_online else Status.STORED
            session.answer(fields.get(H.ID_KEY), status)
        return None
    return _deliver_waiting(session, block, to, peer, quiet, ack_type == "always")


async def _deliver_waiting(
    session: Session, block: Block, to: str, peer: Session | None, quiet: bool, always: bool
) -> None:
    """The rest of ``mesg`` when the message cannot simply go out live now (``peer``: the
    recipient's session, as ``mesg`` found it just before)."""
    service = session.service
    if peer is not None and peer.phase is Phase.ONLINE and not peer.closing:
        # online since a first STAT: the session knows whom it blocks (soon after it)
        if peer.blocks is not None:
            blocked = session.key in peer.blocks
        else:
            blocked = await service.store.is_blocked(peer.key, session.key)
        if blocked:
            status = dropped(session)
        else:
            if peer.take_message(session.name, block.body):
                service.stats.messages["delivered"] += 1
            else:
                await keep(session, peer.key, block.body, quiet)
            status = Status.OK if peer.visible_online else Status.STORED
    else:
        status = await to_the_store(session, to, block.body, quiet)
    if always:
        session.answer(block.header(H.ID), status)


async def to_the_store(session: Session, to: str, body: bytes, quiet: bool) -> Status:
    """The recipient is not online (or not since a first STAT): keep the message."""
    store = session.service.store
    recipient = await store.get_user(to)
    if recipient is None:
        session.service.stats.messages["rejected"] += 1
        raise NoSuchUser("no such user", quiet=quiet)
    if await store.is_blocked(recipient.key, session.key):
        return dropped(session)
    await keep(session, recipient.key, body, quiet)
    return Status.STORED


def dropped(session: Session) -> Status:
    """The recipient blocks the sender: answered as if the recipient were away."""
    session.service.stats.messages["dropped"] += 1
    return Status.STORED


async def keep(session: Session, recipient_key: str, body: bytes, quiet: bool) -> None:
    """Commit the message for later delivery, before any answer is given; a session of
    the recipient that is online then delivers it (after what waits already)."""
    store = session.service.store
    cap = session.service.settings.max_stored_per_user
    if await store.count_stored(recipient_key) >= cap:
        session.service.stats.messages["rejected"] += 1
        raise Reject("the recipient has too many messages waiting", Status.NOT_PERMITTED,
                     quiet=quiet)
    try:
        await store.store_message(session.name, recipient_key, body, time.time())
    except Exception as error:
        session.log.exception("storing a message failed")
        raise Reject("server error: message not accepted", Status.SERVER_ERROR,
                     quiet=quiet) from error
    session.service.stats.messages["stored"] += 1
    session.log.debug("stored a message of %d bytes", len(body))
    if (peer := session.service.router.get(recipient_key)) is not None:
        peer.flush_stored()
