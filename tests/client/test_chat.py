"""``imip chat`` driven headless by Textual's pilot, against a real server, in 80x24."""

from __future__ import annotations

import asyncio
import io
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input

from imipd.chat import ChatApp
from imipd.chat import app as chat_app
from imipd.chat.widgets import ContactList, Conversation
from imipd.client import Backoff, MessageReceived, PermissionRequested, Presence, connect
from tests.server.conftest import ServerFactory, create_users
from tests.server.imipd_process import imipd
from tests.web.conftest import ADMIN_TOKEN, start_server

from .helpers import Events, run
from .test_library import USERS, befriend
from .test_send_command import IMIP, environment

SIZE = (80, 24)


async def until(pilot: Pilot[int], condition: Callable[[], object], what: str,
                timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def retrying_chat(port: int) -> ChatApp:
    """alice's chat, retrying within a fraction of a second (the real one waits 1 s)."""
    return ChatApp(lambda password: connect("127.0.0.1", port, "alice", password,
                                            reconnect=Backoff(initial=0.2, maximum=0.5)),
                   "pw-a")


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

                # carol asks for permission; alice grants it, and asks back in the same dialog
                async with connect("127.0.0.1", port, "carol", "pw-c",
                                   presence="ONLINE") as carol:
                    await carol.request_contact("alice", "hi from carol")
                    await until(pilot, lambda: "+ Carol asks to add you" in contact_lines(app),
                                "the request in the list")
                    await pilot.press("escape", "home", "enter")  # the request comes first
                    await pilot.press("g")
                    assert str(app.screen.query_one("#question").render()) == \
                        "carol may see your presence now. Ask to see theirs too?"
                    carols = Events(carol)
                    await carols.presence("alice", Presence.ONLINE)  # granted at once
                    await pilot.press("y")
                    asked = await carols.expect(PermissionRequested)
                    assert (asked.requester, asked.text) == ("alice", "")
                    await until(pilot, lambda: contact_lines(app) == ["◐ bob at lunch",
                                                                      "? carol"],
                                "the request leaving the list, carol asked back")

            await until(pilot, lambda: contact_lines(app) == ["○ bob", "? carol"],
                        "bob going offline")
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
            # the same words as imip send's
            assert [str(r) for r in app._exit_renderables] == [
                "imip chat: login failed: wrong user name or password for alice"]
        assert app.return_code == 3, app.return_code

    run(main(), timeout=20)


def own_state(app: ChatApp) -> tuple[str, str]:
    """The own-presence line and the banner (empty when hidden)."""
    banner = app.query_one("#state")
    return (str(app.query_one("#me").render()),
            str(banner.render()) if banner.display else "")


def test_the_own_state_is_shown_while_the_connection_is_down(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    port = server.port

    async def main() -> None:
        await befriend(port, "alice", "pw-a", "bob", "pw-b")
        app = retrying_chat(port)
        async with connect("127.0.0.1", port, "bob", "pw-b", presence="ONLINE"), \
                app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: contact_lines(app) == ["● bob"], "bob online")
            assert own_state(app) == ("alice: Online", "")
            await pilot.press("enter", *"one")
            await asyncio.to_thread(server.stop)
            await until(pilot, lambda: own_state(app)[0] == "alice: reconnecting…",
                        "the own line saying so")
            assert own_state(app)[1] == (
                "Connection lost (the server said goodbye: server shutting down). "
                "Reconnecting; nothing can be sent meanwhile.")
            assert contact_lines(app) == ["○ bob"]
            await pilot.press("enter")  # sending while down: one notice, the text kept
            await pilot.pause(0.2)
            assert [n.message for n in app._notifications] == [
                "not sent: you are reconnecting…"]
            assert app.query_one("#compose", Input).value == "one"
            await asyncio.to_thread(server.restart)
            await until(pilot, lambda: own_state(app) == ("alice: Online", ""),
                        "online again", timeout=15)
            await pilot.press("ctrl+q")

    run(main(), timeout=40)


def test_a_changed_password_is_not_retried_and_f5_asks_for_the_new_one(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        app = retrying_chat(server.port)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            await asyncio.to_thread(imipd, "user", "passwd", "alice", "--password",
                                    "changed-pw", data_dir=server.data_dir)
            wanted = ("alice: signed out", "Signed out: your password was changed. "
                      "F5 signs in with the new one.")
            await until(pilot, lambda: own_state(app) == wanted, "the reason on screen")
            await pilot.pause(1.0)  # it stays, and no login is tried with the old password
            assert own_state(app) == wanted
            assert "LOGN refused" not in server.log_text()
            await pilot.press("f5", *"wrong-pw", "enter")
            await until(pilot, lambda: own_state(app) == (
                "alice: signed out", "Signed out: login failed: wrong user name or password "
                "for alice. F5 signs in with another password."), "the refusal")
            await pilot.press("f5", *"changed-pw", "enter")
            await until(pilot, lambda: own_state(app) == ("alice: Online", ""), "signed in")
            await pilot.press("ctrl+q")
        assert app.return_code == 0

    run(main(), timeout=30)


def test_a_deleted_account_says_so_and_offers_no_sign_in(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        app = ChatApp.for_server("127.0.0.1", server.port, "alice", "pw-a")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            await asyncio.to_thread(imipd, "user", "del", "alice", data_dir=server.data_dir)
            wanted = ("alice: signed out", "Signed out: your account was deleted.")
            await until(pilot, lambda: own_state(app) == wanted, "the reason on screen")
            assert "f5" not in footer_keys(app)
            await pilot.press("f5")
            await pilot.pause(0.5)
            assert own_state(app) == wanted and "LOGN refused" not in server.log_text()
            await pilot.press("ctrl+q")
        assert app.return_code == 0

    run(main(), timeout=30)


def test_an_operators_reason_stays_on_screen_and_f5_signs_in_again(
        tmp_path: Path) -> None:
    create_users(tmp_path, USERS)
    server = start_server(tmp_path, "--admin-token", ADMIN_TOKEN)

    async def main() -> None:
        app = ChatApp.for_server("127.0.0.1", server.port, "alice", "pw-a")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            assert "f5" not in footer_keys(app)
            reply = await asyncio.to_thread(
                server.client().api, "DELETE", "/api/sessions/alice?reason=maintenance",
                ADMIN_TOKEN)
            assert reply.status == 200
            wanted = ("alice: signed out", "Signed out: an operator disconnected you: "
                      "maintenance. F5 signs in again.")
            await until(pilot, lambda: own_state(app) == wanted, "the operator's reason")
            await pilot.pause(1.5)
            assert own_state(app) == wanted
            assert "f5" in footer_keys(app) and "ctrl+n" not in footer_keys(app)
            await pilot.press("f5")
            await until(pilot, lambda: own_state(app) == ("alice: Online", ""), "signed in")
            await pilot.press("ctrl+q")

    try:
        run(main(), timeout=30)
    finally:
        server.process.kill()


def footer_keys(app: ChatApp) -> set[str]:
    """The keys the footer offers now."""
    return {key for key, (_node, binding, enabled, _tip) in app.screen.active_bindings.items()
            if binding.show and enabled}


def test_a_login_elsewhere_signs_the_chat_out_once_then_it_returns(
        imipd_server: ServerFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    server = imipd_server(USERS)
    monkeypatch.setattr(chat_app, "RETURN_AFTER", 0.5)

    async def main() -> None:
        app = ChatApp.for_server("127.0.0.1", server.port, "alice", "pw-a")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            # a one-shot login of alice elsewhere (an `imip send` on another machine)
            async with connect("127.0.0.1", server.port, "alice", "pw-a") as elsewhere:
                await until(pilot, lambda: own_state(app) == (
                    "alice: signed out", "Signed out: you logged in from another place. "
                    "Signing in here again in 0.5 s."), "the replacement")
                await elsewhere.send_message("bob", "from elsewhere")
            await until(pilot, lambda: own_state(app) == ("alice: Online", ""), "back")
            # replaced again soon after: two clients would fight, so the chat stays out
            async with connect("127.0.0.1", server.port, "alice", "pw-a"):
                wanted = ("alice: signed out", "Signed out: you logged in from another "
                          "place. F5 signs in here again.")
                await until(pilot, lambda: own_state(app) == wanted, "signed out for good")
                await pilot.pause(1.0)
                assert own_state(app) == wanted
            await pilot.press("ctrl+q")

    run(main(), timeout=30)


def test_imip_send_hands_its_message_to_the_running_chat(
        imipd_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = imipd_server(USERS)
    port = server.port
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))

    def imip_send(*args: str) -> tuple[int, str, str]:
        # no password anywhere, and no terminal: only a hand-over can send this
        done = subprocess.run([IMIP, "send", "--server", f"127.0.0.1:{port}", "--user",
                               "ALICE", *args], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, env=environment(tmp_path))
        return done.returncode, done.stdout, done.stderr

    async def main() -> None:
        await befriend(port, "alice", "pw-a", "bob", "pw-b")
        app = ChatApp.for_server("127.0.0.1", port, "alice", "pw-a")
        async with connect("127.0.0.1", port, "bob", "pw-b", presence="ONLINE") as bob, \
                app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: contact_lines(app) == ["● bob"], "bob online")
            assert await asyncio.to_thread(imip_send, "bob", "Hi Bob") == (0, "delivered\n", "")
            message = await Events(bob).expect(MessageReceived)
            assert (message.sender, message.text) == ("alice", "Hi Bob")
            assert await asyncio.to_thread(imip_send, "nobody", "hello?") == (
                1, "", "imip send: no such user: nobody\n")
            assert own_state(app) == ("alice: Online", "")  # never replaced
            await pilot.press("enter")
            assert conversation_text(app).endswith("me: Hi Bob")
            await pilot.press("ctrl+q")
        # after the chat: nobody to hand over to, and no password to log in with
        assert await asyncio.to_thread(imip_send, "bob", "later") == (
            2, "", "imip send: no password: give --password or IMIP_PASSWORD (standard "
            "input is not a terminal to ask on)\n")
        # befriend's login and the chat's: imip send never logged in by itself
        assert server.log_text().count("alice: logged in from") == 2

    run(main(), timeout=40)


def test_a_message_to_oneself_is_shown_once(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        app = ChatApp.for_server("127.0.0.1", server.port, "alice", "pw-a")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            app.roster.open("alice")  # as Enter on a list entry does
            await pilot.press("tab", "tab", *"note", "enter")
            await until(pilot, lambda: conversation_text(app).endswith("me: note"), "sent")
            await pilot.pause(0.5)
            assert conversation_text(app).count("note") == 1, conversation_text(app)
            await pilot.press("ctrl+q")

    run(main(), timeout=30)


def screen_lines(app: ChatApp) -> list[str]:
    """The screen as plain text, one string per row (what a person sees)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().rstrip("\n").split("\n")


def test_at_80x24_nothing_is_cut_and_toasts_leave_the_message_line_free(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        app = ChatApp.for_server("127.0.0.1", server.port, "alice", "pw-a")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            await pilot.pause(0.2)
            rows = screen_lines(app)
            assert len(rows) == 24
            assert rows[0].strip().endswith(f"imip chat — alice @ 127.0.0.1:{server.port}")
            assert rows[1].split("│")[1].strip() == "Choose a contact, press Enter"
            assert rows[21].split("│")[1].strip(" ▊▎") == "choose a contact first"
            assert rows[23].rstrip() == ("⏎ Open tab Pane ^q Quit esc List ^n Add ^r Remove "
                                         "^b Block ^p Status f1 Help")
            await pilot.press("tab", "tab")  # the message line: Enter sends
            assert screen_lines(app)[23].startswith("⏎ Send tab Pane")
            bottom = screen_lines(app)[20:]
            # a burst of messages from someone: never over the message line; the newest
            # shown as written (no markup)
            async with connect("127.0.0.1", server.port, "bob", "pw-b") as bob:
                for n in range(7):
                    await bob.send_message("alice", f"[/bold] burst {n} with some length to it")
            await until(pilot, lambda: any("burst 6" in row for row in screen_lines(app)),
                        "the newest notice")
            await pilot.pause(0.3)
            rows = screen_lines(app)
            assert rows[20:] == bottom
            assert any("[/bold] burst 6" in row for row in rows[:20])
            assert not any("burst 3" in row for row in rows)  # at most three at once
            # the own line is cut with an ellipsis, not in the middle of a word
            app.my_text = "at lunch until three, back soon"
            app.refresh_view()
            await pilot.pause(0.1)
            assert screen_lines(app)[1].split("│")[0].strip() == "alice: Online: at lunch un…"
            await pilot.press("ctrl+q")

    run(main(), timeout=30)


def test_drafts_stay_with_their_conversation_and_yourself_cannot_be_added(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        app = ChatApp.for_server("127.0.0.1", server.port, "alice", "pw-a")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            await pilot.press("ctrl+n", *"ALICE", "enter", "enter")
            await pilot.pause(0.2)
            assert [n.message for n in app._notifications] == [
                "you always see your own presence"]
            await pilot.press("ctrl+n", *"bob", "enter", "enter", "ctrl+n", *"carol", "enter",
                              "enter")
            await until(pilot, lambda: contact_lines(app) == ["? bob", "? carol"], "two")
            compose = app.query_one("#compose", Input)
            await pilot.press("escape", "home", "enter", *"draft", "escape", "tab", "tab")
            await pilot.press("Z")  # back in the line: the draft is not selected, nor replaced
            assert compose.value == "draftZ"
            await pilot.press("escape", "down", "enter")  # carol's conversation: empty
            assert compose.value == ""
            await pilot.press("escape", "home", "enter")  # bob's again: his draft is back
            assert compose.value == "draftZ"
            await pilot.press("ctrl+q")

    run(main(), timeout=30)


def test_a_login_refused_while_reconnecting_asks_for_the_password(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)

    async def main() -> None:
        app = retrying_chat(server.port)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.client.connected, "the login")
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(imipd, "user", "passwd", "alice", "--password",
                                    "changed-pw", data_dir=server.data_dir)
            await asyncio.to_thread(server.restart)
            wanted = ("alice: signed out", "Signed out: login failed: wrong user name or "
                      "password for alice. F5 signs in with another password.")
            await until(pilot, lambda: own_state(app) == wanted, "the refusal", timeout=15)
            await pilot.press("f5", *"changed-pw", "enter")
            await until(pilot, lambda: own_state(app) == ("alice: Online", ""), "signed in")
            assert server.log_text().count("login failed for alice") == 1
            await pilot.press("ctrl+q")

    run(main(), timeout=40)
