"""Words of the protocol match in ASCII case only (docs/protocol.md §2.3), through the real core.

Every character of Unicode whose case mapping gives an ASCII letter (the dotless ı,
the long ſ, the Kelvin sign, ligatures such as ﬁ) is tried in every verb, presence,
``List`` value and user name: none may reach what its ASCII look-alike means.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from imipd.protocol import Block

from .harness import World, client_block, make_template, open_world

LOOK_ALIKES = tuple(sorted(
    {char for char in map(chr, range(0x80, 0x110000))
     if not 0xD800 <= ord(char) < 0xE000
     and any("a" <= c.lower() <= "z" for c in char.upper() + char.lower())}))
"""Non-ASCII characters that Unicode's upper or lower case maps (partly) onto ASCII letters."""


def spellings(word: str) -> list[str]:
    """``word`` with one ASCII letter replaced by a character Unicode would map onto it."""
    out = []
    for i, letter in enumerate(word):
        for char in LOOK_ALIKES:
            if char.upper() == letter.upper() or char.lower() == letter.lower():
                out.append(word[:i] + char + word[i + 1:])
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield asyncio.run(make_template(tmp_path_factory.mktemp("words") / "data"))


def test_there_are_look_alikes_for_the_words() -> None:
    assert {"\u0131", "\u017f", "\u212a"} <= set(LOOK_ALIKES)
    assert "p\u0131ng" in spellings("ping") and "\u212aate" in spellings("kate")


async def _answers(world: World, slot: int, *blocks: bytes) -> list[Block]:
    conn = world.conns[slot]
    assert conn is not None
    before = len(conn.sink.blocks)
    for data in blocks:
        await world.feed(slot, data)
    return conn.sink.blocks[before:]


def _codes(answers: list[Block]) -> list[str]:
    return [b.args[0] if b.verb == "ACK" else b.verb for b in answers]


async def _check(template: Path) -> None:
    async with open_world(template) as world:
        await world.store.create_user("kate", "pw-k", "Kate")
        await world.connect(0)
        await world.connect(1)
        assert await world.login(0, "alice")
        alice = world.conns[0]
        assert alice is not None
        for verb in ("PING", "DISC", "STAT", "LIST", "MESG", "HELO", "LOGN"):
            for spelled in spellings(verb):
                block = client_block(alice, f"{spelled} ONLINE")
                assert _codes(await _answers(world, 0, block)) == ["801"], spelled
        for spelled in spellings("online") + spellings("away") + spellings("offline"):
            block = client_block(alice, f"STAT {spelled}")
            assert _codes(await _answers(world, 0, block)) == ["803"], spelled
        for spelled in spellings("block") + spellings("buddy"):
            block = client_block(alice, "LIST ADD Bob", [("List", spelled)])
            assert _codes(await _answers(world, 0, block)) == ["803"], spelled
        for spelled in spellings("kate"):
            asks = [client_block(alice, f"LIST ADD {spelled}", [("List", which)])
                    for which in ("Buddy", "Block")]
            mesg = client_block(alice, "MESG", [("To", spelled), ("ACK-Type", "always")], b"x")
            assert _codes(await _answers(world, 0, *asks, mesg)) == ["820"] * 3, spelled
        # kate saw none of it: no request, no message, not blocked
        assert await world.store.pending_requests("kate") == []
        assert await world.store.count_stored("kate") == 0
        assert not await world.store.is_blocked("alice", "kate")
        # and the ASCII spellings in any case still mean what they say
        assert _codes(await _answers(world, 0, client_block(alice, "pInG"))) == ["600"]
        block = client_block(alice, "LIST add KATE", [("List", "bUdDy")], b"hi")
        assert _codes(await _answers(world, 0, block)) == ["600"]
        assert [r.requester for r in await world.store.pending_requests("kate")] == ["alice"]


def test_look_alikes_mean_nothing(template: Path) -> None:
    asyncio.run(_check(template))
