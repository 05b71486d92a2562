"""``Client``: one user's session with an IMIP server, as intent methods and typed events.

The client owns what outlives a connection (state, reconnecting, the event queue,
the presence to restore) and turns intent into blocks. One connection's life is in
``_session`` (login, keep-alive, goodbye), the wire in ``_link`` (framing, IDs,
answers) and ``_login`` (greeting, digest); what pushed blocks mean is in ``_dispatch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType

from .. import __version__
from ..protocol import Block, DigestOrder, Status
from ..protocol import headers as H
from ._dispatch import event_for
from ._link import Link
from ._login import Credentials
from ._session import LiveConnection
from .backoff import Backoff
from .errors import (
    ConnectionClosed,
    ImipError,
    LoginFailed,
    UnsupportedProtocol,
    raise_for_error,
)
from .events import Disconnected, Event, PermissionRequested, Reconnected
from .goodbyes import may_try_again
from .values import (
    AckType,
    BlockedUser,
    Contact,
    Delivery,
    Presence,
    ServerInfo,
    parse_block_list,
    parse_buddy_list,
)

log = logging.getLogger("imipd.client")

CLIENT_NAME = f"imipd {__version__}"
"""What the client writes in the ``Client`` header of ``LOGN`` unless told otherwise."""

class _State(enum.Enum):
    NEW = "new"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class Client:
    """An IMIP session for one user: ``async with connect(...) as client``.

    Methods that talk to the server raise :class:`ConnectionClosed` when there is no
    connection, :class:`RequestTimeout` when the answer does not come, and the typed
    error of the server's error ``ACK`` (see ``imipd.client.errors``).
    """

    def __init__(self, host: str, port: int, user: str, password: str, *,
                 presence: Presence | str | None = None, status_text: str = "",
                 reconnect: Backoff | None = None, keep_alive: bool = True,
                 timeout: float = 15.0, client_name: str = CLIENT_NAME,
                 digest_order: DigestOrder = DigestOrder.CHALLENGE_PASSWORD) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._credentials = Credentials(user, password, client_name, digest_order)
        self._presence = None if presence is None else (Presence(presence), status_text)
        self._backoff = reconnect
        self._keep_alive = keep_alive
        self._state = _State.NEW
        self._live: LiveConnection | None = None
        self._name = user
        self._info: ServerInfo | None = None
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._reconnector: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Client:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    @property
    def user(self) -> str:
        """The user name, as the server spells it once logged in."""
        return self._name

    @property
    def server_info(self) -> ServerInfo | None:
        """What the server's last ``HELO`` said (None before the first login)."""
        return self._info

    @property
    def connected(self) -> bool:
        """Whether a logged-in connection is up now."""
        return self._state is _State.CONNECTED and self._live is not None

    @property
    def presence(self) -> tuple[Presence, str] | None:
        """The presence and status text last set (re-sent after a reconnect)."""
        return self._presence

    async def open(self) -> None:
        """Connect, greet, log in, and set the initial presence if one was given.

        Raises :class:`ConnectFailed`, :class:`LoginFailed`, :class:`RateLimited`,
        :class:`UnsupportedProtocol`, :class:`ConnectionClosed`, :class:`RequestTimeout`.
        """
        if self._state is not _State.NEW:
            raise RuntimeError("a Client is opened once")
        self._state = _State.CONNECTED
        try:
            await self._connect()
        except BaseException as error:
            self._state = _State.CLOSED
            self._finish(Disconnected(f"could not log in: {error}"))
            raise

    async def close(self) -> None:
        """Say goodbye (``DISC``, wait for its ``ACK``) and close; safe to call twice."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        reconnector = self._reconnector
        if reconnector is not None and reconnector is not asyncio.current_task():
            reconnector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconnector
        live, self._live = self._live, None
        if live is not None:
            await live.close()
        self._finish(Disconnected("closed by the client"))

    async def _connect(self) -> None:
        live = await LiveConnection.open(
            self.host, self.port, self._credentials, self._presence, timeout=self.timeout,
            keep_alive=self._keep_alive, on_push=self._on_push, on_lost=self._on_lost)
        self._live, self._info, self._name = live, live.info, live.name

    def _on_lost(self, link: Link, reason: str) -> None:
        """The link ended: reconnect if asked to, else this is the end."""
        live = self._live
        if live is None or link is not live.link or self._state is not _State.CONNECTED:
            return
        self._live = None
        live.stop()
        if self._backoff is None or not may_try_again(link.goodbye):
            self._state = _State.CLOSED
            self._finish(Disconnected(reason, server_reason=link.goodbye))
            return
        self._state = _State.RECONNECTING
        self._events.put_nowait(Disconnected(reason, will_reconnect=True,
                                             server_reason=link.goodbye))
        self._reconnector = asyncio.get_running_loop().create_task(
            self._reconnect(self._backoff))

    async def _reconnect(self, backoff: Backoff) -> None:
        """Try again after each of the backoff's delays; give up on a refused login."""
        reason = "gave up reconnecting"
        refused: ImipError | None = None
        for delay in backoff.delays():
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except (LoginFailed, UnsupportedProtocol) as error:
                reason, refused = f"reconnecting failed: {error}", error
                break
            except ImipError as error:
                log.info("reconnecting failed, will try again: %s", error)
                continue
            except Exception as error:
                log.exception("reconnecting failed")
                reason = f"reconnecting failed: {error}"
                break
            self._state = _State.CONNECTED
            log.info("reconnected as %s", self._name)
            self._events.put_nowait(Reconnected())
            return
        self._state = _State.CLOSED
        self._finish(Disconnected(reason, error=refused))

    def _finish(self, last: Disconnected) -> None:
        self._events.put_nowait(last)
        self._events.put_nowait(None)

    # -- events ------------------------------------------------------------------------

    def _on_push(self, block: Block) -> None:
        event = event_for(block)
        if event is not None:
            self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[Event]:
        """Everything the server pushes, as typed events, from the moment of login.

        Meant for one consumer. Ends after the final :class:`Disconnected` (one whose
        ``will_reconnect`` is False).
        """
        while True:
            item = await self._events.get()
            if item is None:
                self._events.put_nowait(None)  # the end stays the end for every reader
                return
            yield item

    # -- requests ----------------------------------------------------------------------

    def _current(self, verb: str) -> Link:
        if self._live is None or self._state is not _State.CONNECTED:
            why = {_State.NEW: "not opened yet", _State.RECONNECTING: "reconnecting",
                   _State.CLOSED: "closed"}.get(self._state, "not connected")
            raise ConnectionClosed(f"not connected ({why})", verb=verb)
        return self._live.link

    async def request(self, block: Block, *, timeout: float | None = None) -> Block:
        """Send ``block`` (without an ``ID``: the client numbers it) and return the block
        whose ``Reference`` answers it; an error ``ACK`` raises its typed error."""
        if block.header(H.ID) is not None:
            raise ValueError("the client sets the ID of a request")
        return await self._ask(block.verb, block.args, block.headers, block.body, timeout)

    async def _ask(self, verb: str, args: tuple[str, ...] = (),
                   headers: tuple[tuple[str, str], ...] = (), body: bytes = b"",
                   timeout: float | None = None) -> Block:
        link = self._current(verb)
        answer = await link.ask(verb, args, headers, body, timeout or self.timeout)
        return raise_for_error(answer, verb)

    async def _tell(self, verb: str, args: tuple[str, ...] = (),
                    headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> str:
        """Send a block that gets no answer; returns its ID."""
        link = self._current(verb)
        block_id = link.send(verb, args, headers, body)
        await link.drain()
        return block_id

    async def ping(self) -> float:
        """``PING`` → ``ACK 600``; returns the round trip in seconds."""
        start = time.monotonic()
        await self._ask("PING")
        return time.monotonic() - start

    async def set_presence(self, presence: Presence | str = Presence.ONLINE,
                           text: str = "") -> None:
        """``STAT``: ``ONLINE``, ``AWAY``, ``BUSY`` or ``OFFLINE`` (appear offline), with a
        status text (at most 256 bytes on default servers, else :class:`TooLarge`).
        The first call puts the session online: stored messages and requests follow."""
        value = Presence(presence)
        await self._ask("STAT", (value.value,), (), text.encode("utf-8"))
        self._presence = (value, text)

    # contacts

    async def request_contact(self, user: str, text: str = "") -> None:
        """``LIST ADD``: ask ``user`` for permission to watch their presence.
        Raises :class:`NoSuchUser`, :class:`RequestRejected` (asking for oneself)."""
        await self._ask("LIST", ("ADD", user), ((H.LIST, "Buddy"), (H.FROM, self._name)),
                        text.encode("utf-8"))

    async def grant(self, request: PermissionRequested | str) -> None:
        """Answer a permission request with ``ACK 600`` (the server does not answer)."""
        await self._answer_request(request, Status.OK)

    async def decline(self, request: PermissionRequested | str) -> None:
        """Answer a permission request with ``ACK 822``; the requester is not told."""
        await self._answer_request(request, Status.DECLINED)

    async def _answer_request(self, request: PermissionRequested | str, status: Status) -> None:
        request_id = request.request_id if isinstance(request, PermissionRequested) else request
        await self._tell("ACK", (str(int(status)),), ((H.REFERENCE, request_id),))

    async def remove_contact(self, user: str) -> None:
        """``LIST REMOVE``: stop watching ``user`` (fine if not listed)."""
        await self._ask("LIST", ("REMOVE", user), ((H.LIST, "Buddy"),))

    async def block(self, user: str) -> None:
        """Block ``user``: they see this user offline, and what they send is dropped."""
        await self._ask("LIST", ("ADD", user), ((H.LIST, "Block"),))

    async def unblock(self, user: str) -> None:
        """Unblock ``user``."""
        await self._ask("LIST", ("REMOVE", user), ((H.LIST, "Block"),))

    async def contacts(self) -> list[Contact]:
        """``LIST GET``, buddy list: each contact with their presence or pending state."""
        return parse_buddy_list(await self._get_list("Buddy"))

    async def blocked(self) -> list[BlockedUser]:
        """``LIST GET``, block list."""
        return parse_block_list(await self._get_list("Block"))

    async def _get_list(self, which: str) -> bytes:
        answer = await self._ask("LIST", ("GET",), ((H.LIST, which),))
        if answer.verb != "LIST":
            raise ImipError(f"unexpected answer to LIST GET: {answer.type_line[:40]}",
                            verb="LIST")
        return answer.body

    # messages

    async def send_message(self, to: str, text: str,
                           ack_type: AckType | str = AckType.ALWAYS) -> Delivery:
        """``MESG`` to ``to``.

        - ``always``: returns ``DELIVERED`` (600) or ``STORED`` (601);
        - ``errors-only``: sends a ``PING`` right after; the server answers in order, so
          its answer proves no error came: returns ``ACCEPTED``;
        - ``none``: returns ``SENT`` once written; errors are not reported.

        Raises :class:`NoSuchUser`, :class:`TooLarge`, :class:`NotPermitted`,
        :class:`ServerError`, :class:`RateLimited` (not with ``none``).
        """
        kind = AckType(ack_type)
        headers = ((H.TO, to), (H.ACK_TYPE, kind.value), (H.FROM, self._name))
        body = text.encode("utf-8")
        if kind is AckType.ALWAYS:
            answer = await self._ask("MESG", (), headers, body)
            code = answer.args[0] if answer.verb == "ACK" and answer.args else ""
            if code == str(int(Status.OK)):
                return Delivery.DELIVERED
            if code == str(int(Status.STORED)):
                return Delivery.STORED
            raise ImipError(f"unexpected answer to MESG: {answer.type_line[:40]}", verb="MESG")
        if kind is AckType.NONE:
            await self._tell("MESG", (), headers, body)
            return Delivery.SENT
        link = self._current("MESG")
        mesg_id = link.send("MESG", (), headers, body)
        error = link.expect(mesg_id)
        try:
            await self._ask("PING")
        finally:
            if not error.done():
                link.forget(mesg_id)
            elif not error.cancelled() and error.exception() is None:
                raise_for_error(error.result(), "MESG")
        return Delivery.ACCEPTED
