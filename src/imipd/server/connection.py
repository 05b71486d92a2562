"""One TCP connection: bytes to the parser, blocks to the session, bytes back.

Blocks of one connection are carried out one at a time, in order, straight from
the read callback (a task only for a handler that has to wait); writes made
during one loop iteration go out in one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from ..core import KNOWN_VERBS, Service, Session
from ..protocol import END, Block, Limits, Parser, ProtocolError

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger("imipd.connection")

_ids = itertools.count(1)

PAUSE_AT = 64 * 1024
"""Input buffered while a handler waits (for the store) before reading pauses."""
YIELD_AFTER = 64 * 1024
"""A read this large pauses reading until the next loop iteration: other connections get
their turn (uvloop reads a ready socket up to 32 times before it runs anything else)."""
LINGER = 2.0
"""After framing is lost: seconds to discard input before closing (IMIP.md §2)."""
DRAIN_TIMEOUT = 30.0


class Connection(asyncio.Protocol):
    """The asyncio side of one client connection; the ``Sink`` of its session."""

    __slots__ = (  # one per connection: no per-instance dict
        "_closed_waiter", "_closing", "_cut", "_discarding", "_ended", "_flush_scheduled", "_gone",
        "_loop", "_out", "_over", "_paused", "_pumping", "_running", "_transport",
        "block_since", "conn_id", "connected_at", "last_seen", "parser", "peer", "server",
        "session",
    )

    def __init__(self, server: Server, service: Service, limits: Limits) -> None:
        self.server = server
        self.conn_id = f"c{next(_ids)}"
        self.peer = "?"
        self.parser = Parser(limits)
        self.session = Session(service, self)
        self.last_seen = self.connected_at = time.monotonic()
        self.block_since: float | None = None
        """When the unfinished block now being received started (slow senders)."""
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._running: asyncio.Task[None] | None = None
        """A handler that had to wait, carried on in a task (None: nothing waits)."""
        self._pumping = False
        self._ended = False
        self._loop = asyncio.get_running_loop()
        self._gone = False
        """The transport is lost (the connection is closed)."""
        self._cut = False
        """Output may not all have been sent: the connection broke or was aborted
        (``drained`` then says False)."""
        self._over = False
        """The session has ended (watchers told, router left)."""
        self._closed_waiter: asyncio.Future[None] | None = None
        """Made by ``wait_closed`` when it has to wait (most connections are never waited for)."""
        self._paused = False
        self._closing = False
        self._discarding = False

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        # one string per address, shared by its connections
        self.peer = sys.intern(str(peer[0])) if isinstance(peer, tuple) else "local"
        refusal = self.server.admit(self)
        if refusal is not None:
            log.warning("%s from %s refused: %s", self.conn_id, self.peer, refusal)
            self.session.disconnect(refusal)
            return
        log.debug("%s connected from %s", self.conn_id, self.peer)

    def data_received(self, data: bytes) -> None:
        self.last_seen = now = time.monotonic()
        if self._discarding or self._closing:
            return
        parser = self.parser
        parser.feed(data)
        self._pump()
        transport = self._transport
        if not self._paused and not self._closing and transport is not None:
            if self._running is not None and parser.buffered > PAUSE_AT:
                self._paused = True  # backpressure: a handler waits, input piles up
                transport.pause_reading()
            elif len(data) >= YIELD_AFTER:
                self._paused = True
                transport.pause_reading()
                self._loop.call_soon(self._read_again)
        self._note_partial_block(now)

    def eof_received(self) -> bool | None:
        # The peer may have closed entirely: messages for this user are kept, not written.
        self.session.closing = True
        if not self._discarding and not self._closing:
            self.parser.feed(b"")
            self._pump()  # the parser's END comes after the blocks before it
            return True  # keep writing: the blocks before the end still get their answers
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._cut = True
        self._take_nothing_more()
        self.server.release(self)
        self._out.clear()
        self._gone = True
        self._wake_waiter()
        self._pump()

    # -- carrying out blocks --------------------------------------------------------

    def _pump(self) -> None:
        """Carry out the blocks the parser has, in order, each at once.

        Most blocks never wait (a relay, a PING, an ACK), so they run right here with no
        task switch. A handler that has to wait (for the store) goes on in a task, and
        the blocks after it stay in the parser's buffer until it is done: one block at a
        time, in order.
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            self._pump_blocks()
        finally:
            self._pumping = False

    def _pump_blocks(self) -> None:
        parser = self.parser
        session = self.session
        counts = session.service.stats.blocks
        while self._running is None and not self._ended:
            if self._closing:
                self._end()  # closed (DISC, 812, a server DISC): what follows is not done
                return
            try:
                item = parser.next_block()
            except ProtocolError as error:
                self.block_since = None  # a block finished (refused): progress
                session.protocol_error(error)
                if error.fatal:
                    self._discarding = True
                    self._lose_framing()  # closing from here on
                continue
            if isinstance(item, Block):
                self.block_since = None  # a block finished: progress
                verb = item.verb
                counts[verb if verb in KNOWN_VERBS else "other"] += 1
                rest = session.handle(item)
                if rest is not None:
                    self._step(rest)
            elif item is END:
                self.close()
                self._end()
                return
            else:  # the rest has not arrived
                return

    def _read_again(self) -> None:
        """Resume reading (after yielding the loop, or after a handler waited), unless a
        handler still waits with much input buffered."""
        if (self._paused and not self._closing and not self._discarding
                and self._transport is not None
                and (self._running is None or self.parser.buffered <= PAUSE_AT)):
            self._paused = False
            self._transport.resume_reading()

    def _note_partial_block(self, now: float) -> None:
        """Start the slow-sender clock when a block is begun and nothing of ours holds it up."""
        if self._running is not None or self._paused or self.parser.at_boundary:
            self.block_since = None
        elif self.block_since is None:
            self.block_since = now

    def _end(self) -> None:
        self._ended = True
        self._step(self._end_session())

    async def _end_session(self) -> None:
        try:
            await self.session.end()
        finally:
            self._over = True
            self._wake_waiter()

    def _step(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` until it first waits; then let a task carry it on."""
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        self._running = self._loop.create_task(_carry_on(coro, waiting))
        self._running.add_done_callback(self._carried_on)

    def _carried_on(self, task: asyncio.Task[None]) -> None:
        self._running = None
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s: a handler failed", self.conn_id, exc_info=error)
        self._pump()
        self._read_again()
        self._note_partial_block(time.monotonic())

    def _take_nothing_more(self) -> None:
        """Closing: no more writes here, and no more live deliveries to the session."""
        self._closing = True
        self.session.closing = True

    # -- the Sink the session writes to ------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out or self._transport is None:
            return
        if self._transport.is_closing():
            self._out.clear()
            self._cut = True
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        self._transport.write(data)
        if self._transport.get_write_buffer_size() > self.server.config.max_output_buffer:
            log.warning("%s: the peer does not read (%d bytes waiting): disconnected",
                        self.conn_id, self._transport.get_write_buffer_size())
            self._take_nothing_more()
            self._cut = True
            self._transport.abort()

    def close(self) -> None:
        if self._closing:
            return
        self._flush()
        self._take_nothing_more()
        if self._transport is not None:
            self._transport.close()

    async def drained(self) -> bool:
        """Until everything written is with the kernel: True then (also when the
        connection was closed gracefully meanwhile, which sends what was written
        first); False when some of it may never be sent."""
        self._flush()
        transport = self._transport
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while transport is not None and not self._cut and transport.get_write_buffer_size():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return transport is not None and not self._cut

    # -- the server's part ------------------------------------------------------------

    def _lose_framing(self) -> None:
        """Answer already written: flush, shut down our side, discard input, then close."""
        self._flush()
        self._take_nothing_more()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._paused:  # read (and discard) during the linger, or the close would reset
            self._paused = False
            transport.resume_reading()
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:  # the peer is gone already (e.g. reset): nothing to linger for
                self._cut = True
                transport.abort()
                return
        self._loop.call_later(LINGER, transport.close)

    def say_goodbye(self, reason: str) -> None:
        """Server DISC to this connection, logged in or not, then close."""
        self.session.disconnect(reason)
        self.close()

    async def wait_closed(self) -> None:
        """Until the connection is closed and its session has ended."""
        if not (self._gone and self._over):
            if self._closed_waiter is None:
                self._closed_waiter = self._loop.create_future()
            await self._closed_waiter

    def _wake_waiter(self) -> None:
        waiter = self._closed_waiter
        if self._gone and self._over and waiter is not None and not waiter.done():
            waiter.set_result(None)


async def _carry_on(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Go on with a coroutine that was started by hand and is waiting on ``waiting``."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False  # taken over, as Task.__step does
                try:
                    await waiting
                except asyncio.CancelledError:
                    raise
                except Exception:
                    pass  # the coroutine gets the error itself when it goes on
            waiting = coro.send(None)
    except StopIteration:
        return
    except asyncio.CancelledError:
        coro.close()
        raise
