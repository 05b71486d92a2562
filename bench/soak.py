"""Soak test: a mixed IMIP workload against a real ``imipd serve``, with an exact message ledger.

What it does, on loopback only, bounded in time (``--duration``, default 60 s) and in
count (``--max-messages``):

- creates a temporary data directory with ``--users`` accounts (written straight
  through ``SqliteStore`` before the server starts) and starts ``imipd serve`` on it;
- runs one client task per user: log in (HELO, LOGN, first STAT), then for a few
  seconds change presence, send messages to random users (online or not, with
  ``ACK-Type: always`` or ``errors-only``, each body holding a unique message id),
  ask others for permission and grant or decline what is asked, ``LIST GET``,
  ``PING``; sometimes log in a second time elsewhere (the first connection gets a
  server DISC); then leave with ``DISC`` or hang up abruptly (socket closed without
  ``DISC``), stay away a while, and come back;
- runs a "scanner" from another loopback address (127.0.0.2, so the failed-login
  throttle never touches the users): garbage, oversized blocks, wrong passwords;
- some users (``--slow-readers``) read slowly through a small receive buffer, so that
  what the server writes to them piles up in its buffers and the kernel's;
- at a quarter of the time restarts the server gracefully (SIGTERM: it must exit 0),
  and later kills it with SIGKILL (kill -9) ``--kills`` times, at random moments, and
  starts it again each time; clients reconnect;
- samples the server's RSS (``VmRSS`` of ``/proc/PID/status``) every second;
- at the end stops the workload, lets every user log in once more to collect what
  is stored for them, prints the ledger and the RSS curve, stops the server, removes
  the data (``--keep`` keeps it), and exits non-zero on any failure below.

The ledger, per message id:

- *accepted*: the server answered ``600`` or ``601`` (``ACK-Type: always``), or, for
  ``errors-only``, no error came back and the server answered a later block on the
  same connection (blocks are handled in order, so that answer proves acceptance).
  *rejected*: an error answer. *unknown*: the connection went away before either.
- Every accepted message, ``600`` included, must be received by its recipient at least
  once, by the end. An unknown one at most once. A rejected one never.
- **Duplicates.** A message is delivered once (docs/protocol.md §6.4): when a connection
  ends, the server asks the kernel how much the peer's TCP acknowledged and hands back
  only the rest. The one exception is a kill -9: what was on its way to a connection then
  goes back to the store from the journal and may come again, as a stored delivery. So a
  second copy is allowed only when it is a *stored* delivery (it carries ``Date``) and
  the first copy arrived on a connection of a server run that was killed. These are
  counted as "duplicates allowed". Every other duplicate is a failure.
- **In flight at a hang-up.** A client that hangs up throws away what its TCP had
  received and it had not read; the server counts that as delivered (the client's TCP
  acknowledged it). Such a client keeps reading for ``HANGUP_GRACE`` seconds after it
  decides to hang up (it just stops sending). A message that is never received is
  counted as "lost in flight at a hang-up" — and allowed — only if its recipient's
  client started hanging up at t, and the sender learned of the acceptance in [t, t +
  ``HANGUP_WINDOW``]. Any other accepted message not received is a loss, and a failure:
  whether the server was stopped, killed, or cut the recipient off meanwhile.
- **RSS.** Per server run, samples after the warm-up (``--warmup`` seconds) must stay
  within ``--rss-growth`` (default 20 %) of their minimum.

Also a failure: the server not exiting 0 on SIGTERM, a client seeing a block it cannot
parse, an answer that does not match what was sent, or an unexpected exception.

Run it from the project root::

    .venv/bin/python bench/soak.py --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from imipd.protocol import Block, Limits, Parser, ProtocolError, digest
from imipd.store.sqlite import SqliteStore

IMIPD = str(Path(sys.executable).parent / "imipd")
HOST = "127.0.0.1"
SCANNER_HOST = "127.0.0.2"
HANGUP_GRACE = 0.3
"""Seconds a hanging-up client still reads after it decides to hang up."""
HANGUP_WINDOW = 1.5
"""How long after a hang-up began an accepted-but-never-received message is 'in flight'."""
COLLECT_QUIET = 1.0
"""At the final collection: seconds without a new message that end a user's collection."""
READ_LIMITS = Limits(block_size=1 << 20, mesg_body=1 << 20, stat_text=1 << 20,
                     list_add_text=1 << 20)
