"""Generated client traffic: blocks right for their phase, subtly wrong, or mutated.

Every decision comes from a ``Chooser`` (tests/fuzz/choosers.py), so one tape of bytes
replays one run.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from imipd.imip import Phase
from imipd.protocol import Limits, digest
from imipd.store import name_key

from .choosers import ByteChooser, Chooser, chance, pick
from .world import (
    PASSWORDS,
    PEERS,
    SLOTS,
    SMALL_LIMITS,
    USERS,
    Conn,
    World,
    open_world,
    wire,
)

RAW_MAX = 400
"""Longest run of raw client bytes one step feeds (room for the worked examples)."""
MAX_STEPS = 60
"""Steps one tape drives at most."""

NAMES = ("alice", "ALICE", "Bob", "bob", "carol", "Carol", "nobody", "dave", "a b", "",
         "-", "x" * 65, "\u00e9l\u00e8ve")
VERBS = ("HELO", "LOGN", "STAT", "LIST", "MESG", "PING", "DISC", "ACK",
         "helo", "Mesg", "stat", "NOPE", "GET", "\u00fc", "ACKS")
BAD_IDS = ("", "abc", "-1", "1.5", "\u0663", "9" * 40, "0001", " 12 ", "1 2", "0x1")
EXTRA_HEADERS = ((b"From", b"mallory"), (b"X-Junk", b"\xff\xfe"), (b"Reference", b"77"),
                 (b"Client", b"fuzz 1.0"), (b"ListX", b"Buddy"), (b"to", b"carol"))


def _phase_kind(chooser: Chooser, conn: Conn) -> str:
    phase = conn.session.phase
    if chance(chooser, 25):
        return pick(chooser, ("HELO", "LOGN", "STAT", "LIST", "MESG", "PING", "DISC", "ACK",
                              "random"))
    if phase is Phase.CONNECTED:
        return "HELO"
    if phase is Phase.GREETED:
        return "LOGN"
    if phase is Phase.LOGGED_IN:
        return pick(chooser, ("STAT", "STAT", "MESG", "LIST"))
    return pick(chooser, ("MESG", "MESG", "MESG", "LIST", "LIST", "STAT", "ACK", "PING"))


def _body(chooser: Chooser, limit: int) -> bytes:
    size = pick(chooser, (0, 3, 20, limit - 1, limit, limit + 1))
    if size <= 40:
        return chooser.binary(max(size, 0))
    return bytes([chooser.integer(0x20, 0xFF)]) * size


def make_block(world: World, conn: Conn, chooser: Chooser) -> bytes:
    """One client block for ``conn``: mostly right for its phase, sometimes subtly wrong."""
    kind = _phase_kind(chooser, conn)
    limits = world.limits
    args: list[str] = []
    headers: list[tuple[bytes, bytes]] = []
    body: bytes | None = b"" if chance(chooser, 70) else None
    verb = kind if chance(chooser, 92) else pick(chooser, VERBS)
    if kind == "HELO":
        if chance(chooser, 90):
            headers.append((b"Protocol", pick(chooser, (b"IMIP/1.0", b"IMIP/1.0",
                                                        b"imip/1.0", b"IMIP/2.0"))))
    elif kind == "LOGN":
        user = pick(chooser, NAMES) if chance(chooser, 20) else pick(chooser, USERS)[0]
        if user:
            args.append(user)
        if chance(chooser, 5):
            args.append("extra")
        if chance(chooser, 80):
            headers.append((b"Auth-Type", pick(chooser, (b"imip-md5", b"IMIP-MD5", b"plain"))))
        headers.append((b"Client", b"fuzz"))
        password = PASSWORDS.get(name_key(user), "wrong")
        right = digest(conn.challenge, password)
        body = pick(chooser, (right.encode(), right.encode(), right.upper().encode(),
                              b"0" * 32, right[:31].encode(), chooser.binary(40)))
    elif kind == "STAT":
        args.append(pick(chooser, ("ONLINE", "AWAY", "BUSY", "OFFLINE", "online", "Away",
                                   "HAPPY", "")))
        if chance(chooser, 5):
            args.append("NOW")
        if chance(chooser, 40):
            body = _body(chooser, limits.stat_text)
    elif kind == "LIST":
        op = pick(chooser, ("ADD", "ADD", "REMOVE", "GET", "add", "SHOW", ""))
        if op:
            args.append(op)
        if op.upper() != "GET" or chance(chooser, 5):
            target = pick(chooser, NAMES) if chance(chooser, 30) else pick(chooser, USERS)[0]
            if target:
                args.append(target)
        if chance(chooser, 85):
            headers.append((b"List", pick(chooser, (b"Buddy", b"Buddy", b"Block", b"buddy",
                                                    b"BLOCK", b"Other", b""))))
        if op.upper() == "ADD" and chance(chooser, 60):
            body = _body(chooser, limits.list_add_text)
    elif kind == "MESG":
        to = pick(chooser, NAMES) if chance(chooser, 25) else pick(chooser, USERS)[0]
        if chance(chooser, 95):
            headers.append((b"To", to.encode()))
        if chance(chooser, 85):
            headers.append((b"ACK-Type", pick(chooser, (b"always", b"always", b"errors-only",
                                                        b"none", b"ALWAYS", b"bogus", b""))))
        marker = world.marker()
        prefix = _body(chooser, limits.mesg_body - len(marker))
        body = prefix + marker
    elif kind == "ACK":
        args.append(pick(chooser, ("600", "600", "822", "811", "")))
        if conn.requests and chance(chooser, 80):
            reference = pick(chooser, conn.requests)
        else:
            reference = str(chooser.integer(0, 40))
        headers.append((b"Reference", reference.encode()))
    elif kind == "random":
        verb = chooser.text(12).replace(" ", "").replace("\n", "") or "X"
        args.extend(a for a in chooser.text(12).split(" ") if a)
    if chance(chooser, 15):
        headers.append(pick(chooser, EXTRA_HEADERS))
    block_id = str(conn.next_id)
    conn.next_id += 1
    id_value = block_id.encode() if chance(chooser, 92) else pick(chooser, BAD_IDS).encode()
    id_name = b"ID" if chance(chooser, 95) else pick(chooser, (b"id", b"Id", b"I D", b"ID "))
    if chance(chooser, 97):
        headers.insert(chooser.integer(0, len(headers)), (id_name, id_value))
    if chance(chooser, 2):
        headers.append((b"ID", id_value))
    if body is None and chance(chooser, 50):
        body = b""
    type_line = " ".join([verb, *args]).encode("utf-8", "surrogatepass")
    if chance(chooser, 3):
        type_line = pick(chooser, (b"  ", b"", b"\xff", type_line + b"\t", type_line * 40))
    eol = b"\r\n" if chance(chooser, 90) else b"\n"
    size_delta = 0 if chance(chooser, 95) else chooser.integer(-3, 3)
    return wire(type_line, headers, body, size_delta, eol)


def mutate(data: bytes, chooser: Chooser) -> bytes:
    """A small byte-level change: flip, insert, delete, truncate or repeat."""
    if not data:
        return chooser.binary(16)
    at = chooser.integer(0, len(data) - 1)
    how = chooser.integer(0, 4)
    if how == 0:
        return data[:at] + bytes([chooser.integer(0, 255)]) + data[at + 1:]
    if how == 1:
        return data[:at] + chooser.binary(4) + data[at:]
    if how == 2:
        return data[:at] + data[at + 1:]
    if how == 3:
        return data[:at]
    return data + data[at:]


async def random_step(world: World, chooser: Chooser) -> None:
    """One step of traffic: a block (maybe mutated, maybe in pieces), garbage, a hang-up, a
    new connection, or blocks for several connections handled concurrently."""
    slot = chooser.integer(0, SLOTS - 1)
    conn = world.conns[slot]
    if conn is None or conn.ended:
        conn = await world.connect(slot, pick(chooser, PEERS))
        if chance(chooser, 60):  # most connections log in straight away
            await world.login(slot, pick(chooser, USERS)[0], online=chance(chooser, 80))
        return
    op = chooser.integer(0, 99)
    if op < 3:
        await world.hang_up(slot, eof=chance(chooser, 50))
    elif op < 5:
        await world.connect(slot, pick(chooser, PEERS))
    elif op < 9:
        if raw := chooser.binary(RAW_MAX):
            await world.feed(slot, raw)
    elif op < 18:
        chunks: list[tuple[int, bytes]] = []
        for other in range(SLOTS):
            peer = world.conns[other]
            if peer is not None and not peer.ended and chance(chooser, 70):
                chunks.extend((other, make_block(world, peer, chooser))
                              for _ in range(chooser.integer(1, 3)))
        await world.feed_together(chunks)
    else:
        data = make_block(world, conn, chooser)
        if chance(chooser, 8):
            data = mutate(data, chooser)
        pieces = chooser.integer(1, 3)
        cuts = sorted(chooser.integer(0, len(data)) for _ in range(pieces - 1))
        bounds = [0, *cuts, len(data)]
        for a, b in itertools.pairwise(bounds):
            if a < b:
                await world.feed(slot, data[a:b])


async def run_tape(template: Path, tape: bytes) -> World:
    """Everything one fuzz input decides: limits, error reasons, and the steps.

    The first byte picks the limits (default or ``SMALL_LIMITS``) and whether error
    ACKs carry reasons; the rest drives ``random_step`` until it runs out (at most
    ``MAX_STEPS``). Then every user collects and the ledger is checked.
    """
    chooser = ByteChooser(tape)
    flags = chooser.integer(0, 3)
    limits = SMALL_LIMITS if flags & 1 else Limits()
    async with open_world(template, limits=limits, error_reasons=bool(flags & 2)) as world:
        for _ in range(MAX_STEPS):
            if chooser.exhausted:
                break
            await random_step(world, chooser)
        await world.finish()
        return world
