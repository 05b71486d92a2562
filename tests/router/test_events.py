"""The events a router carries: immutable values with an explicit encoding."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imipd.router import KickEvent, MessageEvent, PresenceEvent, RequestEvent, WaitingEvent
from imipd.router.events import HANDED_BACK, WAITING, BadEvent, Event, decode, encode

texts = st.text()
events: st.SearchStrategy[Event] = st.one_of(
    st.builds(MessageEvent, texts, st.binary(), st.integers(0, 2**63 - 1), st.none() | texts),
    st.builds(PresenceEvent, texts, st.sampled_from(["ONLINE", "AWAY", "BUSY", "OFFLINE"]),
              st.binary(), st.integers(min_value=0, max_value=2**62), st.booleans()),
    st.builds(RequestEvent, texts, texts, st.binary(),
              st.floats(allow_nan=False, allow_infinity=False)),
    st.builds(KickEvent, texts),
    st.just(WAITING),
    st.just(HANDED_BACK),
)


@given(events)
def test_every_event_survives_its_encoding(event: Event) -> None:
    data = encode(event)
    assert b"\n" not in data  # one line: fit for a pub/sub message or a log
    back = decode(data)
    assert type(back) is type(event) and back == event


def test_the_encoding_is_readable() -> None:
    assert encode(MessageEvent("alice", b"hi", 1 << 40 | 7)) == (
        b'{"kind":"message","sender":"alice","body":"aGk=","id":1099511627783,"date":null}')
    assert encode(WaitingEvent()) == b'{"kind":"waiting"}'


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[]", b'{"kind":"nope"}', b'{"kind":"kick"}',
    b'{"kind":"kick","reason":5}',
    b'{"kind":"message","sender":"a","body":"!!","id":1,"date":null}',
    b'{"kind":"message","sender":"a","body":"","id":"1","date":null}',
    b'{"kind":"presence","user":"a","presence":"ONLINE","text":"","version":true,'
    b'"always":false}',
    b'{"kind":"kick","reason":"x","extra":1}',
])
def test_anything_else_is_a_bad_event(data: bytes) -> None:
    with pytest.raises(BadEvent):
        decode(data)


def test_events_are_immutable() -> None:
    event = MessageEvent("alice", b"hi", 1)
    with pytest.raises(AttributeError):
        event.sender = "mallory"  # type: ignore[misc]
    assert not dataclasses.is_dataclass(event)
