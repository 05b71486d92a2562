"""imipd.client against a real ``imipd serve``: login, presence, permissions, messages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from imipd.client import (
    AckType,
    BlockedUser,
    ConnectFailed,
    ConnectionClosed,
    Contact,
    Delivery,
    Disconnected,
    LoginFailed,
    MessageReceived,
    NoSuchUser,
    PermissionRequested,
    Presence,
    RequestRejected,
    TooLarge,
    connect,
)
from imipd.protocol import Block, Status
from tests.server.conftest import ServerFactory

from .helpers import Events, run

USERS = [("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob"), ("carol", "pw-c", "Carol")]


def test_login_spells_the_name_as_the_account_and_reads_the_greeting(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--service", "example.org", "--keep-alive", "30")

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "ALICE", "pw-a") as client:
            assert client.connected
            assert client.user == "alice"
            info = client.server_info
            assert info is not None
            assert (info.service, info.keep_alive, info.auth_type) == (
                "example.org", 30, "imip-md5")
            assert await client.ping() >= 0
        assert not client.connected
        with pytest.raises(ConnectionClosed):
            await client.ping()

    run(main())


def test_failed_login_is_typed_and_carries_the_status(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        for user, password in (("alice", "wrong"), ("nobody", "pw-a")):
            with pytest.raises(LoginFailed) as caught:
                async with connect("127.0.0.1", server.port, user, password):
                    pass
            assert caught.value.status == Status.LOGIN_FAILED
            assert caught.value.reason
            assert caught.value.verb == "LOGN"

    run(main())


def test_connection_refused_is_connect_failed(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    port = server.port
    server.stop()

    async def main() -> None:
        with pytest.raises(ConnectFailed) as caught:
            async with connect("127.0.0.1", port, "alice", "pw-a", timeout=3):
                pass
        assert "refused" in str(caught.value)
        assert caught.value.status is None

    run(main())


async def befriend(port: int, asker: str, asker_pw: str, owner: str, owner_pw: str) -> None:
    """``asker`` asks ``owner`` for permission, and ``owner`` grants it."""
    async with connect("127.0.0.1", port, owner, owner_pw, presence="ONLINE") as granter, \
            connect("127.0.0.1", port, asker, asker_pw) as requester:
        await requester.request_contact(owner, "let me watch you")
        request = await Events(granter).expect(PermissionRequested)
        await granter.grant(request)
        await granter.ping()  # the grant is handled before the PING's answer


def test_permission_request_grant_then_presence_with_text(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a", presence="ONLINE") as a, \
                connect("127.0.0.1", server.port, "bob", "pw-b", presence="ONLINE") as b:
            alice, bob = Events(a), Events(b)
            await a.request_contact("bob", "Hi Bob, it's Alice")
            assert await a.contacts() == [Contact("bob", "Bob", Presence.OFFLINE, pending=True)]
            request = await bob.expect(PermissionRequested)
            assert request == PermissionRequested("alice", "Alice", "Hi Bob, it's Alice",
                                                  request.request_id)
            await b.grant(request)
            await alice.presence("bob", Presence.ONLINE)
            assert await a.contacts() == [Contact("bob", "Bob", Presence.ONLINE)]
            await b.set_presence(Presence.AWAY, "at lunch")
            await alice.presence("bob", Presence.AWAY, "at lunch")
            await b.set_presence("BUSY", "Grüß dich")
            await alice.presence("bob", Presence.BUSY, "Grüß dich")
            await bob.none()  # permission is one-directional
            await b.close()
            await alice.presence("bob", Presence.OFFLINE)
        # her own goodbye ends the events
        assert await alice.expect(Disconnected) == Disconnected("closed by the client")
        with pytest.raises(StopAsyncIteration):
            await alice.next()

    run(main())


def test_decline_is_silent_and_the_request_may_be_asked_again(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a", presence="ONLINE") as a, \
                connect("127.0.0.1", server.port, "bob", "pw-b", presence="ONLINE") as b:
            alice, bob = Events(a), Events(b)
            await a.request_contact("bob")
            await b.decline(await bob.expect(PermissionRequested))
            await b.ping()
            await alice.none()
            assert await a.contacts() == []  # the request is gone
            await a.request_contact("bob", "please?")
            again = await bob.expect(PermissionRequested)
            while again.text == "":  # a repeat of the first (see docs/client.md)
                again = await bob.expect(PermissionRequested)
            assert (again.requester, again.text) == ("alice", "please?")

    run(main())


def test_messages_delivered_or_stored_then_delivered_with_their_date(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a") as a:
            assert await a.send_message("bob", "first") is Delivery.STORED
            assert await a.send_message("bob", "second", AckType.ERRORS_ONLY) \
                is Delivery.ACCEPTED
            assert await a.send_message("bob", "third", "none") is Delivery.SENT
            async with connect("127.0.0.1", server.port, "bob", "pw-b",
                               presence="ONLINE") as b:
                bob = Events(b)
                stored = [await bob.expect(MessageReceived) for _ in range(3)]
                assert [m.text for m in stored] == ["first", "second", "third"]
                for message in stored:
                    assert message.sender == "alice" and message.to == "bob"
                    assert message.date is not None
                    assert abs(message.date - datetime.now(UTC)) < timedelta(seconds=30)
                # while the server still flushes stored messages, a new one joins them
                # (answered 600, delivered with a Date); let the flush finish first
                await asyncio.sleep(0.3)
                assert await a.send_message("bob", "Grüß dich!") is Delivery.DELIVERED
                live = await bob.expect(MessageReceived)
                assert (live.sender, live.text, live.date) == ("alice", "Grüß dich!", None)

    run(main())


def test_typed_errors_carry_status_and_reason(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--error-reasons")

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a") as a:
            for ack_type in (AckType.ALWAYS, AckType.ERRORS_ONLY):
                with pytest.raises(NoSuchUser) as no_user:
                    await a.send_message("nobody", "hi", ack_type)
                assert no_user.value.status == Status.NO_SUCH_USER
                assert no_user.value.reason == "no such user"  # the server's ACK body
            with pytest.raises(NoSuchUser):
                await a.request_contact("nobody")
            with pytest.raises(TooLarge) as too_large:
                await a.send_message("bob", "x" * (16 * 1024 + 1))
            assert too_large.value.status == Status.TOO_LARGE
            with pytest.raises(TooLarge):
                await a.set_presence(Presence.AWAY, "y" * 257)
            with pytest.raises(RequestRejected) as rejected:
                await a.request_contact("alice")
            assert rejected.value.status == Status.BAD_HEADER
            answer = await a.request(Block("LIST", ("GET",), (("List", "Buddy"),)))
            assert answer.verb == "LIST" and answer.body == b""
            assert await a.ping() >= 0  # the connection survived every refusal

    run(main())


def test_remove_block_unblock_and_the_lists(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        await befriend(server.port, "alice", "pw-a", "bob", "pw-b")
        async with connect("127.0.0.1", server.port, "alice", "pw-a", presence="ONLINE") as a, \
                connect("127.0.0.1", server.port, "bob", "pw-b", presence="ONLINE") as b:
            alice = Events(a)
            await alice.presence("bob", Presence.ONLINE)
            await b.block("alice")
            assert await b.blocked() == [BlockedUser("alice", "Alice")]
            await alice.presence("bob", Presence.OFFLINE)
            assert await a.send_message("bob", "hello?") is Delivery.STORED  # dropped
            await b.unblock("alice")
            assert await b.blocked() == []
            await alice.presence("bob", Presence.ONLINE)
            await a.remove_contact("bob")
            assert await a.contacts() == []
            await b.set_presence(Presence.AWAY)
            await alice.none()

    run(main())
