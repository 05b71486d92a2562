"""LIST and the client's ACK to a request: contact permissions and blocking (IMIP.md §3.4)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..protocol import Block, Status
from ..protocol import headers as H
from ..store import Account, WatchState, name_key
from .errors import BadHeader, NoSuchUser, Reject
from .events import PresenceEvent, RequestEvent
from .presence import OFFLINE, seen_of, view_for

if TYPE_CHECKING:
    from .session import Session

LISTS = {"buddy": "Buddy", "block": "Block"}


async def list_(session: Session, block: Block) -> None:
    """``LIST ADD|REMOVE <user>`` or ``LIST GET``, with ``List: Buddy`` (default) or ``Block``."""
    if not block.args:
        raise BadHeader("LIST needs ADD, REMOVE or GET")
    op = block.args[0].upper()
    which = LISTS.get((block.header(H.LIST) or "Buddy").lower())
    if which is None:
        raise BadHeader("List must be Buddy or Block")
    block_id = block.header(H.ID)
    if op == "GET":
        if len(block.args) != 1:
            raise BadHeader("LIST GET takes no user")
        await list_get(session, block_id or "", which)
        return
    if op not in ("ADD", "REMOVE") or len(block.args) != 2:
        raise BadHeader("LIST ADD and LIST REMOVE take one user")
    name = block.args[1]
    if name_key(name) == session.key:
        if op == "REMOVE":
            session.answer(block_id, Status.OK)
            return
        raise BadHeader("you cannot ask for yourself")
    target = await session.service.store.get_user(name)
    if target is None:
        if op == "REMOVE":  # idempotent: removing what is not there is fine
            session.answer(block_id, Status.OK)
            return
        raise NoSuchUser("no such user")
    if which == "Block":
        await set_block(session, target, on=op == "ADD")
    elif op == "ADD":
        if not session.may_ask():
            raise Reject("too many permission requests: slow down", Status.RATE_LIMITED)
        await ask(session, target, block.body)
    else:
        await session.service.store.remove_watch(session.key, target.key)
        if (watched := session.service.router.get(target.key)) is not None:
            watched.told -= {session.key}
    session.answer(block_id, Status.OK)


async def ask(session: Session, target: Account, text: bytes) -> None:
    """Ask ``target`` for permission to watch them (their answer comes later)."""
    service = session.service
    store = service.store
    if await store.watch_state(target.key, session.key) is WatchState.PENDING:
        # asking back answers their pending request with a grant
        await grant(session, target.key)
    if await store.watch_state(session.key, target.key) is WatchState.GRANTED:
        return
    at = time.time()
    await store.put_request(session.key, target.key, text, at)
    if await store.is_blocked(target.key, session.key):
        # as if the target were away: pending on the requester's list (blocking is never
        # revealed), but never shown to the target while the block stands
        return
    peer = service.router.get(target.key)
    if peer is not None:
        assert session.account is not None
        peer.push(RequestEvent(session.name, session.key, session.account.nick, text, at))


async def set_block(session: Session, target: Account, *, on: bool) -> None:
    """Block or unblock ``target``: a blocked watcher sees this user go offline."""
    store = session.service.store
    if await store.is_blocked(session.key, target.key) == on:
        return
    await store.set_blocked(session.key, target.key, on)
    if session.blocks is not None:
        if on:
            session.blocks |= {target.key}
        else:
            session.blocks -= {target.key}
    if session.shown is None:
        return
    if await store.watch_state(target.key, session.key) is WatchState.GRANTED:
        watcher = session.service.router.get(target.key)
        if watcher is not None:
            view = OFFLINE if on else session.shown
            watcher.push(PresenceEvent(session.name, *view))


async def list_get(session: Session, block_id: str, which: str) -> None:
    """``LIST`` with one line per entry: ``<user> "<nick>" <presence>`` (Buddy) or
    ``<user> "<nick>"`` (Block)."""
    store = session.service.store
    lines: list[str] = []
    if which == "Buddy":
        contacts = await store.contacts(session.key)
        blockers = set(await store.blocked_by(session.key)) if contacts else set()
        for contact in contacts:
            if contact.state is WatchState.PENDING:
                presence = "PENDING"
            else:
                presence = seen_of(session, name_key(contact.name), blockers)[0]
            lines.append(f'{contact.name} "{contact.nick}" {presence}\r\n')
    else:
        lines = [f'{entry.name} "{entry.nick}"\r\n' for entry in await store.blocked(session.key)]
    session.send("LIST", (), ((H.LIST, which), (H.REFERENCE, block_id)),
                 "".join(lines).encode("utf-8"))


async def acknowledge(session: Session, block: Block) -> None:
    """A client ``ACK``: never answered. ``ACK 600`` / ``ACK 822`` whose ``Reference`` is a
    ``LIST ADD`` sent on this connection grants / declines that request."""
    code = block.args[0] if block.args else ""
    reference = block.header(H.REFERENCE) or ""
    ids = session.request_ids
    requester = ids.get(reference) if ids is not None else None
    if session.account is None or requester is None or code not in ("600", "822"):
        session.log.info("ACK %s with Reference %s ignored", code[:8], reference[:20])
        return
    assert ids is not None
    del ids[reference]
    if code == "600":
        await grant(session, requester)
    elif await session.service.store.watch_state(requester, session.key) is WatchState.PENDING:
        await session.service.store.remove_watch(requester, session.key)
        session.log.info("declined a request")


async def grant(session: Session, requester: str) -> None:
    """Let ``requester`` watch this user, and show them what a watcher sees now."""
    service = session.service
    if not await service.store.grant(requester, session.key):
        return
    session.log.info("granted a request")
    watcher = service.router.get(requester)
    if watcher is not None:
        view = await view_for(session, session.key, requester)
        watcher.push(PresenceEvent(session.name, *view, always=True))
        session.told |= {requester}
