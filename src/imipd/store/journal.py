"""The journal of live messages: those handed to a recipient's connection that the
recipient's TCP has not acknowledged yet (docs/protocol.md §6.4).

A message delivered live is answered ``600`` before its bytes have reached the
recipient. Until they have, the server still answers for it. Each connection's
messages in flight are an ``InFlight`` (``Flight``): kept in memory (to go back to the store if
the connection closes before its peer has them) and mirrored in an append-only file
in the data directory, written once per loop iteration (one ``write``, before any
answer of that iteration leaves the process). After a kill -9 the page cache still
has the file, and start-up puts every message in it that was not retired back into
the store. Without ``fsync``, a power loss can lose the last entries, as
``sqlite_synchronous = normal`` can lose the last transactions.

Records (big-endian): ``S`` a connection's messages start (its number, recipient key),
``M`` a message (the connection's number, time accepted, sender, body), ``R`` the
first n messages of a connection still on record reached their recipient, ``C`` all of
them did (or went back to the store). A record cut short by a crash ends the file.
Retiring per connection and in order, rather than per message, keeps the cost of a
relayed message to one small record and two list appends.
"""

from __future__ import annotations

import bisect
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from .base import KeptMessage

log = logging.getLogger(__name__)

FILE_NAME = "journal"
REWRITE_AT = 64 * 1024 * 1024
"""The file is rewritten with only the messages still in flight once it is this large."""

_START = struct.Struct(">cQH")
_MESSAGE = struct.Struct(">cQdHI")
_RETIRED = struct.Struct(">cQI")
_CLOSED = struct.Struct(">cQ")


class Flight:
    """``InFlight`` on the journal's file."""

    __slots__ = ("_journal", "_marks", "_messages", "_out", "number", "recipient")

    def __init__(self, journal: FileJournal, number: int, recipient: str) -> None:
        """Private: use ``FileJournal.in_flight``."""
        self._journal = journal
        self._out = journal._out  # the same list for as long as the journal lives
        self.number = number
        self.recipient = recipient
        self._marks: list[int] = []
        self._messages: list[str | bytes | float] = []
        """Sender, body, time accepted, of one message after the other (flat: no object
        per message that the garbage collector would have to follow)."""

    def __len__(self) -> int:
        return len(self._marks)

    def add(self, mark: int, sender: str, body: bytes, accepted_at: float) -> None:
        """A message handed to the connection, ending at ``mark`` (once per relayed message)."""
        self._marks.append(mark)
        self._messages += (sender, body, accepted_at)
        by = sender.encode()
        self._out += (_MESSAGE.pack(b"M", self.number, accepted_at, len(by), len(body)),
                      by, body)

    def acknowledge(self, mark: int) -> None:
        """The peer has everything up to ``mark``: the messages ending there are retired."""
        count = bisect.bisect_right(self._marks, mark)
        if count:
            del self._marks[:count]
            del self._messages[:3 * count]
            self._out.append(_RETIRED.pack(b"R", self.number, count))

    def messages(self) -> list[KeptMessage]:
        """The messages still in flight, oldest first (to go back to the store)."""
        return [KeptMessage(self.recipient, sender, body, at)
                for sender, body, at in self._each()]

    def _each(self) -> Iterator[tuple[str, bytes, float]]:
        fields = iter(self._messages)
        return cast(Iterator[tuple[str, bytes, float]], zip(fields, fields, fields, strict=True))

    def close(self) -> None:
        """The connection is over and whatever it had went back to the store: retire all."""
        self._marks.clear()
        self._messages.clear()
        self._journal._close(self)


