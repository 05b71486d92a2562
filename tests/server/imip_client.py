"""A small raw-socket IMIP client for tests that compare exact bytes.

It builds what it sends by hand (independently of ``imipd.protocol.serialize``)
and checks every received block byte for byte, tracking the server's block IDs
(which start at 1 on every connection and increase by one).
"""

from __future__ import annotations

import email.utils
import re
import socket
import time
from collections.abc import Sequence

from imipd.protocol import Block, digest

from .conversation import Actor

Headers = Sequence[tuple[str, str]]

DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
                  r"|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000")


def short(data: bytes, limit: int = 300) -> str:
    """``data`` for an assertion message, long runs cut."""
    text = repr(data)
    return text if len(text) <= limit else f"{text[:limit // 2]}...({len(data)} bytes)..." \
        f"{text[-limit // 2:]}"


def block_bytes(type_line: str, headers: Headers = (), body: bytes | None = None) -> bytes:
    """A block as the server writes it: headers as given, empty line only before a body."""
    content = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    if body:
        content += b"\r\n" + body
    return type_line.encode() + b"\r\n%d\r\n" % len(content) + content


def client_bytes(type_line: str, headers: Headers = (), body: bytes | None = b"") -> bytes:
    """A block as the Yahoo! client writes it: empty line always (unless body is None)."""
    content = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    if body is not None:
        content += b"\r\n" + body
    return type_line.encode() + b"\r\n%d\r\n" % len(content) + content


