"""Every accepted message is received exactly once (docs/protocol.md §6.3, §6.4, §7).

A message answered ``600`` or ``601`` reaches its recipient once. The one exception
is a kill -9 while the message was on its way to a connection: the journal puts it
back in the store, so it may come a second time, as a stored delivery (with ``Date``)
on a later connection. Never twice on one connection, and never twice because a
connection ended by ``DISC``, by a login elsewhere, or was cut off for not reading:
the server knows what the peer's TCP acknowledged, and only the rest goes back.

Every body starts with a unique number, so that each copy can be counted.
"""

from __future__ import annotations

import itertools
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from imipd.protocol import Block, ProtocolError

from .conftest import ServerFactory
from .imip_client import Client
from .imipd_process import ImipdServer
from .test_delivery_guarantee import (
    USERS,
    answers,
    burst,
    collect_all,
    messages,
    numbers,
    online_slow_reader_and_sender,
    slow_reader,
)

NUMBERED = re.compile(rb"\A(\d{6}) ")
ACCEPTED = (600, 601)
GONE = (OSError, ProtocolError, TimeoutError)
"""What a client sees of a server that was killed (or of a connection that ended)."""


def numbered(n: int, size: int) -> bytes:
    return b"%06d " % n + b"x" * size


@dataclass
class Connection:
    """One connection of a recipient: what it received, in order."""

    user: str
    run: int
    """Which run of the server it belonged to (0 until the first kill)."""
    seq: int
    """The order in which the test opened its connections."""
    label: str = ""
    got: list[tuple[int, bool]] = field(default_factory=list)
    """(number, stored) of every ``MESG`` (stored: it carried ``Date``)."""
    ended_at: float | None = None
    """When the client saw the server close it after its ``DISC``."""

    def take(self, blocks: Iterable[Block]) -> None:
        for block in blocks:
            match = NUMBERED.match(block.body)
            assert match, block.body[:40]
            self.got.append((int(match.group(1)), block.header("Date") is not None))


class Sender(threading.Thread):
    """A logged-in, online user sending numbered messages (``ACK-Type: always``) to
    ``recipients`` in turn, ``window`` unanswered at a time, until stopped or until the
    server goes away; ``status`` is the answer of each number."""

    def __init__(self, port: int, user: str, password: str, recipients: Sequence[str],
                 counter: Iterator[int], *, window: int = 4, size: int = 100,
                 pause: float = 0.0) -> None:
        super().__init__(name=f"sender {user}", daemon=True)
        self.client = Client(port, user)
        self.client.login(user, password)
        self.client.online()
        self.recipients = itertools.cycle(recipients)
        self.counter = counter
        self.window = window
        self.size = size
        self.pause = pause
        """Seconds between one answer and the next message."""
        self.status: dict[int, int] = {}
        self.sent: dict[int, str] = {}
        """Number → recipient, for everything written."""
        self.stopping = threading.Event()
        self.gone = False
        """The server closed the connection (it was killed)."""
        self.error: BaseException | None = None

    @property
    def unanswered(self) -> set[int]:
        return set(self.sent) - set(self.status)

    def run(self) -> None:
        by_ref: dict[str, int] = {}
        try:
            while by_ref or not self.stopping.is_set():
                while not self.stopping.is_set() and len(by_ref) < self.window:
                    n = next(self.counter)
                    to = next(self.recipients)
                    self.sent[n] = to
                    by_ref[self.client.mesg(to, numbered(n, self.size))] = n
                item = self.client.actor.receive(10.0)
                if item is None:
                    self.gone = True
                    return
                block, raw = item
                assert block.verb == "ACK", raw[:200]
                self.status[by_ref.pop(block.header("Reference") or "")] = int(block.args[0])
                if self.pause:
                    time.sleep(self.pause)
        except GONE:
            self.gone = True
        except BaseException as error:
            self.error = error

    def finish(self) -> None:
        """Stop sending and wait for the answers to what was sent."""
        self.stopping.set()
        self.join(30)
        if self.error is not None:
            raise self.error


def read_for(client: Client, seconds: float) -> list[Block]:
    """The ``MESG`` blocks that arrive within ``seconds`` (however many keep coming)."""
    got: list[Block] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            item = client.actor.receive(left)
        except TimeoutError:
            break
        assert item is not None, f"{client.actor.name}: the connection closed"
        if item[0].verb == "MESG":
            got.append(item[0])
    return got


