"""The HTTP side of the service: registration page, ``/healthz``, ``/metrics``, admin API.

It runs on the server's own event loop and uses the core and the store
directly, never the IMIP socket (ARCHITECTURE.md). See docs/web.md.
"""

from .app import WebSide, build_app
from .context import WebSettings

__all__ = ["WebSettings", "WebSide", "build_app"]
