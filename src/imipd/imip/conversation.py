"""The life of one IMIP connection, sans-IO: bytes in, blocks carried out, and when to
answer, stop reading, linger and close (as h11's ``Connection`` is for HTTP).

A ``Conversation`` owns the connection's parser and IMIP session. Blocks are
carried out one at a time, in order: one whose handler has to wait is handed out
(``receive`` and the other inputs return it) to be run in a task, and the blocks
after it stay in the parser's buffer until ``resume``. The connection's state is
one enum, ``ConnState``, moved only along ``TRANSITIONS``:

- ``OPEN``: blocks are read and carried out (also after the peer's end of stream:
  the blocks before it still get their answers);
- ``CLOSING``: the session ended the conversation (``DISC``, ``812``, a server
  ``DISC``), the input ended, or the transport is gone: what was written is sent,
  then the transport closes; nothing more is carried out;
- ``DISCARDING``: framing was lost: the answer is written, the writing side is shut
  down, input is discarded for a while (so that the answer is not destroyed by a
  reset), then the transport closes;
- ``ENDED``: the session has ended (watchers told).

Its I/O is a ``Transport``: ``server/connection.py`` on asyncio, or the fuzz
harness's recorder. Every output happens through it; every input comes in through
the methods below.
"""

from __future__ import annotations

import enum
from collections.abc import Coroutine
from typing import Any, Protocol

from ..protocol import END, Block, Parser, ProtocolError
from .dispatch import handle
from .front import Front
from .session import ImipSession, Writer

Step = Coroutine[Any, Any, None] | None
"""What the caller must run in a task, then call ``resume``; None: nothing to run."""


class Transport(Writer, Protocol):
    """What a conversation needs of its connection (writes drop once ``close`` or ``linger``
    was called, or the connection is gone)."""

    def close(self) -> None:
        """Send what was written, then close."""
        ...

    def linger(self) -> None:
        """Framing is lost: send what was written, shut down the writing side, discard
        input for a while, then close."""
        ...

    async def drained(self) -> bool:
        """Until what was written has left the process; False if some of it never will."""
        ...


class ConnState(enum.Enum):
    """Where a connection's life stands (see the module's docstring)."""

    OPEN = "open"
    CLOSING = "closing"
    DISCARDING = "discarding"
    ENDED = "ended"


TRANSITIONS: dict[ConnState, frozenset[ConnState]] = {
    ConnState.OPEN: frozenset({ConnState.CLOSING, ConnState.DISCARDING}),
    ConnState.CLOSING: frozenset({ConnState.ENDED}),
    ConnState.DISCARDING: frozenset({ConnState.ENDED}),
    ConnState.ENDED: frozenset(),
}


class Conversation:
    """One IMIP connection's conversation, from the first byte to the session's end."""

    __slots__ = ("_ending", "_transport", "busy", "finished", "parser", "session", "state")

    def __init__(self, front: Front, transport: Transport, origin: str, conn_id: str) -> None:
        self._transport = transport
        self.parser = Parser(front.limits)
        self.session = ImipSession(front, self, transport, origin, conn_id)
        self.state = ConnState.OPEN
        self.busy = False
        """A step was handed out and has not finished (a handler, or the session's end):
        the next block waits in the parser's buffer."""
        self._ending = False
        self.finished = 0
        """Blocks taken from the input so far, carried out or refused (a slow sender's clock
        starts again at each)."""

    @property
    def ended(self) -> bool:
        return self.state is ConnState.ENDED

    def _move(self, state: ConnState) -> bool:
        if state not in TRANSITIONS[self.state]:
            return False
        self.state = state
        return True

    # -- the session's link ---------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.state is ConnState.OPEN

    def close(self) -> None:
        """The session is done with the connection (or its input ended)."""
        if self._move(ConnState.CLOSING):
            self.session.closing()
            self._transport.close()

    async def drained(self) -> bool:
        return await self._transport.drained()

    # -- inputs ---------------------------------------------------------------------------

    def receive(self, data: bytes) -> Step:
        """Bytes from the peer."""
        if self.state is not ConnState.OPEN:
            return None  # closing: not carried out; discarding: thrown away
        self.parser.feed(data)
        return self._pump()

    def receive_eof(self) -> Step:
        """The peer's end of stream (it may still read): the blocks before it are carried
        out and answered, and the user takes no more messages (they are stored)."""
        if self.state is not ConnState.OPEN:
            return None
        self.session.closing()
        self.parser.feed(b"")
        return self._pump()

    def lost(self) -> Step:
        """The transport is gone."""
        if self._move(ConnState.CLOSING):
            self.session.closing()
        return self._pump()

    def say_goodbye(self, reason: str) -> Step:
        """The server ends the conversation (idle, shutdown): ``DISC`` with ``reason``."""
        self.session.disconnect(reason)
        self.close()
        return self._pump()

    def resume(self) -> Step:
        """The step handed out last has finished."""
        self.busy = False
        return self._pump()

    def _pump(self) -> Step:
        if self.busy:
            return None
        parser = self.parser
        session = self.session
        is_open = ConnState.OPEN  # (locals: this loop runs for every block)
        block_type = Block
        while self.state is is_open:
            try:
                item = parser.next_block()
            except ProtocolError as error:
                self.finished += 1
                session.protocol_error(error)
                if error.fatal:
                    self._lose_framing()
                continue
            if type(item) is block_type:
                self.finished += 1
                rest = handle(session, item)
                if rest is not None:
                    self.busy = True
                    return rest
            elif item is END:
                self.close()
            else:  # the rest has not arrived
                return None
        if self._ending:
            return None
        self._ending = self.busy = True
        return self._end()

    def _lose_framing(self) -> None:
        if self._move(ConnState.DISCARDING):
            self.session.closing()
            self._transport.linger()

    async def _end(self) -> None:
        try:
            await self.session.end()
        finally:
            self._move(ConnState.ENDED)
