"""The service's rules, on intents: signing in, presence, permissions, messages.

The core never sees a socket, SQL or a wire status. A front (the IMIP socket; later
XMPP) turns what a client sends into the intents of ``login``, ``presence``,
``contacts`` and ``messages``, and shows what a ``Session`` passes to its
``Outlet``. Durable state goes through ``Store``; other users are reached only
through ``Router``. Besides the refusals of the rules, an intent may fail with
``Unavailable``: what it had to record could not be recorded now, and nothing was done.
"""

from ..store import Unavailable
from .errors import (
    InvalidRequest,
    LoginFailed,
    LoginThrottled,
    NoSuchUser,
    RateLimited,
    RecipientFull,
    Refused,
)
from .service import Service, Settings
from .session import Outlet, Session
from .stages import Presence, Stage

__all__ = [
    "InvalidRequest",
    "LoginFailed",
    "LoginThrottled",
    "NoSuchUser",
    "Outlet",
    "Presence",
    "RateLimited",
    "RecipientFull",
    "Refused",
    "Service",
    "Session",
    "Settings",
    "Stage",
    "Unavailable",
]
