"""imipd.client against a scripted raw-socket server: the exact bytes it writes and reads."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from imipd.client import (
    ConnectionClosed,
    Delivery,
    Disconnected,
    LoginFailed,
    MessageReceived,
    NotPermitted,
    PermissionRequested,
    Presence,
    PresenceChanged,
    UnsupportedProtocol,
    connect,
)
from imipd.protocol import Status

from .fake_peer import FakePeer, PeerConnection, client_block, frame, server_hello
from .helpers import Events, run

HELO = client_block("HELO", ["ID: 1001", "Protocol: IMIP/1.0"])
LOGN_1000042 = client_block("LOGN 1000042", ["ID: 1002", "Client: test 1.0",
                                             "Auth-Type: imip-md5"],
                            b"acf2b771b12e380f6001573415913b2e")
"""IMIP's worked example: challenge 2718281828, password s3cret."""


def log_in(peer: PeerConnection, keep_alive: int = 60) -> None:
    peer.expect(HELO)
    peer.send(server_hello(keep_alive=keep_alive))
    peer.expect(LOGN_1000042)
    peer.send(frame("LOGN 1000042", ["ID: 2", "Reference: 1002"]))


def test_a_whole_session_byte_for_byte() -> None:
    def server(peer: PeerConnection) -> None:
        log_in(peer)
        peer.expect(client_block("STAT AWAY", ["ID: 1003"], b"at lunch"))
        peer.send(frame("ACK 600", ["ID: 3", "Reference: 1003"]))
        # pushed while online: a stored message, a presence, a request
        peer.send(frame("MESG", ["Date: Tue, 24 Nov 2026 21:50:00 +0000", "From: 1000099",
                                 "ID: 4", "To: 1000042"], "Grüß dich!".encode()))
        peer.send(frame("STAT BUSY", ["From: 1000099", "ID: 5"], b"in a meeting"))
        peer.send(frame("LIST ADD", ['From: 1000077 "Carol C"', "ID: 6", "List: Buddy"],
                        b"Hi, it's Carol"))
        peer.expect(client_block("ACK 600", ["ID: 1004", "Reference: 6"]))
        peer.expect(client_block("LIST ADD 1000099", ["ID: 1005", "List: Buddy",
                                                      "From: 1000042"], b"hello"))
        peer.send(frame("ACK 600", ["ID: 7", "Reference: 1005"]))
        peer.expect(client_block("MESG", ["ID: 1006", "To: 1000099", "ACK-Type: always",
                                          "From: 1000042"], "Grüß dich!".encode()))
        peer.send(frame("ACK 601", ["ID: 8", "Reference: 1006"]))
        peer.expect(client_block("LIST GET", ["ID: 1007", "List: Buddy"]))
        peer.send(frame("LIST", ["ID: 9", "List: Buddy", "Reference: 1007"],
                        b'1000099 "Bob B" BUSY\r\n1000077 "Carol" PENDING\r\n'))
        peer.expect(client_block("DISC", ["ID: 1008"]))
        peer.send(frame("ACK 600", ["ID: 10", "Reference: 1008"]))

    async def main(port: int) -> None:
        async with connect("127.0.0.1", port, "1000042", "s3cret", presence=Presence.AWAY,
                           status_text="at lunch", client_name="test 1.0") as client:
            events = Events(client)
            message = await events.expect(MessageReceived)
            assert message == MessageReceived(
                "1000099", "Grüß dich!", datetime(2026, 11, 24, 21, 50, tzinfo=UTC), "1000042")
            assert await events.expect(PresenceChanged) == PresenceChanged(
                "1000099", Presence.BUSY, "in a meeting")
            request = await events.expect(PermissionRequested)
            assert request == PermissionRequested("1000077", "Carol C", "Hi, it's Carol", "6")
            await client.grant(request)
            await client.request_contact("1000099", "hello")
            assert await client.send_message("1000099", "Grüß dich!") is Delivery.STORED
            contacts = await client.contacts()
            assert [(c.user, c.nick, c.presence, c.pending) for c in contacts] == [
                ("1000099", "Bob B", Presence.BUSY, False),
                ("1000077", "Carol", Presence.OFFLINE, True)]

    with FakePeer(server) as peer:
        run(main(peer.port))
        peer.check()


def test_pings_at_the_servers_keep_alive_and_drops_a_silent_server() -> None:
    times: list[float] = []

    def server(peer: PeerConnection) -> None:
        log_in(peer, keep_alive=1)
        start = time.monotonic()
        times.append(peer.expect(client_block("PING", ["ID: 1003"])) - start)
        peer.send(frame("ACK 600", ["ID: 3", "Reference: 1003"]))
        times.append(peer.expect(client_block("PING", ["ID: 1004"])) - start)
        peer.expect_closed(timeout=3)  # the second PING was left unanswered

    async def main(port: int) -> None:
        async with connect("127.0.0.1", port, "1000042", "s3cret",
                           client_name="test 1.0") as client:
            last = await Events(client).expect(Disconnected, timeout=6)
            assert last == Disconnected("the server did not answer PING")
            assert not client.connected

    with FakePeer(server) as peer:
        run(main(peer.port))
        peer.check()
    assert 0.8 < times[0] < 1.6 and 1.8 < times[1] < 2.6, times


