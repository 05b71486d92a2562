"""The world the fuzzing harness runs: the real core, three connections, the ledger.

See tests/fuzz/harness.py for what is checked and why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from imipd.core import Service, Session, Stage
from imipd.core.names import valid_user_name
from imipd.imip import ALLOWED, Conversation, Front, ImipSession, Phase
from imipd.protocol import END, NEED_DATA, Block, Limits, Parser, ProtocolError, digest
from imipd.router import LocalRouter
from imipd.server.app import imip_settings_from, settings_from
from imipd.server.config import Config
from imipd.store import name_key
from imipd.store.identity import identities
from imipd.store.journal import FileJournal
from imipd.store.sqlite import SqliteStore

from .rules import RuleBroken, ack_type_of, check_answers, is_answer, is_decimal
from .sink import RecordingSink

USERS: tuple[tuple[str, str, str], ...] = (
    ("alice", "pw-a", "Alice"),
    ("Bob", "pw-b", "Bob \u00e9"),  # created capitalised: the server writes "Bob"
    ("carol", "pw-\u00e7", "Carol"),
)
PASSWORDS = {name_key(name): password for name, password, _ in USERS}
SLOTS = 3
PEERS = ("192.0.2.1", "192.0.2.2")
COLLECTOR_PEER = "198.51.100.7"
"""The final logins come from their own address, so the failed-login throttle never hits them."""

SMALL_LIMITS = Limits(type_line=64, header_count=8, header_line=96, block_size=2048,
                      mesg_body=256, stat_text=32, list_add_text=64)
"""Limits small enough that generated blocks reach every one of them."""

MARKER = re.compile(rb" #m(\d+)#\Z")
"""The unique tag at the end of every generated ``MESG`` body (``#`` ends it, so that a body
cut short by a wrong size line loses its tag instead of taking another one's)."""

TRACE_STEPS = 40
"""How many of the last steps a failure shows."""


class InvariantError(AssertionError):
    """The core broke one of the harness's invariants; the message says which and where."""


def wire(type_line: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes | None,
         size_delta: int = 0, eol: bytes = b"\r\n") -> bytes:
    """A block as bytes, built by hand so that it can also be wrong (any header, any size)."""
    content = b"".join(name + b": " + value + eol for name, value in headers)
    if body is not None:
        content += eol + body
    return type_line + eol + b"%d" % max(0, len(content) + size_delta) + eol + content


def client_block(conn: Conn, type_line: str, headers: Sequence[tuple[str, str]] = (),
                 body: bytes = b"") -> bytes:
    """A correct client block with the connection's next ID (written like the Yahoo! client)."""
    block_id = str(conn.next_id)
    conn.next_id += 1
    return wire(type_line.encode(), [(b"ID", block_id.encode())]
                + [(n.encode(), v.encode()) for n, v in headers], body)


@dataclass
class Conn:
    """One simulated client connection: the real ``Conversation`` over a recording sink.

    ``reader`` is the world's own reading of the client's bytes: it tells where each
    block ends, so that the conversation is handed one block at a time and what it
    writes can be checked against that block."""

    slot: int
    sink: RecordingSink
    conversation: Conversation
    reader: Parser
    unfed: bytes = b""
    """Client bytes the reader has seen and the conversation has not."""
    next_id: int = 1001
    challenge: str = ""
    user: str | None = None
    """The account name, once ``LOGN`` was answered."""
    requests: list[str] = field(default_factory=list)
    """IDs of the ``LIST ADD`` requests the server showed on this connection."""
    seen: int = 0
    """How many of the sink's blocks have been accounted for."""

    @property
    def session(self) -> ImipSession:
        return self.conversation.session

    @property
    def ended(self) -> bool:
        return self.conversation.ended


@dataclass
class Sent:
    """One tagged ``MESG`` handed to the core."""

    marker: int
    sender: str
    recipient: str | None
    """The recipient's key, None when ``To`` names no user."""
    blocked: bool
    accepted: bool = False
    status: int | None = None
    ambiguous: bool = False
    """Sent twice with the same marker, or the block state changed during the send."""


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


class World:
    """The real core plus up to ``SLOTS`` connections, with the invariant checks."""

    def __init__(self, store: SqliteStore, config: Config) -> None:
        self.store = store
        self.journal = FileJournal.open(Path(config.data_dir), identities(1))
        self.service = Service(settings_from(config), store, LocalRouter(), self.journal)
        self.front = Front(self.service, imip_settings_from(config), config.limits)
        self.limits = config.limits
        self.conns: list[Conn | None] = [None] * SLOTS
        self.sent: dict[int, Sent] = {}
        self.received: dict[int, list[str]] = {}
        self.trace: list[str] = []
        self._next_marker = 1
        self._conn_ids = 0
        self.error_log = _ErrorLog()

    # -- failures and message tags --------------------------------------------------

    def fail(self, message: str) -> InvariantError:
        steps = "\n".join(self.trace[-TRACE_STEPS:])
        return InvariantError(f"{message}\n--- last steps ---\n{steps}")

    def marker(self) -> bytes:
        """A new unique tag for a ``MESG`` body."""
        value = self._next_marker
        self._next_marker += 1
        return b" #m%d#" % value

    # -- connections ------------------------------------------------------------------

    async def connect(self, slot: int, peer: str = PEERS[0]) -> Conn:
        """A new connection in ``slot`` (an old one there is hung up first)."""
        await self.hang_up(slot)
        self._conn_ids += 1
        sink = RecordingSink(f"f{self._conn_ids}")
        conn = Conn(slot, sink, Conversation(self.front, sink, peer, sink.conn_id),
                    Parser(self.front.limits))
        self.conns[slot] = conn
        self.trace.append(f"[{slot}] connect {sink.conn_id} from {peer}")
        return conn

    async def hang_up(self, slot: int, *, eof: bool = False) -> None:
        """The client goes away without ``DISC`` (with ``eof``: after a clean end of stream)."""
        conn = self.conns[slot]
        if conn is None or conn.ended:
            return
        self.trace.append(f"[{slot}] hang up{' (eof)' if eof else ''}")
        if eof and not conn.sink.closed:
            await self.feed(slot, b"")
        conn.sink.close()
        await _drive(conn.conversation, conn.conversation.lost())
        await self._step_done()

    # -- feeding bytes ------------------------------------------------------------------

    async def feed(self, slot: int, data: bytes) -> None:
        """Client bytes on ``slot`` (``b""``: end of stream); every block is handled and checked."""
        conn = self.conns[slot]
        if conn is None or conn.sink.closed:
            return
        self.trace.append(f"[{slot}] feed {data[:160]!r}{'…' if len(data) > 160 else ''}")
        await self._run(conn, data)
        await self._step_done()

    async def feed_together(self, chunks: list[tuple[int, bytes]]) -> None:
        """Bytes for several connections, handled concurrently (one task per connection)."""
        by_slot: dict[int, list[bytes]] = {}
        for slot, data in chunks:
            if data:
                by_slot.setdefault(slot, []).append(data)
        runs = []
        for slot, pieces in by_slot.items():
            conn = self.conns[slot]
            if conn is not None and not conn.sink.closed:
                self.trace.append(f"[{slot}] feed (together) {b''.join(pieces)[:160]!r}")
                runs.append(self._run(conn, b"".join(pieces)))
        await asyncio.gather(*runs)
        await self._step_done()

    async def _run(self, conn: Conn, data: bytes) -> None:
        """Hand ``data`` to the conversation one block at a time, checking each."""
        reader = conn.reader
        reader.feed(data)
        conn.unfed += data
        while conn.conversation.open:
            try:
                item: Block | ProtocolError | object = reader.next_block()
            except ProtocolError as error:
                item = error
            if item is NEED_DATA or item is END:
                break
            assert isinstance(item, Block | ProtocolError)
            if isinstance(item, ProtocolError) and item.fatal:
                chunk, conn.unfed = conn.unfed, b""  # framing is lost there too
            else:
                cut = len(conn.unfed) - reader.buffered
                chunk, conn.unfed = conn.unfed[:cut], conn.unfed[cut:]
            await self._process(conn, item, chunk)
        if conn.unfed and conn.conversation.open:  # the start of a block: it waits there
            await self._receive(conn, conn.unfed)
            conn.unfed = b""
        if data == b"":
            await _drive(conn.conversation, conn.conversation.receive_eof())

    async def _receive(self, conn: Conn, chunk: bytes) -> None:
        try:
            await _drive(conn.conversation, conn.conversation.receive(chunk))
        except Exception as error:
            raise self.fail(f"exception escaped the conversation: {error!r}") from error

    async def _process(self, conn: Conn, item: Block | ProtocolError, chunk: bytes) -> None:
        phase = conn.session.phase if conn.conversation.open else None
        before = len(conn.sink.blocks)
        was_closed = conn.sink.closed
        sent = await self._before_mesg(conn, item, phase)
        await self._receive(conn, chunk)
        written = conn.sink.blocks[before:]
        answers = [b for b in written if is_answer(b)]
        closed_now = conn.sink.closed and not was_closed
        if closed_now and any(b.verb == "DISC" for b in written):
            # a server DISC (the user logged in elsewhere) closed the connection meanwhile:
            # the answer was written after the close and went nowhere
            self.trace.append(f"[{conn.slot}] closed by a server DISC while handling")
        else:
            try:
                check_answers(item, phase, answers, closed_now)
            except RuleBroken as broken:
                raise self.fail(f"[{conn.slot}] {broken}") from None
        if sent is not None and isinstance(item, Block):
            await self._after_mesg(conn, sent, phase, item, answers, closed_now)

    # -- accounting after every step ------------------------------------------------------

    async def _step_done(self) -> None:
        await _settle()
        for conn in self.conns:
            if conn is not None:
                self._account(conn)
        for conn in self.conns:
            if conn is not None and conn.sink.closed and not conn.ended:
                # closed by the server (a server DISC, a lost framing): the transport goes
                await _drive(conn.conversation, conn.conversation.lost())
                await _settle()
                for other in self.conns:
                    if other is not None:
                        self._account(other)
        if self.error_log.records:
            raise self.fail("the core logged an error:\n" + "\n".join(self.error_log.records))

    def _account(self, conn: Conn) -> None:
        """Look at the blocks written to ``conn`` since the last look."""
        sink = conn.sink
        if sink.violations:
            raise self.fail(f"[{conn.slot}] {sink.conn_id}: " + "; ".join(sink.violations))
        for block in sink.blocks[conn.seen:]:
            if block.verb == "HELO" and block.body.isdigit():
                conn.challenge = block.body.decode()
            elif block.verb == "LOGN" and block.args:
                conn.user = block.args[0]
            elif block.type_line == "LIST ADD":
                conn.requests.append(block.header("ID") or "")
                if not re.fullmatch(r'\S+ "[^"]+"', block.header("From") or ""):
                    raise self.fail(f"[{conn.slot}] LIST ADD without From: name \"nick\"")
            elif block.verb == "STAT" and not block.header("Reference"):
                if block.header("From") is None or len(block.args) != 1:
                    raise self.fail(f"[{conn.slot}] presence without From: {block}")
            elif block.verb == "MESG":
                self._received(conn, block)
        conn.seen = len(sink.blocks)

    def _received(self, conn: Conn, block: Block) -> None:
        if conn.user is None or block.header("To") != conn.user:
            raise self.fail(f"[{conn.slot}] MESG to {block.header('To')!r} arrived on a "
                            f"connection of {conn.user!r}")
        found = MARKER.search(block.body)
        if found is None:
            return
        marker = int(found.group(1))
        self.received.setdefault(marker, []).append(name_key(conn.user))
        sent = self.sent.get(marker)
        if sent is not None and not sent.ambiguous and block.header("From") != sent.sender:
            raise self.fail(f"message m{marker} from {sent.sender} arrived From "
                            f"{block.header('From')!r}")

    # -- the message ledger -----------------------------------------------------------------

    async def _before_mesg(self, conn: Conn, item: Block | ProtocolError,
                           phase: Phase | None) -> Sent | None:
        if not isinstance(item, Block) or item.verb != "MESG" or conn.user is None:
            return None
        found = MARKER.search(item.body)
        if found is None or phase not in (Phase.LOGGED_IN, Phase.ONLINE):
            return None
        marker = int(found.group(1))
        to = item.header("To") or ""
        recipient = await self.store.get_user(to) if valid_user_name(to) else None
        blocked = recipient is not None and await self.store.is_blocked(
            recipient.key, name_key(conn.user))
        if marker in self.sent:
            self.sent[marker].ambiguous = True
            return None
        sent = Sent(marker, conn.user, recipient.key if recipient else None, blocked)
        self.sent[marker] = sent
        return sent

    async def _after_mesg(self, conn: Conn, sent: Sent, phase: Phase | None, block: Block,
                          answers: list[Block], closed_now: bool) -> None:
        ack_type = ack_type_of(block)
        passed = (is_decimal(block.header("ID")) and phase is not None
                  and "MESG" in ALLOWED[phase]
                  and ack_type in ("always", "errors-only", "none"))
        if ack_type == "" or closed_now:
            # how an empty ACK-Type is read is open; and an answer written after the
            # connection closed went nowhere, so silence proves nothing
            sent.ambiguous = True
        if answers:
            sent.status = int(answers[0].args[0])
        if sent.recipient is not None and await self.store.is_blocked(
                sent.recipient, name_key(sent.sender)) != sent.blocked:
            sent.ambiguous = True  # blocked or unblocked concurrently
        sent.accepted = passed and sent.recipient is not None and (
            sent.status in (600, 601) if ack_type == "always" else sent.status is None)
        self.trace.append(f"  m{sent.marker}: {sent}")
        delivered = sent.recipient in self.received.get(sent.marker, []) or self._delivered_now(
            sent)
        if sent.status == 600 and not sent.blocked and not delivered:
            # 600 means delivered, or queued behind stored messages that are being flushed
            # to the online recipient right now (then the ledger checks it arrives)
            recipient = self._user_session(sent.recipient or "")
            if recipient is None or recipient.stage is Stage.LIVE:
                raise self.fail(f"m{sent.marker} answered 600 but not delivered to "
                                f"{sent.recipient}; its session: {recipient and recipient.stage}")

    def _user_session(self, key: str) -> Session | None:
        """The live session of the user ``key`` (the one the router holds)."""
        for conn in self.conns:
            user = None if conn is None else conn.session.user
            if user is not None and user.key == key and user.online:
                return user
        return None

    def _delivered_now(self, sent: Sent) -> bool:
        """Whether the recipient's sink holds the message but it was not accounted for yet."""
        for conn in self.conns:
            if conn is None or conn.user is None or name_key(conn.user) != sent.recipient:
                continue
            for block in conn.sink.blocks[conn.seen:]:
                found = MARKER.search(block.body) if block.verb == "MESG" else None
                if found is not None and int(found.group(1)) == sent.marker:
                    return True
        return False

    async def login(self, slot: int, user: str, *, online: bool = True) -> bool:
        """``HELO``, ``LOGN`` with the right digest, and (``online``) the first ``STAT``."""
        conn = self.conns[slot]
        if conn is None or conn.ended:
            conn = await self.connect(slot, COLLECTOR_PEER)
        if conn.session.phase is Phase.CONNECTED:
            await self.feed(slot, client_block(conn, "HELO", headers=[("Protocol",
                                                                         "IMIP/1.0")]))
        password = PASSWORDS[name_key(user)]
        await self.feed(slot, client_block(conn, f"LOGN {user}", headers=[
            ("Auth-Type", "imip-md5")], body=digest(conn.challenge, password).encode()))
        if online:
            await self.feed(slot, client_block(conn, "STAT ONLINE"))
        return conn.user is not None

    async def finish(self) -> None:
        """Hang up everyone, let every user log in to collect, then check the ledger."""
        for slot in range(SLOTS):
            await self.hang_up(slot)
        self.trace.append("-- collecting --")
        for name, _, _ in USERS:
            await self.connect(0, COLLECTOR_PEER)
            if not await self.login(0, name):
                raise self.fail(f"{name} could not log in to collect")
            await self.hang_up(0)
        for marker, receivers in self.received.items():
            sent = self.sent.get(marker)
            if sent is None or sent.ambiguous:
                continue
            if len(receivers) > 1:
                raise self.fail(f"m{marker} ({sent}) received {len(receivers)} times")
            if receivers and receivers[0] != sent.recipient:
                raise self.fail(f"m{marker} ({sent}) received by {receivers[0]}")
        for marker, sent in self.sent.items():
            if sent.ambiguous:
                continue
            got = self.received.get(marker, [])
            if sent.blocked and got:
                raise self.fail(f"m{marker} ({sent}): the recipient blocks the sender, "
                                "yet it was delivered")
            if sent.accepted and not sent.blocked and len(got) != 1:
                raise self.fail(f"m{marker} ({sent}) was accepted but received "
                                f"{len(got)} times")
            if not sent.accepted and sent.status is not None and got:
                raise self.fail(f"m{marker} ({sent}) was refused but delivered")


@asynccontextmanager
async def open_world(template: Path, *, limits: Limits | None = None,
                     error_reasons: bool = False) -> AsyncIterator[World]:
    """A world on a fresh copy of ``template`` (a data directory holding ``USERS``)."""
    tmp = Path(tempfile.mkdtemp(prefix="imipd-fuzz-"))
    try:
        shutil.copytree(template, tmp / "data")
        store = await SqliteStore.open_data_dir(tmp / "data", synchronous="normal")
        limits = limits or Limits()
        config = Config(data_dir=tmp / "data", error_reasons=error_reasons, login_failures=10,
                        max_type_line=limits.type_line, max_header_count=limits.header_count,
                        max_header_line=limits.header_line, max_block_size=limits.block_size,
                        max_mesg_body=limits.mesg_body, max_stat_text=limits.stat_text,
                        max_list_add_text=limits.list_add_text)
        world = World(store, config)
        logger = logging.getLogger("imipd")
        logger.addHandler(world.error_log)
        try:
            yield world
        finally:
            logger.removeHandler(world.error_log)
            for conn in world.conns:
                if conn is not None and not conn.ended:
                    await _drive(conn.conversation, conn.conversation.lost())
            await _settle()
            await world.journal.close()
            await store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _core_tasks() -> set[asyncio.Task[object]]:
    """The tasks the core started (stored-message flushes), not the harness's own."""
    found = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and f"{os.sep}imipd{os.sep}" in code.co_filename and not task.done():
            found.add(task)
    return found


async def _drive(conversation: Conversation, step: object) -> None:
    """Run what the conversation hands out, and what it hands out next, to the end."""
    while step is not None:
        assert asyncio.iscoroutine(step)
        await step
        step = conversation.resume()


async def _settle() -> None:
    """Wait until every task the core started has finished."""
    while tasks := _core_tasks():
        await asyncio.wait(tasks)


async def make_template(directory: Path) -> Path:
    """A data directory with ``USERS``, to be copied for every world."""
    store = await SqliteStore.open_data_dir(directory, synchronous="normal")
    try:
        for name, password, nick in USERS:
            await store.create_user(name, password, nick)
    finally:
        await store.close()
    return directory
