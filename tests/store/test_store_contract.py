"""The ``Store`` contract: what every backend must do, written against the interface only."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from imipd.store import (
    Accepted,
    Account,
    AccountSummary,
    Asked,
    BlockChange,
    BlockedEntry,
    ContactEntry,
    Granted,
    KeptMessage,
    PendingRequest,
    Store,
    UserExists,
    WatchState,
)

from .backends import Backend

GRANTED = WatchState.GRANTED
PENDING = WatchState.PENDING


async def make_users(store: Store, *names: str) -> None:
    for name in names:
        await store.create_user(name, f"pw-{name}", f"nick {name}")


CAP = 10_000
FLIGHT = 7
"""The record of messages in flight these tests deliver stored messages to."""
new_id = itertools.count(1 << 40).__next__
"""Identities for the messages of these tests (as a node of incarnation 1 gives them)."""


async def make_granted(store: Store, watcher: str, target: str) -> None:
    await store.ask(watcher, target, b"please", time.time())
    assert await store.grant(watcher, target) is not None


async def request(store: Store, watcher: str, target: str, text: bytes, at: float) -> None:
    """A request that stays pending (the target had not asked the watcher)."""
    asked = await store.ask(watcher, target, text, at)
    assert asked is not None and not asked.granted_back


async def store_message(store: Store, sender: str, recipient: str, body: bytes,
                        at: float) -> int:
    """Store one message; its id."""
    assert await store.accept_message(new_id(), sender, recipient, body, at, CAP) is Accepted.STORED
    return max(m.id for m in await store.stored_messages(recipient, CAP))


async def names(store: Store) -> list[str]:
    return [summary.name for summary in await store.account_summaries()]


# -- accounts ---------------------------------------------------------------------


def test_create_user_returns_the_account_as_created(backend: Backend) -> None:
    async def body(store: Store) -> None:
        before = time.time()
        account = await store.create_user("Alice", "s3cret", "Ally")
        after = time.time()
        assert (account.name, account.nick) == ("Alice", "Ally")
        assert before <= account.created_at <= after
        assert account.key == "alice"
        assert await store.get_user("Alice") == account
        credentials = await store.credentials("ALICE")
        assert credentials is not None
        assert (credentials.account, credentials.password) == (account, "s3cret")

    backend.run(body)


def test_a_profile_carries_no_password(backend: Backend) -> None:
    async def body(store: Store) -> None:
        account = await store.create_user("alice", "s3cret", "Ally")
        assert not hasattr(account, "password")
        assert "s3cret" not in repr(await store.get_user("alice"))
        assert "s3cret" not in repr(await store.account_summaries())

    backend.run(body)


def test_names_match_in_any_casing(backend: Backend) -> None:
    async def body(store: Store) -> None:
        created = await store.create_user("McAlice", "pw", "n")
        for spelling in ("mcalice", "MCALICE", "mCaLiCe"):
            assert await store.get_user(spelling) == created

    backend.run(body)


@pytest.mark.parametrize("spelling", ["\u212aate", "\u212aATE", "kat\u0130"])
def test_names_match_in_ascii_case_only(backend: Backend, spelling: str) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "kate", "bob")
        assert await store.get_user(spelling) is None
        assert await store.credentials(spelling) is None
        assert await store.ask("bob", spelling, b"x", 1.0) is None
        assert await store.set_blocked("bob", spelling, True) is None
        assert await store.accept_message(new_id(), "bob", spelling, b"x", 1.0, CAP) is (
            Accepted.NO_SUCH_USER)
        assert await store.contacts("bob") == [] and await store.blocked("bob") == []

    backend.run(body)


def test_unknown_user_is_none(backend: Backend) -> None:
    async def body(store: Store) -> None:
        assert await store.get_user("nobody") is None
        assert await store.credentials("nobody") is None
        assert await store.account_summary("nobody") is None
        await make_users(store, "alice")
        assert await store.get_user("alicex") is None

    backend.run(body)


@pytest.mark.parametrize("clash", ["alice", "Alice", "ALICE", "aLiCe"])
def test_create_user_refuses_any_casing_clash(backend: Backend, clash: str) -> None:
    async def body(store: Store) -> None:
        original = await store.create_user("Alice", "first", "one")
        with pytest.raises(UserExists):
            await store.create_user(clash, "second", "two")
        assert await store.get_user("alice") == original
        assert await names(store) == ["Alice"]

    backend.run(body)


def test_concurrent_creations_of_one_name_make_one_account(backend: Backend) -> None:
    async def body(store: Store) -> None:
        results = await asyncio.gather(
            *(store.create_user(f"{'AlIcE'[:i]}{'alice'[i:]}", f"pw{i}", "n") for i in range(5)),
            return_exceptions=True)
        assert sum(isinstance(r, Account) for r in results) == 1
        assert sum(isinstance(r, UserExists) for r in results) == 4
        assert len(await store.account_summaries()) == 1

    backend.run(body)


def test_unicode_passwords_and_nicks_round_trip(backend: Backend) -> None:
    async def body(store: Store) -> None:
        created = await store.create_user("zoe", "pä$$ wörd 🔑", "«Zoë»")
        assert await store.get_user("ZOE") == created
        credentials = await store.credentials("zoe")
        assert credentials is not None and credentials.password == "pä$$ wörd 🔑"
        empty = await store.create_user("empty", "", "")
        assert await store.get_user("empty") == empty

    backend.run(body)


def test_summaries_are_ordered_by_key_with_waiting_counts(backend: Backend) -> None:
    async def body(store: Store) -> None:
        assert await store.account_summaries() == []
        await make_users(store, "carol", "Bob", "alice", "Dave")
        await store_message(store, "alice", "bob", b"1", 1.0)
        await store_message(store, "carol", "BOB", b"2", 2.0)
        await store_message(store, "bob", "dave", b"3", 3.0)
        summaries = await store.account_summaries()
        assert [(s.name, s.nick, s.waiting) for s in summaries] == [
            ("alice", "nick alice", 0), ("Bob", "nick Bob", 2), ("carol", "nick carol", 0),
            ("Dave", "nick Dave", 1)]
        bob = await store.get_user("bob")
        assert bob is not None
        assert await store.account_summary("BOB") == AccountSummary(
            "Bob", "nick Bob", 2, bob.created_at)

    backend.run(body)


def test_set_password(backend: Backend) -> None:
    async def body(store: Store) -> None:
        created = await store.create_user("Alice", "old", "n")
        assert await store.set_password("ALICE", "new")
        changed = await store.credentials("alice")
        assert changed is not None
        assert (changed.account, changed.password) == (created, "new")
        assert not await store.set_password("nobody", "x")

    backend.run(body)


def test_delete_user(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "bob")
        assert await store.delete_user("ALICE")
        assert await store.get_user("alice") is None
        assert not await store.delete_user("alice")
        assert await names(store) == ["bob"]
        recreated = await store.create_user("alice", "again", "n")
        assert await store.get_user("Alice") == recreated

    backend.run(body)


def test_delete_user_removes_everything_of_its_own(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "bob", "carol")
        await make_granted(store, "alice", "bob")
        await make_granted(store, "bob", "alice")
        await request(store, "carol", "alice", b"hi alice", 1.0)
        await store.ask("alice", "carol", b"hi carol", 2.0)  # grants carol's back
        await store.set_blocked("alice", "carol", True)
        await store.set_blocked("carol", "alice", True)
        await store_message(store, "bob", "alice", b"for alice", 3.0)
        sent = await store_message(store, "Alice", "bob", b"from alice", 4.0)

        assert await store.delete_user("alice")

        assert await store.contacts("bob") == []
        assert await store.watchers("bob") == []
        assert await store.pending_requests("bob") == []
        assert await store.contacts("carol") == []
        assert await store.pending_requests("carol") == []
        assert await store.blocked("carol") == []
        assert not await store.is_blocked("carol", "alice")
        assert await store.count_stored("alice") == 0
        assert [(m.id, m.sender, m.body) for m in await store.stored_messages("bob", 10)] == [
            (sent, "Alice", b"from alice")
        ]
        assert await store.count_stored() == 1

        await store.create_user("alice", "new", "a new alice")
        snapshot = await store.snapshot("alice")
        assert (snapshot.blocks, snapshot.watchers, snapshot.contacts, snapshot.requests) == (
            frozenset(), (), (), ())
        assert await store.stored_messages("alice", 10) == []
        assert await store.watch_state("bob", "alice") is None
        assert not await store.is_blocked("carol", "alice")

    backend.run(body)


# -- numbered accounts --------------------------------------------------------------


def test_numbered_users_count_up_from_first(backend: Backend) -> None:
    async def body(store: Store) -> None:
        one = await store.create_numbered_user("pw1", "first", 1000)
        two = await store.create_numbered_user("pw2", "second", 1000)
        assert (one.name, one.nick) == ("1000", "first")
        credentials = await store.credentials("1000")
        assert credentials is not None and credentials.password == "pw1"
        assert two.name == "1001"
        assert await store.get_user("1001") == two

    backend.run(body)


def test_numbered_users_skip_numbers_taken_by_hand(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "500", "501", "503")
        assert (await store.create_numbered_user("pw", "n", 500)).name == "502"
        assert (await store.create_numbered_user("pw", "n", 500)).name == "504"

    backend.run(body)


def test_numbered_users_follow_a_raised_first(backend: Backend) -> None:
    async def body(store: Store) -> None:
        assert (await store.create_numbered_user("pw", "n", 10)).name == "10"
        assert (await store.create_numbered_user("pw", "n", 2000)).name == "2000"
        assert (await store.create_numbered_user("pw", "n", 10)).name == "2001"

    backend.run(body)


def test_numbers_are_not_reused_after_deletion(backend: Backend) -> None:
    async def body(store: Store) -> None:
        first = await store.create_numbered_user("pw", "n", 7)
        assert await store.delete_user(first.name)
        assert (await store.create_numbered_user("pw", "n", 7)).name == "8"

    backend.run(body)


def test_concurrent_numbered_users_get_distinct_numbers(backend: Backend) -> None:
    async def body(store: Store) -> None:
        accounts = await asyncio.gather(
            *(store.create_numbered_user(f"pw{i}", f"n{i}", 100) for i in range(20))
        )
        assert sorted(int(a.name) for a in accounts) == list(range(100, 120))

    backend.run(body)


# -- watching: requests and permissions ------------------------------------------------


def test_request_then_grant(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "Bob")
        assert await store.watch_state("alice", "bob") is None
        assert await store.ask("ALICE", "bob", b"let me watch", 5.0) == Asked(
            granted_back=False, requested=True, hidden=False, blocks_target=False)
        assert await store.watch_state("alice", "BOB") is PENDING
        assert await store.watch_state("bob", "alice") is None  # one-directional
        assert await store.grant("Alice", "Bob") == Granted(hidden=False)
        assert await store.watch_state("alice", "bob") is GRANTED
        assert await store.grant("alice", "bob") is None  # nothing pending any more
        assert await store.pending_requests("bob") == []

    backend.run(body)


def test_grant_without_request_is_none(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        assert await store.grant("alice", "bob") is None
        assert await store.grant("ghost", "bob") is None
        assert await store.watch_state("alice", "bob") is None

    backend.run(body)


def test_asking_again_never_downgrades_a_grant(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await make_granted(store, "alice", "bob")
        assert await store.ask("alice", "bob", b"again?", 9.0) == Asked(
            granted_back=False, requested=False, hidden=False, blocks_target=False)
        assert await store.watch_state("alice", "bob") is GRANTED
        assert await store.pending_requests("bob") == []

    backend.run(body)


def test_asking_again_replaces_a_pending_request(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "bob", "carol")
        await request(store, "alice", "bob", b"first", 1.0)
        await request(store, "carol", "bob", b"carol's", 2.0)
        await request(store, "ALICE", "bob", b"second", 3.0)
        assert await store.pending_requests("bob") == [
            PendingRequest(requester="carol", nick="nick carol", text=b"carol's", requested_at=2.0),
            PendingRequest(requester="Alice", nick="nick Alice", text=b"second", requested_at=3.0),
        ]

    backend.run(body)


def test_asking_back_grants_the_pending_request(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await request(store, "bob", "alice", b"bob asks", 1.0)
        assert await store.ask("alice", "bob", b"alice asks back", 2.0) == Asked(
            granted_back=True, requested=True, hidden=False, blocks_target=False)
        assert await store.watch_state("bob", "alice") is GRANTED
        assert await store.watch_state("alice", "bob") is PENDING
        assert [r.text for r in await store.pending_requests("bob")] == [b"alice asks back"]

    backend.run(body)


def test_ask_reports_blocks_both_ways(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await store.set_blocked("bob", "alice", True)
        asked = await store.ask("alice", "bob", b"x", 1.0)
        assert asked is not None and (asked.hidden, asked.blocks_target) == (True, False)
        await store.set_blocked("alice", "bob", True)
        asked = await store.ask("alice", "bob", b"x", 1.0)
        assert asked is not None and (asked.hidden, asked.blocks_target) == (True, True)
        assert await store.watch_state("alice", "bob") is PENDING  # recorded all the same

    backend.run(body)


def test_asking_with_unknown_users_does_nothing(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice")
        assert await store.ask("alice", "ghost", b"x", 1.0) is None
        assert await store.ask("ghost", "alice", b"x", 1.0) is None
        assert await store.contacts("alice") == []
        assert await store.pending_requests("alice") == []
        assert await store.watch_state("alice", "ghost") is None

    backend.run(body)


def test_pending_requests_oldest_first_with_requester_details(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "target", "Zed", "amy", "Mia", "other")
        await request(store, "zed", "target", b"z", 10.0)
        await request(store, "mia", "target", b"", 30.0)
        await request(store, "amy", "target", b"\x00\xffbinary", 20.0)
        await request(store, "target", "other", b"other direction", 1.0)
        requests = await store.pending_requests("TARGET")
        assert [(r.requester, r.nick, r.text, r.requested_at) for r in requests] == [
            ("Zed", "nick Zed", b"z", 10.0),
            ("amy", "nick amy", b"\x00\xffbinary", 20.0),
            ("Mia", "nick Mia", b"", 30.0),
        ]
        assert await store.grant("amy", "target") is not None
        assert [r.requester for r in await store.pending_requests("target")] == ["Zed", "Mia"]

    backend.run(body)


def test_decline_deletes_only_a_pending_request(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob", "carol")
        await request(store, "alice", "bob", b"x", 1.0)
        await make_granted(store, "carol", "bob")
        assert await store.decline("ALICE", "Bob")
        assert await store.watch_state("alice", "bob") is None
        assert not await store.decline("alice", "bob")
        assert not await store.decline("carol", "bob")  # a permission is not a request
        assert await store.watch_state("carol", "bob") is GRANTED
        await request(store, "alice", "bob", b"asked again", 2.0)  # may ask again
        assert await store.watch_state("alice", "bob") is PENDING

    backend.run(body)


def test_remove_watch(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob", "carol")
        await request(store, "alice", "bob", b"x", 1.0)
        await make_granted(store, "alice", "carol")
        assert await store.remove_watch("ALICE", "Bob")
        assert await store.watch_state("alice", "bob") is None
        assert not await store.remove_watch("alice", "bob")
        assert await store.remove_watch("alice", "carol")  # stop watching
        assert await store.watch_state("alice", "carol") is None
        assert not await store.remove_watch("ghost", "carol")

    backend.run(body)


def test_watchers_are_granted_unblocked_keys_in_order(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Target", "Zed", "amy", "Bob", "pending", "blocked")
        for watcher in ("zed", "Bob", "AMY", "blocked"):
            await make_granted(store, watcher, "target")
        await request(store, "pending", "target", b"x", 1.0)
        await make_granted(store, "target", "zed")  # the other direction does not count
        await store.set_blocked("target", "blocked", True)
        assert await store.watchers("TARGET") == ["amy", "bob", "zed"]
        assert await store.watchers("nobody") == []

    backend.run(body)


def test_contacts_list_pending_and_granted_in_key_order(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "me", "Zed", "amy", "Bob")
        await request(store, "me", "zed", b"x", 1.0)
        await make_granted(store, "me", "BOB")
        await request(store, "me", "Amy", b"x", 2.0)
        await store.set_blocked("bob", "me", True)
        await store.set_blocked("me", "zed", True)  # whom I block does not matter here
        assert await store.contacts("ME") == [
            ContactEntry(name="amy", nick="nick amy", state=PENDING),
            ContactEntry(name="Bob", nick="nick Bob", state=GRANTED, blocks_watcher=True),
            ContactEntry(name="Zed", nick="nick Zed", state=PENDING),
        ]
        assert await store.contacts("nobody") == []

    backend.run(body)


def test_snapshot_for_the_first_stat(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "me", "amy", "Bob", "carol", "dan")
        await make_granted(store, "me", "amy")
        await make_granted(store, "amy", "me")
        await make_granted(store, "bob", "me")
        await request(store, "carol", "me", b"from carol", 5.0)
        await request(store, "dan", "me", b"from dan", 6.0)
        await store.set_blocked("me", "bob", True)
        await store.set_blocked("me", "dan", True)
        await store.set_blocked("amy", "me", True)
        snapshot = await store.snapshot("ME")
        assert snapshot.blocks == {"bob", "dan"}
        assert snapshot.watchers == ("amy",)  # bob is blocked
        assert snapshot.contacts == (
            ContactEntry(name="amy", nick="nick amy", state=GRANTED, blocks_watcher=True),)
        assert snapshot.requests == (  # dan's request is hidden while he is blocked
            PendingRequest(requester="carol", nick="nick carol", text=b"from carol",
                           requested_at=5.0),)

    backend.run(body)


# -- blocking -------------------------------------------------------------------------


def test_block_and_unblock_are_idempotent_and_directional(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "Bob")
        assert not await store.is_blocked("alice", "bob")
        unchanged = BlockChange(changed=False, watching=False)
        changed = BlockChange(changed=True, watching=False)
        assert await store.set_blocked("alice", "BOB", True) == changed
        assert await store.set_blocked("ALICE", "bob", True) == unchanged
        assert await store.is_blocked("alice", "bob")
        assert not await store.is_blocked("bob", "alice")
        assert await store.blocked("alice") == [BlockedEntry(name="Bob", nick="nick Bob")]
        assert await store.set_blocked("alice", "bob", False) == changed
        assert await store.set_blocked("alice", "bob", False) == unchanged
        assert not await store.is_blocked("alice", "bob")
        assert await store.blocked("alice") == []

    backend.run(body)


def test_blocking_takes_no_permission_away(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await make_granted(store, "bob", "alice")
        assert await store.set_blocked("alice", "bob", True) == BlockChange(
            changed=True, watching=True)
        assert await store.watch_state("bob", "alice") is GRANTED
        assert await store.watchers("alice") == []  # not shown while blocked
        await store.set_blocked("alice", "bob", False)
        assert await store.watchers("alice") == ["bob"]

    backend.run(body)


def test_block_list_is_ordered_by_key(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "me", "Zed", "amy", "Bob")
        for name in ("zed", "amy", "bob"):
            await store.set_blocked("me", name, True)
        assert [e.name for e in await store.blocked("me")] == ["amy", "Bob", "Zed"]

    backend.run(body)


def test_blocking_unknown_users_does_nothing(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice")
        assert await store.set_blocked("alice", "ghost", True) is None
        assert await store.set_blocked("ghost", "alice", True) is None
        assert not await store.is_blocked("alice", "ghost")
        assert await store.blocked("alice") == []

    backend.run(body)


# -- stored messages ----------------------------------------------------------------


def test_messages_come_back_in_order_with_sender_as_created(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "Bob")
        ids = [
            await store_message(store, "alice", "bob", b"one", 1.0),
            await store_message(store, "ALICE", "BOB", b"", 2.0),
            await store_message(store, "bob", "bob", b"\x00\r\n\xff", 3.0),
        ]
        assert ids == sorted(ids) and len(set(ids)) == 3
        messages = await store.stored_messages("bob", 10)
        assert [(m.id, m.sender, m.body, m.accepted_at) for m in messages] == [
            (ids[0], "Alice", b"one", 1.0),
            (ids[1], "Alice", b"", 2.0),
            (ids[2], "Bob", b"\x00\r\n\xff", 3.0),
        ]

    backend.run(body)


def test_sender_without_account_is_kept_as_given(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "bob")
        await store_message(store, "Gone", "bob", b"hi", 1.0)
        assert [m.sender for m in await store.stored_messages("bob", 1)] == ["Gone"]

    backend.run(body)


def test_a_blocked_sender_is_dropped(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await store.set_blocked("bob", "alice", True)
        assert await store.accept_message(new_id(), "Alice", "bob", b"x", 1.0, CAP) is (
            Accepted.BLOCKED)
        assert await store.accept_message(new_id(), "bob", "alice", b"y", 1.0, CAP) is (
            Accepted.STORED)
        assert await store.count_stored() == 1

    backend.run(body)


def test_the_cap_refuses_what_is_beyond_it(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        for i in range(3):
            assert await store.accept_message(new_id(), "alice", "bob", b"%d" % i, 1.0, 3) is (
                Accepted.STORED)
        assert await store.accept_message(new_id(), "alice", "bob", b"x", 1.0, 3) is Accepted.FULL
        assert await store.accept_message(new_id(), "alice", "bob", b"x", 1.0, 4) is Accepted.STORED
        assert await store.count_stored("bob") == 4

    backend.run(body)


def test_stored_messages_limit(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        for i in range(5):
            await store_message(store, "alice", "bob", b"%d" % i, float(i))
        assert [m.body for m in await store.stored_messages("bob", 2)] == [b"0", b"1"]
        assert await store.stored_messages("bob", 0) == []
        assert len(await store.stored_messages("bob", 100)) == 5
        assert await store.stored_messages("alice", 10) == []
        assert await store.stored_messages("nobody", 10) == []

    backend.run(body)


def test_delete_messages_deletes_exactly_those_ids_of_that_recipient(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        b1 = await store_message(store, "alice", "bob", b"b1", 1.0)
        a1 = await store_message(store, "bob", "alice", b"a1", 2.0)
        b2 = await store_message(store, "alice", "bob", b"b2", 3.0)
        b3 = await store_message(store, "alice", "bob", b"b3", 4.0)
        assert await store.delete_messages("BOB", [b2, a1], FLIGHT, 1.0) == 1  # a1 is alice's
        assert [m.id for m in await store.stored_messages("bob", 10)] == [b1, b3]
        assert [m.id for m in await store.stored_messages("alice", 10)] == [a1]
        assert await store.delete_messages("bob", [b2], FLIGHT, 1.0) == 0
        assert await store.delete_messages("bob", [], FLIGHT, 1.0) == 0
        assert await store.delete_messages("alice", [a1], FLIGHT, 1.0) == 1
        assert await store.count_stored() == 2

    backend.run(body)


def test_count_stored(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        assert await store.count_stored() == 0
        await store_message(store, "alice", "bob", b"1", 1.0)
        await store_message(store, "alice", "Bob", b"2", 1.0)
        await store_message(store, "bob", "alice", b"3", 1.0)
        assert await store.count_stored() == 3
        assert await store.count_stored("BOB") == 2
        assert await store.count_stored("alice") == 1
        assert await store.count_stored("nobody") == 0

    backend.run(body)


def test_message_to_unknown_recipient_is_refused(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice")
        assert await store.accept_message(new_id(), "alice", "ghost", b"x", 1.0, CAP) is (
            Accepted.NO_SUCH_USER)
        assert await store.count_stored() == 0

    backend.run(body)


def test_negative_limit_is_refused(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice")
        with pytest.raises(ValueError):
            await store.stored_messages("alice", -1)

    backend.run(body)


# -- concurrency: transactions of one rule at the same time -------------------------------


def test_a_flush_never_deletes_what_it_did_not_read(backend: Backend) -> None:
    """Read a batch, deliver it, delete it by id: messages committed by other writers
    meanwhile (with any ids) stay for the next read."""

    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob", "carol")

        async def writer(sender: str) -> None:
            for i in range(20):
                await store.accept_message(new_id(), sender, "bob", b"%s %d" % (sender.encode(), i),
                                           float(i), CAP)

        async def flusher() -> list[bytes]:
            seen: list[bytes] = []
            for _ in range(30):
                batch = await store.stored_messages("bob", 3)
                seen += [m.body for m in batch]
                await store.delete_messages("bob", [m.id for m in batch], FLIGHT, 1.0)
                await asyncio.sleep(0)
            return seen

        _, _, seen = await asyncio.gather(writer("alice"), writer("carol"), flusher())
        seen += [m.body for m in await store.stored_messages("bob", CAP)]
        expected = {b"%s %d" % (sender, i) for sender in (b"alice", b"carol") for i in range(20)}
        assert sorted(seen) == sorted(expected)  # every message once: none lost, none twice
        for sender in (b"alice", b"carol"):  # and each writer's in the order it wrote them
            mine = [body for body in seen if body.startswith(sender)]
            assert mine == sorted(mine, key=lambda body: int(body.split()[1]))

    backend.run(body)


def test_two_users_asking_each_other_at_once(backend: Backend) -> None:
    """One ask comes first; the other then asks back and grants it (docs/protocol.md §5.2), and
    its own request waits for an answer as usual. Never are both left pending."""

    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        first, second = await asyncio.gather(store.ask("alice", "bob", b"a", 1.0),
                                              store.ask("bob", "alice", b"b", 1.0))
        assert first is not None and second is not None
        assert [first.granted_back, second.granted_back].count(True) == 1
        states = {await store.watch_state("alice", "bob"), await store.watch_state("bob", "alice")}
        assert states == {GRANTED, PENDING}

    backend.run(body)


def test_the_cap_holds_under_concurrent_senders(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "bob", *(f"s{i}" for i in range(8)))
        results = await asyncio.gather(*(
            store.accept_message(new_id(), f"s{i % 8}", "bob", b"%d" % i, 1.0, 5)
            for i in range(24)))
        assert results.count(Accepted.STORED) == 5
        assert results.count(Accepted.FULL) == 19
        assert await store.count_stored("bob") == 5

    backend.run(body)


# -- durability and lifecycle ----------------------------------------------------------


def test_everything_survives_reopening(backend: Backend) -> None:
    async def write(store: Store) -> None:
        await make_users(store, "Alice", "bob")
        await make_granted(store, "alice", "bob")
        await request(store, "bob", "alice", b"req", 1.5)
        await store.set_blocked("bob", "alice", True)
        await store_message(store, "bob", "alice", b"kept", 2.5)
        await store.create_numbered_user("pw", "num", 10)

    async def read(store: Store) -> None:
        alice = await store.credentials("alice")
        assert alice is not None and alice.password == "pw-Alice"
        assert await store.watch_state("alice", "bob") is GRANTED
        assert [r.text for r in await store.pending_requests("alice")] == [b"req"]
        assert await store.is_blocked("bob", "alice")
        assert [m.body for m in await store.stored_messages("alice", 5)] == [b"kept"]
        assert (await store.create_numbered_user("pw", "num", 10)).name == "11"

    backend.run(write)
    backend.run(read)


def test_close_finishes_queued_work(backend: Backend) -> None:
    async def main() -> None:
        store = await backend.open()
        await make_users(store, "alice")
        pending = [
            asyncio.ensure_future(
                store.accept_message(new_id(), "alice", "alice", b"%d" % i, 1.0, CAP))
            for i in range(50)
        ]
        await asyncio.sleep(0)  # let every call reach the store's queue
        await store.close()
        assert all(f.done() and f.exception() is None for f in pending)
        reopened = await backend.open()
        try:
            assert await reopened.count_stored("alice") == 50
        finally:
            await reopened.close()

    asyncio.run(main())


# -- messages that go back to the store -------------------------------------------------


def test_kept_messages_keep_their_time_and_place(backend: Backend) -> None:
    """What a closed connection did not deliver goes back in the order it was accepted:
    before what was accepted after it, whatever the ids."""

    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob", "carol")
        later = await store_message(store, "carol", "bob", b"accepted later", 30.0)
        await store.set_blocked("bob", "alice", True)  # accepted before the block: kept
        kept = await store.keep_messages([
            KeptMessage(new_id(), "bob", "alice", b"first", 10.0),
            KeptMessage(new_id(), "BOB", "alice", b"second", 20.0),
            KeptMessage(new_id(), "ghost", "alice", b"nobody to keep it for", 10.0),
        ], FLIGHT)
        assert kept == 2
        messages = await store.stored_messages("bob", 10)
        assert [(m.sender, m.body, m.accepted_at) for m in messages] == [
            ("alice", b"first", 10.0), ("alice", b"second", 20.0),
            ("carol", b"accepted later", 30.0)]
        assert messages[2].id == later
        assert await store.stored_messages("bob", 1) == messages[:1]

    backend.run(body)


def test_kept_messages_ignore_the_cap(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await store.accept_message(new_id(), "alice", "bob", b"full", 1.0, 1)
        assert await store.keep_messages(
            [KeptMessage(new_id(), "bob", "alice", b"back", 0.5)], FLIGHT) == 1
        assert await store.count_stored("bob") == 2

    backend.run(body)


# -- identities: a message is stored once, however often it is put back ---------------------


def test_a_message_accepted_twice_is_stored_once(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        id = new_id()
        for _ in range(2):
            assert await store.accept_message(id, "alice", "bob", b"once", 1.0, CAP) is (
                Accepted.STORED)
        assert [(m.id, m.body) for m in await store.stored_messages("bob", 10)] == [
            (id, b"once")]
        await store.delete_messages("bob", [id], FLIGHT, 2.0)  # delivered
        assert await store.accept_message(id, "alice", "bob", b"once", 1.0, CAP) is (
            Accepted.STORED)
        assert await store.count_stored("bob") == 0

    backend.run(body)


def test_a_message_put_back_twice_is_stored_once(backend: Backend) -> None:
    """A connection's hand-back and the journal's replay after a crash may both put back
    the same message: the second finds it stored, and stores nothing."""

    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        message = KeptMessage(new_id(), "bob", "alice", b"in flight", 1.0)
        assert await store.keep_messages([message], FLIGHT) == 1
        assert await store.keep_messages([message], FLIGHT + 1) == 0
        assert await store.keep_messages([message, message], FLIGHT) == 0
        assert [m.id for m in await store.stored_messages("bob", 10)] == [message.id]

    backend.run(body)


def test_only_the_record_that_took_a_message_out_of_the_store_puts_it_back(
        backend: Backend) -> None:
    """Delivered from the store to one connection, a message goes back only from that
    connection's record: a stale record that had it before (a journal replayed late)
    would deliver it twice."""

    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        message = KeptMessage(new_id(), "bob", "alice", b"hello", 1.0)
        await store.keep_messages([message], FLIGHT)  # back from the first connection
        await store.delete_messages("bob", [message.id], FLIGHT + 1, 2.0)  # shown on the next
        assert await store.keep_messages([message], FLIGHT) == 0  # the first one: stale
        assert await store.count_stored("bob") == 0
        assert await store.keep_messages([message], FLIGHT + 1) == 1  # its peer never had it
        assert [m.body for m in await store.stored_messages("bob", 10)] == [b"hello"]

    backend.run(body)


def test_forgotten_deliveries_no_longer_hold_a_message_back(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        old = await store_message(store, "alice", "bob", b"old", 1.0)
        recent = await store_message(store, "alice", "bob", b"recent", 2.0)
        await store.delete_messages("bob", [old], FLIGHT, 100.0)
        await store.delete_messages("bob", [recent], FLIGHT, 200.0)
        assert await store.forget_deliveries(150.0) == 1
        assert await store.keep_messages([
            KeptMessage(old, "bob", "alice", b"old", 1.0),
            KeptMessage(recent, "bob", "alice", b"recent", 2.0)], FLIGHT + 1) == 1
        assert [m.body for m in await store.stored_messages("bob", 10)] == [b"old"]

    backend.run(body)


def test_concurrent_hand_backs_of_one_message_store_it_once(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        messages = [KeptMessage(new_id(), "bob", "alice", b"%d" % i, float(i)) for i in range(20)]
        kept = await asyncio.gather(*(store.keep_messages(messages, FLIGHT + n) for n in range(4)))
        assert sum(kept) == 20
        assert [m.body for m in await store.stored_messages("bob", 100)] == [
            b"%d" % i for i in range(20)]

    backend.run(body)


def test_incarnations_are_never_given_twice(backend: Backend) -> None:
    async def first(store: Store) -> None:
        numbers = [await store.new_incarnation() for _ in range(3)]
        assert numbers == sorted(set(numbers)) and numbers[0] >= 1
        concurrent = await asyncio.gather(*(store.new_incarnation() for _ in range(10)))
        assert len(set(concurrent) | set(numbers)) == 13
        seen.extend([*numbers, *concurrent])

    async def again(store: Store) -> None:
        assert await store.new_incarnation() > max(seen)

    seen: list[int] = []
    backend.run(first)
    backend.run(again)
