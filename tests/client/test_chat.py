"""``imip chat`` driven headless by Textual's pilot, against a real server, in 80x24."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.pilot import Pilot

from imipd.chat import ChatApp
from imipd.chat.widgets import ContactList, Conversation
from imipd.client import MessageReceived, PermissionRequested, Presence, connect
from tests.server.conftest import ServerFactory

from .helpers import Events, run
from .test_library import USERS, befriend

SIZE = (80, 24)


async def until(pilot: Pilot[int], condition: Callable[[], object], what: str,
                timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def contact_lines(app: ChatApp) -> list[str]:
    """The contact list as shown (one plain-text line per entry)."""
    return [str(option.prompt) for option in app.query_one(ContactList).options]


def conversation_text(app: ChatApp) -> str:
    return "\n".join(strip.text for strip in app.query_one(Conversation).lines)


def test_log_in_see_a_contact_come_online_talk_and_grant(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    port = server.port

    async def main() -> None:
        await befriend(port, "alice", "pw-a", "bob", "pw-b")  # alice watches bob
        app = ChatApp.for_server("127.0.0.1", port, "alice", "pw-a")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.client.connected and contact_lines(app),
                        "the login and the contact list")
            assert contact_lines(app) == ["○ bob"]
            assert str(app.query_one("#me").render()) == "alice: Online"

            async with connect("127.0.0.1", port, "bob", "pw-b", presence=Presence.AWAY,
                               status_text="at lunch") as bob:
                await until(pilot, lambda: contact_lines(app) == ["◐ bob at lunch"],
                            "bob coming online")

                # bob writes: an unread count, then the conversation with its timestamp
                await bob.send_message("alice", "Hi Alice")
                await until(pilot, lambda: contact_lines(app) == ["◐ bob (1) at lunch"],
                            "the unread count")
                await pilot.press("enter")  # bob is highlighted: open the conversation
                assert contact_lines(app) == ["◐ bob at lunch"]
                text = conversation_text(app)
                assert text.endswith("bob: Hi Alice") and text[2] == ":", text  # "HH:MM bob…"
                assert "bob — Away: at lunch" in str(app.query_one("#talk-title").render())

                # alice answers from the keyboard
                await pilot.press(*"Hi", "space", *"Bob", "enter")
                answer = await Events(bob).expect(MessageReceived)
                assert (answer.sender, answer.text) == ("alice", "Hi Bob")
                await until(pilot, lambda: conversation_text(app).endswith("me: Hi Bob"),
                            "alice's own line, delivered")

                # carol asks for permission; alice grants it with two keys
                async with connect("127.0.0.1", port, "carol", "pw-c",
                                   presence="ONLINE") as carol:
                    await carol.request_contact("alice", "hi from carol")
                    await until(pilot, lambda: "+ Carol asks to add you" in contact_lines(app),
                                "the request in the list")
                    await pilot.press("escape", "home", "enter")  # the request comes first
                    await pilot.press("g")
                    await Events(carol).presence("alice", Presence.ONLINE)
                    await until(pilot, lambda: contact_lines(app) == ["◐ bob at lunch"],
                                "the request leaving the list")

            await until(pilot, lambda: contact_lines(app) == ["○ bob"], "bob going offline")
            await pilot.press("ctrl+q")
        assert app.return_code == 0
        await asyncio.sleep(0.2)
        assert "alice: said goodbye" in server.log_text()  # the DISC on the way out

    run(main(), timeout=40)


def test_presence_selector_and_status_text(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    port = server.port

    async def main() -> None:
        await befriend(port, "bob", "pw-b", "alice", "pw-a")  # bob watches alice
        async with connect("127.0.0.1", port, "bob", "pw-b", presence="ONLINE") as bob:
            watcher = Events(bob)
            app = ChatApp.for_server("127.0.0.1", port, "alice", "pw-a")
            async with app.run_test(size=SIZE) as pilot:
                await watcher.presence("alice", Presence.ONLINE)
                await pilot.press("ctrl+p", "down", "down", "tab", *"meeting", "enter")
                await watcher.presence("alice", Presence.BUSY, "meeting")
                await until(pilot, lambda: str(app.query_one("#me").render())
                            == "alice: Busy: meeting", "the own presence line")
                await pilot.press("ctrl+p", "down", "enter")  # appear offline, same text
                await watcher.presence("alice", Presence.OFFLINE)
                await pilot.press("ctrl+q")
            assert app.return_code == 0

    run(main(), timeout=30)


def test_add_remove_and_block_from_the_keyboard(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    port = server.port

    async def main() -> None:
        async with connect("127.0.0.1", port, "bob", "pw-b", presence="ONLINE") as bob:
            requests = Events(bob)
            app = ChatApp.for_server("127.0.0.1", port, "alice", "pw-a")
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: app.client.connected, "the login")
                await pilot.press("ctrl+n", *"bob", "enter", *"hello", "enter")
                request = await requests.expect(PermissionRequested)
                assert (request.requester, request.text) == ("alice", "hello")
                await until(pilot, lambda: contact_lines(app) == ["? bob"], "bob pending")
                await pilot.press("ctrl+b", "enter")  # the selection is prefilled
                await until(pilot, lambda: contact_lines(app) == ["⊘ bob"], "bob blocked")
                assert [b.user for b in await app.client.blocked()] == ["bob"]
                await pilot.press("ctrl+b", "enter")
                await until(pilot, lambda: contact_lines(app) == ["? bob"], "bob unblocked")
                await pilot.press("ctrl+r", "y")
                await until(pilot, lambda: contact_lines(app) == [], "bob removed")
                assert await app.client.contacts() == []
                await pilot.press("ctrl+q")

    run(main(), timeout=30)


def test_a_failed_login_exits_with_a_message(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        app = ChatApp.for_server("127.0.0.1", server.port, "alice", "wrong")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.return_code is not None, "the exit")
        assert app.return_code == 3, app.return_code

    run(main(), timeout=20)
