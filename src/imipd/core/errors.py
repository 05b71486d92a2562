"""Domain refusals, each mapped to its status in exactly one place: here."""

from __future__ import annotations

from ..protocol import Status


class Reject(Exception):
    """A block cannot be carried out; the session answers ``ACK <status>``."""

    status: Status = Status.BAD_HEADER

    def __init__(self, reason: str, status: Status | None = None, *, quiet: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.quiet = quiet
        """Logged but not answered (``MESG`` with ``ACK-Type: none``)."""
        if status is not None:
            self.status = status


class BadHeader(Reject):
    status = Status.BAD_HEADER


class NoSuchUser(Reject):
    status = Status.NO_SUCH_USER


class CloseAfter(Reject):
    """Answer, then close the connection (810, 812)."""
