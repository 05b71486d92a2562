"""The per-address failed-login throttle (IMIP.md §3.2: beyond N failures in W s, 830)."""

from __future__ import annotations

import time
from collections import deque


class LoginThrottle:
    """Counts failed logins per remote address over a sliding window."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def blocked(self, address: str) -> bool:
        """Whether a ``LOGN`` from ``address`` must be answered 830 without checking it."""
        times = self._recent(address, time.monotonic())
        return times is not None and len(times) >= self.limit

    def failed(self, address: str) -> None:
        """Record one failed ``LOGN``."""
        now = time.monotonic()
        times = self._recent(address, now)
        if times is None:
            times = self._failures[address] = deque()
        times.append(now)
