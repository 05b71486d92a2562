"""MESG: relay, or store for later, and the ACK-Type rules (IMIP.md §3.5)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..protocol import Block, Status
from ..protocol import headers as H
from .errors import BadHeader, NoSuchUser, Reject
from .events import MessageEvent
from .names import valid_user_name

if TYPE_CHECKING:
    from .session import Session

ACK_TYPES = ("errors-only", "always", "none")


async def mesg(session: Session, block: Block) -> None:
    """``MESG`` / ``To: bob`` / ``ACK-Type: always`` / text → delivered (600) or stored (601).

    ``errors-only`` (the default) answers failures only; ``none`` answers nothing.
    A stored message is committed before the answer (or the silence).
    """
    ack_type = (block.header(H.ACK_TYPE) or "errors-only").lower()
    if ack_type not in ACK_TYPES:
        raise BadHeader("ACK-Type must be errors-only, always or none")
    quiet = ack_type == "none"
    stats = session.service.stats
    to = block.header(H.TO)
    if not to:
        stats.messages["rejected"] += 1
        raise BadHeader("MESG needs To", quiet=quiet)
    service = session.service
    store = service.store
    recipient = await store.get_user(to) if valid_user_name(to) else None
    if recipient is None:
        stats.messages["rejected"] += 1
        raise NoSuchUser("no such user", quiet=quiet)
    status = Status.OK
    peer = service.router.get(recipient.key)
    if await store.is_blocked(recipient.key, session.key):
        status = Status.STORED  # dropped, answered as if the recipient were away
        stats.messages["dropped"] += 1
    else:
        event = MessageEvent(session.name, recipient.name, block.body)
        if peer is None or not peer.push(event):
            try:
                await store.store_message(session.name, recipient.key, block.body, time.time())
            except Exception as error:
                session.log.exception("storing a message failed")
                raise Reject("server error: message not accepted", Status.SERVER_ERROR,
                             quiet=quiet) from error
            stats.messages["stored"] += 1
            if peer is not None:
                peer.flush_stored()
        else:
            stats.messages["delivered"] += 1
        if peer is None or not peer.visible_online:
            status = Status.STORED
    session.log.debug("message of %d bytes to %s: %d", len(block.body), recipient.name, status)
    if ack_type == "always":
        session.answer(block.header(H.ID), status)