MID = re.compile(rb"soak:(m\d+)\Z")
LISTENING = re.compile(r"imipd listening on \S*?:(\d+)")


def now() -> float:
    return time.monotonic()


# -- the ledger --------------------------------------------------------------------------


@dataclass
class Receipt:
    """One copy of a message as a client received it."""

    conn: int
    at: float
    stored: bool
    """It carried ``Date``: a stored delivery."""


@dataclass
class Message:
    """One message the workload sent, and what became of it."""

    mid: str
    sender: str
    recipient: str
    ack_type: str
    sent_at: float
    status: str = "pending"
    """pending, accepted, rejected or unknown."""
    code: int | None = None
    proven_at: float | None = None
    receipts: list[Receipt] = field(default_factory=list)


class Ledger:
    """Every message, every receipt, every hang-up, and how each connection ended."""

    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}
        self.hangups: dict[str, list[float]] = {}
        self.kills = 0
        self.killed: set[int] = set()
        """Server runs (generations) that ended by kill -9."""
        self.generation_of: dict[int, int] = {}
        """Connection serial → the server run it belonged to."""
        self.ended: dict[int, str] = {}
        """Connection serial → how it ended: disc (the client's), server (a server DISC),
        hang-up, or closed (it broke, or the server died)."""
        self.strays: list[str] = []
        self.failures: list[str] = []
        self.counts: Counter[str] = Counter()
        self._next = 0

    def new(self, sender: str, recipient: str, ack_type: str) -> Message:
        self._next += 1
        message = Message(f"m{self._next}", sender, recipient, ack_type, now())
        self.messages[message.mid] = message
        return message

    def settle(self, message: Message, status: str, code: int | None = None) -> None:
        if message.status == "pending":
            message.status = status
            message.code = code
            message.proven_at = now()

    def receive(self, user: str, conn: int, block: Block) -> None:
        found = MID.search(block.body)
        if found is None:
            self.strays.append(f"{user}: message without an id: {block.body[:60]!r}")
            return
        message = self.messages.get(found.group(1).decode())
        if message is None:
            self.strays.append(f"{user}: unknown message id {found.group(1)!r}")
            return
        if message.recipient != user:
            self.failures.append(f"{message.mid} for {message.recipient} arrived at {user}")
        message.receipts.append(Receipt(conn, now(), block.header("Date") is not None))

    def fail(self, text: str) -> None:
        self.failures.append(text)


# -- the server ----------------------------------------------------------------------------


