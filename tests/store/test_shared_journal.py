"""The journal of messages in flight kept in PostgreSQL, where every node finds it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from imipd.store import Accepted
from imipd.store.identity import identities
from imipd.store.keyfile import PasswordBox, key_path, load_or_create_key
from imipd.store.postgres import PostgresStore
from imipd.store.shared_journal import StoreJournal

from ..services import new_schema

Body = Callable[[PostgresStore], Awaitable[None]]
INCARNATION = 5
"""The incarnation of the node under test (its flights' and messages' high bits)."""


@pytest.fixture
def run(tmp_path: Path, postgres_database: str) -> Callable[[Body], None]:
    url = new_schema(postgres_database)

    def run(body: Body) -> None:
        async def main() -> None:
            box = PasswordBox(load_or_create_key(key_path(tmp_path)))
            store = await PostgresStore.open(url, box)
            try:
                for name in ("alice", "bob"):
                    await store.create_user(name, "pw", name)
                await body(store)
            finally:
                await store.close()

        asyncio.run(main())

    return run


async def waiting(store: PostgresStore) -> list[bytes]:
    return [m.body for m in await store.stored_messages("bob", 100)]


def test_what_a_connection_has_is_on_record_and_goes_back_when_it_ends(
        run: Callable[[Body], None]) -> None:
    async def body(store: PostgresStore) -> None:
        journal = StoreJournal(store, identities(INCARNATION))
        flight = journal.in_flight("bob")
        ids = [journal.next_id() for _ in range(3)]
        for n, id in enumerate(ids):
            flight.add(10 * (n + 1), id, "alice", b"m%d" % n, float(n))
        assert (journal.recorded, journal.committed) == (3, 0)
        await journal.settled()
        assert journal.committed == 3
        assert await waiting(store) == []  # in flight, not waiting
        # the same message accepted again (a sender's retry after a timeout): stored once
        assert await store.accept_message(ids[0], "alice", "bob", b"m0", 0.0, 100) is (
            Accepted.STORED)
        assert await waiting(store) == []
        flight.acknowledge(20)  # the peer has the first two
        assert await flight.release(store) == 1  # the connection ends: the third waits again
        assert await waiting(store) == [b"m2"]
        await journal.close()

    run(body)


def test_a_stored_message_shown_is_taken_out_of_the_store(run: Callable[[Body], None]) -> None:
    async def body(store: PostgresStore) -> None:
        journal = StoreJournal(store, identities(INCARNATION))
        id = journal.next_id()
        await store.accept_message(id, "alice", "bob", b"stored", 1.0, 100)
        (stored,) = await store.stored_messages("bob", 10)
        journal.in_flight("bob").add(5, stored.id, stored.sender, stored.body,
                                     stored.accepted_at)
        await journal.settled()
        assert await waiting(store) == []
        await journal.close()

    run(body)


def test_a_dead_nodes_messages_in_flight_wait_again(run: Callable[[Body], None]) -> None:
    """Another node puts back what the connections of a dead incarnation still had, in one
    statement; what their peers acknowledged stays delivered."""

    async def body(store: PostgresStore) -> None:
        dead = StoreJournal(store, identities(INCARNATION))
        flight = dead.in_flight("bob")
        for n in range(3):
            flight.add(n + 1, dead.next_id(), "alice", b"m%d" % n, float(n))
        flight.acknowledge(1)
        held = dead.in_flight("bob")  # held behind a backlog, never shown
        held.add(1, dead.next_id(), "alice", b"held", 9.0)
        await dead.settled()
        live = StoreJournal(store, identities(INCARNATION + 1))
        live.in_flight("bob").add(1, live.next_id(), "alice", b"elsewhere", 5.0)
        await live.settled()
        assert await store.recover_in_flight(INCARNATION) == ["bob"] * 3
        assert await waiting(store) == [b"m1", b"m2", b"held"]
        assert await store.recover_in_flight(INCARNATION) == []  # (a second survivor)
        await dead.close()
        await live.close()

    run(body)


def test_a_message_moves_between_connections_of_one_node_only(
        run: Callable[[Body], None]) -> None:
    """Held behind the stored ones, then shown: a message moves from one record to another of
    the same node. A record of another node cannot take a message in flight elsewhere."""

    async def body(store: PostgresStore) -> None:
        journal = StoreJournal(store, identities(INCARNATION))
        held, owed = journal.in_flight("bob"), journal.in_flight("bob")
        id = journal.next_id()
        held.add(1, id, "alice", b"moving", 1.0)
        await journal.settled()
        owed.add(50, id, "alice", b"moving", 1.0)
        held.acknowledge(1)  # shown: no longer held
        await journal.settled()
        other = StoreJournal(store, identities(INCARNATION + 1))
        other.in_flight("bob").add(1, id, "alice", b"moving", 1.0)  # not its own: unchanged
        await other.settled()
        assert await held.release(store) == 0
        assert await owed.release(store) == 1
        assert await waiting(store) == [b"moving"]
        await journal.close()
        await other.close()

    run(body)


def test_a_message_for_a_deleted_account_is_dropped(run: Callable[[Body], None]) -> None:
    async def body(store: PostgresStore) -> None:
        journal = StoreJournal(store, identities(INCARNATION))
        journal.in_flight("ghost").add(1, journal.next_id(), "alice", b"to no one", 1.0)
        flight = journal.in_flight("bob")
        flight.add(1, journal.next_id(), "alice", b"to bob", 1.0)
        await journal.settled()  # the commit is not refused for the one
        assert await flight.release(store) == 1
        assert await waiting(store) == [b"to bob"]
        await journal.close()

    run(body)
