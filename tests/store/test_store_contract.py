"""The ``Store`` contract: what every backend must do, written against the interface only."""

from __future__ import annotations

import asyncio
import time

import pytest

from imipd.store import (
    Account,
    BlockedEntry,
    ContactEntry,
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


async def make_granted(store: Store, watcher: str, target: str) -> None:
    await store.put_request(watcher, target, b"please", time.time())
    assert await store.grant(watcher, target)


# -- accounts ---------------------------------------------------------------------


def test_create_user_returns_the_account_as_created(backend: Backend) -> None:
    async def body(store: Store) -> None:
        before = time.time()
        account = await store.create_user("Alice", "s3cret", "Ally")
        after = time.time()
        assert (account.name, account.nick, account.password) == ("Alice", "Ally", "s3cret")
        assert before <= account.created_at <= after
        assert account.key == "alice"
        assert await store.get_user("Alice") == account

    backend.run(body)


def test_names_match_in_any_casing(backend: Backend) -> None:
    async def body(store: Store) -> None:
        created = await store.create_user("McAlice", "pw", "n")
        for spelling in ("mcalice", "MCALICE", "mCaLiCe"):
            assert await store.get_user(spelling) == created

    backend.run(body)


def test_unknown_user_is_none(backend: Backend) -> None:
    async def body(store: Store) -> None:
        assert await store.get_user("nobody") is None
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
        assert len(await store.list_users()) == 1

    backend.run(body)


def test_unicode_names_passwords_and_nicks_round_trip(backend: Backend) -> None:
    async def body(store: Store) -> None:
        created = await store.create_user("Zoë", "pä$$ wörd 🔑", "«Zo»")
        assert await store.get_user("ZOË") == created
        assert created.password == "pä$$ wörd 🔑"
        empty = await store.create_user("empty", "", "")
        assert await store.get_user("empty") == empty

    backend.run(body)


def test_list_users_is_ordered_by_key(backend: Backend) -> None:
    async def body(store: Store) -> None:
        assert await store.list_users() == []
        await make_users(store, "carol", "Bob", "alice", "Dave")
        assert [a.name for a in await store.list_users()] == ["alice", "Bob", "carol", "Dave"]
        assert all(isinstance(a, Account) for a in await store.list_users())

    backend.run(body)


def test_set_password(backend: Backend) -> None:
    async def body(store: Store) -> None:
        created = await store.create_user("Alice", "old", "n")
        assert await store.set_password("ALICE", "new")
        changed = await store.get_user("alice")
        assert changed is not None
        assert changed.password == "new"
        assert (changed.name, changed.nick, changed.created_at) == (
            created.name,
            created.nick,
            created.created_at,
        )
        assert not await store.set_password("nobody", "x")

    backend.run(body)


def test_delete_user(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "bob")
        assert await store.delete_user("ALICE")
        assert await store.get_user("alice") is None
        assert not await store.delete_user("alice")
        assert [a.name for a in await store.list_users()] == ["bob"]
        recreated = await store.create_user("alice", "again", "n")
        assert await store.get_user("Alice") == recreated

    backend.run(body)


def test_delete_user_removes_everything_of_its_own(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "bob", "carol")
        await make_granted(store, "alice", "bob")
        await make_granted(store, "bob", "alice")
        await store.put_request("carol", "alice", b"hi alice", 1.0)
        await store.put_request("alice", "carol", b"hi carol", 2.0)
        await store.set_blocked("alice", "carol", True)
        await store.set_blocked("carol", "alice", True)
        await store.store_message("bob", "alice", b"for alice", 3.0)
        sent = await store.store_message("Alice", "bob", b"from alice", 4.0)

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
        assert await store.contacts("alice") == []
        assert await store.watchers("alice") == []
        assert await store.pending_requests("alice") == []
        assert await store.blocked("alice") == []
        assert await store.stored_messages("alice", 10) == []
        assert await store.watch_state("bob", "alice") is None
        assert not await store.is_blocked("carol", "alice")

    backend.run(body)


# -- numbered accounts --------------------------------------------------------------


def test_numbered_users_count_up_from_first(backend: Backend) -> None:
    async def body(store: Store) -> None:
        one = await store.create_numbered_user("pw1", "first", 1000)
        two = await store.create_numbered_user("pw2", "second", 1000)
        assert (one.name, one.nick, one.password) == ("1000", "first", "pw1")
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
        await store.put_request("ALICE", "bob", b"let me watch", 5.0)
        assert await store.watch_state("alice", "BOB") is PENDING
        assert await store.watch_state("bob", "alice") is None  # one-directional
        assert await store.grant("Alice", "Bob")
        assert await store.watch_state("alice", "bob") is GRANTED
        assert not await store.grant("alice", "bob")  # nothing pending any more
        assert await store.pending_requests("bob") == []

    backend.run(body)


def test_grant_without_request_is_false(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        assert not await store.grant("alice", "bob")
        assert not await store.grant("ghost", "bob")
        assert await store.watch_state("alice", "bob") is None

    backend.run(body)


def test_put_request_never_downgrades_a_grant(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await make_granted(store, "alice", "bob")
        await store.put_request("alice", "bob", b"again?", 9.0)
        assert await store.watch_state("alice", "bob") is GRANTED
        assert await store.pending_requests("bob") == []

    backend.run(body)


def test_put_request_replaces_a_pending_request(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "bob", "carol")
        await store.put_request("alice", "bob", b"first", 1.0)
        await store.put_request("carol", "bob", b"carol's", 2.0)
        await store.put_request("ALICE", "bob", b"second", 3.0)
        assert await store.pending_requests("bob") == [
            PendingRequest(requester="carol", nick="nick carol", text=b"carol's", requested_at=2.0),
            PendingRequest(requester="Alice", nick="nick Alice", text=b"second", requested_at=3.0),
        ]

    backend.run(body)


def test_put_request_with_unknown_users_does_nothing(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice")
        await store.put_request("alice", "ghost", b"x", 1.0)
        await store.put_request("ghost", "alice", b"x", 1.0)
        assert await store.contacts("alice") == []
        assert await store.pending_requests("alice") == []
        assert await store.watch_state("alice", "ghost") is None

    backend.run(body)


def test_pending_requests_oldest_first_with_requester_details(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "target", "Zed", "amy", "Mia")
        await store.put_request("zed", "target", b"z", 10.0)
        await store.put_request("mia", "target", b"", 30.0)
        await store.put_request("amy", "target", b"\x00\xffbinary", 20.0)
        await store.put_request("target", "amy", b"other direction", 1.0)
        requests = await store.pending_requests("TARGET")
        assert [(r.requester, r.nick, r.text, r.requested_at) for r in requests] == [
            ("Zed", "nick Zed", b"z", 10.0),
            ("amy", "nick amy", b"\x00\xffbinary", 20.0),
            ("Mia", "nick Mia", b"", 30.0),
        ]
        assert await store.grant("amy", "target")
        assert [r.requester for r in await store.pending_requests("target")] == ["Zed", "Mia"]

    backend.run(body)


def test_remove_watch(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob", "carol")
        await store.put_request("alice", "bob", b"x", 1.0)
        await make_granted(store, "alice", "carol")
        assert await store.remove_watch("ALICE", "Bob")  # a decline
        assert await store.watch_state("alice", "bob") is None
        assert not await store.remove_watch("alice", "bob")
        assert await store.remove_watch("alice", "carol")  # stop watching
        assert await store.watch_state("alice", "carol") is None
        assert not await store.remove_watch("ghost", "carol")
        await store.put_request("alice", "bob", b"asked again", 2.0)  # may ask again
        assert await store.watch_state("alice", "bob") is PENDING

    backend.run(body)


def test_watchers_are_granted_keys_in_order(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Target", "Zed", "amy", "Bob", "pending")
        for watcher in ("zed", "Bob", "AMY"):
            await make_granted(store, watcher, "target")
        await store.put_request("pending", "target", b"x", 1.0)
        await make_granted(store, "target", "zed")  # the other direction does not count
        assert await store.watchers("TARGET") == ["amy", "bob", "zed"]
        assert await store.watchers("nobody") == []

    backend.run(body)


def test_contacts_list_pending_and_granted_in_key_order(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "me", "Zed", "amy", "Bob")
        await store.put_request("me", "zed", b"x", 1.0)
        await make_granted(store, "me", "BOB")
        await store.put_request("me", "Amy", b"x", 2.0)
        await make_granted(store, "amy", "me")  # amy watching me is not on my list
        assert await store.contacts("ME") == [
            ContactEntry(name="amy", nick="nick amy", state=PENDING),
            ContactEntry(name="Bob", nick="nick Bob", state=GRANTED),
            ContactEntry(name="Zed", nick="nick Zed", state=PENDING),
        ]
        assert await store.contacts("nobody") == []

    backend.run(body)


# -- blocking -------------------------------------------------------------------------


def test_block_and_unblock_are_idempotent_and_directional(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "Bob")
        assert not await store.is_blocked("alice", "bob")
        await store.set_blocked("alice", "BOB", True)
        await store.set_blocked("ALICE", "bob", True)
        assert await store.is_blocked("alice", "bob")
        assert not await store.is_blocked("bob", "alice")
        assert await store.blocked("alice") == [BlockedEntry(name="Bob", nick="nick Bob")]
        await store.set_blocked("alice", "bob", False)
        await store.set_blocked("alice", "bob", False)
        assert not await store.is_blocked("alice", "bob")
        assert await store.blocked("alice") == []

    backend.run(body)


def test_blocking_takes_no_permission_away(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        await make_granted(store, "bob", "alice")
        await store.set_blocked("alice", "bob", True)
        assert await store.watch_state("bob", "alice") is GRANTED
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
        await store.set_blocked("alice", "ghost", True)
        await store.set_blocked("ghost", "alice", True)
        assert not await store.is_blocked("alice", "ghost")
        assert await store.blocked("alice") == []

    backend.run(body)


# -- stored messages ----------------------------------------------------------------


def test_messages_come_back_in_order_with_sender_as_created(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "Alice", "Bob")
        ids = [
            await store.store_message("alice", "bob", b"one", 1.0),
            await store.store_message("ALICE", "BOB", b"", 2.0),
            await store.store_message("bob", "bob", b"\x00\r\n\xff", 3.0),
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
        await store.store_message("Gone", "bob", b"hi", 1.0)
        assert [m.sender for m in await store.stored_messages("bob", 1)] == ["Gone"]

    backend.run(body)


def test_stored_messages_limit(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        for i in range(5):
            await store.store_message("alice", "bob", b"%d" % i, float(i))
        assert [m.body for m in await store.stored_messages("bob", 2)] == [b"0", b"1"]
        assert await store.stored_messages("bob", 0) == []
        assert len(await store.stored_messages("bob", 100)) == 5
        assert await store.stored_messages("alice", 10) == []
        assert await store.stored_messages("nobody", 10) == []

    backend.run(body)


def test_delete_messages_only_touches_that_recipient_up_to_id(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        b1 = await store.store_message("alice", "bob", b"b1", 1.0)
        a1 = await store.store_message("bob", "alice", b"a1", 2.0)
        b2 = await store.store_message("alice", "bob", b"b2", 3.0)
        b3 = await store.store_message("alice", "bob", b"b3", 4.0)
        assert await store.delete_messages("BOB", b2) == 2
        assert [m.id for m in await store.stored_messages("bob", 10)] == [b3]
        assert [m.id for m in await store.stored_messages("alice", 10)] == [a1]
        assert await store.delete_messages("bob", b1) == 0
        assert await store.delete_messages("alice", b3) == 1
        assert await store.count_stored() == 1

    backend.run(body)


def test_count_stored(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        assert await store.count_stored() == 0
        await store.store_message("alice", "bob", b"1", 1.0)
        await store.store_message("alice", "Bob", b"2", 1.0)
        await store.store_message("bob", "alice", b"3", 1.0)
        assert await store.count_stored() == 3
        assert await store.count_stored("BOB") == 2
        assert await store.count_stored("alice") == 1
        assert await store.count_stored("nobody") == 0

    backend.run(body)


def test_message_ids_keep_increasing_after_deletion(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice", "bob")
        first = await store.store_message("alice", "bob", b"1", 1.0)
        await store.delete_messages("bob", first)
        second = await store.store_message("alice", "bob", b"2", 2.0)
        assert second > first

    backend.run(body)


def test_message_to_unknown_recipient_raises_lookup_error(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice")
        with pytest.raises(LookupError):
            await store.store_message("alice", "ghost", b"x", 1.0)
        assert await store.count_stored() == 0

    backend.run(body)


def test_negative_limit_is_refused(backend: Backend) -> None:
    async def body(store: Store) -> None:
        await make_users(store, "alice")
        with pytest.raises(ValueError):
            await store.stored_messages("alice", -1)

    backend.run(body)


# -- durability and lifecycle ----------------------------------------------------------


def test_everything_survives_reopening(backend: Backend) -> None:
    async def write(store: Store) -> None:
        await make_users(store, "Alice", "bob")
        await make_granted(store, "alice", "bob")
        await store.put_request("bob", "alice", b"req", 1.5)
        await store.set_blocked("bob", "alice", True)
        await store.store_message("bob", "alice", b"kept", 2.5)
        await store.create_numbered_user("pw", "num", 10)

    async def read(store: Store) -> None:
        alice = await store.get_user("alice")
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
            asyncio.ensure_future(store.store_message("alice", "alice", b"%d" % i, 1.0))
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
