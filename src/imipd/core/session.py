"""One client's session: its state machine, its block IDs, and what it is shown.

The session never sees a socket: it reads blocks handed to it and writes bytes
to a ``Sink``. Verbs are dispatched through one table per state; every block
gets an answer or a documented silence (IMIP.md §4).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from ..protocol import Block, ProtocolError, Status, serialize
from ..protocol import headers as H
from .errors import CloseAfter, Reject
from .events import Event, MessageEvent, PresenceEvent, RequestEvent, date_header
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from ..store import Account
    from .service import Service

log = logging.getLogger("imipd.session")


class Sink(Protocol):
    """Where a session's bytes go: one connection."""

    conn_id: str
    peer: str

    def write(self, data: bytes) -> None:
        """Queue bytes for the peer (coalesced per loop iteration)."""
        ...

    def close(self) -> None:
        """Send what is queued, then close the connection.

        A sink marks its session ``closing`` when it closes or learns the peer is gone, so
        nothing more is delivered into it.
        """
        ...

    async def drained(self) -> bool:
        """Wait until everything queued has reached the kernel; False if it never will."""
        ...


OFFLINE_VIEW = ("OFFLINE", b"")
"""What a watcher sees of a user who is offline to them: no status text."""


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the connection id and the user."""

    def __init__(self, conn_id: str, user: str) -> None:
        super().__init__(log, {})
        self.prefix = f"{conn_id} {user}"

    def process(
        self, msg: object, kwargs: MutableMapping[str, Any]
    ) -> tuple[object, MutableMapping[str, Any]]:
        return f"{self.prefix}: {msg}", kwargs


class Shown(enum.IntEnum):
    """How far the first STAT's snapshot has come; each stage lets more flow live."""

    NOTHING = 0
    PRESENCE = 1
    """Contacts' presence may be pushed live."""
    REQUESTS = 2
    """Permission requests too."""
    ALL = 3
    """Contacts and requests shown: stored messages may follow."""


class Phase(enum.Enum):
    """Where a session stands (IMIP.md §3–§4)."""

    CONNECTED = "connected"
    """Before HELO."""
    GREETED = "greeted"
    """HELO answered, not logged in."""
    LOGGED_IN = "logged-in"
    """LOGN accepted; not online until the first STAT."""
    ONLINE = "online"
    """First STAT done: counts as online for delivery and for watchers."""
    CLOSED = "closed"

    # Members are singletons: hashing by identity is right, and much cheaper than
    # Enum's hash of the name (ALLOWED is looked up for every block).
    __hash__ = object.__hash__


Handler = Callable[["Session", Block], Awaitable[None] | None]
"""Carries out one verb: returns None when done, or what is left to await (the store)."""

KNOWN_VERBS = frozenset({"HELO", "LOGN", "STAT", "LIST", "MESG", "PING", "DISC", "ACK"})

ALLOWED: dict[Phase, frozenset[str]] = {
    Phase.CONNECTED: frozenset({"HELO", "PING", "DISC"}),
    Phase.GREETED: frozenset({"LOGN", "PING", "DISC"}),
    Phase.LOGGED_IN: frozenset({"STAT", "LIST", "MESG", "PING", "DISC"}),
    Phase.ONLINE: frozenset({"STAT", "LIST", "MESG", "PING", "DISC"}),
    Phase.CLOSED: frozenset(),
}
"""Which verbs each phase accepts; any other known verb is ``802``. ``ACK`` is never answered."""


def is_valid_id(value: str | None) -> TypeGuard[str]:
    """A block ID is a decimal number."""
    return value is not None and value.isascii() and value.isdigit()


