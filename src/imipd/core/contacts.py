"""Contacts: asking for permission, answering, removing, blocking, and the lists
(docs/protocol.md §5). Each rule is one store transaction; what others must see of it goes
through the router."""

from __future__ import annotations

from dataclasses import dataclass

from ..router import RequestEvent, delivered
from ..store import BlockedEntry, WatchState, name_key
from .errors import InvalidRequest, NoSuchUser, RateLimited
from .names import valid_user_name
from .session import Session


@dataclass(frozen=True, slots=True)
class ListedContact:
    """One line of a buddy list: who, and what this user sees of them."""

    name: str
    nick: str
    presence: str | None
    """As this watcher sees them (``OFFLINE`` when they block the watcher); None while
    permission has not been given."""


async def ask(session: Session, target: str, text: bytes) -> None:
    """Ask ``target`` for permission to watch them; they answer later (``grant`` or
    ``decline``). Asking a user who asked first grants their request too.

    Raises ``InvalidRequest`` (oneself), ``NoSuchUser``, ``RateLimited``."""
    key = name_key(target)
    if key == session.key:
        raise InvalidRequest("you cannot ask for yourself")
    service = session.service
    if not valid_user_name(target) or await service.store.get_user(target) is None:
        raise NoSuchUser("no such user")
    if not session.may_ask():
        raise RateLimited("too many permission requests: slow down")
    at = service.clock()
    asked = await service.store.ask(session.key, key, text, at)
    if asked is None:
        raise NoSuchUser("no such user")
    if asked.granted_back:
        session.log.info("asking back granted a request")
        await service.router.show_to(session.key, session.name, key, hidden=asked.blocks_target,
                                     always=True)
    if asked.requested and not asked.hidden:
        # a blocked asker's request waits, as if the target were away, but is never shown
        await delivered(service.router.deliver(
            key, RequestEvent(session.name, session.account.nick, text, at)))


async def grant(session: Session, requester: str) -> None:
    """Let ``requester`` (a key) watch this user: they are shown what a watcher sees now."""
    service = session.service
    granted = await service.store.grant(requester, session.key)
    if granted is None:
        return
    session.log.info("granted a request")
    await service.router.show_to(session.key, session.name, requester, hidden=granted.hidden,
                                 always=True)


async def decline(session: Session, requester: str) -> None:
    """Decline ``requester``'s pending request (a key): deleted, and never reported to them."""
    if await session.service.store.decline(requester, session.key):
        session.log.info("declined a request")


async def remove(session: Session, target: str) -> None:
    """Stop watching ``target`` (also when not watching, or unknown)."""
    key = name_key(target)
    if key == session.key:
        return
    service = session.service
    await service.store.remove_watch(session.key, key)
    await service.router.unwatch(key, session.key)


async def set_block(session: Session, target: str, *, on: bool) -> None:
    """Block or unblock ``target``. A blocked watcher sees this user go offline; what they
    send is dropped as if this user were away. Blocking takes no permission away.

    Raises ``InvalidRequest`` (oneself), ``NoSuchUser`` (blocking an unknown user; unblocking
    one is fine)."""
    key = name_key(target)
    if key == session.key:
        if on:
            raise InvalidRequest("you cannot ask for yourself")  # as for LIST ADD Buddy
        return
    service = session.service
    change = await service.store.set_blocked(session.key, key, on) if valid_user_name(
        target) else None
    if change is None:
        if on:
            raise NoSuchUser("no such user")
        return
    session.blocks = session.blocks | {key} if on else session.blocks - {key}
    if change.changed and change.watching:
        await service.router.show_to(session.key, session.name, key, hidden=on, always=False)


async def buddy_list(session: Session) -> list[ListedContact]:
    """The user's buddy list, ordered, with what the user sees of each contact now."""
    service = session.service
    contacts = await service.store.contacts(session.key)
    views = await service.router.views(
        [name_key(c.name) for c in contacts if c.state is WatchState.GRANTED])
    return [ListedContact(c.name, c.nick, None if c.state is WatchState.PENDING
                          else "OFFLINE" if c.blocks_watcher else views[name_key(c.name)].presence)
            for c in contacts]


async def block_list(session: Session) -> list[BlockedEntry]:
    """The users this user blocks, ordered."""
    return await session.service.store.blocked(session.key)
