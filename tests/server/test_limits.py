"""Connection-level limits and rate limits, each against a real server (issue: hardening)."""

from __future__ import annotations

import contextlib
import socket
import time

from .client_helpers import Client
from .conftest import ServerFactory
from .imip_client import Client as RawClient

USERS = [("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob"), ("carol", "pw-c", "Carol")]


def expect_disc(client: Client, reason: bytes, timeout: float = 5.0) -> None:
    block = client.receive(timeout)
    assert (block.verb, [k for k, _ in block.headers], block.body) == ("DISC", ["ID"], reason)
    assert client.actor.receive(timeout) is None  # then closed


def test_connections_per_address(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--max-connections-per-address", "3")
    kept = [Client(server.port, f"c{i}") for i in range(3)]
    for client in kept:
        client.expect_ack(client.send("PING"), 600)
    refused = Client(server.port, "refused")
    expect_disc(refused, b"too many connections from your address")
    kept.pop().close()
    time.sleep(0.2)
    again = Client(server.port, "again")
    again.expect_ack(again.send("PING"), 600)


def test_total_connections(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--max-connections", "2")
    first, second = Client(server.port, "a"), Client(server.port, "b")
    first.expect_ack(first.send("PING"), 600)
    second.expect_ack(second.send("PING"), 600)
    expect_disc(Client(server.port, "c"), b"too many connections")


def test_login_timeout(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--login-timeout", "5")
    lingering = Client(server.port, "lingering")
    lingering.send("HELO", headers=(("Protocol", "IMIP/1.0"),))
    assert lingering.receive().verb == "HELO"
    logged_in = Client(server.port, "alice")
    logged_in.login("alice", "pw-a")
    started = time.monotonic()
    for _ in range(3):  # it keeps talking, but never logs in
        lingering.expect_ack(lingering.send("PING"), 600)
        time.sleep(1.0)
    expect_disc(lingering, b"login timeout", timeout=8.0)
    assert 4.0 <= time.monotonic() - started <= 8.0
    logged_in.expect_ack(logged_in.send("PING"), 600)


def test_block_timeout_for_slow_senders(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--block-timeout", "2")
    slow = Client(server.port, "slow")
    slow.login("alice", "pw-a")
    slow.actor.send(b"MESG\r\n40\r\nID: 1\r\nTo: b")  # and then nothing
    started = time.monotonic()
    expect_disc(slow, b"block timeout", timeout=6.0)
    assert 1.5 <= time.monotonic() - started <= 5.0
    # a steady sender that always has the next block half sent is not slow
    steady = Client(server.port, "steady")
    steady.login("bob", "pw-b")
    ping = b"PING\r\n9\r\nID: 9\r\n\r\n"
    steady.actor.send(ping[:7])
    for _ in range(5):
        time.sleep(0.8)
        steady.actor.send(ping[7:] + ping[:7])
        assert steady.receive().type_line == "ACK 600"
    # a block that trickles in, a header line at a time, is slow all the same
    trickle = Client(server.port, "trickle")
    trickle.login("carol", "pw-c")
    trickle.actor.send(b"PING\r\n60000\r\n")
    started = time.monotonic()
    for i in range(12):
        with contextlib.suppress(OSError):  # the server may have hung up meanwhile
            trickle.actor.send(b"X-Line-%d: still coming\r\n" % i)
        try:
            expect_disc(trickle, b"block timeout", timeout=0.5)
            break
        except TimeoutError:
            continue
    else:
        raise AssertionError("a block trickling in was never cut off")
    assert 1.5 <= time.monotonic() - started <= 4.5


def test_a_peer_that_does_not_read_is_disconnected(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--max-output-buffer", "65536", "--messages-per-second", "0")
    deaf = socket.create_connection(("127.0.0.1", server.port))
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader = Client(server.port, "bob")
    reader.actor.sock = deaf
    reader.login("bob", "pw-b")
    reader.online()
    sender = Client(server.port, "alice")
    sender.login("alice", "pw-a")
    sender.online()
    body = b"x" * 16000
    deadline = time.monotonic() + 20
    while not any("does not read" in line for line in server.log):
        assert time.monotonic() < deadline, "the deaf peer was never disconnected"
        sender.send("MESG", headers=(("To", "bob"),), body=body)
        time.sleep(0.002)
    sender.expect_ack(sender.send("PING"), 600)  # the server goes on


def test_message_rate(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--messages-per-second", "2", "--message-burst", "3")
    alice, bob = Client(server.port, "alice"), Client(server.port, "bob")
    alice.login("alice", "pw-a")
    bob.login("bob", "pw-b")
    bob.online()
    answers = []
    for i in range(4):
        ref = alice.send("MESG", headers=(("To", "bob"), ("ACK-Type", "always")),
                         body=b"%d" % i)
        block = alice.receive()
        assert block.header("Reference") == ref
        answers.append(block.type_line)
    assert answers == ["ACK 600", "ACK 600", "ACK 600", "ACK 830"]
    assert [bob.receive().body for _ in range(3)] == [b"0", b"1", b"2"]
    time.sleep(0.6)  # the bucket fills again
    alice.expect_ack(alice.send("MESG", headers=(("To", "bob"), ("ACK-Type", "always")),
                                body=b"later"), 600)


def test_requests_per_hour(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--requests-per-hour", "2")
    alice = Client(server.port, "alice")
    alice.login("alice", "pw-a")
    alice.expect_ack(alice.send("LIST", "ADD", "bob"), 600)
    alice.expect_ack(alice.send("LIST", "ADD", "carol"), 600)
    alice.expect_ack(alice.send("LIST", "ADD", "bob"), 830)
    listed = alice.send("LIST", "GET")
    block = alice.receive()
    assert (block.header("Reference"), block.body) == (
        listed, b'bob "Bob" PENDING\r\ncarol "Carol" PENDING\r\n')


def test_stored_messages_per_recipient(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--max-stored-per-user", "3")
    alice = Client(server.port, "alice")
    alice.login("alice", "pw-a")
    statuses = []
    for i in range(4):
        alice.send("MESG", headers=(("To", "bob"), ("ACK-Type", "always")), body=b"%d" % i)
        statuses.append(alice.receive().type_line)
    assert statuses == ["ACK 601", "ACK 601", "ACK 601", "ACK 821"]
    bob = Client(server.port, "bob")
    bob.login("bob", "pw-b")
    bob.online()
    assert [bob.receive().body for _ in range(3)] == [b"0", b"1", b"2"]


def test_failed_logins_arriving_together_are_checked_no_more_than_the_limit(
        imipd_server: ServerFactory) -> None:
    """docs/protocol.md §4.2: a LOGN being checked counts against the limit until it is decided."""
    server = imipd_server(USERS)
    clients = [RawClient(server.port, f"guess{i}") for i in range(40)]
    for client in clients:
        client.hello()
    for client in clients:  # all at once: none is decided before the last is sent
        client.logn("alice", "wrong")
    codes = []
    for client in clients:
        block, raw = client.receive()
        assert block.verb == "ACK", raw
        codes.append(block.args[0])
    assert sorted(codes) == ["811"] * 10 + ["830"] * 30
    # over the limit, every LOGN from the address is 830, whatever its Auth-Type
    late = RawClient(server.port, "late")
    late.hello()
    ref = late.send("LOGN alice", [("Auth-Type", "plain")], b"pw-a")
    late.expect_ack(830, ref)
    ref = late.logn("alice", "pw-a")  # the right password is not even checked
    late.expect_ack(830, ref)


def test_good_logins_arriving_together_all_succeed(imipd_server: ServerFactory) -> None:
    """Logins beyond the limit that are being checked wait their turn (they are not refused):
    a burst of good logins from one address (a NAT, a gateway) gets in."""
    users = [(f"user{i}", f"pw{i}", f"User {i}") for i in range(40)]
    server = imipd_server(users)
    clients = [RawClient(server.port, f"good{i}") for i in range(40)]
    for client in clients:
        client.hello()
    refs = [client.logn(f"user{i}", f"pw{i}") for i, client in enumerate(clients)]
    for i, (client, ref) in enumerate(zip(clients, refs, strict=True)):
        client.expect(f"LOGN user{i}", [("Reference", ref)])
