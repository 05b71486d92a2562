"""Sliding-window counts per origin: the failed-login throttle (docs/protocol.md §4.2), sign-ups.

Beyond ``limit`` failed logins from one origin within ``window`` seconds, every
further login from it is refused unchecked. A login still being checked counts
against the limit until it is decided (``begin`` … ``end``), so logins that arrive
together never get more checks than the limit allows: those beyond it wait until
the ones being checked are decided. Logins that succeed add no failure, so a burst
of good logins from one address (a NAT, a gateway) only waits its turn.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable


class SlidingWindow:
    """Events per origin (an address, say) over the last ``window`` seconds."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def count(self, origin: str) -> int:
        """Events from ``origin`` within the window."""
        times = self._events.get(origin)
        if times is None:
            return 0
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._events[origin]
        return len(times)

    def add(self, origin: str) -> None:
        """Count one event from ``origin`` now."""
        self._events.setdefault(origin, deque()).append(self._clock())

    def take(self, origin: str) -> bool:
        """Count one event unless ``origin`` is at the limit (then False, not counted)."""
        if self.count(origin) >= self.limit:
            return False
        self.add(origin)
        return True


class LoginThrottle:
    """Failed logins per origin, with the logins still being checked counted in."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = SlidingWindow(limit, window, clock)
        self._checking: Counter[str] = Counter()
        self._decided: dict[str, asyncio.Event] = {}
        """Set when a login from the origin is decided (for those waiting their turn)."""

    def reconfigure(self, limit: int, window: float) -> None:
        self.failures.limit, self.failures.window = limit, window

    def over(self, origin: str) -> bool:
        """Whether ``origin`` is over the limit: its logins are refused unchecked."""
        return self.failures.count(origin) >= self.failures.limit

    async def begin(self, origin: str) -> bool:
        """Start checking a login from ``origin``: at once while the failures and the logins
        being checked are below the limit, else once enough of those are decided; False
        (nothing started) when ``origin`` is over the limit. Every ``begin`` that returned
        True is followed by one ``end``."""
        while not self.over(origin):
            if self.failures.count(origin) + self._checking[origin] < self.failures.limit:
                self._checking[origin] += 1
                return True
            decided = self._decided.get(origin)
            if decided is None:
                decided = self._decided[origin] = asyncio.Event()
            await decided.wait()
        return False

    def end(self, origin: str, *, failed: bool) -> None:
        """A login from ``origin`` is decided; ``failed``: wrong user or password."""
        self._checking[origin] -= 1
        if not self._checking[origin]:
            del self._checking[origin]
        if failed:
            self.failures.add(origin)
        decided = self._decided.pop(origin, None)
        if decided is not None:
            decided.set()  # those waiting look again
