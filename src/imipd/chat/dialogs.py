"""The terminal client's pop-up dialogs, each a small keyboard-only modal screen.

Each dialog returns its answer through ``dismiss`` (None when cancelled with Esc), so
the app decides what to do with it; no dialog talks to the server.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..client import PermissionRequested, Presence
from .widgets import PRESENCE_NAME

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 60; max-width: 100%; height: auto; max-height: 100%;
    border: round $accent; background: $surface; padding: 0 1;
}}
{name} Label {{ width: 100%; }}
{name} .hint {{ color: $text-muted; }}
"""


def _css(name: str) -> str:
    return DIALOG_CSS.format(name=name)


class AddContactDialog(ModalScreen[tuple[str, str] | None]):
    """Ask someone for permission to see their presence: user name and a short text."""

    DEFAULT_CSS = _css("AddContactDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Add a contact: they are asked for permission")
            yield Input(placeholder="user name", id="user")
            yield Input(placeholder="a few words to them (optional)", id="text")
            yield Label("Enter: next / ask   Esc: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        user = self.query_one("#user", Input).value.strip()
        if event.input.id == "user" and user:
            self.query_one("#text", Input).focus()
        elif user:
            self.dismiss((user, self.query_one("#text", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class NameDialog(ModalScreen[str | None]):
    """One user name, e.g. whom to block or unblock (prefilled with the selection)."""

    DEFAULT_CSS = _css("NameDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(value=self.value, placeholder="user name")
            yield Label("Enter: ok   Esc: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class PasswordDialog(ModalScreen[str | None]):
    """A password, typed hidden, to sign in again after it was changed."""

    DEFAULT_CSS = _css("PasswordDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, user: str) -> None:
        super().__init__()
        self.user = user

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Password of {self.user}", markup=False)
            yield Input(password=True, placeholder="password")
            yield Label("Enter: sign in   Esc: cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value:
            self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question: y or Enter for yes, n or Esc for no."""

    DEFAULT_CSS = _css("ConfirmDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("y,enter", "answer(True)", "Yes"),
                                             Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Label("y / Enter: yes   n / Esc: no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class RequestDialog(ModalScreen[str | None]):
    """A permission request: g grants at once (:class:`Granted` goes to the app), d
    declines (``decline``), Esc answers later (None).

    Permission goes one way only, and people expect to see each other: after a grant
    the dialog offers to ask the requester for theirs when ``ask_back`` (``ask``; no
    answers ``granted``).
    """

    class Granted(Message):
        """The person granted ``request``: the app sends the answer now."""

        def __init__(self, request: PermissionRequested) -> None:
            super().__init__()
            self.request = request

    DEFAULT_CSS = _css("RequestDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("g", "grant", "Grant"),
                                             Binding("d", "decline", "Decline"),
                                             Binding("y,enter", "ask_back(True)", "Ask back"),
                                             Binding("n", "ask_back(False)", "Don't ask"),
                                             Binding("escape,l", "later", "Later")]

    def __init__(self, request: PermissionRequested, *, ask_back: bool = False) -> None:
        super().__init__()
        self.request = request
        self.ask_back = ask_back
        self.granted = False

    def compose(self) -> ComposeResult:
        request = self.request
        who = request.requester if request.nick in ("", request.requester) else \
            f"{request.nick} ({request.requester})"
        with Vertical():
            yield Label(f"{who} asks to see your presence.", markup=False, id="question")
            if request.text:
                yield Label(f"“{request.text}”", markup=False)
            yield Label("g: grant   d: decline   Esc: later", classes="hint", id="keys")

    def action_grant(self) -> None:
        if self.granted:
            return
        self.granted = True
        self.post_message(self.Granted(self.request))
        if not self.ask_back:
            self.dismiss("granted")
            return
        self.query_one("#question", Label).update(
            f"{self.request.requester} may see your presence now. Ask to see theirs too?")
        self.query_one("#keys", Label).update("y / Enter: ask   n / Esc: no")

    def action_decline(self) -> None:
        if not self.granted:
            self.dismiss("decline")

    def action_ask_back(self, yes: bool) -> None:
        if self.granted:
            self.dismiss("ask" if yes else "granted")

    def action_later(self) -> None:
        self.dismiss("granted" if self.granted else None)


class PresenceDialog(ModalScreen[tuple[Presence, str] | None]):
    """Choose online / away / busy / appear offline, and a status text."""

    DEFAULT_CSS = _css("PresenceDialog") + """
    PresenceDialog OptionList { height: auto; border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    CHOICES = (Presence.ONLINE, Presence.AWAY, Presence.BUSY, Presence.OFFLINE)

    def __init__(self, presence: Presence, text: str) -> None:
        super().__init__()
        self.presence = presence
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Your presence")
            yield OptionList(*(Option(self._label_for(p), id=p.value) for p in self.CHOICES))
            yield Input(value=self.text, placeholder="status text (optional)")
            yield Label("↑↓ choose  Tab text  Enter apply  Esc cancel", classes="hint")

    @staticmethod
    def _label_for(presence: Presence) -> str:
        return "Appear offline" if presence is Presence.OFFLINE else PRESENCE_NAME[presence]

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self.CHOICES.index(self.presence)
        options.focus()

    def _apply(self) -> None:
        index = self.query_one(OptionList).highlighted
        presence = self.CHOICES[index if index is not None else 0]
        self.dismiss((presence, self.query_one(Input).value.strip()))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply()

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
Keys (keyboard only)

 Tab, Shift+Tab  next / previous pane: contacts, conversation, message
 Up, Down        choose in the contact list
 Enter           open the conversation, answer a request, send
 Esc             back to the contact list
 Ctrl+N          add a contact (asks them for permission)
 Ctrl+R          remove the selected contact
 Ctrl+B          block or unblock someone
 Ctrl+P          status: online, away, busy, appear offline; a text
 F1              this help
 Ctrl+Q          quit (says goodbye to the server)

In a request: g grant (then y asks to see theirs too), d decline,
Esc answer later. F5 signs in again once the session has ended.
"""


class HelpScreen(ModalScreen[None]):
    """Every key of the terminal client."""

    DEFAULT_CSS = _css("HelpScreen") + """
    HelpScreen > Vertical { width: 76; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(HELP, markup=False)
            yield Label("Esc: close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
