"""What the rules refuse, as domain errors: the message is for people, and no error
carries a wire status. Each front maps them to its own answers in one place (the
IMIP front: ``imip.answers``)."""

from __future__ import annotations


class Refused(Exception):
    """A user's intent the rules refuse."""


class InvalidRequest(Refused):
    """The request makes no sense (asking to watch oneself)."""


class NoSuchUser(Refused):
    """The user named does not exist."""


class RateLimited(Refused):
    """The session asks too often (messages, permission requests)."""


class RecipientFull(Refused):
    """The recipient has as many messages waiting as the service keeps for one user."""


class LoginFailed(Refused):
    """Wrong user or password."""


class LoginThrottled(Refused):
    """Too many failed logins from the origin: not checked."""
