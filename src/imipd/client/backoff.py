"""How long the client waits between reconnection attempts (exponential, with jitter)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect policy: wait ``initial`` seconds, then ``factor`` times longer after each
    failed attempt, never more than ``maximum``; each wait is shortened by up to
    ``jitter`` (a fraction) so that many clients do not return all at once.
    ``attempts`` bounds the tries per loss (None: keep trying until closed)."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.1
    attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("Backoff needs 0 < initial <= maximum and factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("Backoff jitter is a fraction in [0, 1)")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("Backoff attempts must be at least 1")

    def delays(self) -> Iterator[float]:
        """The waits before each attempt, in seconds."""
        delay = self.initial
        count = 0
        while self.attempts is None or count < self.attempts:
            count += 1
            yield delay * (1 - self.jitter * random.random())
            delay = min(delay * self.factor, self.maximum)
