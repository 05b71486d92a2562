"""The journal of live messages: what a node still answers for, on a real file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imipd.store import KeptMessage
from imipd.store import journal as journal_module
from imipd.store.journal import FILE_NAME, FileJournal

GRUSS = "zwei Gr\u00fc\u00dfe".encode()


def test_what_is_not_acknowledged_is_left_over_in_the_order_it_was_added(
        tmp_path: Path) -> None:
    journal = FileJournal.open(tmp_path)
    bob, carol = journal.in_flight("bob"), journal.in_flight("carol")
    bob.add(10, "alice", b"one", 1.5)
    carol.add(7, "alice", b"", 5.0)
    bob.add(25, "Alice", GRUSS, 2.5)
    bob.add(40, "dave", b"three", 3.5)
    journal.flush()
    bob.acknowledge(9)  # not the whole of the first: nothing retired
    bob.acknowledge(25)  # the first two
    journal.flush()
    left = [KeptMessage("carol", "alice", b"", 5.0), KeptMessage("bob", "dave", b"three", 3.5)]
    assert FileJournal.left_over(tmp_path) == left
    assert len(bob) == 1 and bob.messages() == left[1:]
    journal.close()  # something is in flight: the file stays for the next start
    assert FileJournal.left_over(tmp_path) == left


def test_nothing_is_on_record_before_a_flush_and_all_of_it_after(tmp_path: Path) -> None:
    journal = FileJournal.open(tmp_path)
    journal.in_flight("bob").add(1, "alice", b"x", 1.0)
    assert journal.pending and FileJournal.left_over(tmp_path) == []
    journal.flush()  # one write, before the answer for it leaves
    assert not journal.pending and len(FileJournal.left_over(tmp_path)) == 1
    journal.close()


def test_a_closed_flight_leaves_nothing(tmp_path: Path) -> None:
    journal = FileJournal.open(tmp_path)
    flight = journal.in_flight("bob")
    for i in range(10):
        flight.add(i, "alice", b"%d" % i, 1.0)
    journal.flush()
    flight.close()  # (its messages went back to the store)
    assert len(flight) == 0
    journal.flush()
    assert FileJournal.left_over(tmp_path) == []
    journal.close()
    assert not (tmp_path / FILE_NAME).exists()


def test_a_new_journal_starts_empty(tmp_path: Path) -> None:
    old = FileJournal.open(tmp_path)
    old.in_flight("bob").add(1, "alice", b"x", 1.0)
    old.close()
    assert len(FileJournal.left_over(tmp_path)) == 1
    FileJournal.open(tmp_path).close()  # (what was left over was put back by then)
    assert FileJournal.left_over(tmp_path) == []


@pytest.mark.parametrize("cut", range(1, 60))
def test_a_record_cut_short_ends_the_file(tmp_path: Path, cut: int) -> None:
    journal = FileJournal.open(tmp_path)
    flight = journal.in_flight("bob")
    flight.add(4, "alice", b"kept", 1.0)
    journal.flush()
    journal.in_flight("carol").add(4, "alice", b"cut short by the crash", 1.0)
    journal.flush()
    journal.close()
    path = tmp_path / FILE_NAME
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - cut])
    assert [m.body for m in FileJournal.left_over(tmp_path)] == [b"kept"]


def test_garbage_ends_the_file_too(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not a journal at all")
    assert FileJournal.left_over(tmp_path) == []
    (tmp_path / FILE_NAME).write_bytes(b"R" + bytes(12))  # a flight never started
    assert FileJournal.left_over(tmp_path) == []


def test_a_large_file_is_rewritten_with_what_is_in_flight(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "REWRITE_AT", 4096)
    journal = FileJournal.open(tmp_path)
    slow = journal.in_flight("bob")
    slow.add(1, "alice", b"still in flight", 1.0)
    fast = journal.in_flight("carol")
    for i in range(200):
        fast.add(i, "alice", b"delivered %d" % i, 1.0)
        fast.acknowledge(i)
        journal.flush()
    assert (tmp_path / FILE_NAME).stat().st_size < 4096 + 200
    assert [m.body for m in FileJournal.left_over(tmp_path)] == [b"still in flight"]
    fast.add(500, "alice", b"after the rewrite", 2.0)
    journal.flush()
    assert [m.body for m in FileJournal.left_over(tmp_path)] == [b"still in flight",
                                                                 b"after the rewrite"]
    slow.close()
    fast.acknowledge(500)
    journal.close()
    assert not (tmp_path / FILE_NAME).exists()


def test_the_file_is_private(tmp_path: Path) -> None:
    journal = FileJournal.open(tmp_path)
    journal.in_flight("bob").add(1, "alice", b"secret", 1.0)
    journal.flush()
    assert os.stat(tmp_path / FILE_NAME).st_mode & 0o777 == 0o600
    journal.close()
