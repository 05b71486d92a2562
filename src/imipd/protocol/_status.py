"""The status codes of docs/protocol.md §9, in one table."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """A status an ``ACK`` block carries; ``meaning`` is the short text for people."""

    meaning: str
    observed: bool

    def __new__(cls, code: int, meaning: str, observed: bool = False) -> Status:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        member.observed = observed
        return member

    OK = (600, "OK", True)
    STORED = (601, "accepted; the recipient is not online, delivered when they are")
    MALFORMED = (800, "malformed block")
    UNKNOWN_TYPE = (801, "unknown block type")
    WRONG_STATE = (802, "not allowed in this state")
    BAD_HEADER = (803, "missing or invalid header or argument")
    BAD_PROTOCOL = (810, "unsupported protocol version")
    LOGIN_FAILED = (811, "login failed: wrong user or password", True)
    TOO_MANY_FAILURES = (812, "too many failed logins")
    BAD_AUTH_TYPE = (813, "unsupported Auth-Type")
    NO_SUCH_USER = (820, "no such user")
    NOT_PERMITTED = (821, "not permitted by the server's policy")
    DECLINED = (822, "request declined")
    RATE_LIMITED = (830, "rate limited: slow down")
    TOO_LARGE = (850, "block or body too large")
    SERVER_ERROR = (890, "server error: nothing was accepted, try again")

    @property
    def is_error(self) -> bool:
        """True for every code that reports a failure (8xx)."""
        return self >= 800
