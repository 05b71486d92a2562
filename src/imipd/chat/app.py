"""``ChatApp``: the full-screen terminal client behind ``imip chat``.

It wires three things together: a :class:`~imipd.client.Client` (the network), a
:class:`~imipd.chat.roster.Roster` (what is known), and the widgets (what is shown).
Every server request runs in a worker, so the screen never waits on the network.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, Label, OptionList

from ..client import (
    Backoff,
    Client,
    ConnectionClosed,
    Disconnected,
    Event,
    ImipError,
    LoginFailed,
    MessageReceived,
    PermissionRequested,
    Presence,
    RateLimited,
    Reconnected,
    connect,
)
from .dialogs import (
    AddContactDialog,
    ConfirmDialog,
    HelpScreen,
    NameDialog,
    PresenceDialog,
    RequestDialog,
)
from .roster import Roster
from .widgets import PRESENCE_NAME, ContactList, Conversation, presence_text

log = logging.getLogger("imipd.chat")

EXIT_LOGIN = 3
EXIT_CONNECTION = 4


class ChatApp(App[int]):
    """IMIP in a terminal: contacts with live presence, one conversation per contact."""

    TITLE = "imip chat"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #side { width: 30; border-right: solid $accent; }
    #me { height: 1; width: 100%; padding: 0 1; background: $boost; }
    #talk-title { height: 1; width: 100%; padding: 0 1; background: $boost; }
    #compose { dock: bottom; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "add_contact", "Add"),
        Binding("ctrl+r", "remove_contact", "Remove"),
        Binding("ctrl+b", "block", "Block"),
        Binding("ctrl+p", "presence", "Presence"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "focus_contacts", "Contacts", show=False),
    ]

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.roster = Roster()
        self.my_presence = Presence.ONLINE
        self.my_text = ""

    @classmethod
    def for_server(cls, host: str, port: int, user: str, password: str) -> ChatApp:
        """The app with its own client (reconnects with backoff; pings at Keep-Alive)."""
        return cls(connect(host, port, user, password, reconnect=Backoff(initial=1.0)))

    # -- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="side"):
                yield Label("", id="me", markup=False)
                yield ContactList(id="contacts")
            with Vertical(id="main"):
                yield Label("", id="talk-title", markup=False)
                yield Conversation(id="talk")
                yield Input(placeholder="choose a contact, then type here; Enter sends",
                            id="compose")
        yield Footer()

    @property
    def contact_list(self) -> ContactList:
        return self.query_one("#contacts", ContactList)

    @property
    def conversation(self) -> Conversation:
        return self.query_one("#talk", Conversation)

    def on_mount(self) -> None:
        self.sub_title = f"{self.client.user} — connecting to {self.client.host}…"
        self.contact_list.focus()
        self.run_worker(self._session(), name="session")

    # -- the session: log in, then follow the events -------------------------------

    async def _session(self) -> None:
        client = self.client
        try:
            await client.open()
            await self._load_lists()
            await client.set_presence(self.my_presence, self.my_text)
        except (LoginFailed, RateLimited) as error:
            self.exit(EXIT_LOGIN, EXIT_LOGIN, f"imip chat: login failed: {error}")
            return
        except ImipError as error:
            self.exit(EXIT_CONNECTION, EXIT_CONNECTION, f"imip chat: {error}")
            return
        self._connected(f"{client.user} @ {client.host}:{client.port}")
        async for event in client.events():
            await self._on_event(event)

    async def _load_lists(self) -> None:
        self.roster.load_contacts(await self.client.contacts())
        self.roster.load_blocked(await self.client.blocked())
        self.refresh_view()

    def _connected(self, where: str) -> None:
        self.sub_title = where
        self.refresh_view()

    async def _on_event(self, event: Event) -> None:
        self.roster.apply(event)
        if isinstance(event, MessageReceived) and self.roster.current != event.sender.lower():
            self.notify(f"{event.sender}: {event.text[:60]}", title="Message")
        elif isinstance(event, PermissionRequested):
            self.notify(f"{event.requester} asks to see your presence: "
                        "select the request and press Enter", title="Request")
        elif isinstance(event, Disconnected):
            self.roster.connection_lost()
            self.sub_title = ("reconnecting: " if event.will_reconnect else
                              "disconnected: ") + event.reason
            if not event.will_reconnect:
                self.notify(event.reason, title="Disconnected", severity="error")
        elif isinstance(event, Reconnected):
            self.sub_title = f"{self.client.user} @ {self.client.host}:{self.client.port}"
            try:
                await self._load_lists()
            except ImipError as error:
                log.info("reloading the lists failed: %s", error)
        self.refresh_view()

    # -- drawing ------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Draw the roster: list, own presence, the open conversation and its title."""
        self.contact_list.show(self.roster)
        me = PRESENCE_NAME[self.my_presence] if self.my_presence is not Presence.OFFLINE \
            else "Appear offline"
        if self.my_text:
            me += f": {self.my_text}"
        self.query_one("#me", Label).update(f"{self.client.user}: {me}")
        person = self.roster.find(self.roster.current) if self.roster.current else None
        title = "No conversation open: choose a contact, press Enter"
        if person is not None:
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
            except ConnectionClosed as error:
                self.notify(f"not connected: {error.reason}", severity="error")
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
            person = self.roster.open(key)
            self.refresh_view()
            compose = self.query_one("#compose", Input)
            compose.placeholder = f"message to {person.user}; Enter sends"
            compose.focus()

    def _answer_request(self, key: str) -> None:
        request = self.roster.requests.get(key)
        if request is None:
            return

        def answered(choice: str | None) -> None:
            if choice is None:
                return
            self.roster.answered(request.requester)
            if choice == "grant":
                self._do(lambda: self.client.grant(request),
                         f"{request.requester} may now see your presence")
            else:
                self._do(lambda: self.client.decline(request))

        self.push_screen(RequestDialog(request), answered)

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
        event.input.value = ""
        line = self.roster.sent(current.user, text, self.client.user)
        self.refresh_view()

        async def send() -> None:
            try:
                delivery = await self.client.send_message(current.user, text)
            except ImipError as error:
                self.roster.outcome(line, None, error.reason)
                raise
            else:
                self.roster.outcome(line, delivery)
            finally:
                self._redraw_conversation()

        self._do(send)

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

    async def action_quit(self) -> None:
        """Say goodbye to the server (``DISC``), then leave."""
        self.sub_title = "saying goodbye…"
        await self.client.close()
        self.exit(0)

    async def on_unmount(self) -> None:
        await self.client.close()
