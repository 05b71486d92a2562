"""Token buckets: how fast one session may send messages or permission requests."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows ``rate`` events per second on average, in bursts of up to ``burst``.

    Starts full. ``allow()`` takes one token when there is one.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
