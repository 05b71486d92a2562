"""The terminal client's roster: who is listed where, unread counts, requests."""

from __future__ import annotations

from datetime import UTC, datetime

from imipd.chat import Roster
from imipd.client import (
    BlockedUser,
    Contact,
    Delivery,
    MessageReceived,
    PermissionRequested,
    Presence,
    PresenceChanged,
)


def test_contacts_are_listed_online_first_then_pending_then_strangers_and_blocked() -> None:
    roster = Roster()
    roster.load_contacts([Contact("zed", "Zed", Presence.ONLINE),
                          Contact("amy", "Amy", Presence.OFFLINE),
                          Contact("bob", "Bob", Presence.AWAY),
                          Contact("cat", "Cat", Presence.OFFLINE, pending=True)])
    roster.load_blocked([BlockedUser("eve", "Eve")])
    roster.apply(MessageReceived("stranger", "hello"))
    assert [p.user for p in roster.listed()] == ["zed", "bob", "amy", "cat", "stranger", "eve"]
    roster.apply(PresenceChanged("cat", Presence.BUSY, "busy busy"))  # cat said yes
    cat = roster.find("CAT")
    assert cat is not None and (cat.pending, cat.presence, cat.text) == (
        False, Presence.BUSY, "busy busy")
    roster.load_contacts([Contact("zed", "Zed", Presence.ONLINE)])  # the others were removed
    assert [p.user for p in roster.listed()] == ["zed", "stranger", "eve"]
    # someone who wrote and then asks for permission stays reachable meanwhile
    roster.apply(PermissionRequested("stranger", "Stranger", "let me in", "7"))
    assert [p.user for p in roster.listed()] == ["zed", "stranger", "eve"]


def test_unread_counts_follow_the_open_conversation() -> None:
    roster = Roster()
    roster.apply(MessageReceived("bob", "one"))
    roster.apply(MessageReceived("Bob", "two", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)))
    bob = roster.find("bob")
    assert bob is not None and bob.unread == 2 and roster.unread == 2
    assert bob.lines[1].when == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    roster.open("bob")
    assert bob.unread == 0
    roster.apply(MessageReceived("bob", "three"))
    assert bob.unread == 0 and len(bob.lines) == 3
    line = roster.sent("bob", "four")
    assert line.mine and line.note == "sending"
    roster.outcome(line, Delivery.STORED)
    assert line.note == "stored"
    roster.outcome(line, None, "no such user")
    assert line.note == "not sent: no such user"


def test_requests_wait_for_an_answer_and_vanish_on_a_lost_connection() -> None:
    roster = Roster()
    request = PermissionRequested("carol", "Carol", "hi", "7")
    roster.apply(request)
    assert roster.requests == {"carol": request}
    assert roster.answered("CAROL") == request and roster.requests == {}
    roster.apply(request)
    roster.apply(PresenceChanged("bob", Presence.ONLINE))
    roster.connection_lost()
    assert roster.requests == {}
    bob = roster.find("bob")
    assert bob is not None and bob.presence is Presence.OFFLINE
