"""Who is online on which connection, and handing an event to a user's session.

``Router`` is the interface; ``LocalRouter`` (in-process) is the default. A
Redis-backed router for several nodes comes later behind the same interface.
"""

from .base import Router
from .local import LocalRouter

__all__ = ["LocalRouter", "Router"]
