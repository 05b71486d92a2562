"""One logged-in connection: open, greet, log in, set presence, keep alive, say goodbye.

:class:`Client` strings these together across reconnects; a ``LiveConnection`` lives
exactly as long as one TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from ..protocol import Block
from ._link import Link
from ._login import Credentials, log_in
from .errors import ConnectionClosed, ImipError, RequestTimeout, raise_for_error
from .values import Presence, ServerInfo

DEFAULT_KEEP_ALIVE = 60
"""PING interval when the server's HELO names none."""

GOODBYE_WAIT = 5.0
"""Seconds to wait for the answer to ``DISC``, and then for the server to close."""


class LiveConnection:
    """A connection that is logged in: its link, what the server said, its keep-alive."""

    def __init__(self, link: Link, info: ServerInfo, name: str, keep_alive: bool) -> None:
        self.link = link
        self.info = info
        self.name = name
        """The user name as the server spells it."""
        self._keeper: asyncio.Task[None] | None = None
        if keep_alive:
            interval = info.keep_alive or DEFAULT_KEEP_ALIVE
            self._keeper = asyncio.get_running_loop().create_task(self._keep_alive(interval))

    @classmethod
    async def open(cls, host: str, port: int, credentials: Credentials,
                   presence: tuple[Presence, str] | None, *, timeout: float, keep_alive: bool,
                   on_push: Callable[[Block], None],
                   on_lost: Callable[[Link, str], None]) -> LiveConnection:
        """Connect and log in, then send ``presence`` (with its text) if given.

        Raises what ``Link.open`` and ``log_in`` raise, and the typed error of a
        refused ``STAT``; a half-opened connection is closed before raising.
        """
        link = await Link.open(host, port, on_push, on_lost, timeout)
        try:
            info, name = await log_in(link, credentials, timeout)
            if presence is not None:
                value, text = presence
                answer = await link.ask("STAT", (value.value,), (), text.encode("utf-8"),
                                        timeout)
                raise_for_error(answer, "STAT")
            if link.closed:
                raise ConnectionClosed(link.lost_reason or "connection lost")
        except BaseException:
            await say_goodbye(link)
            raise
        return cls(link, info, name, keep_alive)

    async def _keep_alive(self, interval: int) -> None:
        """``PING`` every ``interval`` seconds; a PING left unanswered drops the link."""
        link = self.link
        while not link.closed:
            await asyncio.sleep(interval)
            try:
                await link.ask("PING", timeout=max(float(interval), 1.0))
            except RequestTimeout:
                link.abort("the server did not answer PING")
                return
            except ConnectionClosed:
                return

    def stop(self) -> None:
        """Stop pinging (the link is gone)."""
        if self._keeper is not None and self._keeper is not asyncio.current_task():
            self._keeper.cancel()

    async def close(self) -> None:
        """Stop pinging, say ``DISC``, close."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await say_goodbye(self.link)


async def say_goodbye(link: Link) -> None:
    """``DISC``, wait for its ``ACK`` and the server's close, then close our side."""
    if not link.closed:
        with contextlib.suppress(ImipError):
            await link.ask("DISC", timeout=GOODBYE_WAIT)
            await link.wait_closed(GOODBYE_WAIT)
    await link.close()