class FileJournal:
    """The journal of one node, in ``FILE_NAME`` of its data directory."""

    def __init__(self, path: Path) -> None:
        """Private: use ``open``, after ``left_over``."""
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        self._size = 0
        self._numbers = 0
        self._out: list[bytes] = []
        """Records not written yet."""
        self._open: dict[int, Flight] = {}

    @classmethod
    def left_over(cls, directory: Path) -> list[KeptMessage]:
        """The messages a previous run of the node did not retire (it died), oldest first."""
        try:
            data = (directory / FILE_NAME).read_bytes()
        except FileNotFoundError:
            return []
        messages = _unretired(data)
        if messages:
            log.warning("%d message(s) in flight when imipd stopped go back to the store",
                        len(messages))
        return messages

    @classmethod
    def open(cls, directory: Path) -> FileJournal:
        """A new, empty journal in ``directory`` (take ``left_over`` first)."""
        return cls(directory / FILE_NAME)

    def in_flight(self, recipient: str) -> Flight:
        """A new connection's messages in flight, for ``recipient`` (a user key)."""
        self._numbers += 1
        flight = self._open[self._numbers] = Flight(self, self._numbers, recipient)
        self._out.append(_start_record(flight))
        return flight

    def _close(self, flight: Flight) -> None:
        if self._open.pop(flight.number, None) is not None:
            self._out.append(_CLOSED.pack(b"C", flight.number))

    @property
    def pending(self) -> bool:
        """Whether records wait to be written (``flush``)."""
        return bool(self._out)

    def flush(self) -> None:
        """Write what waits, in one ``write``."""
        out = self._out
        if not out:
            return
        data = b"".join(out)
        out.clear()
        self._write(data)
        if self._size > REWRITE_AT:
            self._rewrite()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    def _rewrite(self) -> None:
        """Start the file again with the messages in flight only (renamed into place)."""
        fresh = self.path.with_name(self.path.name + ".new")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            old, self._fd, self._size = self._fd, fd, 0
            records: list[bytes] = []
            for flight in self._open.values():
                records.append(_start_record(flight))
                for sender, body, at in flight._each():
                    by = sender.encode()
                    records += (_MESSAGE.pack(b"M", flight.number, at, len(by), len(body)),
                                by, body)
            self._write(b"".join(records))
            os.replace(fresh, self.path)
        except BaseException:
            os.close(fd)
            raise
        os.close(old)

    def close(self) -> None:
        """Write what waits; the file goes when no message in it is in flight."""
        self.flush()
        os.close(self._fd)
        if not any(self._open.values()):
            self.path.unlink(missing_ok=True)


def _start_record(flight: Flight) -> bytes:
    to = flight.recipient.encode()
    return _START.pack(b"S", flight.number, len(to)) + to


def _unretired(data: bytes) -> list[KeptMessage]:
    """The messages of a journal file that were not retired, in the order they were added."""
    recipients: dict[int, str] = {}
    flights: dict[int, list[tuple[int, KeptMessage]]] = {}
    added = 0
    at = 0
    end = len(data)
    try:
        while at < end:
            kind = data[at:at + 1]
            if kind == b"M":
                _, number, when, n_by, n_body = _MESSAGE.unpack_from(data, at)
                start = at + _MESSAGE.size
                at = start + n_by + n_body
                if at > end:
                    break  # cut short by the crash: never answered
                message = KeptMessage(recipients[number], data[start:start + n_by].decode(),
                                      data[start + n_by:at], when)
                flights[number].append((added, message))
                added += 1
            elif kind == b"S":
                _, number, n_to = _START.unpack_from(data, at)
                start = at + _START.size
                at = start + n_to
                if at > end:
                    break
                recipients[number] = data[start:at].decode()
                flights[number] = []
            elif kind == b"R":
                _, number, count = _RETIRED.unpack_from(data, at)
                at += _RETIRED.size
                del flights[number][:count]
            elif kind == b"C":
                _, number = _CLOSED.unpack_from(data, at)
                at += _CLOSED.size
                flights.pop(number, None)
            else:
                break  # not a journal record: what came before counts
    except (struct.error, KeyError, UnicodeDecodeError):
        pass  # cut short, or not a journal: what came before counts
    return [message for _, message in sorted(
        (entry for flight in flights.values() for entry in flight), key=lambda e: e[0])]
