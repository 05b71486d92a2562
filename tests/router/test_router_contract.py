"""The ``Router`` contract: what every router must do, written against the interface only.

The endpoints are recorders that answer as they are told: the router's job is to hand
each event to the right session and report what that session said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from imipd.router import (
    OFFLINE,
    OFFLINE_VIEW,
    Event,
    KickEvent,
    MessageEvent,
    Outcome,
    PresenceEvent,
    RequestEvent,
    Router,
    SessionInfo,
    delivered,
)

REPLACED = KickEvent("logged in from another place")


class Recorder:
    """An endpoint that keeps what it is handed and answers ``outcome``."""

    def __init__(self, name: str, outcome: Outcome = Outcome.TAKEN) -> None:
        self.name = name
        self.outcome = outcome
        self.events: list[Event] = []

    def accept(self, event: Event) -> Outcome:
        self.events.append(event)
        return self.outcome

    def info(self) -> SessionInfo:
        return SessionInfo(self.name, f"nick {self.name}", True, "ONLINE", "192.0.2.1",
                           f"c-{self.name}")

    def presences(self) -> list[tuple[str, str, bytes, int]]:
        return [(e.user, e.presence, e.text, e.version) for e in self.events
                if isinstance(e, PresenceEvent)]


def run(router: Router, body: Callable[[Router], Awaitable[None]]) -> None:
    asyncio.run(body(router))


async def online(router: Router, *names: str) -> dict[str, Recorder]:
    """A live session for each user."""
    sessions = {name: Recorder(name) for name in names}
    for name, session in sessions.items():
        assert not await router.attach(name, session, REPLACED)
    return sessions


# -- delivery --------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", list(Outcome))
def test_delivery_reports_what_the_recipient_said(router: Router, outcome: Outcome) -> None:
    async def body(router: Router) -> None:
        bob = Recorder("bob", outcome)
        await router.attach("bob", bob, REPLACED)
        message = MessageEvent("alice", b"hi", 1)
        assert await delivered(router.deliver("bob", message)) is outcome
        assert bob.events == [message]

    run(router, body)


def test_delivery_to_a_user_without_a_session(router: Router) -> None:
    async def body(router: Router) -> None:
        await online(router, "bob")
        assert await delivered(router.deliver("carol", MessageEvent("alice", b"hi", 1))) is (
            Outcome.NOT_ONLINE)

    run(router, body)


def test_every_kind_of_event_arrives_as_it_was_sent(router: Router) -> None:
    async def body(router: Router) -> None:
        bob = (await online(router, "bob"))["bob"]
        events: list[Event] = [
            MessageEvent("alice", b"\x00\xff", 2, "Sun, 29 Nov 2026 15:24:07 +0000"),
            PresenceEvent("alice", "AWAY", b"lunch", 7, always=True),
            RequestEvent("Alice", "Ally", b"may I?", 1.5),
            KickEvent("password changed"),
        ]
        for event in events:
            assert await delivered(router.deliver("bob", event)) is Outcome.TAKEN
        assert bob.events == events

    run(router, body)


# -- sessions: takeover, detach, kick --------------------------------------------------------


def test_a_second_session_takes_over_and_the_first_is_told(router: Router) -> None:
    async def body(router: Router) -> None:
        first, second = Recorder("alice"), Recorder("alice")
        assert not await router.attach("alice", first, REPLACED)
        assert await router.attach("alice", second, REPLACED)
        assert first.events == [REPLACED]
        await delivered(router.deliver("alice", MessageEvent("bob", b"to the new one", 3)))
        assert second.events == [MessageEvent("bob", b"to the new one", 3)]
        assert not await router.detach("alice", first, "alice", ())  # replaced: nothing
        assert await delivered(router.deliver("alice", MessageEvent("bob", b"x", 4))) is (
            Outcome.TAKEN)
        assert await router.detach("alice", second, "alice", ())
        assert await delivered(router.deliver("alice", MessageEvent("bob", b"x", 4))) is (
            Outcome.NOT_ONLINE)
        assert len(router) == 0

    run(router, body)


def test_attaching_the_same_session_again_replaces_nothing(router: Router) -> None:
    async def body(router: Router) -> None:
        alice = Recorder("alice")
        await router.attach("alice", alice, REPLACED)
        assert not await router.attach("alice", alice, REPLACED)
        assert alice.events == []

    run(router, body)


def test_kick_ends_the_users_session_wherever_it_is(router: Router) -> None:
    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob")
        assert await router.kick("alice", "account deleted") == 1
        assert sessions["alice"].events == [KickEvent("account deleted")]
        assert sessions["bob"].events == []
        assert await router.kick("carol", "account deleted") == 0
        sessions["bob"].outcome = Outcome.NOT_ONLINE  # ending already
        assert await router.kick("bob", "account deleted") == 0

    run(router, body)


def test_sessions_lists_what_the_sessions_say(router: Router) -> None:
    async def body(router: Router) -> None:
        assert router.sessions() == [] and len(router) == 0
        await online(router, "alice", "bob")
        assert sorted(info.name for info in router.sessions()) == ["alice", "bob"]
        assert len(router) == 2

    run(router, body)


# -- presence: views and versions -------------------------------------------------------


def test_a_user_never_seen_online_is_offline(router: Router) -> None:
    async def body(router: Router) -> None:
        assert await router.views(["alice", "bob"]) == {"alice": OFFLINE_VIEW,
                                                         "bob": OFFLINE_VIEW}

    run(router, body)


def test_publish_shows_the_watchers_and_versions_grow(router: Router) -> None:
    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob", "carol")
        first = await router.publish("alice", "Alice", "ONLINE", b"hi", ["bob", "carol"],
                                     after=OFFLINE_VIEW.version)
        assert first is not None and first.version > 0
        assert (await router.views(["alice"]))["alice"] == first
        second = await router.publish("alice", "Alice", "AWAY", b"", ["bob"],
                                      after=first.version)
        assert second is not None and second.version > first.version
        assert sessions["bob"].presences() == [("Alice", "ONLINE", b"hi", first.version),
                                               ("Alice", "AWAY", b"", second.version)]
        # carol was shown alice online: she sees the change too, though no longer listed
        assert sessions["carol"].presences() == [("Alice", "ONLINE", b"hi", first.version),
                                                 ("Alice", "AWAY", b"", second.version)]
        assert sessions["alice"].events == []

    run(router, body)


def test_a_change_based_on_a_stale_view_is_refused(router: Router) -> None:
    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob")
        first = await router.publish("alice", "alice", "ONLINE", b"", ["bob"], after=0)
        assert first is not None
        newer = await router.publish("alice", "alice", "BUSY", b"", ["bob"], after=first.version)
        assert newer is not None
        assert await router.publish("alice", "alice", "AWAY", b"", ["bob"],
                                    after=first.version) is None
        assert (await router.views(["alice"]))["alice"] == newer
        assert [p[1] for p in sessions["bob"].presences()] == ["ONLINE", "BUSY"]

    run(router, body)


def test_detach_shows_the_user_offline_at_once(router: Router) -> None:
    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob", "carol")
        shown = await router.publish("alice", "alice", "ONLINE", b"x", ["bob"], after=0)
        assert shown is not None
        assert await router.detach("alice", sessions["alice"], "alice", ["bob", "carol"])
        assert not (await router.views(["alice"]))["alice"].online
        user, presence, text, version = sessions["bob"].presences()[-1]
        assert (user, presence, text) == ("alice", OFFLINE, b"") and version > shown.version
        assert sessions["carol"].presences() == [("alice", OFFLINE, b"", version)]

    run(router, body)


def test_a_new_session_after_a_detach_gets_a_newer_version(router: Router) -> None:
    """What an old session's end shows can never hide what a new login shows later."""

    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob")
        before = await router.publish("alice", "alice", "ONLINE", b"", ["bob"], after=0)
        assert before is not None
        await router.detach("alice", sessions["alice"], "alice", ["bob"])
        await router.attach("alice", Recorder("alice"), REPLACED)
        current = (await router.views(["alice"]))["alice"]
        again = await router.publish("alice", "alice", "ONLINE", b"", ["bob"],
                                     after=current.version)
        assert again is not None
        versions = [p[3] for p in sessions["bob"].presences()]
        assert versions == sorted(versions) and len(set(versions)) == 3

    run(router, body)


