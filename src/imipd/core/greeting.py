"""HELO and LOGN: the greeting and imip-md5 login (IMIP.md §3.1–§3.2)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..protocol import AUTH_TYPE, Block, Status, new_challenge, verify
from ..protocol import headers as H
from .errors import BadHeader, CloseAfter, Reject
from .names import valid_user_name
from .session import Phase

if TYPE_CHECKING:
    from .session import Session


async def helo(session: Session, block: Block) -> None:
    """``HELO`` / ``ID: 1`` / ``Protocol: IMIP/1.0`` → the server's HELO with a challenge.

    The server's HELO is the one answer without ``Reference``.
    """
    if block.header(H.PROTOCOL) != H.PROTOCOL_VERSION:
        raise CloseAfter("unsupported protocol version", Status.BAD_PROTOCOL)
    session.phase = Phase.GREETED
    session.challenge = new_challenge()
    session.send("HELO", (), session.service.hello_headers, session.challenge.encode("ascii"))


async def logn(session: Session, block: Block) -> None:
    """``LOGN 1000042`` / ``Auth-Type: imip-md5`` / digest body → ``LOGN 1000042`` or 811.

    Three failures on one connection: 812 and close. Too many from one address:
    830 without checking. The same challenge stays valid after a failure.
    """
    service = session.service
    stats = service.stats
    if len(block.args) != 1:
        raise BadHeader("LOGN takes one user name")
    auth_type = block.header(H.AUTH_TYPE)
    if auth_type is not None and auth_type.lower() != AUTH_TYPE:
        raise Reject("unsupported Auth-Type", Status.BAD_AUTH_TYPE)
    peer = session.sink.peer
    if service.throttle.blocked(peer):
        stats.logins["throttled"] += 1
        raise Reject("too many failed logins from this address", Status.RATE_LIMITED)
    name = block.args[0]
    account = await service.store.get_user(name) if valid_user_name(name) else None
    if account is None or not verify(session.challenge, account.password, block.body,
                                     service.settings.digest_order):
        session.failures += 1
        service.throttle.failed(peer)
        session.log.info("login failed for %s (%d on this connection)", name[:64],
                         session.failures)
        if session.failures >= 3:
            stats.logins["closed"] += 1
            raise CloseAfter("too many failed logins", Status.TOO_MANY_FAILURES)
        stats.logins["failed"] += 1
        raise Reject("wrong user or password", Status.LOGIN_FAILED)
    if session.closed:
        return
    stats.logins["ok"] += 1
    # the session keeps no password (a live session needs the name, nick and key only)
    session.account = account = dataclasses.replace(account, password="")
    session.phase = Phase.LOGGED_IN
    previous = service.router.attach(account.key, session)
    if previous is not None:
        # the new session carries on what watchers were shown: no visible gap
        session.shown = previous.shown
        session.presence, session.text = previous.presence, previous.text
        previous.disconnect("logged in from another place")
    session.log.info("logged in from %s", peer)
    session.send("LOGN", (account.name,), ((H.REFERENCE, block.header(H.ID) or ""),))
