"""One TCP connection: bytes to the parser, blocks to the session, bytes back.

Blocks of one connection are handled one at a time, in order, by a worker
task; writes made during one loop iteration go out in one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from typing import TYPE_CHECKING

from ..core import KNOWN_VERBS, Service, Session
from ..protocol import Block, Limits, Parser, ProtocolError

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger("imipd.connection")

_ids = itertools.count(1)

MAX_QUEUED = 64
"""Blocks read ahead of the handler before reading pauses (backpressure)."""
LINGER = 2.0
"""After framing is lost: seconds to discard input before closing (IMIP.md §2)."""
DRAIN_TIMEOUT = 30.0


class _End:
    """Queued after the last block: the peer finished sending, or the connection is gone."""


_END = _End()


class Connection(asyncio.Protocol):
    """The asyncio side of one client connection; the ``Sink`` of its session."""

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
        self._queue: collections.deque[Block | ProtocolError | _End] = collections.deque()
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._paused = False
        self._closing = False
        self._discarding = False
        self._lost = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else "local"
        self._worker = asyncio.get_running_loop().create_task(self._work())
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
        self.parser.feed(data)
        if self._parse() or self.parser.at_boundary:
            self.block_since = None  # progress: a block finished
        if self.block_since is None and not self.parser.at_boundary:
            self.block_since = now

    def eof_received(self) -> bool | None:
        # The peer may have closed entirely: messages for this user are kept, not written.
        self.session.closing = True
        if not self._discarding and not self._closing:
            self.parser.feed(b"")
            self._parse()
            self._queue.append(_END)
            self._wakeup.set()
            return True  # keep writing: the blocks before the end still get their answers
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.session.closing = True
        self.server.release(self)
        self._out.clear()
        self._queue.append(_END)
        self._wakeup.set()
        if not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        pass  # bounded by the session's own traffic; see drained()

    def resume_writing(self) -> None:
        pass

    # -- parsing -------------------------------------------------------------------

    def _parse(self) -> int:
        """Queue every block (or error) the parser can give now; returns how many."""
        parser = self.parser
        queue = self._queue
        before = len(queue)
        while True:
            try:
                item = parser.next_block()
            except ProtocolError as error:
                queue.append(error)
                if error.fatal:
                    self._discarding = True
                    break
                continue
            if not isinstance(item, Block):
                break
            queue.append(item)
        self._wakeup.set()
        if len(queue) >= MAX_QUEUED and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        return len(queue) - before

    async def _work(self) -> None:
        queue = self._queue
        session = self.session
        try:
            while True:
                while not queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                if self._closing:
                    break  # closed (DISC, 812, a server DISC): what follows is not carried out
                item = queue.popleft()
                if self._paused and len(queue) < MAX_QUEUED // 2 and not self._closing:
                    self._paused = False
                    assert self._transport is not None
                    self._transport.resume_reading()
                if isinstance(item, _End):
                    self.close()
                    break
                if isinstance(item, ProtocolError):
                    session.protocol_error(item)
                    if item.fatal:
                        self._lose_framing()
                    continue
                verb = item.verb if item.verb in KNOWN_VERBS else "other"
                session.service.stats.blocks[verb] += 1
                await session.handle(item)
        finally:
            await session.end()

    # -- the Sink the session writes to ------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None and not self._transport.is_closing():
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._transport.write(data)
            if self._transport.get_write_buffer_size() > self.server.config.max_output_buffer:
                log.warning("%s: the peer does not read (%d bytes waiting): disconnected",
                            self.conn_id, self._transport.get_write_buffer_size())
                self.session.closing = True
                self._closing = True
                self._transport.abort()

    def close(self) -> None:
        if self._closing:
            return
        self._flush()
        self._closing = True
        self.session.closing = True
        if self._transport is not None:
            self._transport.close()

    async def drained(self) -> bool:
        self._flush()
        transport = self._transport
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while transport is not None and transport.get_write_buffer_size():
            if transport.is_closing() or time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return transport is not None and not self._lost.done()

    # -- the server's part ------------------------------------------------------------

    def _lose_framing(self) -> None:
        """Answer already written: flush, shut down our side, discard input, then close."""
        self._flush()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._closing = True
        self.session.closing = True
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:  # the peer is gone already (e.g. reset): nothing to linger for
                transport.abort()
                return
        asyncio.get_running_loop().call_later(LINGER, transport.close)

    def say_goodbye(self, reason: str) -> None:
        """Server DISC to this connection, logged in or not, then close."""
        self.session.disconnect(reason)
        self.close()

    async def wait_closed(self) -> None:
        await self._lost
        if self._worker is not None:
            await asyncio.wait({self._worker})