@pytest.mark.parametrize(("answer", "error", "status"), [
    (frame("ACK 811", ["ID: 2", "Reference: 1002"]), LoginFailed, Status.LOGIN_FAILED),
    (frame("ACK 812", ["ID: 2", "Reference: 1002"]), LoginFailed, Status.TOO_MANY_FAILURES),
    (frame("ACK 813", ["ID: 2", "Reference: 1002"], b"use plain"), LoginFailed,
     Status.BAD_AUTH_TYPE),
], ids=["811", "812", "813"])
def test_login_refusals(answer: bytes, error: type[Exception], status: Status) -> None:
    def server(peer: PeerConnection) -> None:
        peer.expect(HELO)
        peer.send(server_hello())
        peer.expect(LOGN_1000042)
        peer.send(answer)
        # a refused client still says goodbye (DISC is allowed before login)
        peer.expect(client_block("DISC", ["ID: 1003"]))
        peer.send(frame("ACK 600", ["ID: 3", "Reference: 1003"]))

    async def main(port: int) -> None:
        with pytest.raises(LoginFailed) as caught:
            async with connect("127.0.0.1", port, "1000042", "s3cret", client_name="test 1.0"):
                pass
        assert caught.value.status == status
        assert isinstance(caught.value, error)

    with FakePeer(server) as peer:
        run(main(peer.port))
        peer.check()


def test_protocol_refused_at_helo() -> None:
    def server(peer: PeerConnection) -> None:
        peer.expect(HELO)
        peer.send(frame("ACK 810", ["ID: 1", "Reference: 1001"]))

    async def main(port: int) -> None:
        with pytest.raises(UnsupportedProtocol) as caught:
            async with connect("127.0.0.1", port, "1000042", "s3cret"):
                pass
        assert caught.value.status == Status.BAD_PROTOCOL

    with FakePeer(server) as peer:
        run(main(peer.port))
        peer.check()


def test_a_malformed_server_block_ends_the_connection() -> None:
    def server(peer: PeerConnection) -> None:
        log_in(peer)
        peer.expect(client_block("PING", ["ID: 1003"]))
        peer.send(b"ACK 600\r\nnot a size\r\n")
        peer.expect_closed()

    async def main(port: int) -> None:
        async with connect("127.0.0.1", port, "1000042", "s3cret",
                           client_name="test 1.0") as client:
            with pytest.raises(ConnectionClosed) as caught:
                await client.ping()
            assert "malformed" in caught.value.reason
            last = await Events(client).expect(Disconnected)
            assert "malformed" in last.reason and not last.will_reconnect

    with FakePeer(server) as peer:
        run(main(peer.port))
        peer.check()


def test_errors_only_waits_for_a_ping_and_none_writes_and_returns() -> None:
    def server(peer: PeerConnection) -> None:
        log_in(peer)
        peer.expect(client_block("MESG", ["ID: 1003", "To: bob", "ACK-Type: errors-only",
                                          "From: 1000042"], b"one"))
        peer.expect(client_block("PING", ["ID: 1004"]))
        peer.send(frame("ACK 600", ["ID: 3", "Reference: 1004"]))
        peer.expect(client_block("MESG", ["ID: 1005", "To: bob", "ACK-Type: errors-only",
                                          "From: 1000042"], b"two"))
        peer.expect(client_block("PING", ["ID: 1006"]))
        peer.send(frame("ACK 821", ["ID: 4", "Reference: 1005"], b"contacts only"))
        peer.send(frame("ACK 600", ["ID: 5", "Reference: 1006"]))
        peer.expect(client_block("MESG", ["ID: 1007", "To: bob", "ACK-Type: none",
                                          "From: 1000042"], b"three"))
        peer.expect(client_block("DISC", ["ID: 1008"]))
        peer.send(frame("ACK 600", ["ID: 6", "Reference: 1008"]))

    async def main(port: int) -> None:
        async with connect("127.0.0.1", port, "1000042", "s3cret",
                           client_name="test 1.0") as client:
            assert await client.send_message("bob", "one", "errors-only") is Delivery.ACCEPTED
            with pytest.raises(NotPermitted) as caught:
                await client.send_message("bob", "two", "errors-only")
            assert (caught.value.status, caught.value.reason) == (821, "contacts only")
            assert await client.send_message("bob", "three", "none") is Delivery.SENT

    with FakePeer(server) as peer:
        run(main(peer.port))
        peer.check()
