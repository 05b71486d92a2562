"""Property-based fuzzing of the real core: Service + Session over SQLite and a LocalRouter.

Hypothesis drives up to three connections at once (sometimes handled
concurrently) with valid and mutated blocks in every phase; ``tests/fuzz/harness.py``
checks every answer and keeps a ledger of every message (its docstring lists the
invariants). pytest-asyncio is not used: each example runs its own event loop with
``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .harness import (
    USERS,
    InvariantError,
    World,
    client_block,
    make_template,
    open_world,
    run_tape,
    wire,
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory with the harness's users, copied for every example."""
    directory = tmp_path_factory.mktemp("fuzz-template") / "data"
    yield asyncio.run(make_template(directory))


@SETTINGS
@given(tape=st.binary(min_size=600, max_size=4000))
def test_random_traffic_keeps_every_invariant(template: Path, tape: bytes) -> None:
    """The harness's invariants hold for any tape of decisions (see ``run_tape``).

    The decisions come from one drawn byte string rather than from many draws, so
    that hypothesis sees the same shape of data whatever the concurrent steps did.
    """
    world = asyncio.run(run_tape(template, tape))
    delivered = sum(1 for receivers in world.received.values() if receivers)
    event(f"messages delivered: {min(delivered, 10)}{'+' if delivered >= 10 else ''}")


async def _conversation(template: Path) -> World:
    """A fixed, valid conversation: the harness must see it as correct, and see it all."""
    async with open_world(template) as world:
        alice, bob, _ = (user for user, _, _ in USERS)
        await world.connect(0)
        await world.connect(1)
        assert await world.login(0, alice)
        assert await world.login(1, bob, online=False)
        a, b = world.conns[0], world.conns[1]
        assert a is not None and b is not None
        for ack_type, body in (("always", b"one #m900001#"), ("errors-only", b"two #m900002#"),
                               ("none", b"three #m900003#")):
            await world.feed(0, client_block(a, "MESG", [("To", "bob"), ("ACK-Type", ack_type)],
                                             body))
        await world.feed(0, client_block(a, "LIST ADD bob", [("List", "Buddy")], b"hi"))
        await world.feed(1, client_block(b, "STAT AWAY"))  # online: request, then 3 messages
        assert b.requests, "the request was shown at the first STAT"
        await world.feed(1, wire(b"ACK 600", [(b"ID", b"3001"),
                                              (b"Reference", b.requests[0].encode())], None))
        await world.feed(0, client_block(a, "MESG", [("To", "BOB"), ("ACK-Type", "always")],
                                         b"live #m900004#"))
        await world.feed(1, client_block(b, "DISC"))
        await world.finish()
        return world


def test_a_valid_conversation_passes_and_is_fully_accounted(template: Path) -> None:
    world = asyncio.run(_conversation(template))
    assert {m: s.accepted for m, s in world.sent.items()} == {
        900001: True, 900002: True, 900003: True, 900004: True}
    assert world.received == {900001: ["bob"], 900002: ["bob"], 900003: ["bob"],
                              900004: ["bob"]}


async def _unsorted(template: Path) -> None:
    async with open_world(template) as world:
        conn = await world.connect(0)
        conn.sink.write(wire(b"ACK 600", [(b"Reference", b"1"), (b"ID", b"1")], None))
        await world.feed(0, b"")


def test_the_harness_notices_a_bad_write(template: Path) -> None:
    with pytest.raises(InvariantError, match="not canonical"):
        asyncio.run(_unsorted(template))
