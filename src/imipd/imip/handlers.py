"""One handler per verb: the block's words → the core's intent → the answer.

A handler returns None when it is done, or the coroutine that finishes it (it
waits for the store). It raises ``Refusal`` for what is wrong on the wire and lets
the core's refusals through; ``dispatch`` answers both.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine
from typing import Any

from ..core import (
    LoginFailed,
    LoginThrottled,
    Presence,
    RateLimited,
    Session,
    Unavailable,
    contacts,
    login,
    messages,
    presence,
)
from ..core.messages import Sent
from ..protocol import AUTH_TYPE, Block, Status, ascii_lower, ascii_upper, new_challenge, verify
from ..protocol import headers as H
from .answers import STATUS_OF_SENT, Refusal
from .session import ImipSession
from .verbs import Phase, Verb

Rest = Coroutine[Any, Any, None]
Handler = Callable[[ImipSession, Block], "Rest | None"]


class AckType(enum.Enum):
    """What the sender of a ``MESG`` asks to be answered (docs/protocol.md §6.2)."""

    ERRORS_ONLY = "errors-only"
    ALWAYS = "always"
    NONE = "none"
    """Nothing at all, errors included."""


_ACK_TYPES = {kind.value: kind for kind in AckType}
_ALWAYS, _ERRORS_ONLY = AckType.ALWAYS, AckType.ERRORS_ONLY  # read for every MESG: module names
_PRESENCES = {str(kind): kind for kind in Presence}
_LISTS = {"buddy": "Buddy", "block": "Block"}
"""``List`` values (matched in any ASCII case) and how they are written."""


def ack_type(block: Block) -> AckType | None:
    """The ``ACK-Type`` of a ``MESG`` (missing: errors-only); None when it is unknown."""
    return _ack_type(block.header_map.get(H.ACK_TYPE_KEY))


def _ack_type(value: str | None) -> AckType | None:
    if value is None:
        return AckType.ERRORS_ONLY
    return _ACK_TYPES.get(value) or _ACK_TYPES.get(ascii_lower(value))  # as written, mostly


def _user(session: ImipSession) -> Session:
    user = session.user
    assert user is not None  # the verb table admits these verbs only after login
    return user


# -- greeting and login (docs/protocol.md §4.1, §4.2) ------------------------------------


def helo(session: ImipSession, block: Block) -> None:
    """``HELO`` / ``ID: 1`` / ``Protocol: IMIP/1.0`` → the server's HELO with a challenge.

    The server's HELO is the one answer without ``Reference``."""
    if block.header(H.PROTOCOL) != H.PROTOCOL_VERSION:
        raise Refusal(Status.BAD_PROTOCOL, "unsupported protocol version", close=True)
    session.phase = Phase.GREETED
    session.challenge = new_challenge()
    session.send("HELO", (), session.front.hello_headers, session.challenge.encode("ascii"))


def logn(session: ImipSession, block: Block) -> Rest:
    """``LOGN 1000042`` / ``Auth-Type: imip-md5`` / digest body → ``LOGN 1000042`` or 811.

    Three failures on one connection: 812 and close. An address over the failed-login
    limit: 830, whatever the block says. The same challenge stays valid after a failure.
    """
    service = session.front.service
    if service.throttle.over(session.origin):
        service.stats.logins["throttled"] += 1
        raise LoginThrottled("too many failed logins from this address")
    if len(block.args) != 1:
        raise Refusal(Status.BAD_HEADER, "LOGN takes one user name")
    auth_type = block.header(H.AUTH_TYPE)
    if auth_type is not None and ascii_lower(auth_type) != AUTH_TYPE:
        raise Refusal(Status.BAD_AUTH_TYPE, "unsupported Auth-Type")
    return _log_in(session, block, block.args[0])


async def _log_in(session: ImipSession, block: Block, name: str) -> None:
    front = session.front
    service = front.service
    stats = service.stats.logins
    challenge, digest, order = session.challenge, block.body, front.settings.digest_order
    try:
        account = await login.authenticate(
            service, name, lambda password: verify(challenge, password, digest, order),
            session.origin)
    except LoginThrottled:
        stats["throttled"] += 1
        raise
    except LoginFailed:
        session.failures += 1
        session.log.info("login failed for %s (%d on this connection)", name[:64],
                         session.failures)
        if session.failures >= 3:
            stats["closed"] += 1
            raise Refusal(Status.TOO_MANY_FAILURES, "too many failed logins", close=True) from None
        stats["failed"] += 1
        raise
    if not session.link.open:
        return
    stats["ok"] += 1
    session.user = user = await login.start(service, account, session, session.origin,
                                            session.conn_id)
    session.phase = Phase.LOGGED_IN
    user.log.info("logged in from %s", session.origin)
    session.send("LOGN", (account.name,), ((H.REFERENCE, block.header(H.ID) or ""),))


# -- presence (docs/protocol.md §4.3) ----------------------------------------------------


def stat(session: ImipSession, block: Block) -> Rest:
    """``STAT AWAY`` (body: status text) → ``ACK 600``; watchers see the change.

    The first STAT puts the user online, then shows, in order: the presence of every
    watched contact that is not offline, unanswered requests, stored messages."""
    kind = _PRESENCES.get(ascii_upper(block.args[0])) if len(block.args) == 1 else None
    if kind is None:
        raise Refusal(Status.BAD_HEADER, "STAT takes one of ONLINE, AWAY, BUSY, OFFLINE")
    user = _user(session)
    user.set_presence(kind, block.body)
    session.answer(block.header(H.ID), Status.OK)
    if session.phase is Phase.LOGGED_IN:
        session.phase = Phase.ONLINE
        return presence.go_online(user)
    return presence.announce(user)


# -- contact lists (docs/protocol.md §5) -------------------------------------------------


