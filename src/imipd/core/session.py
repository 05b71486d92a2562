"""One signed-in user's session in the core: what it takes from others, and how far it is.

A session is its user's ``Endpoint`` in the router: events from other users arrive
through ``accept``, and the session decides, by its stage (the tables of ``stages``) and by
whom its user blocks, whether it takes them. What it takes goes to its front (IMIP
blocks; later XMPP stanzas) through an ``Outlet``, after this connection's
deduplication: a watcher is shown each presence once, a request once.

The session never reads or writes another session: the intents (``login``,
``presence``, ``contacts``, ``messages``) act through the store and the router.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import Any, Protocol

from ..router import (
    HANDED_BACK,
    OFFLINE,
    Event,
    HandbackEvent,
    KickEvent,
    MessageEvent,
    Outcome,
    PresenceEvent,
    RequestEvent,
    SessionInfo,
    WaitingEvent,
    delivered,
)
from ..store import Account, InFlight, name_key
from .backlog import Backlog, until_stored
from .ratelimit import TokenBucket
from .service import Service
from .stages import (
    MESSAGES,
    NEXT_STAGES,
    NOTICES,
    ONLINE_STAGES,
    TAKEN_AS,
    UNSEEN,
    Presence,
    Stage,
    Take,
)

log = logging.getLogger("imipd.session")

# read for every relayed message: module names are read fastest
_SHOW, _TAKEN, _TAKEN_UNSEEN = Take.SHOW, Outcome.TAKEN, Outcome.TAKEN_UNSEEN

HANDBACK_WAIT = 5.0
"""Seconds the first presence of a session that replaced another waits for that one to
hand back what it had not delivered (it waits up to 2 s for its peer's acknowledgement)."""


class Outlet(Protocol):
    """Where a session's events go: its front, which shows them on one connection."""

    def show(self, event: Event) -> None:
        """Show a presence or a request to the user (a ``KickEvent``: say why, and close)."""
        ...

    def deliver(self, message: MessageEvent) -> int:
        """Show a message to the user; where it ends, counted as ``acknowledged`` counts."""
        ...

    def acknowledged(self) -> int:
        """How much of what was shown the user's side has acknowledged (its TCP)."""
        ...

    @property
    def acknowledged_exactly(self) -> bool:
        """Whether ``acknowledged`` is what the user's side has, not only a lower bound (at
        the end: whether it could be asked as the connection ended)."""
        ...

    async def drained(self) -> bool:
        """Until what was shown has left this process; False if some of it never will."""
        ...

    async def disconnected(self) -> None:
        """Until the connection has closed (``acknowledged`` is then final)."""
        ...


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the connection id and the user."""

    def __init__(self, conn_id: str, user: str) -> None:
        super().__init__(log, {})
        self.prefix = f"{conn_id} {user}"

    def process(
        self, msg: object, kwargs: MutableMapping[str, Any]
    ) -> tuple[object, MutableMapping[str, Any]]:
        return f"{self.prefix}: {msg}", kwargs


class Session:
    """A signed-in user's session, from login to the end of its connection."""

    __slots__ = (  # one per logged-in connection: no per-instance dict
        "_backlog", "_handback", "_held", "_message_rate", "_owed", "_request_rate", "account",
        "blocks", "conn_id", "origin", "outlet", "presence", "requests_shown", "seen",
        "service", "stage", "text", "visible",
    )

    def __init__(self, service: Service, account: Account, outlet: Outlet, origin: str,
                 conn_id: str) -> None:
        self.service = service
        self.account = account
        self.outlet = outlet
        self.origin = origin
        self.conn_id = conn_id
        self.stage = Stage.SIGNED_IN
        self.presence = Presence.ONLINE
        self.text = b""
        self.visible = False
        """Online and not appearing offline: senders are told the user is online."""
        # An idle session is mostly what follows: collections are made on first use
        # (None until then) or are immutable, so the usual empty ones are shared.
        self.blocks: frozenset[str] = frozenset()
        """Keys of the users this user blocks, known from the first presence on."""
        self.seen: dict[str, tuple[str, bytes, int]] | None = None
        """What this connection was last shown of each watched user: presence, text, version."""
        self.requests_shown: dict[str, float] | None = None
        """Requester key → the request (by its time) shown on this connection."""
        self._held: list[Event] | None = None
        self._owed: InFlight | None = None
        """Messages shown and not yet acknowledged by the user's side, on record in the
        journal: the service answers for them until they are (docs/protocol.md §6.4)."""
        self._handback: asyncio.Future[None] | None = None
        """Made when this session replaced another: done once that one handed back what
        it had not delivered (its messages come before what waits in the store)."""
        self._message_rate: TokenBucket | None = None
        self._request_rate: TokenBucket | None = None
        self._backlog: Backlog | None = None
        """Stored messages on their way, and the messages held behind them (from the
        first presence on)."""

    # -- identity --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def key(self) -> str:
        return self.account.key

    @property
    def log(self) -> SessionLog:
        """This session's logger (made when something is logged, which relaying never does)."""
        return SessionLog(self.conn_id, self.account.name)

    @property
    def online(self) -> bool:
        return self.stage in ONLINE_STAGES

    def info(self) -> SessionInfo:
        online = self.online
        return SessionInfo(self.name, self.account.nick, online,
                           str(self.presence) if online else None, self.origin, self.conn_id)

    # -- the session's own state ------------------------------------------------------

    def move(self, stage: Stage) -> bool:
        """Go to ``stage`` if the table allows it from here (never out of ``CLOSED``)."""
        if stage not in NEXT_STAGES[self.stage]:
            return False
        self.stage = stage
        self.visible = stage in ONLINE_STAGES and self.presence != Presence.OFFLINE
        return True

    def set_presence(self, presence: Presence, text: bytes) -> None:
        """What the user says of themselves; ``presence.announce`` tells the watchers."""
        self.presence = presence
        self.text = text
        self.visible = self.online and presence != Presence.OFFLINE

    def stop_taking(self) -> None:
        """The connection is closing (or its input ended): take nothing more. A delivery of
        stored messages under way reads no more."""
        self.move(Stage.CLOSED)

    async def delivered(self) -> None:
        """Until a delivery of stored messages under way has finished."""
        if self._backlog is not None:
            await self._backlog.delivered()

    @property
    def backlog(self) -> Backlog:
        if self._backlog is None:
            self._backlog = Backlog(self)
        return self._backlog

    def may_send_message(self) -> bool:
        settings = self.service.settings
        if not settings.messages_per_second:
            return True
        if self._message_rate is None:  # made on first use: most sessions never need it
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

    # -- events from elsewhere: the router's way in -----------------------------------

    def accept(self, event: Event) -> Outcome:
        """Take ``event`` or say why not (the tables ``MESSAGES`` and ``NOTICES``)."""
        if type(event) is MessageEvent:  # the relay's hot path
            stage = self.stage
            blocks = self.blocks  # empty until the snapshot has read them: then the store checks
            if blocks and name_key(event.sender) in blocks:
                return Outcome.BLOCKED if stage in ONLINE_STAGES else Outcome.NOT_ONLINE
            take = MESSAGES[stage]
            if take is _SHOW:
                journal = self.service.journal
                if journal.full:
                    return Outcome.UNRECORDED
                owed = self._owed
                if owed is None:
                    owed = self._owed = journal.in_flight(self.account.key)
                owed.add(self.outlet.deliver(event), event.id, event.sender, event.body,
                         self.service.clock())
                return _TAKEN if self.visible else _TAKEN_UNSEEN
            if take is Take.HOLD:
                if self.backlog.spilled:
                    take = Take.STORE
                elif not self.backlog.hold(event):
                    return Outcome.UNRECORDED
            outcome = TAKEN_AS[take]
            return outcome if self.visible else UNSEEN[outcome]
        if isinstance(event, PresenceEvent | RequestEvent):
            take = NOTICES[self.stage]
            if take is Take.SHOW:
                self._show(event)
            elif take is Take.HOLD:
                if self._held is None:
                    self._held = []
                self._held.append(event)
            return Outcome.NOT_ONLINE if take is Take.DROP else Outcome.TAKEN
        if isinstance(event, KickEvent):
            if self.stage is Stage.CLOSED:
                return Outcome.NOT_ONLINE
            self.outlet.show(event)
            return Outcome.TAKEN
        if isinstance(event, HandbackEvent):
            if self._handback is None:
                self._handback = asyncio.get_running_loop().create_future()
            _resolve(self._handback)
        else:
            assert isinstance(event, WaitingEvent)
        if self.stage not in (Stage.BACKLOG, Stage.LIVE):
            return Outcome.NOT_ONLINE  # the first presence delivers what waits
        self.flush()
        return Outcome.TAKEN

    def replaced_another(self) -> None:
        """This session replaced one still open elsewhere (a login elsewhere): its stored
        messages wait for that one's hand-back (``HandbackEvent``)."""
        if self._handback is None:
            self._handback = asyncio.get_running_loop().create_future()

    @property
    def handing_back(self) -> bool:
        """A session this one replaced has not handed back what it held yet."""
        return self._handback is not None and not self._handback.done()

    async def handed_back(self) -> None:
        """Until a session this one replaced handed back what it held (or ``HANDBACK_WAIT``)."""
        if self._handback is not None and not self._handback.done():
            await asyncio.wait((self._handback,), timeout=HANDBACK_WAIT)
            _resolve(self._handback)  # waited long enough

    def _show(self, event: PresenceEvent | RequestEvent) -> None:
        if isinstance(event, PresenceEvent):
            self.show_presence(event)
        else:
            self.show_request(event)

    def show_presence(self, event: PresenceEvent) -> None:
        """Show a watched user's presence, unless this connection was shown exactly that
        (and it is not ``always``) or something newer."""
        key = name_key(event.user)
        seen = self.seen
        if seen is None:
            seen = self.seen = {}
        shown = seen.get(key)
        if shown is not None and event.version < shown[2]:
            return  # old news
        seen[key] = (event.presence, event.text, event.version)
        if event.always or (shown[:2] if shown else (OFFLINE, b"")) != (event.presence,
                                                                          event.text):
            self.outlet.show(event)

    def show_request(self, event: RequestEvent) -> None:
        """Show a permission request, once per connection (asking again is a new request)."""
        key = name_key(event.requester)
        if key in self.blocks:
            return
        shown = self.requests_shown
        if shown is None:
            shown = self.requests_shown = {}
        if shown.get(key) == event.at:
            return
        shown[key] = event.at
        self.outlet.show(event)

    def show_held(self) -> None:
        """Show what arrived while the snapshot was being shown (old news is dropped)."""
        held, self._held = self._held, None
        for event in held or ():
            assert isinstance(event, PresenceEvent | RequestEvent)
            self._show(event)

    # -- what the session answers for until the user's side has it ---------------------

    @property
    def owes(self) -> bool:
        """Messages were shown that the user's side had not acknowledged when last asked."""
        return bool(self._owed)

    def owed(self) -> InFlight:
        """The messages shown and not yet acknowledged by the user's side."""
        if self._owed is None:
            self._owed = self.service.journal.in_flight(self.account.key)
        return self._owed

    def acknowledge(self) -> None:
        """Retire the messages the user's side has acknowledged (asked now and then, and at
        the end)."""
        if self._owed:
            self._owed.acknowledge(self.outlet.acknowledged())

    async def settle(self) -> None:
        """The connection is gone: what the user's side did not acknowledge, and what was held
        for it, goes back to the store, in order and with its ``Date``, and a newer session
        of the user (a login elsewhere) is told it may deliver what waits."""
        await self.outlet.disconnected()
        self.acknowledge()
        service = self.service
        owed, self._owed = self._owed, None
        held = await self._backlog.release() if self._backlog is not None else None
        if owed and not self.outlet.acknowledged_exactly:
            self.log.info("the kernel could not tell how much the peer had: %d message(s) it "
                          "may have had go back too", len(owed))
        for flight in (owed, held):
            if flight is not None:
                await self._hand_back(flight)
        await delivered(service.router.deliver(self.key, HANDED_BACK))

    async def _hand_back(self, flight: InFlight) -> None:
        store = self.service.store
        kept = await until_stored(lambda: flight.release(store))
        if kept:
            self.service.stats.messages["kept back"] += kept
            self.log.info("%d message(s) the connection did not deliver went back to the "
                          "store", kept)

    # -- stored messages ------------------------------------------------------------------

    def flush(self, read: asyncio.Future[None] | None = None) -> None:
        """Deliver stored messages now (again, if a delivery is under way): meanwhile the
        session is in ``BACKLOG`` and new messages are held behind the stored ones. ``read``
        is resolved once the store has been read the first time (and what it held shown),
        or at once when no new delivery starts."""
        self.backlog.flush(read)


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
