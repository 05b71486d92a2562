"""What a block means: login, presence, permissions, messages, per session.

The core never sees a socket or SQL: a ``Session`` reads blocks and writes
bytes to a ``Sink``; durable state goes through ``Store``, live sessions are
found through ``Router``.
"""

from .service import Service, Settings
from .session import ALLOWED, KNOWN_VERBS, Phase, Session, Sink

__all__ = ["ALLOWED", "KNOWN_VERBS", "Phase", "Service", "Session", "Settings", "Sink"]
