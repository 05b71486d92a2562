"""``ChatApp``: the full-screen terminal client behind ``imip chat``.

It wires three things together: a :class:`~imipd.client.Client` (the network), a
:class:`~imipd.chat.roster.Roster` (what is known), and the widgets (what is shown).
Every server request runs in a worker, so the screen never waits on the network.
Its own state (connecting, online, reconnecting, signed out, and why) is one value,
:class:`~imipd.chat.state.SessionState`, drawn in the own-presence line and a banner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.notifications import Notify, SeverityLevel
from textual.widgets import Footer, Header, Input, Label, OptionList

from ..client import (
    Backoff,
    Client,
    ConnectionClosed,
    Delivery,
    Disconnected,
    Event,
    ImipError,
    MessageReceived,
    PermissionRequested,
    Presence,
    Reconnected,
    connect,
)
from ..client.handoff import Offer, offer, socket_path
from ..client.wording import explain
from .dialogs import (
    AddContactDialog,
    ConfirmDialog,
    HelpScreen,
    NameDialog,
    PasswordDialog,
    PresenceDialog,
    RequestDialog,
)
from .roster import Roster, key_of
from .state import F5, SessionState, State, ended, refused
from .widgets import PRESENCE_NAME, ContactList, Conversation, MessageLine, presence_text

log = logging.getLogger("imipd.chat")

RETURN_AFTER = 5.0
"""Seconds a chat replaced by another login of its user waits before signing in again:
long enough for a one-shot command (``imip send`` from elsewhere) to finish."""
MAX_NOTICES = 3
"""Notices shown at once: three (of four rows at most) fit above the message line at 24 rows."""
NEEDS_SERVER = frozenset({"add_contact", "remove_contact", "block", "presence"})
"""The actions that ask the server something: offered only while online."""
FIGHT_WINDOW = 600.0
"""A chat replaced again within this many seconds of signing itself back in stays
signed out: two clients of one user would otherwise push each other out forever."""


class ChatApp(App[int]):
    """IMIP in a terminal: contacts with live presence, one conversation per contact."""

    TITLE = "imip chat"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #state { width: 100%; height: auto; padding: 0 1; background: $error 60%; }
    #side { width: 30; border-right: solid $accent; }
    #me { height: 1; width: 100%; padding: 0 1; background: $boost;
          text-wrap: nowrap; text-overflow: ellipsis; }
    #talk-title { height: 1; width: 100%; padding: 0 1; background: $boost;
                  text-wrap: nowrap; text-overflow: ellipsis; }
    #compose { dock: bottom; }
    ToastRack { dock: top; align: right top; margin-bottom: 0; margin-top: 1; }
    Toast { padding: 0 1; max-height: 4; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("tab", "app.focus_next", "Pane", priority=True),
        Binding("escape", "focus_contacts", "List"),
        Binding("ctrl+n", "add_contact", "Add"),
        Binding("ctrl+r", "remove_contact", "Remove"),
        Binding("ctrl+b", "block", "Block"),
        Binding("ctrl+p", "presence", "Status"),
        Binding("f5", "sign_in", "Sign in"),
        Binding("f1", "help", "Help"),
    ]

    def __init__(self, client_for: Callable[[str], Client], password: str) -> None:
        super().__init__()
        self._client_for = client_for
        """A new client for a password: one per sign-in."""
        self.client = client_for(password)
        self._password = password
        self.roster = Roster()
        self.my_presence = Presence.ONLINE
        self.my_text = ""
        self.where = f"{self.client.host}:{self.client.port}"
        self.state = SessionState(State.CONNECTING, self.where)
        self._offer: Offer | None = None
        self._returned_at: float | None = None
        """When the chat last signed itself back in after being replaced."""

    @classmethod
    def for_server(cls, host: str, port: int, user: str, password: str) -> ChatApp:
        """The app with its own client (reconnects with backoff; pings at Keep-Alive)."""
        return cls(lambda secret: connect(host, port, user, secret,
                                          reconnect=Backoff(initial=1.0)), password)

    # -- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="state", markup=False)
        with Horizontal():
            with Vertical(id="side"):
                yield Label("", id="me", markup=False)
                yield ContactList(id="contacts")
            with Vertical(id="main"):
                yield Label("", id="talk-title", markup=False)
                yield Conversation(id="talk")
                yield MessageLine(placeholder="choose a contact first", id="compose")
        yield Footer(compact=True)

    @property
    def contact_list(self) -> ContactList:
        return self.query_one("#contacts", ContactList)

    @property
    def conversation(self) -> Conversation:
        return self.query_one("#talk", Conversation)

    def on_mount(self) -> None:
        self.sub_title = f"{self.client.user} @ {self.where}"
        self.contact_list.focus()
        self.refresh_view()
        self.run_worker(self._session(), name="session")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F5 is offered only while signed out; keys that ask the server, only online."""
        if action == "sign_in":
            return self.state.can_sign_in
        if action in NEEDS_SERVER:
            return self.state.online
        return True

    # -- the session: sign in, then follow the events ------------------------------

    async def _session(self) -> None:
        """The first sign-in: a refusal here ends the program (status 3 or 4)."""
        path = socket_path(self.client.host, self.client.port, self.client.user)
        try:
            await self._sign_in()
        except ImipError as error:
            message, status = explain(error, server=self.where, user=self.client.user)
            self.exit(status, status, f"imip chat: {message}")
            return
        self._offer = await offer(path, self._send_handed_over)
        await self._follow()

    async def _sign_in(self) -> None:
        client = self.client
        self._show_state(SessionState(State.CONNECTING, self.where))
        await client.open()
        self.roster.me = client.user
        await self._load_lists()
        await client.set_presence(self.my_presence, self.my_text)
        self._show_state(SessionState(State.ONLINE))

    async def _sign_in_again(self, password: str) -> None:
        """A new connection after the last one ended for good (F5, or after a replacement)."""
        self.client = self._client_for(password)
        try:
            await self._sign_in()
        except ImipError as error:
            self._show_state(refused(error, server=self.where, user=self.client.user))
            return
        await self._follow()

    async def _follow(self) -> None:
        async for event in self.client.events():
            await self._on_event(event)

    async def _load_lists(self) -> None:
        self.roster.load_contacts(await self.client.contacts())
        self.roster.load_blocked(await self.client.blocked())
        self.refresh_view()

    def _show_state(self, state: SessionState) -> None:
        self.state = state
        self.refresh_bindings()
        self.refresh_view()

    async def _on_event(self, event: Event) -> None:
        self.roster.apply(event)
        if isinstance(event, MessageReceived) and self.roster.current != event.sender.lower():
            self.notify(f"{event.sender}: {event.text[:60]}", title="Message")
        elif isinstance(event, PermissionRequested):
            self.notify(f"{event.requester} asks to see your presence: "
                        "select the request and press Enter", title="Request")
        elif isinstance(event, Disconnected):
            self._disconnected(event)
        elif isinstance(event, Reconnected):
            self._show_state(SessionState(State.ONLINE))
            try:
                await self._load_lists()
            except ImipError as error:
                log.info("reloading the lists failed: %s", error)
        self.refresh_view()

    def _disconnected(self, event: Disconnected) -> None:
        self.roster.connection_lost()
        if event.will_reconnect:
            self._show_state(SessionState(State.RECONNECTING, event.reason))
            return
        # replaced: most likely a one-shot login of this user elsewhere, so come back once
        # it has ended; unless this is the second time soon, when two clients would fight
        recently = self._returned_at is not None and \
            time.monotonic() - self._returned_at < FIGHT_WINDOW
        self._show_state(ended(event, server=self.where, user=self.client.user,
                               back_in=None if recently else RETURN_AFTER))
        if self.state.state is State.RETURNING:
            self.run_worker(self._return_after_replacement(), group="session")

    async def _return_after_replacement(self) -> None:
        await asyncio.sleep(RETURN_AFTER)
        if self.state.state is State.RETURNING:
            self._returned_at = time.monotonic()
            await self._sign_in_again(self._password)

    # -- notices ----------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "",
               severity: SeverityLevel = "information", timeout: float | None = None,
               markup: bool = False) -> None:
        """A notice; its text is never read as markup (it holds what other people wrote)."""
        super().notify(message, title=title, severity=severity, timeout=timeout,
                       markup=markup)

    def _on_notify(self, event: Notify) -> None:
        """At most ``MAX_NOTICES`` at once, the oldest going first: a burst of messages
        never stacks down onto the message line."""
        super()._on_notify(event)
        for old in list(self._notifications)[:-MAX_NOTICES]:
            self._unnotify(old)

    # -- drawing ------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Draw the own state, the roster, the open conversation and its title."""
        banner = self.query_one("#state", Label)
        banner.update(self.state.banner())
        banner.display = not self.state.online
        self.contact_list.show(self.roster)
        if self.state.online:
            me = PRESENCE_NAME[self.my_presence] if self.my_presence is not Presence.OFFLINE \
                else "Appear offline"
            if self.my_text:
                me += f": {self.my_text}"
        else:
            me = self.state.state.word
        self.query_one("#me", Label).update(f"{self.client.user}: {me}")
        person = self.roster.find(self.roster.current) if self.roster.current else None
        title = "Choose a contact, press Enter"
        if person is not None and person.key == key_of(self.roster.me):
            title = f"{person.user} — notes to yourself"
        elif person is not None:
            title = f"{person.label} ({person.user}) — {presence_text(person)}"
            if person.label == person.user:
                title = f"{person.user} — {presence_text(person)}"
        self.query_one("#talk-title", Label).update(title)
        self.conversation.show(person)
        unread = self.roster.unread
        self.title = f"imip chat ({unread} unread)" if unread else "imip chat"

    def _redraw_conversation(self) -> None:
        current = self.roster.current
        self.conversation.redraw(self.roster.find(current) if current else None)

    # -- doing things: each request runs in a worker --------------------------------------

    def _do(self, action: Callable[[], Awaitable[Any]], done: str = "") -> None:
        async def run() -> None:
            try:
                await action()
            except ConnectionClosed:
                self.notify(f"not done: you are {self.state.state.word}", severity="error")
            except ImipError as error:
                self.notify(str(error.reason), title="Refused", severity="error")
            except ValueError as error:  # e.g. a user name with a space: not writable
                self.notify(str(error), title="Not sent", severity="error")
            else:
                if done:
                    self.notify(done)
            self.refresh_view()

        self.run_worker(run(), group="requests", exit_on_error=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list is not self.contact_list:
            return
        selected = self.contact_list.selected_key()
        if selected is None:
            return
        kind, key = selected
        if kind == "request":
            self._answer_request(key)
        else:
            compose = self.query_one("#compose", Input)
            before = self.roster.find(self.roster.current) if self.roster.current else None
            if before is not None:  # each conversation keeps what was typed in it
                before.draft = compose.value
            person = self.roster.open(key)
            compose.value, person.draft = person.draft, ""
            self.refresh_view()
            compose.placeholder = f"to {person.user}; Enter sends"
            compose.focus()

    def _answer_request(self, key: str) -> None:
        request = self.roster.requests.get(key)
        if request is None:
            return
        requester = self.roster.find(request.requester)
        ask_back = requester is None or not (requester.contact or requester.blocked)
        user = request.requester

        def answered(choice: str | None) -> None:
            if choice == "decline":
                self.roster.answered(user)
                self._do(lambda: self.client.decline(request))
            elif choice == "ask":
                async def ask() -> None:
                    await self.client.request_contact(user)
                    self.roster.requested(user)

                self._do(ask, f"asked {user} to see their presence")

        self.push_screen(RequestDialog(request, ask_back=ask_back), answered)

    def on_request_dialog_granted(self, message: RequestDialog.Granted) -> None:
        request = message.request
        self.roster.answered(request.requester)
        self._do(lambda: self.client.grant(request),
                 f"{request.requester} may now see your presence")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "compose":
            return
        text = event.value
        current = self.roster.find(self.roster.current) if self.roster.current else None
        if current is None:
            self.notify("choose a contact first (Esc, ↑↓, Enter)", severity="warning")
            return
        if not text.strip():
            return
        if not self.client.connected:  # the text stays in the line, to send later
            self.notify(f"not sent: you are {self.state.state.word}", severity="error")
            return
        event.input.value = ""
        self._do(lambda: self._send(current.user, text))

    async def _send(self, to: str, text: str) -> Delivery:
        """Send, with the line in the conversation and its outcome noted there."""
        line = self.roster.sent(to, text)
        self.refresh_view()
        try:
            delivery = await self.client.send_message(to, text)
        except ImipError as error:
            self.roster.outcome(line, None, error.reason)
            raise
        else:
            self.roster.outcome(line, delivery)
            return delivery
        finally:
            self._redraw_conversation()

    async def _send_handed_over(self, to: str, text: str) -> Delivery:
        """A message ``imip send`` handed to this session (``imipd.client.handoff``)."""
        if not self.client.connected:
            raise ConnectionClosed("not connected")  # imip send then logs in by itself
        self.notify(f"to {to}: {text[:60]}", title="Sent by imip send")
        return await self._send(to, text)

    # -- actions bound to keys ---------------------------------------------------------

    def _selected_person(self) -> str:
        selected = self.contact_list.selected_key()
        if selected is None:
            return ""
        kind, key = selected
        if kind == "request":
            request = self.roster.requests.get(key)
            return request.requester if request else ""
        person = self.roster.find(key)
        return person.user if person else ""

    def action_focus_contacts(self) -> None:
        self.contact_list.focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_add_contact(self) -> None:
        def add(answer: tuple[str, str] | None) -> None:
            if answer is None:
                return
            user, text = answer
            if key_of(user) == key_of(self.roster.me):
                self.notify("you always see your own presence", severity="warning")
                return

            async def ask() -> None:
                await self.client.request_contact(user, text)
                self.roster.requested(user)

            self._do(ask, f"asked {user} for permission")

        self.push_screen(AddContactDialog(), add)

    def action_remove_contact(self) -> None:
        user = self._selected_person()
        person = self.roster.find(user) if user else None
        if person is None or not person.contact:
            self.notify("select a contact to remove", severity="warning")
            return

        def remove(yes: bool | None) -> None:
            if not yes:
                return

            async def run() -> None:
                await self.client.remove_contact(person.user)
                self.roster.removed(person.user)

            self._do(run, f"removed {person.user}")

        self.push_screen(ConfirmDialog(f"Remove {person.user} from your contacts?"), remove)

    def action_block(self) -> None:
        def toggle(user: str | None) -> None:
            if not user:
                return
            person = self.roster.find(user)
            blocked = person is not None and person.blocked

            async def run() -> None:
                if blocked:
                    await self.client.unblock(user)
                else:
                    await self.client.block(user)
                self.roster.set_blocked(user, not blocked)

            self._do(run, f"{'unblocked' if blocked else 'blocked'} {user}")

        self.push_screen(NameDialog("Block someone (or unblock, if they are blocked)",
                                    self._selected_person()), toggle)

    def action_presence(self) -> None:
        def choose(answer: tuple[Presence, str] | None) -> None:
            if answer is None:
                return
            presence, text = answer

            async def run() -> None:
                await self.client.set_presence(presence, text)
                self.my_presence, self.my_text = presence, text

            self._do(run)

        self.push_screen(PresenceDialog(self.my_presence, self.my_text), choose)

    def action_sign_in(self) -> None:
        if not self.state.can_sign_in:
            return

        def sign_in(password: str | None) -> None:
            if not password:
                return
            self._password = password
            self._show_state(SessionState(State.CONNECTING, self.where))
            self.run_worker(self._sign_in_again(password), group="session")

        if self.state.f5 is F5.NEW_PASSWORD:
            self.push_screen(PasswordDialog(self.client.user), sign_in)
        else:
            sign_in(self._password)

    async def action_quit(self) -> None:
        """Say goodbye to the server (``DISC``), then leave."""
        self.sub_title = "saying goodbye…"
        await self._close()
        self.exit(0)

    async def on_unmount(self) -> None:
        await self._close()

    async def _close(self) -> None:
        offered, self._offer = self._offer, None
        if offered is not None:
            await offered.close()
        await self.client.close()
