"""Counters of what the service did, read by ``/metrics`` and the logs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MESSAGE_RESULTS = ("delivered", "stored", "flushed", "dropped", "rejected", "kept back")
"""What became of a message: delivered live, stored, delivered after being stored,
dropped (the recipient blocks the sender), rejected, put back in the store (its
connection closed before the recipient had it)."""

LOGIN_RESULTS = ("ok", "failed", "throttled", "closed")
"""How a login ended: accepted, wrong user or password, not checked (too many failures
from the origin), wrong and the last one a connection may try."""


@dataclass
class Stats:
    """Plain counters; the web layer exports them (no metrics library in the core).

    ``messages`` is counted for every relayed message, so it is a plain dict holding
    every key from the start (a ``Counter`` costs twice as much per increment).
    """

    logins: Counter[str] = field(default_factory=Counter)
    """By result, one of ``LOGIN_RESULTS``."""
    messages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MESSAGE_RESULTS, 0))
    """By result, one of ``MESSAGE_RESULTS``."""
