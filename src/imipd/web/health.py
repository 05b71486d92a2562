"""``/healthz``: whether this node can serve, for load balancers and monitors.

Healthy means the IMIP listener accepts connections and the store answers a
trivial read within two seconds. The answer is a small JSON object either way:
200 when healthy, 503 with what failed otherwise.
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
    """``GET /healthz`` → ``{"status": "ok", "imip": "listening", "store": "ok", ...}``."""
    ctx = context(request)
    imip_ok = ctx.imip_listening()
    try:
        await asyncio.wait_for(ctx.service.store.get_user(PROBE_USER), STORE_TIMEOUT)
        store_ok = True
    except Exception as error:
        log.warning("health check: the store failed: %r", error)
        store_ok = False
    healthy = imip_ok and store_ok
    return web.json_response({
        "status": "ok" if healthy else "unavailable",
        "imip": "listening" if imip_ok else "not listening",
        "store": "ok" if store_ok else "failing",
        "sessions": len(ctx.service.router),
    }, status=200 if healthy else 503, headers={"Cache-Control": "no-store"})