def list_(session: ImipSession, block: Block) -> Rest:
    """``LIST ADD|REMOVE <user>`` or ``LIST GET``, with ``List: Buddy`` (default) or ``Block``."""
    args = block.args
    if not args:
        raise Refusal(Status.BAD_HEADER, "LIST needs ADD, REMOVE or GET")
    op = ascii_upper(args[0])
    which = _LISTS.get(ascii_lower(block.header(H.LIST) or "Buddy"))
    if which is None:
        raise Refusal(Status.BAD_HEADER, "List must be Buddy or Block")
    block_id = block.header(H.ID) or ""
    if op == "GET":
        if len(args) != 1:
            raise Refusal(Status.BAD_HEADER, "LIST GET takes no user")
        return _list_get(session, block_id, which)
    if op not in ("ADD", "REMOVE") or len(args) != 2:
        raise Refusal(Status.BAD_HEADER, "LIST ADD and LIST REMOVE take one user")
    return _list_change(session, block_id, which, op == "ADD", args[1], block.body)


async def _list_change(session: ImipSession, block_id: str, which: str, add: bool, name: str,
                       text: bytes) -> None:
    user = _user(session)
    if which == "Block":
        await contacts.set_block(user, name, on=add)
    elif add:
        await contacts.ask(user, name, text)
    else:
        await contacts.remove(user, name)
    session.answer(block_id, Status.OK)


async def _list_get(session: ImipSession, block_id: str, which: str) -> None:
    """``LIST`` with one line per entry: ``<user> "<nick>" <presence>`` (Buddy) or
    ``<user> "<nick>"`` (Block)."""
    user = _user(session)
    if which == "Buddy":
        lines = [f'{c.name} "{c.nick}" {c.presence or "PENDING"}\r\n'
                 for c in await contacts.buddy_list(user)]
    else:
        lines = [f'{e.name} "{e.nick}"\r\n' for e in await contacts.block_list(user)]
    session.send("LIST", (), ((H.LIST, which), (H.REFERENCE, block_id)),
                 "".join(lines).encode("utf-8"))


def acknowledge(session: ImipSession, block: Block) -> Rest | None:
    """A client ``ACK``: never answered. ``ACK 600`` / ``ACK 822`` whose ``Reference`` is a
    ``LIST ADD`` shown on this connection grants / declines that request."""
    code = block.args[0] if block.args else ""
    reference = block.header(H.REFERENCE) or ""
    ids = session.request_ids
    requester = ids.get(reference) if ids is not None else None
    if session.user is None or requester is None or code not in ("600", "822"):
        session.log.info("ACK %s with Reference %s ignored", code[:8], reference[:20])
        return None
    assert ids is not None
    del ids[reference]
    if code == "600":
        return _never_answered(session, contacts.grant(session.user, requester))
    return _never_answered(session, contacts.decline(session.user, requester))


async def _never_answered(session: ImipSession, rest: Rest) -> None:
    try:
        await rest
    except Unavailable as error:  # an ACK is never answered, not even with 890
        session.log.info("ACK not carried out: %s", error)
    except Exception:
        session.log.exception("ACK failed")


# -- messages (docs/protocol.md §6) ------------------------------------------------------


def mesg(session: ImipSession, block: Block) -> Rest | None:
    """``MESG`` / ``To: bob`` / ``ACK-Type: always`` / text → delivered (600) or stored (601).

    ``errors-only`` (the default) answers failures only; ``none`` answers nothing. A
    message to a recipient whose live session takes it is done before this returns."""
    fields = block.header_map
    value = fields.get(H.ACK_TYPE_KEY)
    answers = _ERRORS_ONLY if value is None else _ACK_TYPES.get(value) or _ack_type(value)
    if answers is None:
        raise Refusal(Status.BAD_HEADER, "ACK-Type must be errors-only, always or none")
    user = session.user
    assert user is not None  # after login only (ALLOWED)
    to = fields.get(H.TO_KEY)
    if not to:
        if not user.may_send_message():  # the rate limit is checked first, as for any MESG
            raise RateLimited("too many messages: slow down")
        user.service.stats.messages["rejected"] += 1
        raise Refusal(Status.BAD_HEADER, "MESG needs To")
    result = messages.send(user, to, block.body)
    if isinstance(result, Sent):
        journal = user.service.journal
        if journal.recorded > journal.committed:  # (a database journal: the answer waits)
            session.hold_output(journal.recorded)
        if answers is _ALWAYS:
            session.answer(fields.get(H.ID_KEY), STATUS_OF_SENT[result])
        return None
    return _answer_later(session, fields.get(H.ID_KEY), result, answers is _ALWAYS)


async def _answer_later(session: ImipSession, block_id: str | None,
                        rest: Coroutine[Any, Any, Sent], always: bool) -> None:
    sent = await rest
    if always:
        session.answer(block_id, STATUS_OF_SENT[sent])


# -- keep-alive and logout (docs/protocol.md §7) -----------------------------------------


def ping(session: ImipSession, block: Block) -> None:
    """``PING`` → ``ACK 600``."""
    session.answer(block.header(H.ID), Status.OK)


def disc(session: ImipSession, block: Block) -> None:
    """``DISC`` → ``ACK 600``, then the server closes; watchers see ``STAT OFFLINE``."""
    session.answer(block.header(H.ID), Status.OK)
    session.log.info("said goodbye")
    session.link.close()


HANDLERS: dict[str, Handler] = {
    Verb.HELO: helo,
    Verb.LOGN: logn,
    Verb.STAT: stat,
    Verb.LIST: list_,
    Verb.MESG: mesg,
    Verb.PING: ping,
    Verb.DISC: disc,
}
"""The handler of every verb but ``ACK`` (never answered: ``acknowledge``)."""
