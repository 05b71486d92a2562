"""The IMIP front of one server: its settings, its counters, and a conversation per connection."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from ..core import Service
from ..protocol import DigestOrder, Limits
from ..protocol import headers as H
from .verbs import Verb


@dataclass(frozen=True)
class ImipSettings:
    """What the IMIP front needs of the configuration (built from ``Config``)."""

    service: str
    """The service's domain (HELO ``Service``)."""
    service_display_name: str
    public_url: str
    """The ``Registration`` URL of HELO; empty: the header is left out (no web side)."""
    keep_alive: int
    digest_order: DigestOrder
    error_reasons: bool
    """Error ACKs carry a short reason as their body."""

    def hello_headers(self) -> tuple[tuple[str, str], ...]:
        """The server HELO's headers (``ID`` is added when it is written)."""
        registration = ((H.REGISTRATION, self.public_url),) if self.public_url else ()
        return (
            (H.AUTH_TYPE, "imip-md5"),
            (H.CAPABILITIES, "server-lists"),
            (H.KEEP_ALIVE, str(self.keep_alive)),
            (H.PROTOCOL, H.PROTOCOL_VERSION),
            *registration,
            (H.SERVICE, self.service),
            (H.SERVICE_DISPLAY_NAME, self.service_display_name),
        )


@dataclass
class WireStats:
    """Counters of the IMIP front, read by ``/metrics``. ``blocks`` is counted for every block,
    so it is a plain dict holding every key from the start."""

    blocks: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*sorted(Verb), "other"), 0))
    """Blocks received, by verb (unknown verbs as ``other``)."""
    answers: Counter[int] = field(default_factory=Counter)
    """ACKs sent, by status."""
    bad_blocks: Counter[int] = field(default_factory=Counter)
    """Blocks the parser refused, by status."""


class Front:
    """Shared by every IMIP connection of one server."""

    def __init__(self, service: Service, settings: ImipSettings, limits: Limits) -> None:
        self.service = service
        self.settings = settings
        self.limits = limits
        self.hello_headers = settings.hello_headers()
        self.stats = WireStats()

    def reconfigure(self, settings: ImipSettings, limits: Limits) -> None:
        """New settings (a reload): HELO at once, limits for connections made from now on."""
        self.settings = settings
        self.limits = limits
        self.hello_headers = settings.hello_headers()

    def advertise(self, public_url: str) -> None:
        """Set the ``Registration`` URL of HELO (known once the web listener is bound)."""
        self.reconfigure(dataclasses.replace(self.settings, public_url=public_url), self.limits)