class Server:
    """``imipd serve`` on a data directory: start, stop, kill, RSS."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.generation = 0
        self.started_at = 0.0
        self.stopping = False

    def start(self, timeout: float = 30.0) -> None:
        ready = threading.Event()
        self.proc = subprocess.Popen(
            [IMIPD, "serve", "--data-dir", str(self.data_dir), "--listen", f"{HOST}:{self.port}",
             "--web", f"{HOST}:0", "--log-level", "info", "--max-output-buffer", "65536"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        stderr = self.proc.stderr
        assert stderr is not None

        def pump() -> None:
            with self.log_path.open("a", encoding="utf-8") as log:
                for line in stderr:
                    log.write(line)
                    match = LISTENING.search(line)
                    if match:
                        self.port = int(match.group(1))
                        ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            raise RuntimeError(f"imipd did not start; see {self.log_path}")
        self.generation += 1
        self.started_at = now()
        self.stopping = False

    def stop(self, sig: int, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.stopping = True  # RSS while shutting down is not a sample of the steady state
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return -999

    def rss_kib(self) -> int | None:
        if self.proc is None or self.stopping or self.proc.poll() is not None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def kill_all(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


# -- one client connection -------------------------------------------------------------------

_conn_serials = iter(range(1, 1 << 30))


class Conn:
    """One client connection: sends blocks, reads and dispatches what arrives."""

    def __init__(self, soak: Soak, user: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.soak = soak
        self.user = user
        self.slow = user in soak.slow_readers
        self.ended_by = "closed"
        self.serial = next(_conn_serials)
        self.generation = soak.server.generation
        soak.ledger.generation_of[self.serial] = self.generation
        self.reader = reader
        self.writer = writer
        self.parser = Parser(READ_LIMITS)
        self.next_id = 1001
        self.waiting: dict[str, tuple[str, Message | None, asyncio.Future[Block]]] = {}
        self.unproven: list[tuple[int, Message]] = []
        """errors-only messages without an error so far, with their block IDs."""
        self.open = True
        self.closed = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self.requests_seen = 0

    # -- writing ---------------------------------------------------------------------

    def send(self, type_line: str, headers: list[tuple[str, str]] | None = None,
             body: bytes = b"", kind: str = "", message: Message | None = None,
             ) -> asyncio.Future[Block]:
        """Write a block (empty line always, like the Yahoo! client); the future gets its
        answer."""
        block_id = str(self.next_id)
        self.next_id += 1
        content = f"ID: {block_id}\r\n".encode()
        content += b"".join(f"{n}: {v}\r\n".encode() for n, v in headers or [])
        content += b"\r\n" + body
        future: asyncio.Future[Block] = asyncio.get_running_loop().create_future()
        if not self.open:
            if message is not None:
                self.soak.ledger.settle(message, "unknown")
            future.cancel()
            return future
        if kind:
            self.waiting[block_id] = (kind, message, future)
        if message is not None and message.ack_type == "errors-only":
            self.unproven.append((int(block_id), message))
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.writer.write(type_line.encode() + b"\r\n%d\r\n" % len(content) + content)
        return future

    async def request(self, type_line: str, headers: list[tuple[str, str]] | None = None,
                      body: bytes = b"", kind: str = "answer", timeout: float = 10.0,
                      message: Message | None = None) -> Block | None:
        """Send and wait for the answer; None when the connection went away first."""
        future = self.send(type_line, headers, body, kind, message)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except (TimeoutError, asyncio.CancelledError, ConnectionError):
            return None

    # -- reading ---------------------------------------------------------------------

    def start_reading(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        self.soak.tasks.add(self._task)
        self._task.add_done_callback(self.soak.tasks.discard)

    async def next_block(self, timeout: float = 10.0) -> Block | None:
        """Read one block directly (during login, before the read loop runs)."""
        deadline = now() + timeout
        while True:
            item = self.parser.next_block()
            if isinstance(item, Block):
                return item
            left = deadline - now()
            if left <= 0:
                return None
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except (TimeoutError, ConnectionError):
                return None
            if not data:
                return None
            self.parser.feed(data)

    async def _read_loop(self) -> None:
        rng = random.Random(self.serial)
        try:
            while True:
                if self.slow:  # reads little, now and then: the server's output piles up
                    await asyncio.sleep(rng.uniform(0.005, 0.05))
                try:
                    data = await self.reader.read(4096 if self.slow else 65536)
                except ConnectionError:
                    data = b""
                if not data:
                    break
                self.parser.feed(data)
                while isinstance(item := self.parser.next_block(), Block):
                    self._dispatch(item)
        except ProtocolError as error:
            self.soak.ledger.fail(f"{self.user}: the server wrote an unparsable block: {error}")
        finally:
            self._gone()

    def _dispatch(self, block: Block) -> None:
        ledger = self.soak.ledger
        reference = block.header("Reference")
        if block.verb == "MESG":
            ledger.receive(self.user, self.serial, block)
            ledger.counts["received"] += 1
        elif block.type_line == "LIST ADD":
            self.requests_seen += 1
            answer = "600" if random.random() < 0.7 else "822"
            ledger.counts[f"requests answered {answer}"] += 1
            self.send(f"ACK {answer}", [("Reference", block.header("ID") or "")])
        elif block.verb == "STAT" and reference is None:
            ledger.counts["presence shown"] += 1
        elif block.verb == "DISC" and reference is None:
            self.ended_by = "server"
            ledger.counts["server DISC: " + block.body.decode("utf-8", "replace")] += 1
        elif reference is not None:
            self._answered(reference, block)
        else:
            ledger.fail(f"{self.user}: unexpected block {block.type_line!r}")

    def _answered(self, reference: str, block: Block) -> None:
        ledger = self.soak.ledger
        code = int(block.args[0]) if block.verb == "ACK" and block.args else None
        if reference.isdigit():
            ref = int(reference)
            still = []
            for block_id, message in self.unproven:
                if block_id == ref:
                    ledger.settle(message, "rejected", code)  # errors-only: an error came
                elif block_id < ref:
                    ledger.settle(message, "accepted")  # a later block was answered
                else:
                    still.append((block_id, message))
            self.unproven = still
        waiting = self.waiting.pop(reference, None)
        if waiting is None:
            if block.verb == "ACK" and code is not None and code >= 800:
                ledger.counts[f"error {code}"] += 1
            return
        kind, sent, future = waiting
        if sent is not None and sent.ack_type == "always":
            if code in (600, 601):
                ledger.settle(sent, "accepted", code)
            else:
                ledger.settle(sent, "rejected", code)
        if code == 830:
            ledger.counts[f"{kind or 'block'} rate limited (830)"] += 1
        elif code is not None and code >= 800 and kind != "mesg":
            ledger.fail(f"{self.user}: {kind} answered {code}: {block.body[:60]!r}")
        if not future.done():
            future.set_result(block)

    def _gone(self) -> None:
        if not self.open:
            return
        self.open = False
        self.soak.ledger.ended[self.serial] = self.ended_by
        for _kind, message, future in self.waiting.values():
            if message is not None:
                self.soak.ledger.settle(message, "unknown")
            if not future.done():
                future.cancel()
        self.waiting.clear()
        for _block_id, message in self.unproven:
            self.soak.ledger.settle(message, "unknown")
        self.unproven.clear()
        with contextlib.suppress(Exception):
            self.writer.close()
        if not self.closed.done():
            self.closed.set_result(None)

    # -- leaving -----------------------------------------------------------------------

    async def disc(self) -> None:
        """``DISC``, its ``ACK 600``, then the server closes."""
        if await self.request("DISC", kind="disc", timeout=5.0) is not None:
            self.ended_by = "disc"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 5.0)
        self._gone()

    async def hang_up(self) -> None:
        """Stop sending, read for ``HANGUP_GRACE`` s, then close without ``DISC``."""
        self.soak.ledger.hangups.setdefault(self.user, []).append(now())
        self.soak.ledger.counts["hang-ups"] += 1
        self.ended_by = "hang-up"
        await asyncio.sleep(HANGUP_GRACE)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:  # RST: the abrupt end of a crashed client
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 5.0)
        self._gone()


# -- the workload --------------------------------------------------------------------------------


class Soak:
    """The whole run: server, users, scanner, restarts, RSS, ledger."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.users = [f"u{i:02d}" for i in range(args.users)]
        self.slow_readers = set(self.users[:args.slow_readers])
        self.passwords = {user: f"pw-{user}-{i}" for i, user in enumerate(self.users)}
        self.server = Server(root / "data", root / "imipd.log")
        self.ledger = Ledger()
        self.stop_workload = False
        self.conns: set[Conn] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.rss: list[tuple[float, int, int]] = []
        self.t0 = 0.0
        self.events: list[str] = []

    # -- accounts, server control, RSS ----------------------------------------------------

    async def create_accounts(self) -> None:
        store = await SqliteStore.open_data_dir(self.root / "data")
        try:
            for user in self.users:
                await store.create_user(user, self.passwords[user], f"Soak {user}")
        finally:
            await store.close()

    def event(self, text: str) -> None:
        self.events.append(f"{now() - self.t0:6.1f}s {text}")
        print(self.events[-1], flush=True)

    async def control(self) -> None:
        duration = self.args.duration
        rng = random.Random(f"{self.args.seed}-kills")
        await asyncio.sleep(duration / 4)
        self.event("SIGTERM: graceful restart")
        status = await asyncio.to_thread(self.server.stop, signal.SIGTERM)
        if status != 0:
            self.ledger.fail(f"imipd exited {status} on SIGTERM, not 0")
        await asyncio.to_thread(self.server.start)
        self.event(f"restarted (run {self.server.generation})")
        started = now()
        moments = sorted(rng.uniform(0.05, 0.7) * duration for _ in range(self.args.kills))
        for moment in moments:
            await asyncio.sleep(max(0.0, started + moment - now()))
            open_now = sum(1 for c in self.conns if c.open)
            self.event(f"SIGKILL (kill -9) with {open_now} connections open")
            self.ledger.kills += 1
            self.ledger.killed.add(self.server.generation)
            await asyncio.to_thread(self.server.stop, signal.SIGKILL)
            await asyncio.to_thread(self.server.start)
            self.event(f"restarted (run {self.server.generation})")

    async def sample_rss(self) -> None:
        while True:
            rss = self.server.rss_kib()
            if rss is not None:
                self.rss.append((now() - self.t0, self.server.generation, rss))
            await asyncio.sleep(1.0)

    # -- users ---------------------------------------------------------------------------

    async def connect(self, user: str, host: str = HOST,
                      password: str | None = None) -> Conn | None:
        """A logged-in connection (HELO, LOGN; not yet online), or None.

        ``password`` (the scanner's guess) replaces the user's own; a refused login is
        then expected rather than a failure.
        """
        try:
            sock = socket.socket()
            sock.setblocking(False)
            if user in self.slow_readers and password is None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.bind((host, 0))
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(
                sock, (HOST, self.server.port)), 5.0)
            reader, writer = await asyncio.open_connection(sock=sock, limit=16384)
        except (OSError, TimeoutError):
            sock.close()
            return None
        conn = Conn(self, user, reader, writer)
        conn.send("HELO", [("Protocol", "IMIP/1.0")])
        hello = await conn.next_block()
        if hello is None or hello.verb != "HELO":
            conn._gone()
            return None
        guessing = password is not None
        secret = password if password is not None else self.passwords[user]
        conn.send(f"LOGN {user}", [("Client", "soak"), ("Auth-Type", "imip-md5")],
                  digest(hello.body.decode(), secret).encode())
        answer = await conn.next_block()
        if answer is None or answer.verb != "LOGN":
            if answer is not None and not guessing:
                self.ledger.fail(f"{user}: login refused: {answer.type_line}")
            elif answer is not None:
                self.ledger.counts[f"scanner login answered {answer.type_line}"] += 1
            conn._gone()
            return None
        self.ledger.counts["logins"] += 1
        self.conns.add(conn)
        conn.start_reading()
        return conn

    async def user_loop(self, user: str) -> None:
        rng = random.Random(f"{self.args.seed}-{user}")
        while not self.stop_workload:
            conn = await self.connect(user)
            if conn is None:
                await asyncio.sleep(0.2)
                continue
            try:
                await self.session(conn, rng)
            finally:
                self.conns.discard(conn)
            await asyncio.sleep(rng.uniform(0.2, 3.0))

    async def session(self, conn: Conn, rng: random.Random) -> None:
        presence = rng.choice(["ONLINE", "ONLINE", "AWAY", "BUSY"])
        if await conn.request(f"STAT {presence}", body=b"soaking") is None:
            return
        until = now() + rng.uniform(2.0, 12.0)
        while conn.open and not self.stop_workload and now() < until:
            await self.action(conn, rng)
            await asyncio.sleep(rng.uniform(0.01, 0.2))
        if not conn.open:
            return
        if self.stop_workload or rng.random() < 0.65:
            await conn.disc()
        else:
            await conn.hang_up()

    async def action(self, conn: Conn, rng: random.Random) -> None:
        roll = rng.random()
        user = conn.user
        other = rng.choice(self.users)
        if roll < 0.6:
            if len(self.ledger.messages) >= self.args.max_messages:
                return
            ack_type = rng.choice(["always", "always", "errors-only"])
            message = self.ledger.new(user, other, ack_type)
            body = b"%s to %s, " % (user.encode(), other.encode()) + b"x" * rng.randint(0, 300)
            conn.send("MESG", [("To", other), ("ACK-Type", ack_type), ("From", user)],
                      body + b" soak:" + message.mid.encode(), kind="mesg", message=message)
            self.ledger.counts[f"sent {ack_type}"] += 1
        elif roll < 0.7:
            presence = rng.choice(["ONLINE", "AWAY", "BUSY", "OFFLINE"])
            conn.send(f"STAT {presence}", body=rng.choice([b"", b"busy busy", b"lunch"]),
                      kind="stat")
        elif roll < 0.8:
            if other != user:
                conn.send(f"LIST ADD {other}", [("List", "Buddy"), ("From", user)],
                          b"may I watch you?", kind="list")
                self.ledger.counts["requests sent"] += 1
        elif roll < 0.85:
            conn.send(f"LIST REMOVE {other}", [("List", "Buddy")], kind="list")
        elif roll < 0.92:
            conn.send("LIST GET", [("List", rng.choice(["Buddy", "Block"]))], kind="list")
        elif roll < 0.995:
            conn.send("PING", kind="ping")
        else:  # the same user logs in elsewhere: this connection gets a server DISC
            self.ledger.counts["second logins"] += 1
            second = await self.connect(user)
            if second is not None:
                self.conns.discard(second)
                await second.request("STAT ONLINE")
                await second.disc()

    async def scanner(self) -> None:
        """Hostile traffic from another address: garbage, limits, wrong passwords."""
        rng = random.Random(f"{self.args.seed}-scanner")
        probes = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),
            b"MESG\r\n" + b"9" * 40 + b"\r\n",
            b"X" * 5000 + b"\r\n",
            b"PING\r\n7\r\nID: 1\r\n" * 50,
            b"HELO\r\n29\r\nID: 1\r\nProtocol: IMIP/9.9\r\n\r\n",
        ]
        while not self.stop_workload:
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            if rng.random() < 0.3:
                conn = await self.connect(rng.choice([*self.users, "nobody"]), SCANNER_HOST,
                                          password=f"guess{rng.randint(0, 999)}")
                if conn is not None:  # a lucky guess cannot happen: passwords differ
                    self.ledger.fail("the scanner logged in")
                    await conn.disc()
                self.ledger.counts["scanner logins"] += 1
                continue
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    HOST, self.server.port, local_addr=(SCANNER_HOST, 0)), 5.0)
            except (OSError, TimeoutError):
                continue
            with contextlib.suppress(OSError, TimeoutError):
                writer.write(rng.choice(probes) + rng.randbytes(rng.randint(0, 64)))
                await asyncio.wait_for(reader.read(4096), 1.0)
            writer.transport.abort()
            self.ledger.counts["scanner probes"] += 1

    # -- the end --------------------------------------------------------------------------

    async def collect(self) -> None:
        """Every user logs in once more and reads what was stored, until quiet."""
        for user in self.users:
            conn = None
            for _ in range(20):
                conn = await self.connect(user)
                if conn is not None:
                    break
                await asyncio.sleep(0.25)
            if conn is None:
                self.ledger.fail(f"{user} could not log in to collect")
                continue
            await conn.request("STAT ONLINE")
            await conn.request("PING")
            last = -1
            while last != self.ledger.counts["received"]:
                last = self.ledger.counts["received"]
                await asyncio.sleep(COLLECT_QUIET)
            await conn.disc()

    async def run(self) -> None:
        await self.create_accounts()
        await asyncio.to_thread(self.server.start)
        self.t0 = now()
        self.event(f"imipd listening on {HOST}:{self.server.port}, {len(self.users)} users, "
                   f"{self.args.duration:.0f} s")
        sampler = asyncio.create_task(self.sample_rss())
        control = asyncio.create_task(self.control())
        workers = [asyncio.create_task(self.user_loop(u)) for u in self.users]
        workers.append(asyncio.create_task(self.scanner()))
        await asyncio.sleep(self.args.duration)
        self.stop_workload = True
        await control
        self.event("workload stopping")
        done, pending = await asyncio.wait(workers, timeout=30.0)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                error = task.exception()
                self.ledger.fail("a client task failed: " + "".join(
                    traceback.format_exception(error)))
        self.event("collecting")
        await self.collect()
        self.event("collected")
        sampler.cancel()
        status = await asyncio.to_thread(self.server.stop, signal.SIGTERM)
        if status != 0:
            self.ledger.fail(f"imipd exited {status} on the final SIGTERM")


