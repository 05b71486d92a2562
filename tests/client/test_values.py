"""The client's pure parts: list and address parsing, errors by status, backoff, events."""

from __future__ import annotations

import itertools

import pytest

from imipd.client import (
    Backoff,
    BlockedUser,
    Contact,
    ImipError,
    LoginFailed,
    MessageReceived,
    NoSuchUser,
    NotPermitted,
    PermissionRequested,
    Presence,
    PresenceChanged,
    RateLimited,
    RequestRejected,
    ServerError,
    TooLarge,
    error_for,
    parse_server,
)
from imipd.client._dispatch import event_for
from imipd.client.values import parse_block_list, parse_buddy_list, split_name_nick
from imipd.protocol import Block, Status


def test_buddy_and_block_lists() -> None:
    body = (b'1000099 "Bob B." ONLINE\r\nalice "Alice" away\r\n'
            b'carol "Carol C" PENDING\r\n\r\nbroken line\r\ndave "D" WHATEVER\r\n')
    assert parse_buddy_list(body) == [
        Contact("1000099", "Bob B.", Presence.ONLINE),
        Contact("alice", "Alice", Presence.AWAY),
        Contact("carol", "Carol C", Presence.OFFLINE, pending=True),
    ]
    assert parse_buddy_list(b"") == []
    assert parse_block_list(b'bob "Bob"\r\neve "Eve Evil"\r\n') == [
        BlockedUser("bob", "Bob"), BlockedUser("eve", "Eve Evil")]


def test_name_and_nick() -> None:
    assert split_name_nick('alice "Alice Liddell"') == ("alice", "Alice Liddell")
    assert split_name_nick("alice") == ("alice", "alice")
    assert split_name_nick('alice "unterminated') == ("alice", "unterminated")


@pytest.mark.parametrize(("text", "expected"), [
    ("example.org", ("example.org", 11319)),
    ("example.org:1234", ("example.org", 1234)),
    ("127.0.0.1:11319", ("127.0.0.1", 11319)),
    ("[::1]:5", ("::1", 5)),
    ("[::1]", ("::1", 11319)),
    ("::1", ("::1", 11319)),
])
def test_server_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["", ":11319", "host:0", "host:70000", "host:x", "[::1",
                                  "bad:port:x", "host:1:2", "a b:5", "a\tb"])
def test_bad_server_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_server(text)


@pytest.mark.parametrize(("code", "kind"), [
    (800, RequestRejected), (803, RequestRejected), (811, LoginFailed), (812, LoginFailed),
    (813, LoginFailed), (820, NoSuchUser), (821, NotPermitted), (830, RateLimited),
    (850, TooLarge), (890, ServerError), (899, ImipError),
])
def test_one_error_class_per_status(code: int, kind: type[ImipError]) -> None:
    error = error_for(code, verb="MESG")
    assert type(error) is kind
    assert error.status == code and error.verb == "MESG"
    assert error.reason  # the status table's meaning when the server sent none
    assert str(error).startswith(f"{code} ")
    assert error_for(code, "told so").reason == "told so"
    if code != 899:
        assert isinstance(error.status, Status)


def test_backoff_grows_to_its_maximum_with_jitter() -> None:
    delays = list(itertools.islice(Backoff(initial=1, maximum=8, jitter=0.25).delays(), 6))
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling * 0.75 <= delay <= ceiling
    assert len(list(Backoff(attempts=3).delays())) == 3
    with pytest.raises(ValueError):
        Backoff(initial=2, maximum=1)


def test_pushed_blocks_become_events() -> None:
    assert event_for(Block("STAT", ("away",), (("From", "bob"), ("ID", "5")), b"lunch")) \
        == PresenceChanged("bob", Presence.AWAY, "lunch")
    assert event_for(Block("MESG", (), (("From", "bob"), ("ID", "6"), ("To", "al")), b"hi")) \
        == MessageReceived("bob", "hi", None, "al")
    assert event_for(Block("LIST", ("ADD",), (('From', 'bob "Bob B"'), ("ID", "7"),
                                              ("List", "Buddy")), b"let me")) \
        == PermissionRequested("bob", "Bob B", "let me", "7")
    unreadable_date = Block("MESG", (), (("Date", "yesterday"), ("From", "bob"), ("ID", "8")))
    assert event_for(unreadable_date) == MessageReceived("bob", "", None, "")
    # what the client does not understand is logged and skipped
    assert event_for(Block("STAT", ("DANCING",), (("From", "bob"), ("ID", "9")))) is None
    assert event_for(Block("ACK", ("803",), (("ID", "10"),))) is None
    assert event_for(Block("FOO", (), (("ID", "11"),))) is None


def test_the_library_loads_no_ui_and_no_server() -> None:
    import subprocess
    import sys

    code = ("import sys, imipd.client; "
            "bad = ('textual', 'imipd.server', 'imipd.core', 'imipd.store', 'imipd.chat', "
            "'imipd.cli'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in bad "
            "or '.'.join(m.split('.')[:2]) in bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
