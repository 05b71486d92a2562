"""The web side of one server: aiohttp on the server's own event loop.

``WebSide`` owns the application and its listener; the server starts it after
the IMIP listener and stops it first on shutdown. Routes:

    /register    the sign-up page HELO's Registration header points to
    /healthz     200 or 503, JSON
    /metrics     Prometheus text format
    /api/...     the JSON admin API (bearer token)
    /            redirects to /register
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable

from aiohttp import web

from ..core import Service
from ..imip import WireStats
from . import api, health, register
from .context import CONTEXT, WebContext, WebSettings, context
from .csrf import CsrfGuard
from .metrics import WebMetrics
from .ratelimit import SignupLimit

log = logging.getLogger("imipd.web")

MAX_REQUEST = 64 * 1024
"""Largest request body, bytes (a sign-up form or an API call is far smaller)."""
SHUTDOWN_TIMEOUT = 2.0
"""Seconds in-flight requests get when the server stops."""

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = "imipd"  # not the Python and aiohttp versions


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the exposition format the scraper asks for (text by default)."""
    body, content_type = await context(request).metrics.render(
        request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type,
                                            "Cache-Control": "no-store"})


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("register")


def build_app(service: Service, settings: WebSettings, *, imip_listening: Callable[[], bool],
              connections: Callable[[], int], wire: WireStats) -> web.Application:
    """The application with every route, sharing one ``WebContext``."""
    app = web.Application(client_max_size=MAX_REQUEST)
    app[CONTEXT] = WebContext(
        service=service, settings=settings, imip_listening=imip_listening,
        connections=connections, metrics=WebMetrics(service, connections, wire),
        csrf=CsrfGuard(settings.csrf_secret), signups=SignupLimit(settings.signups_per_hour))
    app.add_routes([web.get("/", index), *register.routes(),
                    web.get("/healthz", health.healthz), web.get("/metrics", metrics)])
    app.add_subapp("/api/", api.application())
    app.on_response_prepare.append(_security_headers)
    return app


class WebListenError(OSError):
    """The web side could not bind its address; the message says how to move it."""

    def __init__(self, host: str | None, port: int, cause: OSError) -> None:
        shown = "*" if host is None else f"[{host}]" if ":" in host else host
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        if cause.errno == errno.EADDRINUSE:
            reason += " (another program, or another imipd, has it)"
        example_host = host if host and ":" not in host else "127.0.0.1"
        example = f"{example_host}:{port + 1 if 0 < port < 65535 else 0}"
        super().__init__(
            cause.errno, f"the web side cannot listen on {shown}:{port}: {reason}. "
            f"Move it with --web HOST:PORT (e.g. --web {example}; with make: "
            f"make run ARGS='--web {example}'), or turn it off with --web off "
            "(in the config file: web = \"HOST:PORT\" or \"off\"; environment: IMIPD_WEB).")
        self.host, self.port = host, port

    def __str__(self) -> str:
        return str(self.strerror)


class WebSide:
    """The HTTP listener of one server: ``start`` binds it, ``stop`` closes it."""

    def __init__(self, service: Service, settings: WebSettings, *,
                 imip_listening: Callable[[], bool], connections: Callable[[], int],
                 wire: WireStats) -> None:
        self.app = build_app(service, settings, imip_listening=imip_listening,
                             connections=connections, wire=wire)
        self.settings = settings
        self._runner: web.AppRunner | None = None

    async def start(self, host: str | None, port: int) -> int:
        """Listen on ``host:port`` (None: every interface); returns the bound port.
        Raises ``WebListenError`` when the address cannot be bound."""
        runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT,
                               access_log=logging.getLogger("imipd.web.access"))
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        except OSError as error:
            await runner.cleanup()
            raise WebListenError(host, port, error) from None
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return self.port

    @property
    def port(self) -> int:
        assert self._runner is not None
        address = self._runner.addresses[0]
        return int(address[1])

    def bound(self) -> list[tuple[str, int]]:
        """(host, port) of every bound socket."""
        if self._runner is None:
            return []
        return [(str(address[0]), int(address[1])) for address in self._runner.addresses]

    def addresses(self) -> list[str]:
        """``http://host:port`` of every bound socket."""
        if self._runner is None:
            return []
        out = []
        for address in self._runner.addresses:
            host, port = address[0], address[1]
            out.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
        return out

    def reconfigure(self, settings: WebSettings) -> None:
        """Take new settings while running (a reload); sign-up counts are kept."""
        context = self.app[CONTEXT]
        context.settings = settings
        context.signups.per_hour = settings.signups_per_hour
        self.settings = settings

    async def stop(self) -> None:
        """Stop listening; in-flight requests get ``SHUTDOWN_TIMEOUT`` seconds."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
