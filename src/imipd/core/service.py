"""The service: what every session shares (store, router, settings, counters, clock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..router import Router
from ..store import Journal, Store
from .stats import Stats
from .throttle import LoginThrottle


@dataclass(frozen=True)
class Settings:
    """What the core's rules need of the configuration (built from ``Config``, which holds
    every default)."""

    login_failures: int
    """Failed logins from one origin within ``login_window`` before logins are refused."""
    login_window: float
    messages_per_second: int
    """Per session, on average; 0: no limit."""
    message_burst: int
    requests_per_hour: int
    """Permission requests per session; 0: no limit."""
    max_stored_per_user: int
    held_limit: int
    """Bytes of messages a session holds behind the stored ones it is delivering before it
    puts them in the store as well (the output limit: what a peer may leave unread)."""


class Service:
    """Shared by every session of one server process."""

    def __init__(self, settings: Settings, store: Store, router: Router, journal: Journal,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.router = router
        self.journal = journal
        """Live messages the service answers for until their recipients have them."""
        self.clock = clock
        """Wall-clock time for what is stored (requests, messages)."""
        self.throttle = LoginThrottle(settings.login_failures, settings.login_window)
        self.stats = Stats()

    def reconfigure(self, settings: Settings) -> None:
        """Take new settings while running (a reload); live sessions keep their state."""
        self.settings = settings
        self.throttle.reconfigure(settings.login_failures, settings.login_window)

    async def kick(self, key: str, reason: str) -> int:
        """End the user's live session, wherever it runs (account deleted, password
        changed, an operator): how many there were."""
        return await self.router.kick(key, reason)
