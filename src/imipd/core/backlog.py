"""A session's way from its first presence to live: stored messages, read → show → delete,
and the messages that arrive meanwhile, held behind them (docs/protocol.md §6.3).

While a session is in ``BACKLOG`` its stored messages are read in batches and shown in
parts of about ``FLUSH_PART`` bytes, each once the part before has left the process;
a batch is deleted from the store once shown (and recorded in the journal, which
answers for them from then on). Messages that arrive meanwhile are *held*: recorded in
the journal (the user took them: ``600``) and shown, without ``Date``, right after the
stored ones, so the store only drains and the backlog ends however fast new messages
come. When more is held than a peer takes at once, the held messages go to the store
too and new ones follow them there, in order, until a read of the store finds less
than a batch: from then on new messages are held again, and the backlog ends as soon
as the store is empty (those stored meanwhile are few: each one waited for the store).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..protocol import reasons
from ..router import KickEvent, MessageEvent
from ..store import InFlight, Unavailable
from .stages import Stage

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("imipd.session")

T = TypeVar("T")

FLUSH_BATCH = 100
"""Stored messages read at a time."""
FLUSH_PART = 32 * 1024
"""Bytes of messages shown at a time: each part waits until the one before has left the
process, so the server's own burst never piles up beyond the output limit (64 KiB at
least) and a peer that reads is not taken for one that does not (a part is less than
this plus one message). A batch is deleted from the store at once."""
MESG_LINES = 256
"""At most the bytes of a ``MESG`` beyond its body (type, size, four headers)."""
RETRY_FIRST = 0.1
RETRY_MAX = 2.0
"""Seconds between attempts of a store write that must happen (``until_stored``)."""


class Message(Protocol):
    """A message to show: from the store, or held."""

    @property
    def id(self) -> int: ...
    @property
    def sender(self) -> str: ...
    @property
    def body(self) -> bytes: ...
    @property
    def accepted_at(self) -> float: ...


M = TypeVar("M", bound=Message)


def date_header(accepted_at: float) -> str:
    """The ``Date`` of a stored message: when it was accepted, RFC 5322, ``+0000``."""
    return email.utils.format_datetime(datetime.fromtimestamp(int(accepted_at), UTC))


async def until_stored(action: Callable[[], Awaitable[T]]) -> T:
    """A store write that must happen, because the service answers for what it concerns
    (messages going back, messages shown): tried again while the store cannot write (it
    logs that once), however long it takes."""
    delay = RETRY_FIRST
    while True:
        try:
            return await action()
        except Unavailable:
            await asyncio.sleep(delay)
            delay = min(2 * delay, RETRY_MAX)


class Backlog:
    """One session's stored messages on their way out, and the messages held behind them."""

    __slots__ = ("_again", "_held", "_held_bytes", "_held_count", "_held_shown", "_session",
                 "_spill", "_spilled", "_task")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._task: asyncio.Task[None] | None = None
        self._again = False
        """Messages were stored while a delivery ran: read the store again before going live."""
        self._held: InFlight | None = None
        """Messages held behind the stored ones (their marks count them from 1)."""
        self._held_count = 0
        self._held_shown = 0
        self._held_bytes = 0
        self._spill: asyncio.Task[None] | None = None
        """Putting the held messages in the store (``_spill_held``)."""
        self._spilled = False
        """New messages go to the store (until a read of it finds less than a batch)."""

    @property
    def spilled(self) -> bool:
        """Whether new messages go through the store (more was held than a peer takes)."""
        return self._spilled

    # -- messages that arrive meanwhile -------------------------------------------------------

    def hold(self, event: MessageEvent) -> bool:
        """Keep a message behind the stored ones; False (nothing kept) when the journal is
        full."""
        session = self._session
        service = session.service
        journal = service.journal
        if journal.full:
            return False
        held = self._held
        if held is None:
            held = self._held = journal.in_flight(session.key)
            self._held_count = self._held_shown = 0
        self._held_count += 1
        held.add(self._held_count, event.id, event.sender, event.body, service.clock())
        self._held_bytes += len(event.body) + MESG_LINES
        if self._held_bytes > service.settings.held_limit:
            self._spill_held(held)
        return True

    def _spill_held(self, held: InFlight) -> None:
        session = self._session
        session.log.info("more held behind the stored messages than the peer takes at once "
                         "(%d bytes): they go to the store", self._held_bytes)
        self._held, self._held_bytes, self._spilled = None, 0, True
        store = session.service.store

        async def keep() -> None:
            await until_stored(lambda: held.release(store))

        self._spill = asyncio.get_running_loop().create_task(keep())

    async def release(self) -> InFlight | None:
        """The session is over: what is held and not shown, to go back to the store (once
        messages put in the store meanwhile are there)."""
        if self._spill is not None:
            await asyncio.wait((self._spill,))
        held, self._held = self._held, None
        return held

    # -- delivering -----------------------------------------------------------------------------

    def flush(self, read: asyncio.Future[None] | None) -> None:
        """Deliver the stored messages (again, if a delivery is under way), then the held
        ones, then go live. ``read`` is resolved once this has read the store the first time
        and shown what it found (or at once when nothing new starts)."""
        session = self._session
        if session.handing_back:  # the first presence starts it once that is done
            _resolve(read)
            return
        if not session.move(Stage.BACKLOG) and session.stage is not Stage.BACKLOG:
            _resolve(read)
            return
        if self._task is not None and not self._task.done():
            self._again = True
            _resolve(read)
            return
        self._task = task = asyncio.get_running_loop().create_task(self._run(read))
        task.add_done_callback(functools.partial(self._done, read))

    def _done(self, read: asyncio.Future[None] | None, task: asyncio.Task[None]) -> None:
        # also when the task was cancelled before it ran (its body's finally never ran)
        _resolve(read)
        if self._task is task:
            self._task = None  # a finished task is not kept for the session's life

    async def delivered(self) -> None:
        """Until a delivery under way has finished."""
        if self._task is not None:
            await asyncio.wait((self._task,))

    async def _run(self, read: asyncio.Future[None] | None) -> None:
        session = self._session
        store = session.service.store
        try:
            while session.stage is Stage.BACKLOG:
                self._again = False
                if self._spill is not None:  # (held messages come before what follows them)
                    await asyncio.wait((self._spill,))
                    self._spill = None
                # messages this node showed last are out of the store (a journal in it)
                await session.service.journal.settled()
                batch = await store.stored_messages(session.key, FLUSH_BATCH)
                if session.stage is not Stage.BACKLOG:
                    return
                if len(batch) < FLUSH_BATCH:
                    self._spilled = False  # caught up: hold again (the store drains)
                if batch:
                    if not await self._show_stored(batch, read):
                        return
                elif not self._again and await self._show_held(read):
                    return
        except Exception:
            session.log.exception("delivering stored messages failed")
            session.outlet.show(KickEvent(reasons.SERVER_ERROR))

    async def _show_stored(self, batch: Sequence[M], read: asyncio.Future[None] | None) -> bool:
        """Show a batch from the store and delete what was shown; whether to go on."""
        session = self._session
        service = session.service
        shown = 0
        for part in _parts(batch):
            # each part once the one before has left: never a burst beyond the limit
            if shown and not await session.outlet.drained():
                break
            if not await self._room(read):
                break
            self._show_part(part, dated=True)
            shown += len(part)
        _resolve(read)  # the first batch is out before the next block's answer
        if shown:
            if service.journal.claims:  # recording them takes them out of the store
                await service.journal.settled()
            else:
                ids = [message.id for message in batch[:shown]]
                flight = session.owed().number
                await until_stored(lambda: service.store.delete_messages(
                    session.key, ids, flight, service.clock()))
            service.stats.messages["flushed"] += shown
            session.log.info("delivered %d stored message(s)", shown)
        return shown == len(batch) and await session.outlet.drained()

    async def _show_held(self, read: asyncio.Future[None] | None) -> bool:
        """Show what is held, part by part, then go live; False when the store must be read
        again first (messages were stored meanwhile)."""
        session = self._session
        while True:
            held = self._held
            if not held:
                if held is not None:
                    self._held = None
                    await until_stored(functools.partial(held.release, session.service.store))
                if self._again or self._spill is not None:
                    return False
                self._spilled = False
                session.move(Stage.LIVE)  # at once: nothing arrives between
                _resolve(read)
                return True
            part = _parts(held.messages())[0]
            if not await self._room(read) or self._held is not held:
                return session.stage is not Stage.BACKLOG
            self._show_part(part, dated=False)
            self._held_shown += len(part)
            held.acknowledge(self._held_shown)  # shown: on record as in flight now
            self._held_bytes -= sum(len(message.body) + MESG_LINES for message in part)
            _resolve(read)
            if not await session.outlet.drained() or session.stage is not Stage.BACKLOG:
                return True

    async def _room(self, read: asyncio.Future[None] | None) -> bool:
        """Until the journal has room; whether the session still delivers."""
        session = self._session
        journal = session.service.journal
        if journal.full:
            _resolve(read)  # the next block is answered meanwhile
            await journal.room()
        return session.stage is Stage.BACKLOG

    def _show_part(self, part: Sequence[Message], *, dated: bool) -> None:
        session = self._session
        owed = session.owed()
        deliver = session.outlet.deliver
        for message in part:
            owed.add(deliver(MessageEvent(
                message.sender, message.body, message.id,
                date_header(message.accepted_at) if dated else None)),
                message.id, message.sender, message.body, message.accepted_at)
        session.service.journal.flush()  # recorded: the journal answers for them now


def _parts(messages: Sequence[M]) -> list[Sequence[M]]:
    """``messages`` in order, cut after each message that brings a part to ``FLUSH_PART``
    bytes."""
    parts: list[Sequence[M]] = []
    start = size = 0
    for end, message in enumerate(messages, 1):
        size += len(message.body) + MESG_LINES
        if size >= FLUSH_PART:
            parts.append(messages[start:end])
            start, size = end, 0
    if start < len(messages):
        parts.append(messages[start:])
    return parts


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