def test_a_takeover_keeps_what_watchers_see(router: Router) -> None:
    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob")
        shown = await router.publish("alice", "alice", "BUSY", b"t", ["bob"], after=0)
        await router.attach("alice", Recorder("alice"), REPLACED)
        assert (await router.views(["alice"]))["alice"] == shown
        assert not await router.detach("alice", sessions["alice"], "alice", ["bob"])
        assert (await router.views(["alice"]))["alice"] == shown
        assert len(sessions["bob"].presences()) == 1

    run(router, body)


def test_show_to_one_watcher(router: Router) -> None:
    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob", "carol")
        bob = sessions["bob"]
        await router.show_to("alice", "alice", "bob", hidden=False, always=False)
        assert bob.events == []  # offline, and not always: nothing to show
        await router.show_to("alice", "alice", "bob", hidden=False, always=True)
        assert bob.presences() == [("alice", OFFLINE, b"", 0)]  # a grant shows even that
        view = await router.publish("alice", "alice", "AWAY", b"out", ["carol"], after=0)
        assert view is not None
        await router.show_to("alice", "alice", "bob", hidden=True, always=False)
        assert bob.presences()[-1] == ("alice", OFFLINE, b"", view.version)  # blocked
        await router.show_to("alice", "alice", "bob", hidden=False, always=False)
        assert bob.presences()[-1] == ("alice", "AWAY", b"out", view.version)  # unblocked
        # shown online, bob is told when alice leaves (though not among the watchers given)
        await router.detach("alice", sessions["alice"], "alice", ["carol"])
        assert bob.presences()[-1][1] == OFFLINE

    run(router, body)


def test_a_hidden_or_unwatched_watcher_is_not_told_the_end(router: Router) -> None:
    async def body(router: Router) -> None:
        sessions = await online(router, "alice", "bob", "carol")
        await router.publish("alice", "alice", "ONLINE", b"", ["bob", "carol"], after=0)
        await router.show_to("alice", "alice", "bob", hidden=True, always=False)
        await router.unwatch("alice", "carol")
        bob_before = len(sessions["bob"].events)
        carol_before = len(sessions["carol"].events)
        await router.detach("alice", sessions["alice"], "alice", ())
        assert len(sessions["bob"].events) == bob_before
        assert len(sessions["carol"].events) == carol_before

    run(router, body)
