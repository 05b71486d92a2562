"""Core bugs found by the fuzzing harness and the soak, replayed deterministically.

Each runs the real core through the harness's ``World`` (every invariant checked).
While a bug is open its test is a strict xfail; remove the marker with the fix.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import InvariantError, World, client_block, make_template, open_world, wire


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory with the harness's users."""
    yield asyncio.run(make_template(tmp_path_factory.mktemp("regressions") / "data"))


async def _alice_asks_bob(world: World) -> None:
    """alice and Bob online; alice asked to watch Bob (not answered yet)."""
    await world.connect(0)
    await world.connect(1)
    assert await world.login(0, "alice")
    assert await world.login(1, "Bob")
    alice = world.conns[0]
    assert alice is not None
    await world.feed(0, client_block(alice, "LIST ADD bob", body=b"may I?"))


async def _alice_watches_bob(world: World) -> None:
    """alice and Bob online; Bob granted alice's request to watch him."""
    await _alice_asks_bob(world)
    bob = world.conns[1]
    assert bob is not None
    await world.feed(1, wire(b"ACK 600", [(b"ID", b"1"),
                                          (b"Reference", bob.requests[-1].encode())], None))


async def _list_get_while_the_contact_hides(template: Path) -> None:
    async with open_world(template) as world:
        await _alice_watches_bob(world)
        alice, bob = world.conns[0], world.conns[1]
        assert alice is not None and bob is not None
        # Bob's first block takes one store round trip, so his STAT OFFLINE lands while
        # alice's LIST GET waits on the store (presence must be read after that wait)
        await world.feed_together([
            (0, client_block(alice, "LIST GET", [("List", "Buddy")])),
            (1, client_block(bob, "LIST GET", [("List", "Block")])
             + client_block(bob, "STAT OFFLINE")),
        ])


def test_list_get_while_a_contact_goes_offline(template: Path) -> None:
    asyncio.run(_list_get_while_the_contact_hides(template))


async def _grant_when_the_store_fails(template: Path) -> None:
    async with open_world(template) as world:
        await _alice_asks_bob(world)
        bob = world.conns[1]
        assert bob is not None

        async def locked(watcher: str, target: str) -> bool:
            raise sqlite3.OperationalError("database is locked")

        world.store.grant = locked  # type: ignore[method-assign]
        # an ACK is never answered, but the failure must stay inside the session
        await world.feed(1, wire(b"ACK 600", [(b"ID", b"1"),
                                              (b"Reference", bob.requests[-1].encode())], None))


def test_a_store_failure_while_granting_stays_inside_the_session(template: Path) -> None:
    with pytest.raises(InvariantError) as caught:
        asyncio.run(_grant_when_the_store_fails(template))
    # the failure is logged (which the harness reports), and nothing escaped handle()
    assert "the core logged an error" in str(caught.value), caught.value


async def _first_stat_and_disc_in_one_read(template: Path) -> None:
    async with open_world(template) as world:
        await world.connect(0)
        await world.connect(1)
        assert await world.login(0, "carol")
        assert await world.login(1, "Bob", online=False)
        carol, bob = world.conns[0], world.conns[1]
        assert carol is not None and bob is not None
        await world.feed(0, client_block(carol, "MESG", [("To", "bob"), ("ACK-Type", "always")],
                                         body=world.marker()))  # stored: Bob is not online
        # the first STAT writes the stored message; the DISC closes the connection
        # before the delivery is confirmed: a graceful close still sends it
        await world.feed(1, client_block(bob, "STAT BUSY") + client_block(bob, "DISC"))
        await world.finish()  # everyone logs in again: the message must not come twice


def test_a_stored_message_is_delivered_once_when_disc_follows_the_first_stat(
        template: Path) -> None:
    asyncio.run(_first_stat_and_disc_in_one_read(template))