# -- the report ------------------------------------------------------------------------------------


def judge(soak: Soak) -> list[str]:
    """Print the ledger; return every failure."""
    ledger = soak.ledger
    failures = list(ledger.failures)
    status = Counter(m.status for m in ledger.messages.values())
    codes = Counter(m.code for m in ledger.messages.values() if m.status == "accepted")
    once = lost = in_flight = allowed_dups = other_dups = unknown_received = 0
    for m in ledger.messages.values():
        copies = len(m.receipts)
        if copies > 1:
            if all(later.stored and ledger.generation_of.get(earlier.conn) in ledger.killed
                   for earlier, later in itertools.pairwise(m.receipts)):
                allowed_dups += 1
            else:
                other_dups += 1
                failures.append(f"duplicate: {m.mid} {m.sender}→{m.recipient} {m.ack_type} "
                                f"{m.status}/{m.code}: {m.receipts}")
        if m.status == "accepted":
            if copies >= 1:
                once += 1
            elif m.proven_at is not None and any(
                    t <= m.proven_at <= t + HANGUP_WINDOW
                    for t in ledger.hangups.get(m.recipient, [])):
                in_flight += 1
            else:
                lost += 1
                when = (m.proven_at or 0.0) - soak.t0
                failures.append(f"lost: {m.mid} {m.sender}→{m.recipient} {m.ack_type} "
                                f"answered {m.code}, accepted at {when:.2f}s")
        elif m.status == "rejected" and copies:
            failures.append(f"refused ({m.code}) but delivered: {m.mid}")
        elif m.status in ("unknown", "pending") and copies:
            unknown_received += 1
    print("\n== ledger ==")
    print(f"messages sent:             {len(ledger.messages)}"
          f" (always {ledger.counts['sent always']}, errors-only "
          f"{ledger.counts['sent errors-only']})")
    print(f"accepted:                  {status['accepted']} (600: {codes[600]}, 601: {codes[601]},"
          f" errors-only proven by a later answer: {codes[None]})")
    print(f"rejected:                  {status['rejected']}")
    print(f"unknown (connection gone): {status['unknown'] + status['pending']}"
          f" (of which received once: {unknown_received})")
    print(f"accepted, received once:   {once}")
    print(f"accepted, LOST:            {lost}")
    print(f"lost in flight at hang-up: {in_flight} (allowed: the recipient hung up meanwhile)")
    print(f"duplicates allowed:        {allowed_dups} (stored again: the first copy was on "
          "its way when the server was killed)")
    print(f"other duplicates:          {other_dups}")
    print(f"stray blocks:              {len(ledger.strays)}")
    for line in ledger.strays[:5]:
        print("   ", line)
    print("\n== activity ==")
    for key, value in sorted(ledger.counts.items()):
        print(f"{key:34} {value}")
    failures += ledger.strays
    failures += rss_report(soak)
    return failures


