"""The two panes of the terminal client: the contact list and the conversation.

Both only render a :class:`~imipd.chat.roster.Roster`; they hold no state of their own
beyond what is on screen (the highlighted entry survives a refresh).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Input, OptionList, RichLog
from textual.widgets.option_list import Option

from ..client import Presence
from .roster import Line, Person, Roster, now

SYMBOL = {
    Presence.ONLINE: ("●", "green"),
    Presence.AWAY: ("◐", "yellow"),
    Presence.BUSY: ("⊖", "red"),
    Presence.OFFLINE: ("○", "grey50"),
}
PRESENCE_NAME = {
    Presence.ONLINE: "Online",
    Presence.AWAY: "Away",
    Presence.BUSY: "Busy",
    Presence.OFFLINE: "Offline",
}

REQUEST_PREFIX = "request:"
PERSON_PREFIX = "person:"


def presence_text(person: Person) -> str:
    """``Away: at lunch``, ``waiting for permission``, ``blocked``, …"""
    if person.blocked:
        return "blocked"
    if person.pending:
        return "waiting for permission"
    if not person.contact:
        return "not in your contacts"
    name = PRESENCE_NAME[person.presence]
    return f"{name}: {person.text}" if person.text else name


def person_prompt(person: Person) -> Text:
    if person.blocked:
        symbol, style = "⊘", "red"
    elif person.pending:
        symbol, style = "?", "grey50"
    elif not person.contact:
        symbol, style = "·", "grey50"
    else:
        symbol, style = SYMBOL[person.presence]
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{symbol} ", style=style)
    line.append(person.label, style="bold" if person.unread else "")
    if person.unread:
        line.append(f" ({person.unread})", style="bold magenta")
    if person.text and person.contact and not person.blocked:
        line.append(f" {person.text}", style="grey50 italic")
    return line


class ContactList(OptionList):
    """Requests first, then contacts (online first), then others who wrote or are blocked."""

    DEFAULT_CSS = """
    ContactList { height: 1fr; border: none; padding: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select", "Open")]

    def show(self, roster: Roster) -> None:
        """Rebuild from ``roster``, keeping the highlighted entry where it was."""
        keep = self.highlighted_option.id if self.highlighted_option is not None else None
        options: list[Option] = []
        for key, request in roster.requests.items():
            prompt = Text(no_wrap=True, overflow="ellipsis")
            prompt.append("+ ", style="bold cyan")
            prompt.append(f"{request.nick or request.requester} asks to add you",
                          style="cyan")
            options.append(Option(prompt, id=REQUEST_PREFIX + key))
        for person in roster.listed():
            options.append(Option(person_prompt(person), id=PERSON_PREFIX + person.key))
        self.set_options(options)
        ids = [option.id for option in options]
        if keep in ids:
            self.highlighted = ids.index(keep)
        elif options:
            self.highlighted = 0

    def selected_key(self) -> tuple[str, str] | None:
        """(``request`` or ``person``, key) of the highlighted entry."""
        option = self.highlighted_option
        if option is None or option.id is None:
            return None
        kind, _, key = option.id.partition(":")
        return kind, key


def render_line(line: Line) -> Text:
    text = Text()
    text.append(line.when.strftime("%H:%M" if _today(line) else "%d %b %H:%M"),
                style="grey50")
    text.append(" ")
    text.append("me" if line.mine else (line.sender or "*"),
                style="bold blue" if line.mine else "bold green")
    text.append(": ")
    text.append(line.text)
    if line.note:
        style = "red" if line.note.startswith("not sent") else "grey50 italic"
        text.append(f"  ({line.note})", style=style)
    return text


def _today(line: Line) -> bool:
    return line.when.date() == now().date()


class Conversation(RichLog):
    """The lines of one conversation, with timestamps, oldest first."""

    DEFAULT_CSS = """
    Conversation { height: 1fr; border: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(wrap=True, min_width=20, markup=False, id=id)
        self.shown: str | None = None
        self.count = 0

    def show(self, person: Person | None) -> None:
        """Show ``person``'s conversation; only new lines are written when it is already shown."""
        key = person.key if person is not None else None
        if key != self.shown or person is None or len(person.lines) < self.count:
            self.clear()
            self.shown, self.count = key, 0
        if person is None:
            return
        for line in person.lines[self.count:]:
            self.write(render_line(line))
        self.count = len(person.lines)

    def redraw(self, person: Person | None) -> None:
        """Write every line again (a note changed)."""
        self.shown = None
        self.show(person)


class MessageLine(Input):
    """Where a message is typed; its footer entry says that Enter sends. Coming back to it
    leaves a draft as it was (not selected, so the next key does not replace it)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Send")]

    def __init__(self, *, placeholder: str, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id, select_on_focus=False)
