"""IMIP clients for the load generator, as asyncio protocols with a lean hot path.

``Client`` logs in (HELO, LOGN with the imip-md5 digest, STAT ONLINE) through
``request``, which waits for the server's answer; once relaying, every ``MESG``
it receives is counted, its one-way latency read from the timestamp at the start
of the body, and its partner is told to send one more (the closed loop).
``LoginProbe`` does one HELO, LOGN+DISC cycle on a fresh connection.

The framing here is the minimal one the servers write (CR LF lines, a size line);
blocks are built with ``imipd.protocol.serialize`` for the handshake and from a
byte template for messages, so the load generator stays cheaper per message than
the servers it drives.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import cast

from imipd.protocol import digest, serialize

BODY_SIZE = 60
"""Bytes of every message body: a 19-digit perf_counter_ns timestamp, a space, filler."""
FILLER = b" " + b"x" * (BODY_SIZE - 20)
CLIENT_NAME = "imipd-bench 1.0"

perf_ns = time.perf_counter_ns


@dataclass
class Tally:
    """What every client of one run adds to: messages, latencies, surprises."""

    received: int = 0
    sent: int = 0
    recording: bool = False
    latencies_ns: list[int] = field(default_factory=list)
    unexpected: collections.Counter[str] = field(default_factory=collections.Counter)
    lost: int = 0
    """Connections that closed while the run still needed them."""


@dataclass(frozen=True)
class Reply:
    """One block from the server, split minimally: type line, headers, body."""

    type_line: str
    headers: dict[str, str]
    body: bytes

    @classmethod
    def parse(cls, type_line: bytes, content: bytes) -> Reply:
        """Split a block's content at the empty line (which is absent without a body)."""
        head, sep, body = content.partition(b"\r\n\r\n")
        if not sep and head.endswith(b"\r\n"):
            head = head[:-2]
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n") if head else ():
            name, _, value = line.decode("utf-8").partition(":")
            headers[name.strip().lower()] = value.strip()
        return cls(type_line.decode("utf-8"), headers, body)


def split_blocks(buf: bytearray) -> tuple[list[tuple[bytes, bytes, bytes]], int]:
    """Complete blocks at the start of ``buf`` as (type line, content, raw); bytes used."""
    out = []
    pos = 0
    n = len(buf)
    while True:
        i = buf.find(b"\r\n", pos)
        if i < 0:
            break
        j = buf.find(b"\r\n", i + 2)
        if j < 0:
            break
        end = j + 2 + int(buf[i + 2:j])
        if end > n:
            break
        out.append((bytes(buf[pos:i]), bytes(buf[j + 2:end]), bytes(buf[pos:end])))
        pos = end
    return out, pos


