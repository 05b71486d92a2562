"""The IMIP front: the IMIP socket's side of the service, over the core.

A ``Conversation`` (sans-IO) carries one connection's life; its ``ImipSession``
turns blocks into the core's intents and the core's outcomes and events into
blocks; ``answers`` is the one mapping to status codes. ``Front`` holds what every
connection of a server shares.
"""

from .conversation import ConnState, Conversation, Transport
from .front import Front, ImipSettings, WireStats
from .session import ImipSession
from .verbs import ALLOWED, Phase, Verb

__all__ = [
    "ALLOWED",
    "ConnState",
    "Conversation",
    "Front",
    "ImipSession",
    "ImipSettings",
    "Phase",
    "Transport",
    "Verb",
    "WireStats",
]
