"""Presence: what a user says of themselves, and what their watchers see (docs/protocol.md §4.3)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from ..router import OFFLINE, PresenceEvent, RequestEvent
from ..store import WatchState, name_key
from .session import Session
from .stages import Stage


async def announce(session: Session, watchers: Collection[str] | None = None) -> None:
    """Tell the user's watchers (``None``: read them) when what they see of the user
    changed: the presence and status text, or ``OFFLINE`` while appearing offline."""
    router = session.service.router
    own = (str(session.presence), session.text) if session.visible else (OFFLINE, b"")
    current = (await router.views((session.key,)))[session.key]
    if (current.presence, current.text) == own:
        return  # also after a login elsewhere: the new session carries on what was shown
    if watchers is None:
        watchers = await session.service.store.watchers(session.key)
    await router.publish(session.key, session.name, *own, watchers, after=current.version)


async def go_online(session: Session) -> None:
    """The first presence: the user counts as online from now on, for senders too. Then,
    in order: watchers are told, the user is shown every watched contact that is not
    offline, the requests waiting for an answer, and the stored messages.

    Presences and requests that arrive meanwhile are held and shown after the snapshot
    (unless the snapshot was newer); messages are stored and follow the stored ones. The
    backlog has been read when this returns: a client that has the answer to its next
    block knows that new messages reach it live (unless a backlog is still being shown).
    """
    if not session.move(Stage.SNAPSHOT):
        return  # the connection is closing
    service = session.service
    snapshot = await service.store.snapshot(session.key)
    if session.stage is not Stage.SNAPSHOT:
        return
    session.blocks = snapshot.blocks
    await announce(session, snapshot.watchers)
    granted = [contact for contact in snapshot.contacts if contact.state is WatchState.GRANTED]
    views = await service.router.views([name_key(contact.name) for contact in granted])
    for contact in granted:
        view = views[name_key(contact.name)]
        if view.online and not contact.blocks_watcher:
            session.show_presence(PresenceEvent(contact.name, *view))
    for request in snapshot.requests:
        session.show_request(RequestEvent(request.requester, request.nick, request.text,
                                          request.requested_at))
    session.show_held()
    if session.handing_back:  # what a replaced session still held comes first
        session.move(Stage.BACKLOG)  # (meanwhile presences show, messages wait in the store)
        await session.handed_back()
    read = asyncio.get_running_loop().create_future()
    session.flush(read)
    await read


async def end(session: Session) -> None:
    """The session is over: unless another session of the user replaced it, the user
    went away and the watchers see ``STAT OFFLINE``. Returns once a delivery of stored
    messages under way has finished, and what the connection did not deliver is back in
    the store."""
    session.stop_taking()
    service = session.service
    view = (await service.router.views((session.key,)))[session.key]
    watchers = await service.store.watchers(session.key) if view.online else ()
    await service.router.detach(session.key, session, session.name, watchers)
    await session.delivered()
    await session.settle()
