"""Which asyncio event loop ``imipd serve`` runs on.

uvloop (libuv under asyncio's interface) runs imipd's relay path with far less
loop overhead and far smaller transports than asyncio's own loop; imipd uses it
when it is installed unless told otherwise. Nothing in imipd depends on it.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHOICES = ("auto", "uvloop", "asyncio")


def resolve(choice: str) -> str:
    """The loop ``choice`` means here: ``auto`` is uvloop when importable, else asyncio."""
    if choice == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return choice


def run(main: Coroutine[Any, Any, T], choice: str) -> T:
    """Run ``main`` to completion on the chosen loop (``uvloop`` must then be installed)."""
    if resolve(choice) == "uvloop":
        try:
            import uvloop
        except ImportError as error:
            main.close()
            raise RuntimeError("event_loop = uvloop, but uvloop is not installed") from error
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


def describe() -> str:
    """The running loop, for the start-up log line (``uvloop 0.23.0`` or ``asyncio``)."""
    module = type(asyncio.get_running_loop()).__module__
    if module.startswith("uvloop"):
        return f"uvloop {importlib.metadata.version('uvloop')}"
    return "asyncio"