def until_answer(client: Client, ref: str) -> list[Block]:
    """The ``MESG`` blocks that arrive before the ``ACK 600`` to block ``ref``."""
    got: list[Block] = []
    while True:
        block, raw = client.receive(10.0)
        if block.verb == "MESG":
            got.append(block)
        elif block.verb == "ACK" and block.header("Reference") == ref:
            assert block.args == ("600",), raw
            return got


def rest_of(port: int, user: str, password: str, run: int,
            seqs: Iterator[int], logins: int = 5) -> list[Connection]:
    """``user`` logs in, takes what waits, logs out with ``DISC`` and reads to the end, and
    again until a login finds nothing waiting (the last connection got nothing)."""
    rounds: list[Connection] = []
    for _ in range(logins):
        conn = Connection(user, run, next(seqs), "collecting")
        client = Client(port, f"{user} collecting")
        client.login(user, password)
        conn.take(until_answer(client, client.send("STAT ONLINE")))
        conn.take(messages(client, 1.0))
        client.send("DISC")
        conn.take(messages(client, 10.0, until_closed=True))
        client.close()
        rounds.append(conn)
        if not conn.got:
            return rounds
    raise AssertionError(f"{user}: still messages waiting after {logins} logins")


def copies(connections: Iterable[Connection]) -> dict[int, list[tuple[Connection, bool]]]:
    """Number → every copy received, in the order received: (connection, stored)."""
    found: dict[int, list[tuple[Connection, bool]]] = {}
    for conn in sorted(connections, key=lambda c: c.seq):
        for n, stored in conn.got:
            found.setdefault(n, []).append((conn, stored))
    return found


def went_back(server: ImipdServer) -> str:
    lines = [line for line in server.log if "did not deliver went back" in line]
    total = sum(int(m.group(1)) for line in lines if (m := re.search(r": (\d+) message", line)))
    return f"server.log: {len(lines)} connection(s) sent {total} message(s) back to the store"


# -- 1. logins and logouts, by the thousand -------------------------------------------------

CYCLES = 5000
AB = [("a", "pw-a", "Ann"), ("b", "pw-b", "Bob")]
ENDINGS = (
    "read 2 ms, DISC, read to the end",
    "DISC right after the STAT's ACK, read to the end",
    "PING, DISC, read to the end",
    "DISC right after the STAT's ACK, close after the DISC's ACK",
)


def test_churn_of_5000_logins_delivers_each_message_exactly_once(
        imipd_server: ServerFactory, store: str) -> None:
    """The issue: "5,000 login/logout cycles with messages between the users: 38 delivered
    twice". Each second copy was a stored delivery at the next login of a message the
    previous connection had received before it logged out with ``DISC``."""
    server = imipd_server(AB, "--messages-per-second", "0", store=store)
    # about 2,000 a second: b, away between its logins and reading little, gets what waits
    # for it before that reaches the cap (10,000)
    sender = Sender(server.port, "a", "pw-a", ["b"], itertools.count(), pause=0.0005)
    sender.start()
    seqs = itertools.count()
    connections: list[Connection] = []
    try:
        for cycle in range(CYCLES):
            ending = cycle % len(ENDINGS)
            conn = Connection("b", 0, next(seqs), ENDINGS[ending])
            connections.append(conn)
            b = Client(server.port, "b")
            b.login("b", "pw-b")
            conn.take(until_answer(b, b.send("STAT ONLINE")))
            if ending == 0:
                conn.take(read_for(b, 0.002))
            elif ending == 2:
                conn.take(until_answer(b, b.send("PING")))
            disc = b.send("DISC")
            if ending == 3:
                conn.take(until_answer(b, disc))
            else:
                conn.take(messages(b, 10.0, until_closed=True))
            b.close()
    finally:
        sender.finish()
    assert not sender.gone, "a's connection stayed open"
    connections += rest_of(server.port, "b", "pw-b", 0, seqs)

    assert set(sender.status.values()) <= set(ACCEPTED), Counter(sender.status.values())
    accepted = set(sender.status)
    received = Counter(n for conn in connections for n, _ in conn.got)
    twice = {n: count for n, count in received.items() if count > 1}
    by_first = Counter(
        f"first copy {'stored' if found[0][1] else 'live'} on a connection that did: "
        f"{found[0][0].label}"
        for n, found in copies(connections).items() if n in twice)
    assert {
        "numbers received more than once": len(twice),
        "accepted, never received": len(accepted - set(received)),
        "received, never sent": len(set(received) - set(sender.sent)),
        "sent, never answered": len(sender.unanswered),
    } == {
        "numbers received more than once": 0,
        "accepted, never received": 0,
        "received, never sent": 0,
        "sent, never answered": 0,
    }, (f"{len(accepted)} accepted, {sum(received.values())} received, "
        f"{sum(twice.values()) - len(twice)} extra copies; {dict(by_first)}; "
        f"{went_back(server)}")


