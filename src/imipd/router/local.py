"""The in-process router: the embedded default, for a single node.

Every user's live session is on this node, so delivery is a dictionary lookup and
a call into the recipient's session, finished before ``deliver`` returns: a live
message never waits for anything. Presence views live in a dictionary too, for
the users who are online or were last shown online to someone.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from .base import OFFLINE, OFFLINE_VIEW, Endpoint, Outcome, SessionInfo, View
from .events import Event, KickEvent, PresenceEvent


@dataclass(slots=True)
class _Presence:
    """A user's presence as the router holds it."""

    view: View
    told: frozenset[str]
    """Keys of the watchers shown the user online (told when the user goes offline)."""


class LocalRouter:
    """Routes within one process."""

    def __init__(self) -> None:
        self._sessions: dict[str, Endpoint] = {}
        self._presence: dict[str, _Presence] = {}
        self._versions = itertools.count(1)
        """One counter for every user: a view forgotten and made again still grows."""

    def deliver(self, key: str, event: Event) -> Outcome:
        endpoint = self._sessions.get(key)
        if endpoint is None:
            return Outcome.NOT_ONLINE
        return endpoint.accept(event)

    async def attach(self, key: str, endpoint: Endpoint, notice: KickEvent) -> bool:
        previous = self._sessions.get(key)
        self._sessions[key] = endpoint
        if previous is None or previous is endpoint:
            return False
        previous.accept(notice)
        return True

    async def detach(self, key: str, endpoint: Endpoint, name: str,
                     watchers: Collection[str]) -> bool:
        if self._sessions.get(key) is not endpoint:
            return False
        del self._sessions[key]
        record = self._presence.get(key)
        if record is not None and record.view.online:
            await self.publish(key, name, OFFLINE, b"", watchers, after=record.view.version)
        return True

    async def kick(self, key: str, reason: str) -> int:
        endpoint = self._sessions.get(key)
        if endpoint is None:
            return 0
        return 1 if endpoint.accept(KickEvent(reason)) is Outcome.TAKEN else 0

    async def views(self, keys: Iterable[str]) -> Mapping[str, View]:
        presence = self._presence
        return {key: record.view if (record := presence.get(key)) else OFFLINE_VIEW
                for key in keys}

    async def publish(self, key: str, name: str, presence: str, text: bytes,
                      watchers: Collection[str], *, after: int) -> View | None:
        record = self._presence.get(key)
        if (OFFLINE_VIEW if record is None else record.view).version != after:
            return None
        view = View(presence, text, next(self._versions))
        audience = set(watchers)
        if record is not None:
            audience |= record.told
        told = frozenset() if presence == OFFLINE else frozenset(watchers)
        self._keep(key, view, told)
        event = PresenceEvent(name, presence, text, view.version)
        for watcher in sorted(audience):
            self.deliver(watcher, event)
        return view

    async def show_to(self, key: str, name: str, watcher: str, *, hidden: bool,
                      always: bool) -> None:
        record = self._presence.get(key)
        view = OFFLINE_VIEW if record is None else record.view
        if record is not None:
            told = record.told - {watcher} if hidden or not view.online else record.told | {watcher}
            self._keep(key, view, told)
        if not always and not view.online:
            return
        shown = View(OFFLINE, b"", view.version) if hidden else view
        self.deliver(watcher, PresenceEvent(name, *shown, always=always))

    async def unwatch(self, key: str, watcher: str) -> None:
        record = self._presence.get(key)
        if record is not None and watcher in record.told:
            self._keep(key, record.view, record.told - {watcher})

    def _keep(self, key: str, view: View, told: frozenset[str]) -> None:
        if view.online or told:
            self._presence[key] = _Presence(view, told)
        else:
            self._presence.pop(key, None)

    def sessions(self) -> list[SessionInfo]:
        return [endpoint.info() for endpoint in list(self._sessions.values())]

    def __len__(self) -> int:
        return len(self._sessions)
