"""Counters of what the service did, read by ``/metrics`` and the logs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Plain counters; the web layer exports them (no metrics library in the core)."""

    logins: Counter[str] = field(default_factory=Counter)
    """By result: ok, failed, throttled, closed (812)."""
    blocks: Counter[str] = field(default_factory=Counter)
    """Blocks received, by verb."""
    answers: Counter[int] = field(default_factory=Counter)
    """ACKs sent, by status."""
    messages: Counter[str] = field(default_factory=Counter)
    """delivered, stored, flushed (stored then delivered), dropped (blocked), rejected."""
    bad_blocks: Counter[int] = field(default_factory=Counter)
    """Blocks the parser refused, by status."""