def rss_report(soak: Soak) -> list[str]:
    """Print the RSS curve; fail a run whose RSS grows past the allowed growth."""
    print("\n== server RSS (MiB), one sample per second ==")
    failures = []
    by_run: dict[int, list[tuple[float, int]]] = {}
    for t, run, rss in soak.rss:
        by_run.setdefault(run, []).append((t, rss))
    for run, samples in by_run.items():
        start = samples[0][0]
        line = " ".join(f"{rss / 1024:.1f}" for _, rss in samples)
        print(f"run {run} (from {start:.0f}s): {line}")
        settled = [rss for t, rss in samples if t - start >= soak.args.warmup]
        if len(settled) < 3:
            print(f"    too short after the {soak.args.warmup:.0f} s warm-up to judge")
            continue
        low, high = min(settled), max(settled)
        growth = (high - low) / low
        verdict = "ok" if growth <= soak.args.rss_growth else "GROWS"
        print(f"    after warm-up: min {low / 1024:.1f}, max {high / 1024:.1f} MiB, "
              f"growth {growth:.1%} ({verdict}, limit {soak.args.rss_growth:.0%})")
        if growth > soak.args.rss_growth:
            failures.append(f"run {run}: RSS grew {growth:.1%} after warm-up")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="workload seconds")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--max-messages", type=int, default=50000)
    parser.add_argument("--slow-readers", type=int, default=4,
                        help="users whose clients read slowly through a small buffer")
    parser.add_argument("--kills", type=int, default=2, help="kill -9 this many times")
    parser.add_argument("--warmup", type=float, default=8.0,
                        help="seconds of each server run left out of the RSS check")
    parser.add_argument("--rss-growth", type=float, default=0.20)
    parser.add_argument("--seed", default="imipd")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and log")
    args = parser.parse_args()
    if not 5 <= args.duration <= 3600 or not 2 <= args.users <= 200:
        parser.error("--duration 5..3600 and --users 2..200")
    if not Path("/proc/self/status").exists():
        parser.error("needs Linux /proc for the RSS samples")
    random.seed(args.seed)
    root = Path(tempfile.mkdtemp(prefix="imipd-soak-"))
    soak = Soak(args, root)
    try:
        asyncio.run(asyncio.wait_for(soak.run(), args.duration + 180))
    except BaseException as error:  # report, then clean up
        soak.ledger.fail(f"the run stopped: {error!r}")
        traceback.print_exc()
    finally:
        soak.server.kill_all()
    failures = judge(soak)
    print()
    if failures:
        print(f"FAIL: {len(failures)} problem(s)")
        for line in failures[:40]:
            print("  -", line)
        print(f"server log and data kept in {root}")
    else:
        print("PASS: no loss, no unexplained duplicate, RSS flat")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.keep and not failures:
        print(f"server log and data kept in {root}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