class Client(asyncio.Protocol):
    """One logged-in user of the relay workload."""

    def __init__(self, tally: Tally, name: str, password: str, ack_type: str) -> None:
        self.tally = tally
        self.name = name
        self.password = password
        self.ack_type = ack_type
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiters: collections.deque[asyncio.Future[Reply]] = collections.deque()
        self.partner: Client | None = None
        self.running = False
        self.next_id = 1000  # COMPAT(yahoo): the Yahoo! client starts at 1001
        self.template = b""
        self.raw_log: list[bytes] | None = None
        """When set (the wire check), every block received, raw."""
        self.closed = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.running:
            self.tally.lost += 1
        self.running = False
        self.transport = None
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"{self.name}: connection closed"))
        self.waiters.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = perf_ns()
        buf = self.buf
        buf += data
        n = len(buf)
        pos = 0
        got = 0
        tally = self.tally
        lat = tally.latencies_ns if tally.recording else None
        while True:
            i = buf.find(b"\r\n", pos)
            if i < 0:
                break
            j = buf.find(b"\r\n", i + 2)
            if j < 0:
                break
            end = j + 2 + int(buf[i + 2:j])
            if end > n:
                break
            if self.raw_log is not None:
                self.raw_log.append(bytes(buf[pos:end]))
            if i - pos == 4 and buf[pos:i] == b"MESG":
                k = buf.find(b"\r\n\r\n", j, end) + 4
                if lat is not None and 4 <= k <= end - 19:
                    lat.append(now - int(buf[k:k + 19]))
                got += 1
            else:
                self.on_block(bytes(buf[pos:i]), bytes(buf[j + 2:end]))
            pos = end
        if pos == n:
            buf.clear()
        elif pos:
            del buf[:pos]
        if got:
            tally.received += got
            partner = self.partner
            if partner is not None and partner.running:
                partner.send_messages(got)

    def on_block(self, type_line: bytes, content: bytes) -> None:
        """A block that is not a MESG: the answer someone waits for, or a surprise."""
        if self.waiters:
            self.waiters.popleft().set_result(Reply.parse(type_line, content))
        else:
            self.tally.unexpected[type_line.decode("utf-8", "replace")[:40]] += 1

    # -- the handshake -----------------------------------------------------------

    async def request(self, verb: str, args: tuple[str, ...] = (),
                      headers: tuple[tuple[str, str], ...] = (), body: bytes = b"",
                      timeout: float = 30.0) -> Reply:
        """Send one block (ID added, headers as given, unsorted); await its answer."""
        assert self.transport is not None, "not connected"
        self.next_id += 1
        data = serialize(verb, args, (("ID", str(self.next_id)), *headers), body,
                         empty_line=True)
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self.transport.write(data)
        return await asyncio.wait_for(waiter, timeout)

    async def log_in(self, stat: bool = True) -> None:
        """HELO, LOGN (imip-md5), and STAT ONLINE; raises on any unexpected answer."""
        hello = await self.request("HELO", headers=(("Protocol", "IMIP/1.0"),))
        if hello.type_line != "HELO":
            raise RuntimeError(f"{self.name}: HELO answered {hello.type_line}")
        answer = await self.request(
            "LOGN", (self.name,), (("Client", CLIENT_NAME), ("Auth-Type", "imip-md5")),
            digest(hello.body.decode("ascii"), self.password).encode("ascii"))
        if answer.type_line != f"LOGN {self.name}":
            raise RuntimeError(f"{self.name}: LOGN answered {answer.type_line}")
        if stat:
            answer = await self.request("STAT", ("ONLINE",))
            if answer.type_line != "ACK 600":
                raise RuntimeError(f"{self.name}: STAT answered {answer.type_line}")

    # -- the relay workload -------------------------------------------------------

    def start_relay(self, partner: Client, window: int) -> None:
        """Send ``window`` messages to ``partner``; then one more per message it receives."""
        self.partner = partner
        to = partner.name.encode("ascii")
        me = self.name.encode("ascii")
        # the Yahoo! client's header order: ID, To, ACK-Type, From
        self.template = (b"ID: %%d\r\nTo: %s\r\nACK-Type: %s\r\nFrom: %s\r\n\r\n%%019d%s"
                         % (to, self.ack_type.encode("ascii"), me, FILLER))
        self.running = True
        self.send_messages(window)

    def send_messages(self, count: int) -> None:
        """``count`` MESG blocks in one write, stamped now."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        stamp = perf_ns()
        template = self.template
        next_id = self.next_id
        parts = []
        for _ in range(count):
            next_id += 1
            content = template % (next_id, stamp)
            parts.append(b"MESG\r\n%d\r\n%s" % (len(content), content))
        self.next_id = next_id
        self.tally.sent += count
        transport.write(b"".join(parts) if count > 1 else parts[0])

    def close(self) -> None:
        """Stop sending and close the connection."""
        self.running = False
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int, tally: Tally, name: str, password: str,
                  ack_type: str = "errors-only") -> Client:
    """A connected (not yet logged-in) ``Client``."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: Client(tally, name, password, ack_type), host, port)
    return client


class LoginProbe(asyncio.Protocol):
    """One login cycle: HELO; then LOGN and DISC in one write; done when the server closes.

    ``result`` is True once ``LOGN <user>`` came back (before the ``ACK 600`` to DISC
    and the close), False if the server answered anything else.
    """

    def __init__(self, name: str, password: str, on_login: collections.Counter[str]) -> None:
        self.name = name
        self.password = password
        self.on_login = on_login
        self.buf = bytearray()
        self.stage = 0
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.result: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(b"HELO\r\n29\r\nID: 1\r\nProtocol: IMIP/1.0\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        blocks, used = split_blocks(self.buf)
        del self.buf[:used]
        for type_line, content, _ in blocks:
            self.stage += 1
            if self.stage == 1:
                challenge = content.rpartition(b"\r\n\r\n")[2].decode("ascii")
                body = digest(challenge, self.password).encode("ascii")
                assert self.transport is not None
                self.transport.write(
                    serialize("LOGN", (self.name,), (("ID", "2"), ("Auth-Type", "imip-md5")),
                              body, empty_line=True)
                    + b"DISC\r\n9\r\nID: 3\r\n\r\n")
            elif self.stage == 2:
                ok = type_line == b"LOGN " + self.name.encode("ascii")
                if ok:
                    self.on_login["ok"] += 1
                if not self.result.done():
                    self.result.set_result(ok)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.result.done():
            self.result.set_result(False)
        if not self.closed.done():
            self.closed.set_result(None)
