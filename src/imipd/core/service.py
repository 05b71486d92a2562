"""The service: what every session shares (store, router, settings, counters)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from ..protocol import DigestOrder
from ..protocol import headers as H
from ..router import Router
from ..store import Store
from . import features
from .session import Session
from .stats import Stats
from .throttle import LoginThrottle

log = logging.getLogger("imipd.service")


@dataclass(frozen=True)
class Settings:
    """What the core needs to know of the configuration."""

    service: str = "localhost"
    service_display_name: str = "imipd"
    public_url: str = "http://127.0.0.1:8080/register"
    """The ``Registration`` URL of HELO; empty: the header is left out (no web side)."""
    keep_alive: int = 60
    digest_order: DigestOrder = DigestOrder.CHALLENGE_PASSWORD
    login_failures: int = 10
    login_window: float = 60.0
    error_reasons: bool = False
    messages_per_second: int = 50
    """0: no limit."""
    message_burst: int = 200
    requests_per_hour: int = 60
    """0: no limit."""
    max_stored_per_user: int = 10000

    def hello_headers(self) -> tuple[tuple[str, str], ...]:
        """The server HELO's headers (ID is added when it is written)."""
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


class Service:
    """Shared by every session of one server process."""

    features = features

    def __init__(self, settings: Settings, store: Store, router: Router[Session]) -> None:
        self.settings = settings
        self.store = store
        self.router = router
        self.throttle = LoginThrottle(settings.login_failures, settings.login_window)
        self.stats = Stats()
        self.hello_headers = settings.hello_headers()

    @property
    def error_reasons(self) -> bool:
        return self.settings.error_reasons

    def reconfigure(self, settings: Settings) -> None:
        """Take new settings while running (a reload); live sessions keep their state."""
        self.settings = settings
        self.hello_headers = settings.hello_headers()
        self.throttle.limit = settings.login_failures
        self.throttle.window = settings.login_window

    def advertise(self, public_url: str) -> None:
        """Set the ``Registration`` URL of HELO (known once the web listener is bound)."""
        self.settings = dataclasses.replace(self.settings, public_url=public_url)
        self.hello_headers = self.settings.hello_headers()

    def kick(self, key: str, reason: str) -> int:
        """Disconnect the user's live session (account deleted, password changed)."""
        session = self.router.get(key)
        if session is None:
            return 0
        session.disconnect(reason)
        return 1

