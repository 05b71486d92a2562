"""imipd.client's lifecycle against a real server: keep-alive, reconnect, replacement."""

from __future__ import annotations

import asyncio

import pytest

from imipd.client import (
    Backoff,
    Disconnected,
    LoginFailed,
    Presence,
    Reconnected,
    connect,
)
from imipd.protocol import Block
from tests.server.conftest import ServerFactory
from tests.server.imipd_process import imipd

from .helpers import Events, run
from .test_library import USERS, befriend


def test_pings_by_itself_at_the_servers_keep_alive(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--keep-alive", "5")

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a") as client:
            assert client.server_info is not None and client.server_info.keep_alive == 5
            await asyncio.sleep(5.6)
            # the server numbers its blocks: HELO 1, LOGN 2, the automatic PING's ACK 3
            answer = await client.request(Block("PING"))
            assert (answer.verb, answer.args, answer.header("ID")) == ("ACK", ("600",), "4")

    run(main())


def test_reconnects_after_a_server_restart_and_sends_presence_again(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    backoff = Backoff(initial=0.2, maximum=0.5)

    async def main() -> None:
        await befriend(server.port, "bob", "pw-b", "alice", "pw-a")
        async with connect("127.0.0.1", server.port, "alice", "pw-a", presence="AWAY",
                           status_text="back soon", reconnect=backoff) as a, \
                connect("127.0.0.1", server.port, "bob", "pw-b", presence="ONLINE",
                        reconnect=backoff) as b:
            alice, bob = Events(a), Events(b)
            await bob.presence("alice", Presence.AWAY, "back soon")
            await asyncio.to_thread(server.stop)  # graceful: every session gets DISC
            for events in (alice, bob):
                gone = await events.expect(Disconnected)
                assert gone.will_reconnect and "server shutting down" in gone.reason
            await asyncio.to_thread(server.restart)
            await alice.expect(Reconnected, timeout=10)
            await bob.expect(Reconnected, timeout=10)
            assert a.connected and b.connected and a.user == "alice"
            await bob.presence("alice", Presence.AWAY, "back soon")
            assert a.presence == (Presence.AWAY, "back soon")
            assert await a.send_message("bob", "still here") == "delivered"

    run(main())


def test_gives_up_when_the_login_is_refused_after_a_loss(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a",
                           reconnect=Backoff(initial=0.1, maximum=0.2)) as a:
            events = Events(a)
            # the password changes while the server is down: nobody tells this client
            await asyncio.to_thread(server.stop)
            assert (await events.expect(Disconnected)).will_reconnect
            await asyncio.to_thread(imipd, "user", "passwd", "alice", "--password",
                                    "changed-pw", data_dir=server.data_dir)
            await asyncio.to_thread(server.restart)
            last = await events.expect(Disconnected, timeout=10)
            assert not last.will_reconnect and "811" in last.reason
            assert isinstance(last.error, LoginFailed) and last.error.status == 811
            assert not a.connected

    run(main())


@pytest.mark.parametrize(("command", "said"), [
    (("user", "passwd", "alice", "--password", "changed-pw"), "password changed"),
    (("user", "del", "alice"), "account deleted"),
])
def test_a_session_the_server_ended_for_good_is_not_retried(
        imipd_server: ServerFactory, command: tuple[str, ...], said: str) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a",
                           reconnect=Backoff(initial=0.1, maximum=0.2)) as a:
            events = Events(a)
            await asyncio.to_thread(imipd, *command, data_dir=server.data_dir)
            last = await events.expect(Disconnected)
            assert last == Disconnected(f"the server said goodbye: {said}",
                                        server_reason=said)
            with pytest.raises(StopAsyncIteration):  # the end: no reconnect
                await events.next(0.5)
        await asyncio.sleep(0.3)
        assert "login failed" not in server.log_text()

    run(main())


def test_a_session_replaced_by_a_newer_login_does_not_fight_back(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        async with connect("127.0.0.1", server.port, "alice", "pw-a",
                           reconnect=Backoff(initial=0.1)) as first:
            events = Events(first)
            async with connect("127.0.0.1", server.port, "alice", "pw-a") as second:
                last = await events.expect(Disconnected)
                assert last == Disconnected(
                    "the server said goodbye: logged in from another place",
                    server_reason="logged in from another place")
                with pytest.raises(StopAsyncIteration):  # the end: no reconnect
                    await events.next(0.5)
                assert second.connected and not first.connected

    run(main())
