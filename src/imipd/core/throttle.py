"""Sliding-window counts per origin: the failed-login throttle (IMIP.md §3.2), sign-ups.

Beyond ``limit`` failed logins from one origin within ``window`` seconds, every
further login from it is refused unchecked. A login still being checked counts
against the limit until it is decided (``begin`` … ``end``), so logins that arrive
together never get more checks than the limit allows.
"""

from __future__ import annotations

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

    def reconfigure(self, limit: int, window: float) -> None:
        self.failures.limit, self.failures.window = limit, window

    def over(self, origin: str) -> bool:
        """Whether a login from ``origin`` would be refused unchecked now."""
        return self.failures.count(origin) + self._checking[origin] >= self.failures.limit

    def begin(self, origin: str) -> bool:
        """Start checking a login from ``origin``; False (nothing started) when over the limit.
        Every ``begin`` that returned True is followed by one ``end``."""
        if self.over(origin):
            return False
        self._checking[origin] += 1
        return True

    def end(self, origin: str, *, failed: bool) -> None:
        """A login from ``origin`` is decided; ``failed``: wrong user or password."""
        self._checking[origin] -= 1
        if not self._checking[origin]:
            del self._checking[origin]
        if failed:
            self.failures.add(origin)
