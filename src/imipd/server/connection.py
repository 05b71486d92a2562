"""One TCP connection on asyncio: the transport, timers and back-pressure of a ``Conversation``.

What the connection's life means (blocks in order, when to close, linger or end)
is the conversation's, sans-IO; this module moves bytes, runs in a task whatever
the conversation hands out to wait, and watches the clocks. Writes made during one
loop iteration go out in one ``transport.write``, after the journal of live messages
has been written.

It also tells how many of the bytes written the peer's TCP has acknowledged (the
kernel knows, ``kernel.acknowledged``): messages the service answered for are retired by
that as the acknowledgements come (asked every ``ACK_EVERY`` bytes written, and once a
second by the sweep), and what is left when the connection ends, counted once more
before the socket closes, goes back to the store. Closing the connection itself while
such messages may still be on their way, it first shuts down its side and waits a
moment for the peer to acknowledge what it was sent; cutting it (``abort``), it resets
it, so that nothing leaves after what was counted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from ..core import Session
from ..imip import ConnState, Conversation, Front
from ..imip.conversation import Step
from ..store import Journal
from . import kernel

log = logging.getLogger("imipd.connection")

_ids = itertools.count(1)

PAUSE_AT = 64 * 1024
"""Input buffered while a handler waits (for the store) before reading pauses."""
YIELD_AFTER = 64 * 1024
"""A read this large pauses reading until the next loop iteration: other connections get
their turn (uvloop reads a ready socket up to 32 times before it runs anything else)."""
LINGER = 2.0
"""After framing is lost: seconds to discard input before closing (docs/protocol.md §3.3)."""
DRAIN_TIMEOUT = 30.0
ACK_WAIT = 2.0
"""Closing: seconds to wait for the peer to acknowledge what it was sent."""
ACK_POLL = 0.05
ACK_EVERY = 16 * 1024
"""Bytes written between asking the kernel what the peer acknowledged (besides the sweep,
once a second): after a crash, at most what was acknowledged since may come again."""
OPEN = ConnState.OPEN

if sys.version_info >= (3, 12):
    def _start(loop: asyncio.AbstractEventLoop, step: Step) -> asyncio.Task[None]:
        """A task whose first step runs now (a handler that never suspends is done on return)."""
        assert step is not None
        return asyncio.Task(step, loop=loop, eager_start=True)
else:
    def _start(loop: asyncio.AbstractEventLoop, step: Step) -> asyncio.Task[None]:
        """A task; before Python 3.12 its first step runs at the loop's next iteration."""
        assert step is not None
        return loop.create_task(step)


@dataclass(frozen=True)
class Gate:
    """What a connection needs of its server: admission, the output limit, the journal."""

    admit: Callable[[Connection], str | None]
    """Count a new connection in; the reason to refuse it when over a limit."""
    release: Callable[[Connection], None]
    max_output_buffer: int
    """Bytes waiting for a peer that does not read before it is cut off."""
    journal: Journal
    """Written before any bytes leave for a socket (answers included)."""


