"""One thread that runs blocking calls in order and hands each result to the event loop.

What ``ThreadPoolExecutor(max_workers=1)`` and ``run_in_executor`` do, without the
parts a single ordered worker does not need: every call through an executor makes
a ``concurrent.futures.Future`` (a lock and a condition) and chains it to an asyncio
future. Logins cross to the store thread on every attempt, so that cost showed.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class DbThread:
    """Runs submitted calls one at a time, in order, on its own thread.

    A call runs to its end even when the awaiting side was cancelled (its effect,
    such as a commit, still happens). The thread is a daemon, so a process that
    exits without ``stop()`` drops the calls still queued; the store's ``close()``,
    which a graceful stop of ``imipd serve`` runs, stops it after them.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, call: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """``call(*args)`` on the thread; await the returned future for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, call, args))
        return future

    async def stop(self) -> None:
        """Let the calls already submitted finish, then end the thread."""
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, call, args = job
            try:
                result = call(*args)
            except BaseException as error:  # handed to the awaiting side, whatever it is
                outcome: tuple[Any, BaseException | None] = (None, error)
            else:
                outcome = (result, None)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
