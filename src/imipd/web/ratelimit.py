"""The per-address sign-up limit (``signups_per_hour``).

Self-registration creates accounts for anyone who asks, so one address may
only create a few per hour: a ``SlidingWindow`` of the core's.
"""

from __future__ import annotations

from ..core.throttle import SlidingWindow

WINDOW = 3600.0
"""Seconds a sign-up counts against its address."""


class SignupLimit:
    """Counts sign-ups per client address over the last hour."""

    def __init__(self, per_hour: int) -> None:
        self._window = SlidingWindow(per_hour, WINDOW)

    @property
    def per_hour(self) -> int:
        return self._window.limit

    @per_hour.setter
    def per_hour(self, value: int) -> None:
        self._window.limit = value

    def take(self, address: str) -> bool:
        """Count one sign-up from ``address``; False (and not counted) when over the limit."""
        return self._window.take(address)
