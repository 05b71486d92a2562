"""STAT: presence, status text, and what watchers are shown (IMIP.md §3.3)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..protocol import Block, Status
from ..protocol import headers as H
from ..store import WatchState, name_key
from .errors import BadHeader
from .events import PresenceEvent, RequestEvent
from .session import OFFLINE_VIEW, Phase, Shown

if TYPE_CHECKING:
    from .session import Session

PRESENCES = ("ONLINE", "AWAY", "BUSY", "OFFLINE")
OFFLINE = OFFLINE_VIEW


async def stat(session: Session, block: Block) -> None:
    """``STAT AWAY`` (body: status text) → ``ACK 600``; watchers see the change.

    The first STAT puts the session online, then sends, in order: the presence
    of every watched contact that is not offline, unanswered permission
    requests, and stored messages.
    """
    if len(block.args) != 1 or block.args[0].upper() not in PRESENCES:
        raise BadHeader("STAT takes one of ONLINE, AWAY, BUSY, OFFLINE")
    session.presence = block.args[0].upper()
    session.text = block.body
    session.answer(block.header(H.ID), Status.OK)
    if session.phase is Phase.LOGGED_IN:
        session.phase = Phase.ONLINE  # online from the first STAT, for senders too
        store = session.service.store
        session.blocks = frozenset(
            name_key(entry.name) for entry in await store.blocked(session.key))
        # Live presence and requests flow from before the snapshot is read (nothing is
        # lost); the session shows each change and each request once (nothing twice).
        await announce(session)
        session.stage = Shown.PRESENCE
        await show_contacts(session)
        session.stage = Shown.REQUESTS
        await show_requests(session)
        session.stage = Shown.ALL
        # The backlog is read before the next block is handled: a client that sees the
        # answer to a block sent after this STAT knows messages now reach it live
        # (unless stored ones are still being delivered).
        read = asyncio.get_running_loop().create_future()
        session.flush_stored(read)
        await read
    else:
        await announce(session)


def own_view(session: Session) -> tuple[str, bytes] | None:
    """What a watcher who is not blocked sees of this session (None: offline)."""
    return (session.presence, session.text) if session.visible_online else None


async def announce(session: Session) -> None:
    """Tell watchers when what they see of the user changed."""
    view = own_view(session)
    if view == session.shown:
        return
    session.shown = view
    await tell_watchers(session, view or OFFLINE)


async def tell_watchers(session: Session, view: tuple[str, bytes], *, ending: bool = False) -> None:
    """Push ``view`` to every watcher allowed to see it (at the end, also to those told
    before, in case the account and its permissions were just deleted)."""
    service = session.service
    watchers = set(await service.store.watchers(session.key))
    if ending:
        watchers |= session.told
    if not watchers:
        return
    blocked = session.blocks
    if blocked is None:
        blocked = frozenset(
            name_key(entry.name) for entry in await service.store.blocked(session.key))
    event = PresenceEvent(session.name, *view)
    for key in watchers:
        if key not in blocked and (target := service.router.get(key)) is not None:
            target.push(event)
    session.told = frozenset() if view == OFFLINE else frozenset(watchers - blocked)


def seen_of(session: Session, target_key: str, blockers: set[str]) -> tuple[str, bytes]:
    """What a watcher sees of ``target_key`` now, ``blockers`` being the keys of the users
    who block that watcher (read after any await: the target may go offline meanwhile)."""
    target = session.service.router.get(target_key)
    if target is None or target.shown is None or target_key in blockers:
        return OFFLINE
    return target.shown


async def view_for(session: Session, target_key: str, watcher_key: str) -> tuple[str, bytes]:
    """What ``watcher_key`` may see of ``target_key`` now (offline when blocked)."""
    blocked = await session.service.store.is_blocked(target_key, watcher_key)
    return seen_of(session, target_key, {target_key} if blocked else set())


async def show_contacts(session: Session) -> None:
    """At the first STAT: the presence of every watched contact that is not offline."""
    contacts = await session.service.store.contacts(session.key)
    blockers = set(await session.service.store.blocked_by(session.key))
    for contact in contacts:
        if contact.state is WatchState.GRANTED:
            view = seen_of(session, name_key(contact.name), blockers)
            if view != OFFLINE:
                session.show_presence(contact.name, view)


async def show_requests(session: Session) -> None:
    """At the first STAT: requests still waiting for this user's answer."""
    store = session.service.store
    requests = await store.pending_requests(session.key)
    blocked = session.blocks or frozenset()
    for request in requests:
        key = name_key(request.requester)
        if key not in blocked:
            session.write_request(RequestEvent(request.requester, key, request.nick, request.text,
                                               request.requested_at))


async def session_ended(session: Session) -> None:
    """The user's live session is gone: watchers see ``STAT OFFLINE``."""
    if session.shown is not None:
        session.shown = None
        await tell_watchers(session, OFFLINE, ending=True)