class Connection(asyncio.Protocol):
    """The asyncio side of one client connection; the ``Transport`` of its conversation."""

    __slots__ = (  # one per connection: no per-instance dict
        "_ack_at", "_acked", "_after_hold", "_closed", "_closed_waiter", "_cut", "_drain_waiter",
        "_exact", "_final", "_flush_scheduled", "_front", "_gate", "_gone", "_gone_waiter",
        "_handed", "_hold", "_holding", "_loop", "_out", "_paused", "_sock", "_transport",
        "_writing_paused", "_written", "block_since", "conn_id", "connected_at",
        "conversation", "last_seen", "peer",
    )

    def __init__(self, front: Front, gate: Gate) -> None:
        self._gate = gate
        self.conn_id = f"c{next(_ids)}"
        self.peer = "?"
        self.conversation: Conversation | None = None
        """Made when the transport is (its origin is the peer's address)."""
        self.last_seen = self.connected_at = time.monotonic()
        self.block_since: float | None = None
        """When the unfinished block now being received started (slow senders)."""
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()
        self._paused = False
        self._gone = False
        """The transport is lost (the connection is closed)."""
        self._closed = False
        """Closing (or gone): what is written from now on is dropped."""
        self._cut = False
        """Output may not all have been sent: the connection broke or was aborted."""
        self._writing_paused = False
        """Output waits in the transport's buffer (asyncio's flow control says so)."""
        self._drain_waiter: asyncio.Future[None] | None = None
        """Made by ``drained`` when it has to wait for the buffer to empty."""
        self._closed_waiter: asyncio.Future[None] | None = None
        """Made by ``wait_closed`` when it has to wait (most connections are never waited for)."""
        self._gone_waiter: asyncio.Future[None] | None = None
        self._front = front
        self._sock: socket.socket | None = None
        self._written = 0
        """Bytes the conversation wrote (what ``write`` counts)."""
        self._handed = 0
        """Of those, bytes handed to the transport."""
        self._acked = 0
        """Of those, bytes the peer's TCP acknowledged, as last known."""
        self._ack_at = ACK_EVERY
        """``_handed`` from which to ask the kernel again (``ACK_EVERY``)."""
        self._final: int | None = None
        """``_acked`` when the connection ended: what the peer had."""
        self._exact = True
        """Whether ``_final`` is what the peer had (the kernel could be asked at the end, or
        the peer had acknowledged everything)."""
        self._hold = 0
        """The journal's ``recorded`` count this connection's output waits for: it answers
        for messages the journal has not committed yet (never, with a file journal)."""
        self._holding = False
        """Output waits for the journal (``_hold``)."""
        self._after_hold: Callable[[], None] | None = None
        """A close asked for while output was held: done once it has gone."""

    @property
    def user(self) -> Session | None:
        """The core's session of the user logged in here, if any."""
        return None if self.conversation is None else self.conversation.session.user

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        # pause_writing whenever output waits, resume_writing once it has all left: drained()
        self._transport.set_write_buffer_limits(high=0, low=0)
        self._sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername")
        # one string per address, shared by its connections
        self.peer = sys.intern(str(peer[0])) if isinstance(peer, tuple) else "local"
        self.conversation = Conversation(self._front, self, self.peer, self.conn_id)
        refusal = self._gate.admit(self)
        if refusal is not None:
            log.warning("%s from %s refused: %s", self.conn_id, self.peer, refusal)
            self._run(self.conversation.say_goodbye(refusal))
            return
        log.debug("%s connected from %s", self.conn_id, self.peer)

    def data_received(self, data: bytes) -> None:
        self.last_seen = now = time.monotonic()
        conversation = self.conversation
        assert conversation is not None
        finished = conversation.finished
        step = conversation.receive(data)
        if step is not None:
            self._run(step)
        if conversation.finished != finished:
            self.block_since = None  # a block finished: progress
        transport = self._transport
        if not self._paused and conversation.state is OPEN and transport is not None:
            if conversation.busy and conversation.parser.buffered > PAUSE_AT:
                self._paused = True  # backpressure: a handler waits, input piles up
                transport.pause_reading()
            elif len(data) >= YIELD_AFTER:
                self._paused = True
                transport.pause_reading()
                self._loop.call_soon(self._read_again)
        self._note_partial_block(now)

    def eof_received(self) -> bool | None:
        assert self.conversation is not None
        if self._owes():
            self.acknowledged()  # while the kernel can still be asked (uvloop closes first)
        if self.conversation.state is not OPEN:
            return None
        self._run(self.conversation.receive_eof())
        return True  # keep writing: the blocks before the end still get their answers

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._cut = True
        self._settle_acknowledged()
        self._gate.release(self)
        self._out.clear()
        self._gone = self._closed = True
        _wake(self._drain_waiter)
        _wake(self._gone_waiter)
        if self.conversation is not None:
            self._run(self.conversation.lost())
        self._wake_waiter()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        _wake(self._drain_waiter)
        self._drain_waiter = None

    # -- running what the conversation hands out ---------------------------------------------

    def _run(self, step: Step) -> None:
        """Run ``step`` in a task; what the conversation hands out next, when it is done."""
        conversation = self.conversation
        assert conversation is not None
        while step is not None:
            task = _start(self._loop, step)
            if not task.done():
                task.add_done_callback(self._step_done)
                return
            self._report(task)
            step = conversation.resume()
        self._wake_waiter()

    def _step_done(self, task: asyncio.Task[None]) -> None:
        self._report(task)
        conversation = self.conversation
        assert conversation is not None
        finished = conversation.finished
        self._run(conversation.resume())
        if conversation.finished != finished:
            self.block_since = None
        self._read_again()
        self._note_partial_block(time.monotonic())

    def _report(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s: a handler failed", self.conn_id, exc_info=error)

    def _read_again(self) -> None:
        """Resume reading (after yielding the loop, or after a handler waited), unless a
        handler still waits with much input buffered."""
        conversation = self.conversation
        if (self._paused and self._transport is not None and conversation is not None
                and conversation.state is OPEN
                and (not conversation.busy or conversation.parser.buffered <= PAUSE_AT)):
            self._paused = False
            self._transport.resume_reading()

    def _note_partial_block(self, now: float) -> None:
        """Start the slow-sender clock when a block is begun and nothing of ours holds it up."""
        conversation = self.conversation
        if (conversation is None or conversation.busy or self._paused
                or conversation.parser.at_boundary):
            self.block_since = None
        elif self.block_since is None:
            self.block_since = now

    # -- the Transport the conversation uses -------------------------------------------------

    def write(self, data: bytes) -> int:
        if self._closed:
            return self._written
        self._out.append(data)
        self._written += len(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return self._written

    def _flush(self) -> None:
        self._flush_scheduled = False
        transport = self._transport
        if not self._out or transport is None:
            return
        if transport.is_closing():
            self._out.clear()
            self._cut = True
            return
        if self._handed >= self._ack_at:  # now and then, retire what the peer has
            self._ack_at = self._handed + ACK_EVERY
            if (user := self.user) is not None:
                user.acknowledge()
        journal = self._gate.journal
        if journal.pending:  # what the service answers for is on record before any answer
            journal.flush()
        if self._hold > journal.committed:  # (a database journal's commit is under way)
            if not self._holding:
                self._holding = True
                journal.when_committed(self._hold, self._held_no_more)
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        self._handed += len(data)
        transport.write(data)
        if transport.get_write_buffer_size() > self._gate.max_output_buffer:
            log.warning("%s: the peer does not read (%d bytes waiting): disconnected",
                        self.conn_id, transport.get_write_buffer_size())
            assert self.conversation is not None
            self.conversation.close()  # the user takes nothing more: messages are stored
            self.abort()

    def hold_until(self, count: int) -> None:
        """What is written from now on leaves once the journal has ``count`` messages on
        record: it answers for them (a ``600``, or an answer after an errors-only one)."""
        if count > self._hold:
            self._hold = count

    def _held_no_more(self) -> None:
        self._holding = False
        self._flush()
        if self._after_hold is not None and not self._holding:
            finish, self._after_hold = self._after_hold, None
            finish()
        if not self._writing_paused:
            _wake(self._drain_waiter)
            self._drain_waiter = None

    def _owes(self) -> bool:
        """Whether the user here has been shown messages the peer may not have yet: only
        then does it matter how much the peer acknowledged."""
        user = self.user
        return user is not None and user.owes

    def acknowledged(self) -> int:
        """Bytes written that the peer's TCP has acknowledged (as far as can be known)."""
        if self._final is not None:
            return self._final
        acked = kernel.acknowledged(self._sock)
        if acked is not None and acked > self._acked:
            self._acked = min(acked, self._handed)  # (the FIN counts one more)
        return self._acked

    @property
    def acknowledged_exactly(self) -> bool:
        return self._exact

    def input_waiting(self) -> bool:
        """Whether bytes from the peer wait in the kernel, unread (the server was held up, or
        reading is paused): the peer is not idle, whatever ``last_seen`` says."""
        return kernel.waiting(self._sock) > 0

    async def disconnected(self) -> None:
        if not self._gone:
            if self._gone_waiter is None:
                self._gone_waiter = self._loop.create_future()
            await self._gone_waiter

    def close(self) -> None:
        """Send what was written and close; when messages shown here may not have reached
        the peer yet, shut down our side first and close once the peer has acknowledged it
        all (or after ``ACK_WAIT``)."""
        self._flush()
        self._closed = True
        if self._holding:  # what waits for the journal goes first
            self._after_hold = self.close
            return
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not self._owes():  # nothing to hand back, whatever the peer has
            self._close_now()
            return
        if self.acknowledged() < self._written and transport.can_write_eof():
            try:
                transport.write_eof()  # sent after what is buffered
            except OSError:  # the peer is gone already
                self.abort()
                return
            self._loop.call_later(ACK_POLL, self._close_when_acknowledged,
                                  time.monotonic() + ACK_WAIT)
            return
        self._close_now()

    def _close_when_acknowledged(self, deadline: float) -> None:
        transport = self._transport
        if transport is None or self._gone or transport.is_closing():
            return
        if self.acknowledged() < self._written and time.monotonic() < deadline:
            self._loop.call_later(ACK_POLL, self._close_when_acknowledged, deadline)
            return
        self._close_now()

    def _close_now(self) -> None:
        assert self._transport is not None
        if self._owes():
            self.acknowledged()  # asked again as the connection ends, if the kernel still can
        self._transport.close()

    def _settle_acknowledged(self) -> None:
        """Fix ``acknowledged`` for good as the connection ends: asked of the kernel (when
        messages are owed), which still knows unless the socket is closed already."""
        if self._final is not None:
            return
        if self._owes():
            acked = kernel.acknowledged(self._sock)
            if acked is not None:
                self._acked = max(self._acked, min(acked, self._handed))
            self._exact = acked is not None or self._acked >= self._written
        self._final = self._acked

    def linger(self) -> None:
        """Answer already written: flush, shut down our side, discard input, then close."""
        self._flush()
        self._closed = True
        if self._holding:  # what waits for the journal goes first
            self._after_hold = self.linger
            return
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

    async def drained(self) -> bool:
        """Until everything written has reached the kernel: True then (also when the
        connection was closed gracefully meanwhile, which sends what was written first);
        False when some of it may never be sent."""
        self._flush()
        if (self._writing_paused or self._holding) and not self._gone:
            if self._drain_waiter is None:
                self._drain_waiter = self._loop.create_future()
            try:
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await asyncio.shield(self._drain_waiter)
            except TimeoutError:
                return False
        return self._transport is not None and not self._cut

    # -- the server's part ----------------------------------------------------------------------

    def say_goodbye(self, reason: str) -> None:
        """Server DISC to this connection, logged in or not, then close."""
        if self.conversation is not None:
            self._run(self.conversation.say_goodbye(reason))

    def abort(self) -> None:
        """Cut the connection at once (a peer that does not read; shutdown, once the grace
        period is over): what was written and not acknowledged is lost to the peer (and goes
        back to the store)."""
        if self._transport is not None:
            kernel.reset_on_close(self._sock)  # or the kernel would go on sending its queue
            self._settle_acknowledged()  # nothing more leaves: what the peer has is final
            self._cut = self._closed = True
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Until the connection is closed and its session has ended."""
        if not self._finished():
            if self._closed_waiter is None:
                self._closed_waiter = self._loop.create_future()
            await self._closed_waiter

    def _finished(self) -> bool:
        return self._gone and (self.conversation is None or self.conversation.ended)

    def _wake_waiter(self) -> None:
        if self._finished():
            _wake(self._closed_waiter)


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
