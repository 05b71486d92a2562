"""The IMIP side of one connection: what it writes, and the core's events as blocks.

An ``ImipSession`` holds what the IMIP conversation of one connection keeps (its
phase, the login challenge, its block IDs, the requests it showed) and writes
every block: answers, the server's own blocks, and, as the core session's
``Outlet``, the core's events, each with this connection's next ID. Blocks are
carried out by ``dispatch``.
"""

from __future__ import annotations

from typing import Protocol

from ..core import Session
from ..core.presence import end
from ..core.session import SessionLog
from ..protocol import ProtocolError, Status, message_bytes, serialize
from ..protocol import headers as H
from ..router import Event, KickEvent, MessageEvent, PresenceEvent, RequestEvent
from ..store import name_key
from .front import Front
from .verbs import Phase, Verb, is_valid_id


class Writer(Protocol):
    """What blocks are written to: the connection's transport."""

    def write(self, data: bytes) -> int:
        """Queue bytes for the peer; returns the count of bytes written so far (dropped
        once the transport closes)."""
        ...

    def acknowledged(self) -> int:
        """How many of the bytes written the peer's TCP has acknowledged."""
        ...

    @property
    def acknowledged_exactly(self) -> bool:
        """Whether ``acknowledged`` is exact, not only a lower bound (see ``Outlet``)."""
        ...

    def hold_until(self, count: int) -> None:
        """What is written from now on waits until the journal has ``count`` messages on
        record (``Journal.committed``)."""
        ...

    async def disconnected(self) -> None:
        """Until the connection has closed (``acknowledged`` is then final)."""
        ...


class Link(Protocol):
    """The connection of a session (its ``Conversation``)."""

    @property
    def open(self) -> bool:
        """Whether the connection still reads and writes (not closing)."""
        ...

    def close(self) -> None:
        """Send what was written, then close."""
        ...

    async def drained(self) -> bool:
        ...


class ImipSession:
    """One connection's IMIP conversation with the service, before and after login."""

    __slots__ = (  # one per connection: no per-instance dict
        "_next_id", "_transport", "challenge", "conn_id", "failures", "front", "link", "origin",
        "phase", "request_ids", "user",
    )

    def __init__(self, front: Front, link: Link, transport: Writer, origin: str,
                 conn_id: str) -> None:
        self.front = front
        self.link = link
        self._transport = transport
        """Where blocks are written (it drops what comes after it was closed)."""
        self.origin = origin
        """Where the client connects from (its address): limits and throttles count by it."""
        self.conn_id = conn_id
        self.phase = Phase.CONNECTED
        self.challenge = ""
        self.failures = 0
        """Failed ``LOGN``s on this connection (the third closes it)."""
        self.user: Session | None = None
        """The core's session, from login on."""
        self.request_ids: dict[str, str] | None = None
        """ID of a ``LIST ADD`` shown on this connection → the requester's key."""
        self._next_id = 1

    @property
    def log(self) -> SessionLog:
        """Lines start with the connection id and the user (``-`` before login)."""
        return SessionLog(self.conn_id, "-") if self.user is None else self.user.log

    # -- writing -------------------------------------------------------------------------

    def send(self, verb: str, args: tuple[str, ...] = (),
             headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> str:
        """Write one block with this connection's next ID; returns the ID."""
        block_id = str(self._next_id)
        self._next_id += 1
        self._transport.write(serialize(verb, args, ((H.ID, block_id), *headers), body,
                                        sort_headers=True))
        return block_id

    def hold_output(self, count: int) -> None:
        """What is written from now on answers for messages the journal records: it waits
        until ``count`` are on record."""
        self._transport.hold_until(count)

    def answer(self, block_id: str | None, status: Status, reason: str = "") -> None:
        """``ACK <status>``, with ``Reference`` when the answered block's ID was read."""
        headers: tuple[tuple[str, str], ...] = ()
        if is_valid_id(block_id):
            headers = ((H.REFERENCE, block_id),)
        front = self.front
        body = reason.encode() if reason and status.is_error and front.settings.error_reasons \
            else b""
        front.stats.answers[int(status)] += 1
        self.send("ACK", (str(int(status)),), headers, body)

    def disconnect(self, reason: str) -> None:
        """A server ``DISC`` with ``reason``, then close (the session then ends)."""
        if not self.link.open:
            return
        self.send("DISC", body=reason.encode())
        self.log.info("disconnected by the server: %s", reason)
        self.link.close()

    # -- the core's events: the Outlet ----------------------------------------------------

    def deliver(self, message: MessageEvent) -> int:
        user = self.user
        assert user is not None
        next_id = self._next_id
        self._next_id = next_id + 1
        return self._transport.write(message_bytes(next_id, message.sender, user.account.name,
                                                   message.body, message.date))

    def acknowledged(self) -> int:
        return self._transport.acknowledged()

    @property
    def acknowledged_exactly(self) -> bool:
        return self._transport.acknowledged_exactly

    async def disconnected(self) -> None:
        await self._transport.disconnected()

    def show(self, event: Event) -> None:
        if isinstance(event, PresenceEvent):
            self.send("STAT", (event.presence,), ((H.FROM, event.user),), event.text)
        elif isinstance(event, RequestEvent):
            request_id = self.send("LIST", ("ADD",), (
                (H.FROM, f'{event.requester} "{event.nick}"'), (H.LIST, "Buddy")), event.text)
            if self.request_ids is None:
                self.request_ids = {}
            self.request_ids[request_id] = name_key(event.requester)
        elif isinstance(event, KickEvent):
            self.disconnect(event.reason)

    async def drained(self) -> bool:
        return await self.link.drained()

    # -- reading -------------------------------------------------------------------------

    def protocol_error(self, error: ProtocolError) -> None:
        """Answer a block the parser refused (fatal errors carry no ``Reference``)."""
        self.log.info("bad block at offset %d: %d %s%s", error.offset, error.status,
                      error.reason, " (framing lost)" if error.fatal else "")
        self.front.stats.bad_blocks[int(error.status)] += 1
        if error.verb == Verb.ACK and not error.fatal:
            return  # an ACK is never answered, not even a broken one
        self.answer(None if error.fatal else error.block_id, error.status, error.reason)

    # -- the end ---------------------------------------------------------------------------

    def closing(self) -> None:
        """The connection is closing, or its input ended: the user takes nothing more
        (messages for them are stored)."""
        if self.user is not None:
            self.user.stop_taking()

    async def end(self) -> None:
        """The connection is over: the user's session ends (watchers see them go)."""
        if self.user is not None:
            await end(self.user)

