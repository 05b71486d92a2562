"""Small async helpers shared by the client tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from imipd.client import Client, Event, Presence, PresenceChanged

T = TypeVar("T")
E = TypeVar("E")

TIMEOUT = 5.0


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a test's coroutine in a fresh loop, with a bound on its time."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


class Events:
    """Reads one client's events in order, waiting for the kind a test expects."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.iterator: AsyncIterator[Event] = client.events()
        self.last: dict[str, PresenceChanged] = {}

    async def next(self, timeout: float = TIMEOUT) -> Event:
        async with asyncio.timeout(timeout):
            return await anext(self.iterator)

    async def expect(self, kind: type[E], timeout: float = TIMEOUT) -> E:
        """The next event, which must be a ``kind``."""
        event = await self.next(timeout)
        assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
        return event

    async def presence(self, user: str, presence: Presence, text: str = "",
                       timeout: float = TIMEOUT) -> None:
        """The next news is ``user`` showing ``presence`` (with ``text``).

        A repeat of the presence last seen of a user is skipped: imipd's server may
        show a watcher the same presence twice when two sessions' first ``STAT``s
        interleave (see docs/client.md, "Known server behaviour").
        """
        wanted = PresenceChanged(user, presence, text)
        while True:
            event = await self.expect(PresenceChanged, timeout)
            if event == wanted:
                self.last[user] = event
                return
            assert self.last.get(event.user) == event, f"expected {wanted!r}, got {event!r}"

    async def none(self, seconds: float = 0.3) -> None:
        """No event arrives within ``seconds``."""
        try:
            event = await self.next(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {event!r}")
