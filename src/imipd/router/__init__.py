"""Who is online where, what watchers see of them, and delivery of events to them.

``Router`` is the interface and ``Endpoint`` what a live session offers it;
``LocalRouter`` (in-process) is the embedded default. The events it carries are
in ``events``. A Redis-backed router for several nodes comes behind the same
interface.
"""

from .base import (
    OFFLINE,
    OFFLINE_VIEW,
    Endpoint,
    Outcome,
    Router,
    SessionInfo,
    View,
    delivered,
)
from .events import (
    HANDED_BACK,
    WAITING,
    Event,
    HandbackEvent,
    KickEvent,
    MessageEvent,
    PresenceEvent,
    RequestEvent,
    WaitingEvent,
)
from .local import LocalRouter

__all__ = [
    "HANDED_BACK",
    "OFFLINE",
    "OFFLINE_VIEW",
    "WAITING",
    "Endpoint",
    "Event",
    "HandbackEvent",
    "KickEvent",
    "LocalRouter",
    "MessageEvent",
    "Outcome",
    "PresenceEvent",
    "RequestEvent",
    "Router",
    "SessionInfo",
    "View",
    "WaitingEvent",
    "delivered",
]