# -- 2. a peer cut off for not reading --------------------------------------------------------


def test_a_peer_cut_off_for_not_reading_gets_exactly_what_it_lacked(
        imipd_server: ServerFactory, store: str) -> None:
    """The issue: the cut-off peer had received 349 of the 496 messages answered 600 on
    its first connection, and got all 496 again at its next login. What the server's
    kernel still held for it when it was cut off reached it after the cut; only what
    never did may come again."""
    server = imipd_server(USERS, "--messages-per-second", "0", "--max-output-buffer", "65536",
                          store=store)
    v, f = online_slow_reader_and_sender(server.port)
    status = answers(f, burst(f, "v", 800))
    assert set(status.values()) <= set(ACCEPTED), Counter(status.values())
    first = numbers(messages(v, 10.0, until_closed=True))  # read to its end, after the cut
    rounds = collect_all(server.port)
    later = [n for got in rounds for n in got]
    received = Counter(first + later)
    assert first == list(range(len(first))), "the first connection got them in order"
    assert {
        "received at the next logins": len(later),
        "received more than once": sum(1 for count in received.values() if count > 1),
        "never received": 800 - len(received),
        "later logins, out of order": sum(got != sorted(got) for got in rounds),
    } == {
        "received at the next logins": 800 - len(first),
        "received more than once": 0,
        "never received": 0,
        "later logins, out of order": 0,
    }, (f"received on the first connection: {len(first)}; answered 600: "
        f"{sum(code == 600 for code in status.values())}, 601: "
        f"{sum(code == 601 for code in status.values())}; {went_back(server)}")
    assert later == list(range(len(first), 800))


# -- 3. kill -9 under load --------------------------------------------------------------------

KILLS = 3
RECIPIENTS = [("r1", "pw-r1", "Rita"), ("r2", "pw-r2", "Rolf"), ("fl", "pw-fl", "Flo")]
SENDERS = [("s1", "pw-s1", "Sam"), ("s2", "pw-s2", "Sue")]
KILL_AFTER = 1.2
"""Seconds of load before each kill -9."""
BACKLOG_WAIT = 0.4
"""r1 logs in this long after a run starts: what was sent to it meanwhile waits in the store."""
SLOW_PAUSES = {"r1": 0.01, "r2": 0.002}
"""Each slow reader's pause after each block (until the server is killed): r1 reads less
than what comes for it, r2 about as much."""
SETTLED = 0.1
"""A connection the server closed after its ``DISC`` less than this before a kill may still
have been in flight for the server (the journal learns at its next write that it ended)."""


@dataclass
class Run:
    """What the clients of one run of the server saw, until it was killed."""

    port: int
    number: int
    seqs: Iterator[int]
    killed: threading.Event = field(default_factory=threading.Event)
    connections: list[Connection] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def connection(self, user: str, label: str) -> Connection:
        conn = Connection(user, self.number, next(self.seqs), label)
        self.connections.append(conn)
        return conn

    def spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except BaseException as error:
                if not self.killed.is_set():  # after the kill, the end of the server
                    self.errors.append(error)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def read_slowly(self, user: str, password: str, delay: float, pause: float) -> None:
        """Log in after ``delay`` through a small receive buffer, and read slowly: the
        server's writes pile up. Once the server is killed, read the rest at once."""
        if self.killed.wait(delay):
            return
        client = slow_reader(self.port, user)
        conn = self.connection(user, "slow reader")
        client.login(user, password)
        conn.take(until_answer(client, client.send("STAT ONLINE")))
        conn.take(messages_slowly(client, pause, self.killed))

    def flap(self, user: str, password: str) -> None:
        """Log in, read a moment, log out with ``DISC`` and read to the end; again and again."""
        while not self.killed.is_set():
            client = Client(self.port, user)
            conn = self.connection(user, "flapping")
            client.login(user, password)
            conn.take(until_answer(client, client.send("STAT ONLINE")))
            conn.take(read_for(client, 0.003))
            client.send("DISC")
            conn.take(messages(client, 10.0, until_closed=True))
            conn.ended_at = time.monotonic()
            client.close()


