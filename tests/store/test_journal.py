"""The journal of live messages: what a node still answers for, on a real file."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest

from imipd.store import KeptMessage
from imipd.store import journal as journal_module
from imipd.store.identity import identities
from imipd.store.journal import FILE_NAME, FileJournal, LeftOver
from imipd.store.sqlite import SqliteStore

GRUSS = "zwei Gr\u00fc\u00dfe".encode()
BASE = (1 << 40) + 1
"""The first identity of incarnation 1."""


def close(journal: FileJournal) -> None:
    asyncio.run(journal.close())


def new_journal(directory: Path) -> FileJournal:
    return FileJournal.open(directory, identities(1))


def left_over(directory: Path) -> list[LeftOver]:
    return FileJournal.left_over(directory, identities(2))


def bodies(directory: Path) -> list[bytes]:
    return [m.body for each in left_over(directory) for m in each.messages]


def test_what_is_not_acknowledged_is_left_over_in_the_order_it_was_added(
        tmp_path: Path) -> None:
    journal = new_journal(tmp_path)
    bob, carol = journal.in_flight("bob"), journal.in_flight("carol")
    assert (bob.number, carol.number) == (BASE, BASE + 1)  # identities, as messages get
    bob.add(10, 101, "alice", b"one", 1.5)
    carol.add(7, 102, "alice", b"", 5.0)
    bob.add(25, 103, "Alice", GRUSS, 2.5)
    bob.add(40, 104, "dave", b"three", 3.5)
    journal.flush()
    bob.acknowledge(9)  # not the whole of the first: nothing retired
    bob.acknowledge(25)  # the first two
    journal.flush()
    left = [LeftOver(carol.number, [KeptMessage(102, "carol", "alice", b"", 5.0)]),
            LeftOver(bob.number, [KeptMessage(104, "bob", "dave", b"three", 3.5)])]
    assert left_over(tmp_path) == left
    assert len(bob) == 1 and bob.messages() == left[1].messages
    close(journal)  # something is in flight: the file stays for the next start
    assert left_over(tmp_path) == left


def test_nothing_is_on_record_before_a_flush_and_all_of_it_after(tmp_path: Path) -> None:
    journal = new_journal(tmp_path)
    journal.in_flight("bob").add(1, 5, "alice", b"x", 1.0)
    assert journal.pending and left_over(tmp_path) == []
    journal.flush()  # one write, before the answer for it leaves
    assert not journal.pending and bodies(tmp_path) == [b"x"]
    close(journal)


def test_a_released_flight_goes_back_to_the_store_and_leaves_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteStore.open_data_dir(tmp_path / "data")
        await store.create_user("bob", "pw", "Bob")
        journal = new_journal(tmp_path)
        flight = journal.in_flight("bob")
        for i in range(10):
            flight.add(i, BASE + 100 + i, "alice", b"%d" % i, float(i))
        journal.flush()
        assert await flight.release(store) == 10
        assert len(flight) == 0
        journal.flush()
        assert left_over(tmp_path) == []
        await journal.close()
        assert not (tmp_path / FILE_NAME).exists()
        assert [m.body for m in await store.stored_messages("bob", 20)] == [
            b"%d" % i for i in range(10)]
        await store.close()

    asyncio.run(main())


def test_a_new_journal_starts_empty(tmp_path: Path) -> None:
    old = new_journal(tmp_path)
    old.in_flight("bob").add(1, 5, "alice", b"x", 1.0)
    close(old)
    assert bodies(tmp_path) == [b"x"]
    close(new_journal(tmp_path))  # (what was left over was put back by then)
    assert left_over(tmp_path) == []


def two_writes(directory: Path) -> bytes:
    """A journal whose last write holds one message, cut short or not: its bytes."""
    journal = new_journal(directory)
    journal.in_flight("bob").add(4, 5, "alice", b"kept", 1.0)
    journal.flush()
    journal.in_flight("carol").add(4, 6, "alice", b"cut short by the crash", 1.0)
    journal.flush()
    close(journal)
    return (directory / FILE_NAME).read_bytes()


LAST_WRITE = struct.calcsize(">II") + struct.calcsize(">cQH") + len("carol") + struct.calcsize(
    ">cQQdHI") + len("alice") + len(b"cut short by the crash")


@pytest.mark.parametrize("cut", range(1, LAST_WRITE))
def test_a_write_cut_short_ends_the_file(tmp_path: Path, cut: int,
                                         caplog: pytest.LogCaptureFixture) -> None:
    data = two_writes(tmp_path)
    (tmp_path / FILE_NAME).write_bytes(data[:len(data) - cut])
    assert bodies(tmp_path) == [b"kept"]
    assert "the last write was cut short" in caplog.text


@pytest.mark.parametrize("after", [b"\0" * 64, bytes(range(256)),
                                   b"M" + b"\x01" * 60, b"\0\0\0\x10" + b"\xff" * 40])
@pytest.mark.parametrize("cut", range(1, LAST_WRITE))
def test_a_torn_last_write_followed_by_garbage_is_never_replayed(
        tmp_path: Path, cut: int, after: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """Cut inside its last write and followed by zeros or garbage, the journal gives back
    what came before, and nothing garbled: the damage is logged."""
    data = two_writes(tmp_path)
    (tmp_path / FILE_NAME).write_bytes(data[:len(data) - cut] + after)
    assert bodies(tmp_path) == [b"kept"]
    assert "damaged" in caplog.text or "cut short" in caplog.text


def test_a_damaged_write_in_the_middle_ends_what_is_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = bytearray(two_writes(tmp_path))
    data[-5] ^= 0x40  # one bit of the last message's body
    (tmp_path / FILE_NAME).write_bytes(bytes(data))
    assert bodies(tmp_path) == [b"kept"]
    assert "a damaged record at offset" in caplog.text


def test_garbage_is_no_journal(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not a journal at all")
    assert left_over(tmp_path) == []
    (tmp_path / FILE_NAME).write_bytes(b"R" + bytes(12))  # a flight never started
    assert left_over(tmp_path) == []


def test_a_journal_of_the_first_format_is_still_put_back(tmp_path: Path) -> None:
    """A node that died under imipd before identities leaves records without them (and
    without frames): they are read, and given identities."""
    start = struct.pack(">cQH", b"S", 1, 3) + b"bob"
    message = struct.pack(">cQdHI", b"M", 1, 2.5, 5, 5) + b"alicehello"
    second = struct.pack(">cQdHI", b"M", 1, 3.5, 5, 3) + b"alicebye"
    retired = struct.pack(">cQI", b"R", 1, 1)
    cut = struct.pack(">cQdHI", b"M", 1, 4.5, 5, 9) + b"alicecut"
    (tmp_path / FILE_NAME).write_bytes(start + message + second + retired + cut)
    next_id = identities(9)
    (left,) = FileJournal.left_over(tmp_path, next_id)
    assert left.messages == [KeptMessage((9 << 40) + 3, "bob", "alice", b"bye", 3.5)]
    assert left.flight == (9 << 40) + 1


def test_a_large_file_is_rewritten_with_what_is_in_flight(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "REWRITE_AT", 4096)
    journal = new_journal(tmp_path)
    slow = journal.in_flight("bob")
    slow.add(1, 1, "alice", b"still in flight", 1.0)
    fast = journal.in_flight("carol")
    for i in range(200):
        fast.add(i, 100 + i, "alice", b"delivered %d" % i, 1.0)
        fast.acknowledge(i)
        journal.flush()
    assert (tmp_path / FILE_NAME).stat().st_size < 4096 + 200
    assert bodies(tmp_path) == [b"still in flight"]
    fast.add(500, 500, "alice", b"after the rewrite", 2.0)
    journal.flush()
    assert bodies(tmp_path) == [b"still in flight", b"after the rewrite"]
    slow.acknowledge(1)
    fast.acknowledge(500)
    close(journal)
    assert not (tmp_path / FILE_NAME).exists()


def test_the_file_is_private(tmp_path: Path) -> None:
    journal = new_journal(tmp_path)
    journal.in_flight("bob").add(1, 1, "alice", b"secret", 1.0)
    journal.flush()
    assert os.stat(tmp_path / FILE_NAME).st_mode & 0o777 == 0o600
    close(journal)


def test_space_is_reserved_ahead_and_the_file_keeps_its_size(tmp_path: Path) -> None:
    journal = new_journal(tmp_path)
    journal.in_flight("bob").add(1, 1, "alice", b"x" * 1000, 1.0)
    journal.flush()
    info = os.stat(tmp_path / FILE_NAME)
    assert info.st_size < 1200 and info.st_blocks * 512 >= journal_module.RESERVE
    assert not journal.full
    close(journal)
