"""Which asyncio event loop ``imipd serve`` runs on.

uvloop (libuv under asyncio's interface) is used when it is installed (the
``uvloop`` extra), unless ``event_loop`` says otherwise. imipd batches its reads
and writes per loop iteration, so little of its time is the loop's: on the
benchmark both loops relay and log in at about the same rate. Nothing in imipd
depends on uvloop.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHOICES = ("auto", "uvloop", "asyncio")
"""The values of the ``event_loop`` option."""


class LoopUnavailable(RuntimeError):
    """``event_loop = "uvloop"`` where uvloop is not installed."""


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
            raise LoopUnavailable("event_loop = uvloop, but uvloop is not installed") from error
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


def describe() -> str:
    """The running loop, for the start-up log line (``uvloop 0.23.0`` or ``asyncio``)."""
    module = type(asyncio.get_running_loop()).__module__
    if module.startswith("uvloop"):
        return f"uvloop {importlib.metadata.version('uvloop')}"
    return "asyncio"
