"""What the terminal client knows and shows, without any widget: people, talks, requests.

The app feeds it the client's events and the lists the server returns; widgets only
render it. Keeping it free of Textual makes every rule here (unread counts, who is
listed where, which presence a person shows) plain data to test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..client import (
    BlockedUser,
    Contact,
    Delivery,
    Event,
    MessageReceived,
    PermissionRequested,
    Presence,
    PresenceChanged,
)

PRESENCE_ORDER = {Presence.ONLINE: 0, Presence.BUSY: 1, Presence.AWAY: 2, Presence.OFFLINE: 3}


def key_of(user: str) -> str:
    """User names match case-insensitively (IMIP: user names)."""
    return user.lower()


def now() -> datetime:
    return datetime.now().astimezone()


@dataclass
class Line:
    """One line of a conversation. ``sender`` is empty for a note from the client."""

    when: datetime
    sender: str
    text: str
    mine: bool = False
    note: str = ""
    """``stored``, or the error that stopped the message."""


@dataclass
class Person:
    """Someone in the list: a contact, someone blocked, or someone who wrote."""

    user: str
    nick: str = ""
    presence: Presence = Presence.OFFLINE
    text: str = ""
    contact: bool = False
    """In the buddy list (watched, or asked to be)."""
    pending: bool = False
    """Asked for permission, not given yet."""
    blocked: bool = False
    unread: int = 0
    lines: list[Line] = field(default_factory=list)
    draft: str = ""
    """What was typed to this person and not sent yet, while another conversation is open."""

    @property
    def key(self) -> str:
        return key_of(self.user)

    @property
    def label(self) -> str:
        """The nickname when it says more than the user name."""
        return self.nick if self.nick and key_of(self.nick) != self.key else self.user


class Roster:
    """Everything the terminal client shows, updated by events and list answers."""

    def __init__(self) -> None:
        self.me = ""
        """This user's name, as the server spells it (set at login)."""
        self._echoes: list[str] = []
        """Texts sent to oneself whose coming back is not shown again."""
        self.people: dict[str, Person] = {}
        self.requests: dict[str, PermissionRequested] = {}
        """Unanswered permission requests, by requester key."""
        self.current: str | None = None
        """Key of the conversation on screen."""

    def person(self, user: str, nick: str = "") -> Person:
        """The person named ``user``, added when new."""
        person = self.people.get(key_of(user))
        if person is None:
            person = self.people[key_of(user)] = Person(user, nick or user)
        elif nick:
            person.nick = nick
        return person

    def find(self, user: str) -> Person | None:
        return self.people.get(key_of(user))

    # -- from the server ---------------------------------------------------------------

    def load_contacts(self, contacts: list[Contact]) -> None:
        """The buddy list as the server has it now (replaces what was known of it)."""
        listed = {key_of(c.user) for c in contacts}
        for person in self.people.values():
            if person.key not in listed:
                person.contact = person.pending = False
                person.presence, person.text = Presence.OFFLINE, ""
        for contact in contacts:
            person = self.person(contact.user, contact.nick)
            person.contact = True
            person.pending = contact.pending
            if contact.presence is not person.presence:
                person.text = ""
            person.presence = contact.presence

    def load_blocked(self, blocked: list[BlockedUser]) -> None:
        keys = {key_of(b.user) for b in blocked}
        for person in self.people.values():
            person.blocked = person.key in keys
        for entry in blocked:
            self.person(entry.user, entry.nick).blocked = True

    def apply(self, event: Event) -> None:
        """Take in one event of the client (others than these three change nothing here)."""
        if isinstance(event, MessageReceived):
            if key_of(event.sender) == key_of(self.me) and event.text in self._echoes:
                self._echoes.remove(event.text)  # a note to oneself: shown once, as sent
                return
            person = self.person(event.sender)
            person.lines.append(Line(event.date.astimezone() if event.date else now(),
                                     person.user, event.text))
            if self.current != person.key:
                person.unread += 1
        elif isinstance(event, PresenceChanged):
            person = self.person(event.user)
            person.contact = True
            person.pending = False  # a presence comes only once permission is given
            person.presence, person.text = event.presence, event.text
        elif isinstance(event, PermissionRequested):
            self.requests[key_of(event.requester)] = event
            self.person(event.requester, event.nick)

    def connection_lost(self) -> None:
        """Nothing seen before is known to be true any more."""
        for person in self.people.values():
            person.presence, person.text = Presence.OFFLINE, ""
        self.requests.clear()  # they come again, with new IDs, at the next login

    # -- from the person at the keyboard ---------------------------------------------------

    def open(self, user: str) -> Person:
        """Show ``user``'s conversation: its unread count drops to zero."""
        person = self.person(user)
        self.current = person.key
        person.unread = 0
        return person

    def sent(self, to: str, text: str) -> Line:
        """A message this user sends; its ``note`` is filled in by :meth:`outcome`."""
        line = Line(now(), self.me, text, mine=True, note="sending")
        self.person(to).lines.append(line)
        if key_of(to) == key_of(self.me):
            self._echoes.append(text)
        return line

    @staticmethod
    def outcome(line: Line, delivery: Delivery | None, error: str = "") -> None:
        if error:
            line.note = f"not sent: {error}"
        elif delivery is Delivery.STORED:
            line.note = "stored"
        else:
            line.note = ""

    def requested(self, user: str) -> Person:
        """This user asked ``user`` for permission."""
        person = self.person(user)
        if not person.contact:
            person.contact, person.pending = True, True
        return person

    def answered(self, requester: str) -> PermissionRequested | None:
        return self.requests.pop(key_of(requester), None)

    def removed(self, user: str) -> None:
        person = self.person(user)
        person.contact = person.pending = False
        person.presence, person.text = Presence.OFFLINE, ""

    def set_blocked(self, user: str, blocked: bool) -> None:
        self.person(user).blocked = blocked

    # -- for the list on screen --------------------------------------------------------------

    def listed(self) -> list[Person]:
        """Contacts (online first, then by name), then others who wrote or are blocked."""
        contacts = sorted((p for p in self.people.values() if p.contact),
                          key=lambda p: (p.pending, PRESENCE_ORDER[p.presence], p.key))
        others = sorted((p for p in self.people.values()
                         if not p.contact and (p.lines or p.blocked)),
                        key=lambda p: (p.blocked, p.key))
        return contacts + others

    @property
    def unread(self) -> int:
        return sum(p.unread for p in self.people.values())
