"""``/healthz``: whether this node can serve, for load balancers and monitors.

Healthy means the IMIP listener accepts connections, the store answers a trivial
read within two seconds and its last write succeeded, and the journal has room for
live messages (a full disk makes it refuse them). The answer is a small JSON object
either way: 200 when healthy, 503 with what failed otherwise.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .context import context

log = logging.getLogger("imipd.web")

STORE_TIMEOUT = 2.0
PROBE_USER = "healthz"
"""Looked up to prove the store answers; whether it exists does not matter."""


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz`` → ``{"status": "ok", "imip": "listening", "store": "ok", "journal":
    "ok", ...}``."""
    ctx = context(request)
    service = ctx.service
    imip_ok = ctx.imip_listening()
    try:
        await asyncio.wait_for(service.store.get_user(PROBE_USER), STORE_TIMEOUT)
        store_ok = service.store.write_failure is None
    except Exception as error:
        log.warning("health check: the store failed: %r", error)
        store_ok = False
    journal_ok = not service.journal.full
    healthy = imip_ok and store_ok and journal_ok
    return web.json_response({
        "status": "ok" if healthy else "unavailable",
        "imip": "listening" if imip_ok else "not listening",
        "store": "ok" if store_ok else "failing",
        "journal": "ok" if journal_ok else "full",
        "sessions": len(service.router),
    }, status=200 if healthy else 503, headers={"Cache-Control": "no-store"})
