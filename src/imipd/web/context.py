"""What every web handler shares: the service, the web's settings, and the client's address.

The web side may use the core and the store but never the IMIP socket
(ARCHITECTURE.md), so the server hands it plain values (``WebSettings``) and
two small callables for what only the server knows: whether the IMIP listener
serves, and how many connections are open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from ..core import Service
from .csrf import CsrfGuard
from .metrics import WebMetrics
from .ratelimit import SignupLimit


@dataclass(frozen=True)
class WebSettings:
    """The web side's part of the configuration (built by the server from ``Config``, which
    holds every default)."""

    imip_port: int
    """The IMIP port people connect to (the bound one)."""
    service_display_name: str
    public_url: str
    """The Registration URL HELO advertises (decided by the server once both listeners
    are bound)."""
    registration: bool
    """Whether people may sign up on ``/register``."""
    first_number: int
    """The first account number self-registration hands out."""
    signups_per_hour: int
    """Sign-ups per client address per hour."""
    min_password_length: int
    """The shortest password sign-up and the admin API accept (``core.accounts``' rule)."""
    trust_forwarded_for: bool
    """Take the client address from ``X-Forwarded-For`` (behind a trusted reverse proxy)."""
    admin_token: str
    """Bearer token of ``/api/``; empty: the API answers 404."""
    csrf_secret: bytes
    """Key of the sign-up form's CSRF tokens; empty: a fresh one for this process."""


@dataclass
class WebContext:
    """Everything a handler needs, stored once on the application."""

    service: Service
    settings: WebSettings
    imip_listening: Callable[[], bool]
    connections: Callable[[], int]
    metrics: WebMetrics
    csrf: CsrfGuard
    signups: SignupLimit

    @property
    def public_url(self) -> str:
        """The Registration URL HELO advertises."""
        return self.settings.public_url

    @property
    def public_host(self) -> str:
        """The host people reach this service at, from ``public_url``."""
        return urlsplit(self.public_url).hostname or "localhost"


CONTEXT = web.AppKey("imipd", WebContext)


def context(request: web.Request) -> WebContext:
    """The shared context, from any (sub-)application's request."""
    return request.config_dict[CONTEXT]


def client_address(request: web.Request) -> str:
    """The address a request came from, for the sign-up limit and the logs."""
    return forwarded_address(request.remote or "?",
                             request.headers.getall("X-Forwarded-For", []),
                             trust=context(request).settings.trust_forwarded_for)


def forwarded_address(remote: str, forwarded_for: list[str], *, trust: bool) -> str:
    """The client's address: ``remote``, or behind a trusted reverse proxy the last
    address of ``X-Forwarded-For``, the one the proxy itself appended. Earlier entries
    are whatever the client chose to send and are never trusted."""
    if not trust:
        return remote
    entries = [entry.strip() for line in forwarded_for for entry in line.split(",")]
    if not entries or not entries[-1]:
        return remote
    try:
        return str(ipaddress.ip_address(entries[-1]))
    except ValueError:
        return remote


def is_https(request: web.Request) -> bool:
    """Whether the person sees this page over HTTPS (directly, or at a trusted proxy)."""
    if request.secure:
        return True
    return (context(request).settings.trust_forwarded_for
            and request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https")
