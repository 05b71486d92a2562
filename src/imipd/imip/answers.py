"""The one mapping from the core's outcomes and refusals to IMIP statuses (docs/protocol.md §9).

Handlers raise ``Refusal`` for what only the wire can get wrong (a missing header,
an unsupported protocol), with its status; the core's refusals carry none and get
theirs here.
"""

from __future__ import annotations

from ..core import (
    InvalidRequest,
    LoginFailed,
    LoginThrottled,
    NoSuchUser,
    RateLimited,
    RecipientFull,
    Refused,
    Unavailable,
)
from ..core.messages import Sent
from ..protocol import Status


class Refusal(Exception):
    """A block the IMIP front refuses itself: answered with ``status``."""

    def __init__(self, status: Status, reason: str, *, close: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.close = close
        """Answer, then close the connection (810, 812)."""


STATUS_OF_REFUSED: dict[type[Refused], Status] = {
    InvalidRequest: Status.BAD_HEADER,
    NoSuchUser: Status.NO_SUCH_USER,
    RateLimited: Status.RATE_LIMITED,
    RecipientFull: Status.NOT_PERMITTED,
    LoginFailed: Status.LOGIN_FAILED,
    LoginThrottled: Status.RATE_LIMITED,
}

STATUS_OF_SENT: dict[Sent, Status] = {
    Sent.DELIVERED: Status.OK,
    Sent.ACCEPTED: Status.STORED,
}


def status_of(error: Refused | Unavailable) -> Status:
    """The status that answers a refusal of the core, or what it could not record now
    (``890``: nothing was accepted, try again)."""
    if isinstance(error, Unavailable):
        return Status.SERVER_ERROR
    return STATUS_OF_REFUSED[type(error)]
