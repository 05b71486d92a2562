"""A framing-only asyncio IMIP relay: the practical ceiling for a Python server.

This is *not* an IMIP server. It speaks just enough of the protocol to be driven
by ``bench/loadgen.py`` exactly as ``imipd`` is, and writes the same bytes imipd
writes for that workload (headers sorted case-insensitively, size lines, one
``ID`` counter per connection starting at 1, the empty line only before a body):

- ``HELO`` → the server ``HELO`` with imipd's default headers and a fresh challenge;
- ``LOGN <user>`` → ``LOGN <user>`` (accepted without checking anything);
- ``STAT``, ``PING`` → ``ACK 600``; ``DISC`` → ``ACK 600``, then close;
- ``MESG`` with ``To`` → relayed to the connection that logged in as ``To``
  (``From``, ``ID``, ``To``, body), by parsing the block framing and the header
  lines minimally, and with **one** ``transport.write`` per relayed message;
  ``ACK-Type: always`` gets ``ACK 600`` (``601`` when the user is not connected);
- an ``ACK`` is never answered; any other verb gets ``ACK 801``.

It handles each message on its own, like imipd does: no batching across messages,
no store, no checks. Whatever imipd spends beyond this is the cost of what it
does beyond relaying bytes (the rules of docs/protocol.md, the store, the session machinery).

Run: ``python bench/baseline_relay.py --listen 127.0.0.1:PORT [--uvloop]``. It
uses only the standard library (``uvloop`` only with ``--uvloop``), and stops
on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import signal
import sys
from typing import cast

# imipd's defaults for the server HELO (docs/protocol.md §4.1), already in sorted order
# around ID; loadgen's wire check compares these bytes with imipd's own.
HELO_HEADERS_BEFORE_ID = b"Auth-Type: imip-md5\r\nCapabilities: server-lists\r\n"
HELO_HEADERS_AFTER_ID = (
    b"Keep-Alive: 60\r\n"
    b"Protocol: IMIP/1.0\r\n"
    b"Registration: http://127.0.0.1:8080/register\r\n"
    b"Service: localhost\r\n"
    b"ServiceDisplayName: imipd\r\n"
)


class RelayConnection(asyncio.Protocol):
    """One client connection: minimal framing, a name once logged in, a block ID counter."""

    __slots__ = ("buf", "name", "next_id", "registry", "transport")

    def __init__(self, registry: dict[bytes, RelayConnection]) -> None:
        self.registry = registry
        self.buf = b""
        self.name = b""
        self.next_id = 1
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.name and self.registry.get(self.name.lower()) is self:
            del self.registry[self.name.lower()]
        self.transport = None

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        end_all = len(buf)
        while pos < end_all:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                break
            if nl == pos:  # an empty line before a type line
                pos += 2
                continue
            nl2 = buf.find(b"\r\n", nl + 2)
            if nl2 < 0:
                break
            start = nl2 + 2
            end = start + int(buf[nl + 2:nl2])
            if end > end_all:
                break
            self.handle(buf[pos:nl], buf[start:end])
            pos = end
        self.buf = buf[pos:] if pos < end_all else b""

    def write_block(self, type_line: bytes, headers: bytes, body: bytes = b"") -> None:
        """One write: type line, size line, ``ID`` first of ``headers`` (the caller sorts)."""
        block_id = self.next_id
        self.next_id = block_id + 1
        content = b"ID: %d\r\n%s" % (block_id, headers)
        if body:
            content += b"\r\n" + body
        if self.transport is not None:
            self.transport.write(b"%s\r\n%d\r\n%s" % (type_line, len(content), content))

    def ack(self, status: bytes, ref: bytes | None) -> None:
        """``ACK <status>`` with ``Reference`` when the answered block had an ID."""
        self.write_block(b"ACK " + status, b"Reference: %s\r\n" % ref if ref else b"")

    def handle(self, type_line: bytes, content: bytes) -> None:
        """One block: headers parsed into a dict (names lower-cased), then the verb."""
        head, sep, body = content.partition(b"\r\n\r\n")
        if not sep and head.endswith(b"\r\n"):
            head = head[:-2]
        headers: dict[bytes, bytes] = {}
        if head:
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        verb, _, args = type_line.partition(b" ")
        verb = verb.upper()
        ref = headers.get(b"id")
        if verb == b"MESG":
            self.relay(headers, body, ref)
        elif verb == b"ACK":
            return
        elif verb in (b"STAT", b"PING"):
            self.ack(b"600", ref)
        elif verb == b"HELO":
            self.write_hello()
        elif verb == b"LOGN":
            self.name = args.strip()
            old = self.registry.get(self.name.lower())
            self.registry[self.name.lower()] = self
            if old is not None and old is not self and old.transport is not None:
                old.transport.close()
            self.write_block(b"LOGN " + self.name, b"Reference: %s\r\n" % (ref or b""))
        elif verb == b"DISC":
            self.ack(b"600", ref)
            if self.transport is not None:
                self.transport.close()
        else:
            self.ack(b"801", ref)

    def write_hello(self) -> None:
        """The server HELO: imipd's default headers, a random 32-bit challenge as body."""
        block_id = self.next_id
        self.next_id = block_id + 1
        challenge = str(secrets.randbits(32)).encode("ascii")
        content = b"%sID: %d\r\n%s\r\n%s" % (
            HELO_HEADERS_BEFORE_ID, block_id, HELO_HEADERS_AFTER_ID, challenge)
        if self.transport is not None:
            self.transport.write(b"HELO\r\n%d\r\n%s" % (len(content), content))

    def relay(self, headers: dict[bytes, bytes], body: bytes, ref: bytes | None) -> None:
        """``MESG`` to the ``To`` user's connection: one write for the one message."""
        to = headers.get(b"to", b"")
        ack_type = headers.get(b"ack-type", b"errors-only").lower()
        peer = self.registry.get(to.lower())
        if peer is None or peer.transport is None:
            if ack_type == b"always":
                self.ack(b"601", ref)
            return
        peer_id = peer.next_id
        peer.next_id = peer_id + 1
        content = b"From: %s\r\nID: %d\r\nTo: %s\r\n" % (self.name, peer_id, peer.name)
        if body:
            content += b"\r\n" + body
        peer.transport.write(b"MESG\r\n%d\r\n%s" % (len(content), content))
        if ack_type == b"always":
            self.ack(b"600", ref)


def raise_nofile() -> None:
    """Raise the soft limit of open files to the hard limit (10,000 idle sessions)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(host: str, port: int) -> None:
    """Listen until SIGTERM or SIGINT, then close every connection."""
    loop = asyncio.get_running_loop()
    registry: dict[bytes, RelayConnection] = {}
    server = await loop.create_server(
        lambda: RelayConnection(registry), host, port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    for conn in list(registry.values()):
        if conn.transport is not None:
            conn.transport.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:11319", help="HOST:PORT (loopback)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    raise_nofile()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(host, int(port)))
    else:
        asyncio.run(serve(host, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