class Client:
    """One connection; ``expect*`` assert the exact bytes of what arrives."""

    def __init__(self, port: int, name: str = "client") -> None:
        self.actor = Actor(name, port)
        self.sock: socket.socket = self.actor.sock
        self.next_id = 1001
        self.server_id = 1
        self.challenge = ""
        self.user = ""

    # -- sending -----------------------------------------------------------------

    def send(self, type_line: str, headers: Headers = (), body: bytes | None = b"") -> str:
        """Send a block with the next client ID first; returns that ID."""
        block_id = str(self.next_id)
        self.next_id += 1
        self.actor.send(client_bytes(type_line, (("ID", block_id), *headers), body))
        return block_id

    def send_raw(self, data: bytes) -> None:
        self.actor.send(data)

    # -- receiving -----------------------------------------------------------------

    def receive(self, timeout: float = 5.0) -> tuple[Block, bytes]:
        got = self.actor.receive(timeout)
        assert got is not None, f"{self.actor.name}: the connection closed"
        return got

    def expect(self, type_line: str, headers: Headers = (), body: bytes = b"",
               timeout: float = 5.0) -> Block:
        """The next block is exactly this, with ``ID`` (the next server ID) inserted
        into ``headers`` in alphabetical position."""
        block, raw = self.receive(timeout)
        full = sorted([("ID", str(self.server_id)), *headers], key=lambda h: h[0].lower())
        self.server_id += 1
        want = block_bytes(type_line, full, body)
        assert raw == want, f"{self.actor.name}: expected\n{short(want)}\ngot\n{short(raw)}"
        return block

    def expect_ack(self, code: int, reference: str | None, timeout: float = 5.0) -> None:
        headers = [] if reference is None else [("Reference", reference)]
        self.expect(f"ACK {code}", headers, timeout=timeout)

    def expect_stored_mesg(self, sender: str, to: str, body: bytes,
                           accepted: tuple[float, float] | None = None) -> str:
        """A stored message: ``Date`` (RFC 5322, +0000), From, ID, To, body. Returns Date."""
        block, raw = self.receive()
        date = block.header("Date")
        assert date is not None and DATE.fullmatch(date), f"bad Date in {raw!r}"
        if accepted is not None:
            when = email.utils.parsedate_to_datetime(date).timestamp()
            assert int(accepted[0]) <= when <= accepted[1] + 1, (date, accepted)
        want = block_bytes("MESG", [("Date", date), ("From", sender),
                                    ("ID", str(self.server_id)), ("To", to)], body)
        self.server_id += 1
        assert raw == want, f"{self.actor.name}: expected\n{short(want)}\ngot\n{short(raw)}"
        return date

    def expect_mesg(self, sender: str, to: str, body: bytes) -> None:
        """A relayed message, live or (while stored messages are delivered) through the store:
        From, ID, To, body, and perhaps a valid ``Date``."""
        block, raw = self.receive()
        date = block.header("Date")
        headers = [("From", sender), ("ID", str(self.server_id)), ("To", to)]
        if date is not None:
            assert DATE.fullmatch(date), f"bad Date in {short(raw)}"
            headers.insert(0, ("Date", date))
        self.server_id += 1
        want = block_bytes("MESG", headers, body)
        assert raw == want, f"{self.actor.name}: expected\n{short(want)}\ngot\n{short(raw)}"

    def expect_nothing(self, quiet: float = 0.3) -> None:
        try:
            got = self.actor.receive(quiet)
        except TimeoutError:
            return
        raise AssertionError(f"{self.actor.name}: unexpected "
                             f"{got[1]!r}" if got else "the connection closed")

    def expect_closed(self, timeout: float = 5.0) -> None:
        """The server closes (EOF or reset) with nothing more sent first."""
        try:
            got = self.actor.receive(timeout)
        except TimeoutError:
            raise AssertionError(f"{self.actor.name}: the connection stayed open") from None
        assert got is None, f"{self.actor.name}: unexpected {got[1]!r} instead of the close"

    def expect_disc(self, reason: str, timeout: float = 5.0) -> None:
        """A server ``DISC``: ID only, the reason as body; then the connection closes."""
        self.expect("DISC", (), reason.encode(), timeout=timeout)
        self.expect_closed()

    # -- conversations ----------------------------------------------------------------

    def hello(self) -> Block:
        block_id = self.send("HELO", [("Protocol", "IMIP/1.0")])
        block, raw = self.receive()
        assert block.verb == "HELO" and block.header("Reference") is None, raw
        assert block.header("ID") == str(self.server_id), raw
        self.server_id += 1
        assert block_id  # the server's HELO is the one answer without Reference
        self.challenge = block.body.decode()
        assert re.fullmatch(r"[1-9][0-9]{0,9}|0", self.challenge), raw
        assert int(self.challenge) < 2**32
        return block

    def logn(self, user: str, password: str) -> str:
        return self.send(f"LOGN {user}", [("Client", "test"), ("Auth-Type", "imip-md5")],
                         digest(self.challenge, password).encode())

    def login(self, user: str, password: str, spelled: str | None = None) -> None:
        """HELO + LOGN, both answers checked."""
        self.hello()
        ref = self.logn(user, password)
        self.expect(f"LOGN {spelled or user}", [("Reference", ref)])
        self.user = spelled or user

    def online(self, presence: str = "ONLINE") -> None:
        """The first STAT: ``ACK 600`` (what follows it is the caller's to read)."""
        ref = self.send(f"STAT {presence}")
        self.expect_ack(600, ref)

    def ping(self) -> None:
        ref = self.send("PING")
        self.expect_ack(600, ref)

    def mesg(self, to: str, body: bytes, ack_type: str | None = "always") -> str:
        headers = [("To", to)] + ([("ACK-Type", ack_type)] if ack_type else [])
        return self.send("MESG", headers, body)

    def close(self) -> None:
        self.actor.close()


def connect_logged_in(port: int, user: str, password: str, *, online: bool = True,
                      settle: bool = True) -> Client:
    """A logged-in client; ``online``: after its first STAT; ``settle``: and after a PING
    round trip, by which the server has found that no stored messages wait (a message
    sent sooner is stored and delivered with ``Date`` — see test_durability)."""
    client = Client(port, user)
    client.login(user, password)
    if online:
        client.online()
        if settle:
            client.ping()
    return client


def wait_until(predicate: object, timeout: float = 5.0) -> bool:
    """Poll ``predicate()`` until true or ``timeout``."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
