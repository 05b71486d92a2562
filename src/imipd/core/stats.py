"""Counters of what the service did, read by ``/metrics`` and the logs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .session import KNOWN_VERBS

MESSAGE_RESULTS = ("delivered", "stored", "flushed", "dropped", "rejected")
"""What became of a ``MESG``: delivered live, stored, delivered after being stored,
dropped (the recipient blocks the sender), rejected."""


@dataclass
class Stats:
    """Plain counters; the web layer exports them (no metrics library in the core).

    ``blocks`` and ``messages`` are counted for every relayed message, so they are
    plain dicts holding every key from the start (a ``Counter`` costs twice as much
    per increment); the others count rarer things.
    """

    logins: Counter[str] = field(default_factory=Counter)
    """By result: ok, failed, throttled, closed (812)."""
    blocks: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*sorted(KNOWN_VERBS), "other"), 0))
    """Blocks received, by verb (unknown verbs as ``other``)."""
    answers: Counter[int] = field(default_factory=Counter)
    """ACKs sent, by status."""
    messages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MESSAGE_RESULTS, 0))
    """By result, one of ``MESSAGE_RESULTS``."""
    bad_blocks: Counter[int] = field(default_factory=Counter)
    """Blocks the parser refused, by status."""