class Session:
    """The state of one connection's conversation with the service."""

    __slots__ = (  # one per connection: no per-instance dict
        "_flush", "_flush_again", "_message_rate", "_next_id", "_request_rate", "account",
        "blocks", "challenge", "closing", "deliverable", "failures", "phase", "presence",
        "request_ids", "requests_shown", "seen", "service", "shown", "sink", "stage", "text",
        "told",
    )

    def __init__(self, service: Service, sink: Sink) -> None:
        self.service = service
        self.sink = sink
        self.phase = Phase.CONNECTED
        self.challenge = ""
        self.failures = 0
        self.account: Account | None = None
        self.presence = "ONLINE"
        self.text = b""
        self.shown: tuple[str, bytes] | None = None
        """What watchers were last shown of this user (None: offline to them)."""
        self.stage = Shown.NOTHING
        self.deliverable = False
        self.closing = False
        """The connection is closing or gone: take nothing more (the session ends soon)."""
        # An idle session is mostly what follows: the collections are made on first use
        # (None until then) or are immutable, so the usual empty ones are shared.
        self.told: frozenset[str] = frozenset()
        """Keys of the watchers shown this user's presence (told again when it ends, even
        if the account was deleted meanwhile)."""
        self.seen: dict[str, tuple[str, bytes]] | None = None
        """What this connection was last shown of each watched user (key → presence, text)."""
        self.requests_shown: dict[str, float] | None = None
        """Requester key → the request (by its time) shown on this connection."""
        self.blocks: frozenset[str] | None = None
        """Keys of the users this user blocks, kept from the first STAT on (None before)."""
        self.request_ids: dict[str, str] | None = None
        """ID of a ``LIST ADD`` sent on this connection → the requester's key."""
        self._message_rate: TokenBucket | None = None
        self._request_rate: TokenBucket | None = None
        self._next_id = 1
        self._flush: asyncio.Task[None] | None = None
        self._flush_again = False

    # -- identity ------------------------------------------------------------

    @property
    def name(self) -> str:
        assert self.account is not None
        return self.account.name

    @property
    def key(self) -> str:
        assert self.account is not None
        return self.account.key

    @property
    def log(self) -> SessionLog:
        """This session's logger: lines start with the connection id and the user (made
        when something is logged, which the relay path never does)."""
        return SessionLog(self.sink.conn_id, self.account.name if self.account else "-")

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def visible_online(self) -> bool:
        """Online after a first STAT and not appearing offline."""
        return self.phase is Phase.ONLINE and not self.closing and self.presence != "OFFLINE"

    # -- rate limits (made on first use: most sessions never need them) -------------

    def may_send_message(self) -> bool:
        settings = self.service.settings
        if not settings.messages_per_second:
            return True
        if self._message_rate is None:
            self._message_rate = TokenBucket(settings.messages_per_second,
                                             settings.message_burst)
        return self._message_rate.allow()

    def may_ask(self) -> bool:
        per_hour = self.service.settings.requests_per_hour
        if not per_hour:
            return True
        if self._request_rate is None:
            self._request_rate = TokenBucket(per_hour / 3600, per_hour)
        return self._request_rate.allow()

    # -- writing -------------------------------------------------------------

    def send(self, verb: str, args: tuple[str, ...] = (),
             headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> str:
        """Write one block with this connection's next ID; returns the ID."""
        block_id = str(self._next_id)
        self._next_id += 1
        self.sink.write(serialize(verb, args, ((H.ID, block_id), *headers), body,
                                  sort_headers=True))
        return block_id

    def answer(self, block_id: str | None, status: Status, reason: str = "") -> None:
        """``ACK <status>``, with ``Reference`` when the answered block's ID was read."""
        headers: tuple[tuple[str, str], ...] = ()
        if is_valid_id(block_id):
            headers = ((H.REFERENCE, block_id),)
        body = reason.encode() if reason and status.is_error and self.service.error_reasons else b""
        self.service.stats.answers[int(status)] += 1
        self.send("ACK", (str(int(status)),), headers, body)

    def disconnect(self, reason: str) -> None:
        """Send a server ``DISC`` with ``reason`` and close (the session then ends)."""
        if self.phase is Phase.CLOSED:
            return
        self.send("DISC", body=reason.encode())
        self.log.info("disconnected by the server: %s", reason)
        self.sink.close()

    # -- reading -------------------------------------------------------------

    def handle(self, block: Block) -> Coroutine[Any, Any, None] | None:
        """Carry out one block from the client (checks in the order of IMIP.md §4).

        As much as can be done without waiting is done now: most blocks (a live
        message, a PING) are finished on return. What has to wait (for the store) is
        returned as a coroutine for the caller to await before the next block.
        """
        phase = self.phase
        if phase is Phase.CLOSED:
            return None
        verb = block.verb
        block_id = block.header_map.get(H.ID_KEY)
        if verb not in KNOWN_VERBS:
            self.log.info("unknown block type %s", verb[:32])
            self.answer(block_id, Status.UNKNOWN_TYPE, "unknown block type")
            return None
        if verb == "ACK":
            return self._acknowledge(block)
        if not is_valid_id(block_id):
            self.log.info("%s without a valid ID", verb)
            self.answer(None, Status.BAD_HEADER, "missing or invalid ID")
            return None
        if verb not in ALLOWED[phase]:
            self.answer(block_id, Status.WRONG_STATE, f"{verb} not allowed now")
            return None
        try:
            rest = self.service.features.handlers[verb](self, block)
        except Exception as error:
            self._refused(verb, block_id, error)
            return None
        return None if rest is None else self._go_on(verb, block_id, rest)

    async def _go_on(self, verb: str, block_id: str | None, rest: Awaitable[None]) -> None:
        try:
            await rest
        except Exception as error:
            self._refused(verb, block_id, error)

    def _refused(self, verb: str, block_id: str | None, error: Exception) -> None:
        """A handler refused the block (or failed): the answer IMIP.md gives for that."""
        if isinstance(error, CloseAfter):
            self.answer(block_id, error.status, error.reason)
            self.sink.close()
        elif isinstance(error, Reject):
            self.log.info("%s refused: %d %s", verb, error.status, error.reason)
            if not error.quiet:
                self.answer(block_id, error.status, error.reason)
        else:
            self.log.error("%s failed", verb, exc_info=error)
            self.answer(block_id, Status.SERVER_ERROR, "server error")

    async def _acknowledge(self, block: Block) -> None:
        try:
            await self.service.features.acknowledge(self, block)
        except Exception:  # an ACK is never answered, not even with 890
            self.log.exception("ACK failed")

    def protocol_error(self, error: ProtocolError) -> None:
        """Answer a block the parser refused (fatal errors carry no ``Reference``)."""
        self.log.info("bad block at offset %d: %d %s%s", error.offset, error.status,
                      error.reason, " (framing lost)" if error.fatal else "")
        self.service.stats.bad_blocks[int(error.status)] += 1
        if error.verb == "ACK" and not error.fatal:
            return  # an ACK is never answered, not even a broken one
        self.answer(None if error.fatal else error.block_id, error.status, error.reason)

    # -- events from other sessions --------------------------------------------

    def push(self, event: Event) -> bool:
        """Show an event from elsewhere; False when this session cannot take it now.

        The router's way in for every kind of event. A message between sessions of this
        process skips the event object (``take_message``, the relay's hot path).
        """
        if self.phase is Phase.CLOSED:
            return False
        if isinstance(event, MessageEvent):
            return self.take_message(event.sender, event.body, event.date)
        if isinstance(event, PresenceEvent):
            if self.stage < Shown.PRESENCE:
                return False
            self.show_presence(event.user, (event.presence, event.text), always=event.always)
        elif isinstance(event, RequestEvent):
            if self.stage < Shown.REQUESTS:
                return False
            self.write_request(event)
        return True

    def take_message(self, sender: str, body: bytes, date: str | None = None) -> bool:
        """A live message (called directly on the relay's hot path, no event made); False
        when it must wait: stored messages come first, and a closing connection takes
        nothing."""
        if not self.deliverable or self.closing or self.phase is Phase.CLOSED:
            return False
        assert self.account is not None
        self.write_message(sender, self.account.name, body, date)
        return True

    def write_message(self, sender: str, to: str, body: bytes, date: str | None = None) -> None:
        """``MESG`` with ``From``, ``ID``, ``To`` (and ``Date`` when it was stored).

        The bytes ``send`` would write, made directly: this is written once per
        relayed message, and its headers are already in sorted order.
        """
        block_id = self._next_id
        self._next_id = block_id + 1
        content = b"From: %s\r\nID: %d\r\nTo: %s\r\n" % (sender.encode(), block_id, to.encode())
        if date is not None:
            content = b"Date: %s\r\n%s" % (date.encode(), content)
        if body:
            size = len(content) + 2 + len(body)
            self.sink.write(b"MESG\r\n%d\r\n%s\r\n%s" % (size, content, body))
        else:
            self.sink.write(b"MESG\r\n%d\r\n%s" % (len(content), content))

    def show_presence(self, user: str, view: tuple[str, bytes], *, always: bool = False) -> None:
        """``STAT`` for a watched user, unless this connection already shows exactly that."""
        key = user.lower()
        seen = self.seen
        if seen is None:
            seen = self.seen = {}
        if not always and seen.get(key, OFFLINE_VIEW) == view:
            return
        seen[key] = view
        self.send("STAT", (view[0],), ((H.FROM, user),), view[1])

    def write_request(self, event: RequestEvent) -> None:
        """``LIST ADD`` for a request, once per connection (asking again is a new request)."""
        shown = self.requests_shown
        if shown is None:
            shown = self.requests_shown = {}
        if shown.get(event.requester_key) == event.at:
            return
        shown[event.requester_key] = event.at
        block_id = self.send("LIST", ("ADD",), (
            (H.FROM, f'{event.requester} "{event.nick}"'), (H.LIST, "Buddy")), event.text)
        if self.request_ids is None:
            self.request_ids = {}
        self.request_ids[block_id] = event.requester_key

    # -- stored messages: read → send → delete -----------------------------------

    def flush_stored(self, read: asyncio.Future[None] | None = None) -> None:
        """Deliver stored messages now (again, if a flush is under way).

        Not before the first STAT has shown contacts and requests: that STAT starts the
        delivery itself, so stored messages always come last (IMIP.md §3.3). ``read``
        is resolved once this flush has read the backlog the first time (and written
        what it held), or at once when no new flush starts.
        """
        if self.phase is not Phase.ONLINE or self.stage < Shown.ALL:
            _resolve(read)
            return
        self.deliverable = False
        if self._flush is not None and not self._flush.done():
            self._flush_again = True
            _resolve(read)
            return
        self._flush = task = asyncio.get_running_loop().create_task(self._flush_loop(read))
        task.add_done_callback(functools.partial(self._flush_done, read))

    def _flush_done(self, read: asyncio.Future[None] | None, task: asyncio.Task[None]) -> None:
        # also when the task was cancelled before it ran (its body's finally never ran)
        _resolve(read)
        if self._flush is task:
            self._flush = None  # a finished task is not kept for the session's life

    async def _flush_loop(self, read: asyncio.Future[None] | None) -> None:
        store = self.service.store
        try:
            while self.phase is Phase.ONLINE and not self.closing:
                self._flush_again = False
                batch = await store.stored_messages(self.key, 100)
                if self.phase is not Phase.ONLINE or self.closing:
                    return
                if not batch and not self._flush_again:
                    self.deliverable = True
                    return
                for message in batch:
                    self.write_message(message.sender, self.name, message.body,
                                       date_header(message.accepted_at))
                _resolve(read)
                if batch:
                    if not await self.sink.drained():
                        return
                    await store.delete_messages(self.key, batch[-1].id)
                    self.service.stats.messages["flushed"] += len(batch)
                    self.log.info("delivered %d stored message(s)", len(batch))
        except Exception:
            self.log.exception("delivering stored messages failed")
            self.disconnect("server error")

    # -- the end ------------------------------------------------------------------

    async def end(self) -> None:
        """The connection is gone: leave the router and show watchers the user went away."""
        if self.phase is Phase.CLOSED:
            return
        was_logged_in = self.phase in (Phase.LOGGED_IN, Phase.ONLINE)
        self.phase = Phase.CLOSED  # push() takes nothing from now on
        if self._flush is not None:
            self._flush.cancel()
        if was_logged_in:
            await self.service.features.session_ended(self)


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
