"""Nothing accepted is ever lost: stored messages survive SIGTERM and kill -9
(docs/protocol.md §6.3).

Real ``imipd serve`` processes on real SQLite files, real sockets, exact bytes.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from .conftest import ServerFactory
from .imip_client import Client, connect_logged_in
from .imipd_process import ImipdServer

NO_RATE_LIMIT = ("--messages-per-second", "0")  # bursts here test durability
USERS = [("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob")]


def restart(server: ImipdServer) -> None:
    """Start again on the same data directory, on a fresh port: the old one may have been
    taken meanwhile by another process (tests run in parallel), and it does not matter here."""
    server.port = 0
    server.start()
    assert server.port


def stored_rows(data_dir: Path) -> list[tuple[str, str, bytes]]:
    """(recipient, sender, body) of every message waiting in the store, read from the SQLite
    file itself (a delivered one stays a while, without its body, naming who took it)."""
    conn = sqlite3.connect(data_dir / "imipd.sqlite3")
    try:
        return [(r, s, bytes(b)) for r, s, b in conn.execute(
            "SELECT recipient, sender, body FROM messages WHERE flight IS NULL ORDER BY id")]
    finally:
        conn.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_601_survives_restart(imipd_server: ServerFactory, sig: signal.Signals) -> None:
    server = imipd_server(USERS)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    bodies = [b"first", "zweite Grü\u00df".encode(), b"", b"line\r\nbreak"]
    before = time.time()
    for body in bodies:
        ref = alice.mesg("bob", body)
        alice.expect_ack(601, ref)
    after = time.time()
    status = server.stop(sig)
    assert status == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert [b for _, _, b in stored_rows(server.data_dir)] == bodies
    if sig == signal.SIGTERM:
        alice.expect_disc("server shutting down")
    alice.close()

    restart(server)
    bob = connect_logged_in(server.port, "bob", "pw-b", online=False)
    bob.expect_nothing()  # logged in but not online yet: nothing delivered
    bob.online()
    for body in bodies:
        bob.expect_stored_mesg("alice", "bob", body, (before, after))
    bob.expect_nothing()
    ref = bob.send("DISC")
    bob.expect_ack(600, ref)
    bob.expect_closed()

    assert stored_rows(server.data_dir) == []
    again = connect_logged_in(server.port, "bob", "pw-b")
    again.expect_nothing(0.5)
    again.close()


def test_errors_only_burst_survives_kill9(imipd_server: ServerFactory) -> None:
    """200 silent accepts, a PING answered, kill -9: every one arrives once, in order."""
    server = imipd_server(USERS, *NO_RATE_LIMIT)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    count = 200
    bodies = [f"message {i:03d}".encode() for i in range(count)]
    burst = bytearray()
    for i, body in enumerate(bodies):
        headers = f"ID: {5000 + i}\r\nTo: bob\r\nACK-Type: errors-only\r\nFrom: alice\r\n"
        content = headers.encode() + b"\r\n" + body
        burst += b"MESG\r\n%d\r\n" % len(content) + content
    burst += b"PING\r\n10\r\nID: 9999\r\n"
    alice.send_raw(bytes(burst))
    # errors-only: silence for every MESG; the PING's answer is the first thing back
    alice.expect_ack(600, "9999", timeout=20)
    server.kill()
    assert stored_rows(server.data_dir) == [("bob", "alice", b) for b in bodies]
    alice.close()

    restart(server)
    bob = connect_logged_in(server.port, "bob", "pw-b", settle=False)
    for body in bodies:
        bob.expect_stored_mesg("alice", "bob", body)
    bob.expect_nothing()
    bob.close()

    again = connect_logged_in(server.port, "bob", "pw-b")
    again.expect_nothing(0.5)
    again.close()
    assert stored_rows(server.data_dir) == []


def test_messages_arriving_during_delivery_keep_order(imipd_server: ServerFactory) -> None:
    """Stored messages come first, then live ones, each once (no Date on live ones)."""
    server = imipd_server(USERS, *NO_RATE_LIMIT)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    for i in range(150):
        alice.mesg("bob", b"stored %d" % i, ack_type="none")
    ref = alice.send("PING")
    alice.expect_ack(600, ref)
    bob = Client(server.port, "bob")
    bob.login("bob", "pw-b")
    stat = bob.send("STAT ONLINE")
    ref = alice.mesg("bob", b"live", ack_type="always")
    bob.expect_ack(600, stat)
    for i in range(150):
        bob.expect_stored_mesg("alice", "bob", b"stored %d" % i)
    block, raw = bob.receive()
    assert block.verb == "MESG" and block.body == b"live", raw
    # whether it went live or through the store, it comes after the stored ones, once
    assert block.header("From") == "alice" and block.header("To") == "bob", raw
    ack, _ = alice.receive()
    assert ack.type_line in ("ACK 600", "ACK 601") and ack.header("Reference") == ref
    bob.expect_nothing()
    assert stored_rows(server.data_dir) == []


def test_message_right_after_first_stat_is_live(imipd_server: ServerFactory) -> None:
    """Online from the first STAT (docs/protocol.md §4.3): a message right after its ACK 600 is
    answered 600. While the (empty) backlog is being read it is kept in the store and
    delivered right after, so it may carry Date (docs/protocol.md §6.3)."""
    server = imipd_server(USERS)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    bob = connect_logged_in(server.port, "bob", "pw-b", settle=False)
    ref = alice.mesg("bob", b"hello")
    bob.expect_mesg("alice", "bob", b"hello")
    alice.expect_ack(600, ref)


def test_sigterm_during_a_burst_loses_nothing_acknowledged(imipd_server: ServerFactory) -> None:
    """Every MESG answered 601 before the shutdown's DISC is stored, in order."""
    server = imipd_server(USERS, *NO_RATE_LIMIT)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    count = 300
    burst = bytearray()
    for i in range(count):
        content = b"ID: %d\r\nTo: bob\r\nACK-Type: always\r\n\r\nburst %03d" % (5000 + i, i)
        burst += b"MESG\r\n%d\r\n" % len(content) + content
    alice.send_raw(bytes(burst))
    time.sleep(0.05)
    assert server.stop(signal.SIGTERM) == 0
    acked: list[str] = []
    while True:
        block, raw = alice.receive()
        if block.verb == "DISC":
            assert raw == b"DISC\r\n%d\r\nID: %d\r\n\r\nserver shutting down" % (
                len(b"ID: %d\r\n\r\nserver shutting down" % alice.server_id), alice.server_id)
            break
        assert raw == b"ACK 601\r\n%d\r\nID: %d\r\nReference: %d\r\n" % (
            len(b"ID: %d\r\nReference: %d\r\n" % (alice.server_id, 5000 + len(acked))),
            alice.server_id, 5000 + len(acked)), raw
        alice.server_id += 1
        acked.append(block.header("Reference") or "")
    alice.expect_closed()
    stored = [body for _, _, body in stored_rows(server.data_dir)]
    assert len(stored) >= len(acked)  # the queued rest may be stored unanswered
    assert stored == [b"burst %03d" % i for i in range(len(stored))]

    restart(server)
    bob = connect_logged_in(server.port, "bob", "pw-b", settle=False)
    for body in stored:
        bob.expect_stored_mesg("alice", "bob", body)
    bob.expect_nothing()