def messages_slowly(client: Client, pause: float, hurry: threading.Event) -> list[Block]:
    """The ``MESG`` blocks until the connection ends, with a pause after each block until
    ``hurry`` is set."""
    got: list[Block] = []
    while True:
        try:
            item = client.actor.receive(30.0)
        except ProtocolError:  # cut off inside a block: the rest never came
            return got
        if item is None:
            return got
        if item[0].verb == "MESG":
            got.append(item[0])
        if not hurry.is_set():
            time.sleep(pause)


def test_kill_9_with_slow_readers_and_a_flapping_user_never_repeats_on_one_connection(
        imipd_server: ServerFactory, store: str) -> None:
    """The issue: after a kill -9 under load, a recipient got "the same stored message twice
    on one connection, back to back (e.g. 576, 576)". A second copy is allowed only for a
    message in flight at the kill: its first copy on a connection that was open then, the
    second a stored delivery after the restart."""
    server = imipd_server(RECIPIENTS + SENDERS, "--messages-per-second", "0", store=store)
    counter = itertools.count()
    seqs = itertools.count()
    senders: list[Sender] = []
    connections: list[Connection] = []
    kills: list[float] = []
    names = [user for user, _, _ in RECIPIENTS]
    for number in range(KILLS):
        run = Run(server.port, number, seqs)
        senders += [Sender(server.port, user, password, names, counter, size=4000)
                    for user, password, _ in SENDERS]
        for sender in senders[-len(SENDERS):]:
            sender.start()
        run.spawn("r1", run.read_slowly, "r1", "pw-r1", BACKLOG_WAIT, SLOW_PAUSES["r1"])
        run.spawn("r2", run.read_slowly, "r2", "pw-r2", 0.0, SLOW_PAUSES["r2"])
        run.spawn("fl", run.flap, "fl", "pw-fl")
        time.sleep(KILL_AFTER)
        run.killed.set()
        kills.append(time.monotonic())
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        for thread in [*run.threads, *senders[-len(SENDERS):]]:
            thread.join(30)
            assert not thread.is_alive(), thread.name
        assert not run.errors, run.errors
        connections += run.connections
        server.port = 0
        server.start()
        assert any("in flight when imipd stopped go back" in line for line in server.log)
    for sender in senders:
        if sender.error is not None:
            raise sender.error
        assert sender.gone
    for user, password, _ in RECIPIENTS:
        connections += rest_of(server.port, user, password, KILLS, seqs)

    status = {n: code for sender in senders for n, code in sender.status.items()}
    assert set(status.values()) <= set(ACCEPTED), Counter(status.values())
    sent = {n for sender in senders for n in sender.sent}
    causes: Counter[str] = Counter()
    on_one: list[tuple[str, int, int]] = []
    for n, found in copies(connections).items():
        for (before, _), (conn, stored) in itertools.pairwise(found):
            if conn is before:
                causes["twice on one connection"] += 1
                on_one.append((conn.user, conn.run, n))
            elif stored and before.run < KILLS and conn.run > before.run and (
                    before.ended_at is None or before.ended_at > kills[before.run] - SETTLED):
                causes["in flight at the kill"] += 1
            else:
                causes[f"other: after a {before.label} connection"] += 1
    received = {conn_n for conn in connections for conn_n, _ in conn.got}
    allowed = causes.pop("in flight at the kill", 0)
    assert {
        "accepted, never received": len(set(status) - received),
        "received, never sent": len(received - sent),
        "duplicates not from the kill": dict(causes),
    } == {
        "accepted, never received": 0,
        "received, never sent": 0,
        "duplicates not from the kill": {},
    }, (f"{len(status)} accepted, {len(sent - set(status))} unanswered at a kill, "
        f"{allowed} second copies of messages in flight at a kill; twice on one connection "
        f"(user, run, number): {on_one[:12]}; {went_back(server)}")
