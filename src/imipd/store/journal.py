"""The journal of live messages: those handed to a recipient's connection that the
recipient's TCP has not acknowledged yet (docs/protocol.md §6.4).

A message delivered live is answered ``600`` before its bytes have reached the
recipient. Until they have, the server still answers for it. Each connection's
messages in flight are an ``InFlight`` (``Flight``): kept in memory (to go back to the
store if the connection closes before its peer has them) and mirrored in an
append-only file in the data directory, written once per loop iteration (one write,
before any answer of that iteration leaves the process). After a kill -9 the page
cache still has the file, and start-up puts every message in it that was not retired
back into the store. Without ``fsync``, a power loss can lose the last entries, as
``sqlite_synchronous = normal`` can lose the last transactions.

The file: ``MAGIC``, then *frames*, one per write: payload length and CRC-32
(big-endian), then records. A frame cut short (the process died in the write: none
of its answers had left) or damaged ends what is read, and is logged; everything
before it counts. Records: ``S`` a record of messages in flight begins (its number,
the recipient key), ``M`` a message (the record's number, the message's identity, time
accepted, sender, body), ``R`` the first n messages of a record still on it reached
their recipient, ``C`` all of them did (or went back to the store). Retiring per
connection and in order, rather than per message, keeps the cost of a relayed message
to one small record and two list appends.

A full disk must not lose a message answered ``600``: the journal reserves the disk
space it will write into ahead of time (``fallocate``), and counts what the messages
recorded since the last write take of it. When no more can be reserved and what is
left is taken, it is ``full``: the service takes no message until there is room again
(the sender gets ``890``: nothing was accepted). A write that fails anyway is kept and
tried again, and never holds back what the connections write.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, cast

from .base import KeptMessage, Store

log = logging.getLogger(__name__)

FILE_NAME = "journal"
MAGIC = b"IMIPJ2\r\n"
"""The first bytes of a journal in this format (a file without them is read as the first
format, which had no frames and no identities)."""
REWRITE_AT = 64 * 1024 * 1024
"""The file is rewritten with only the messages still in flight once it is this large."""
RESERVE = 1024 * 1024
"""Bytes reserved on disk at a time; more are reserved once less than half is left."""
MARGIN = 256 * 1024
"""Reserved bytes messages never take: the records that retire them, and the one message
that may cross the line before the journal knows it is full."""
RETRY_EVERY = 1.0
"""Seconds between attempts to reserve (or write) again while that fails."""
_UNLIMITED = 1 << 62
"""What is reserved where nothing can be (any size is taken as room)."""

_FRAME = struct.Struct(">II")
_frame = _FRAME.pack
_START = struct.Struct(">cQH")
_MESSAGE = struct.Struct(">cQQdHI")
_RETIRED = struct.Struct(">cQI")
_CLOSED = struct.Struct(">cQ")
_RECORD_MOST = _MESSAGE.size + 64
"""At most the bytes of a message's record beyond its body (a user name has 64 at most)."""
_V1_START = struct.Struct(">cQH")
_V1_MESSAGE = struct.Struct(">cQdHI")


class LeftOver(NamedTuple):
    """What one record of messages in flight still held when the node stopped."""

    flight: int
    """The record's number (what the store was told when messages left it for this one)."""
    messages: list[KeptMessage]
    """Oldest first."""


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
        self._messages: list[int | str | bytes | float] = []
        """Identity, sender, body, time accepted, of one message after the other (flat: no
        object per message that the garbage collector would have to follow)."""

    def __len__(self) -> int:
        return len(self._marks)

    def add(self, mark: int, id: int, sender: str, body: bytes, accepted_at: float) -> None:
        """A message handed to the connection, ending at ``mark`` (once per relayed message)."""
        self._marks.append(mark)
        self._messages += (id, sender, body, accepted_at)
        by = sender.encode()
        self._out += (_MESSAGE.pack(b"M", self.number, id, accepted_at, len(by), len(body)),
                      by, body)
        journal = self._journal
        journal._left -= len(body) + _RECORD_MOST
        if journal._left < 0:
            journal._no_room()

    def acknowledge(self, mark: int) -> None:
        """The peer has everything up to ``mark``: the messages ending there are retired."""
        count = bisect.bisect_right(self._marks, mark)
        if count:
            del self._marks[:count]
            del self._messages[:4 * count]
            self._out.append(_RETIRED.pack(b"R", self.number, count))

    def messages(self) -> list[KeptMessage]:
        """The messages still in flight, oldest first (to go back to the store)."""
        return [KeptMessage(id, self.recipient, sender, body, at)
                for id, sender, body, at in self._each()]

    def _each(self) -> Iterator[tuple[int, str, bytes, float]]:
        fields = iter(self._messages)
        return cast(Iterator[tuple[int, str, bytes, float]],
                    zip(fields, fields, fields, fields, strict=True))

    async def release(self, store: Store) -> int:
        kept = await store.keep_messages(self.messages(), self.number) if self._marks else 0
        self._marks.clear()  # only now: what it had is in the store
        self._messages.clear()
        self._journal._close(self)
        return kept


class FileJournal:
    """The journal of one node, in ``FILE_NAME`` of its data directory."""

    recorded = committed = 0  # written at once, before any answer: nothing waits for it
    claims = False

    def __init__(self, path: Path, next_id: Callable[[], int]) -> None:
        """Private: use ``open``, after ``left_over``."""
        self.path = path
        self.next_id = next_id
        self.full = False
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        self._size = 0
        self._out: list[bytes] = []
        """Records not written yet."""
        self._unwritten = b""
        """Frames a write could not take (a full disk), written before anything else."""
        self._open: dict[int, Flight] = {}
        self._reserved = 0
        """The file's size up to which the disk space is reserved (``_UNLIMITED``: reserving
        is not possible here)."""
        self._left = 0
        """Bytes messages may still take of the reserved space (``Flight.add`` counts)."""
        self._mend_at = 0
        """The file's size from which a flush reserves more (or rewrites it): 0 while full."""
        self._trouble: str | None = None
        """Why the journal is ``full`` (logged once per episode)."""
        self._retry_at = 0.0
        self._has_room = asyncio.Event()
        try:
            self._reserve(RESERVE)
            self._write(MAGIC)
        except OSError as error:
            self._unwritten = MAGIC
            self._trouble_with(error)
        else:
            self._settle()

    @classmethod
    def left_over(cls, directory: Path, next_id: Callable[[], int]) -> list[LeftOver]:
        """What a previous run of the node did not retire (it died), per record of messages
        in flight. ``next_id`` gives identities to messages of the first format, which had
        none."""
        try:
            data = (directory / FILE_NAME).read_bytes()
        except FileNotFoundError:
            return []
        left = _unretired(data) if data.startswith(MAGIC) else _unretired_v1(data, next_id)
        count = sum(len(each.messages) for each in left)
        if count:
            log.warning("%d message(s) in flight when imipd stopped go back to the store",
                        count)
        return left

    @classmethod
    def open(cls, directory: Path, next_id: Callable[[], int]) -> FileJournal:
        """A new, empty journal in ``directory`` (take ``left_over`` first), which gives
        identities from ``next_id``."""
        return cls(directory / FILE_NAME, next_id)

    def in_flight(self, recipient: str) -> Flight:
        """A new connection's messages in flight, for ``recipient`` (a user key)."""
        flight = Flight(self, self.next_id(), recipient)
        self._open[flight.number] = flight
        self._out.append(_start_record(flight))
        return flight

    def _close(self, flight: Flight) -> None:
        if self._open.pop(flight.number, None) is not None:
            self._out.append(_CLOSED.pack(b"C", flight.number))

    @property
    def pending(self) -> bool:
        """Whether records wait to be written (``flush``)."""
        return bool(self._out) or bool(self._unwritten)

    async def room(self) -> None:
        """Until the journal is not ``full``."""
        if self.full:
            await self._has_room.wait()

    def when_committed(self, count: int, callback: Callable[[], None]) -> None:
        callback()  # (never asked: nothing waits)

    async def settled(self) -> None:
        return  # (written at once)

    # -- writing ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what waits, in one frame; never raises (a failed write is kept and tried
        again). While the journal is full, also try now and then to make room."""
        out = self._out
        if out:
            data = b"".join(out)
            out.clear()
            header = _frame(len(data), zlib.crc32(data))
            if self._unwritten:  # (after them: the file keeps the order of the records)
                self._unwritten += header + data
            else:
                try:
                    self._write(header, data)
                except OSError as error:
                    self._trouble_with(error)
        if self._size >= self._mend_at:
            self._mend()

    def _write(self, header: bytes, data: bytes = b"") -> None:
        """Append ``header`` and ``data`` (``_unwritten`` is empty); what is not written is
        kept there, and the error raised."""
        try:
            written = os.writev(self._fd, (header, data))
        except OSError:
            self._unwritten = header + data
            raise
        self._size += written
        if written < len(header) + len(data):
            self._unwritten = (header + data)[written:]
            raise OSError(errno.ENOSPC, "a write was cut short", str(self.path))

    def _mend(self) -> None:
        """Write what a failed write left, reserve more space, rewrite a large file, and say
        whether there is room again; at most every ``RETRY_EVERY`` while that fails."""
        now = time.monotonic()
        if self._trouble is not None and now < self._retry_at:
            return
        try:
            if self._unwritten:
                rest, self._unwritten = self._unwritten, b""
                self._write(rest)
            if self._reserved - self._size < RESERVE // 2:
                self._reserve(self._size + RESERVE)
        except OSError as error:
            self._trouble_with(error)
            return
        if self._size > REWRITE_AT:
            try:
                self._rewrite()
            except OSError as error:  # the file as it is serves on
                log.warning("journal: cannot start it again smaller: %s", error)
        self._settle()

    def _reserve(self, end: int) -> None:
        """Reserve the disk space for the file up to ``end`` bytes (raises ``OSError``)."""
        if end <= self._reserved or self._reserved == _UNLIMITED:
            return
        if _fallocate is None:
            self._cannot_reserve("this system has no fallocate")
            return
        start = self._reserved
        if _fallocate(self._fd, _KEEP_SIZE, start, end - start) != 0:
            code = ctypes.get_errno()
            if code in (errno.EOPNOTSUPP, errno.ENOSYS):
                self._cannot_reserve(os.strerror(code))
                return
            raise OSError(code, os.strerror(code), str(self.path))
        self._reserved = end

    def _cannot_reserve(self, why: str) -> None:
        log.warning("the journal cannot reserve disk space ahead (%s): a full disk is noticed "
                    "only when a write fails", why)
        self._reserved = _UNLIMITED

    def _settle(self) -> None:
        """Count what messages may take now; no longer full when that is enough."""
        self._left = self._reserved - self._size - MARGIN
        self._mend_at = min(self._reserved - RESERVE // 2, REWRITE_AT + 1)
        if self._left >= RESERVE // 4 and not self._unwritten and self.full:
            self.full = False
            self._trouble = None
            self._has_room.set()
            log.warning("journal has room again: live messages are taken")
        elif not self.full:
            self._has_room.set()

    def _no_room(self) -> None:
        """Messages took what was left of the reserved space: reserve more at once, or the
        journal is full."""
        if self.full:
            return
        try:
            self._reserve(self._reserved + RESERVE)
        except OSError as error:
            self._trouble_with(error)
        else:
            self._left += RESERVE
            self._mend_at = min(self._reserved - RESERVE // 2, REWRITE_AT + 1)

    def _trouble_with(self, error: OSError) -> None:
        self._left = -1
        self._mend_at = 0
        if self._trouble is None:
            self._trouble = error.strerror or str(error)
            log.error("journal full: %s: live messages are refused (890) until there is room",
                      self._trouble)
        self.full = True
        self._has_room.clear()
        self._retry_at = time.monotonic() + RETRY_EVERY

    def _rewrite(self) -> None:
        """Start the file again with the messages in flight only (renamed into place)."""
        fresh = self.path.with_name(self.path.name + ".new")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            records: list[bytes] = []
            for flight in self._open.values():
                records.append(_start_record(flight))
                for id, sender, body, at in flight._each():
                    by = sender.encode()
                    records += (_MESSAGE.pack(b"M", flight.number, id, at, len(by), len(body)),
                                by, body)
            data = b"".join(records)
            frame = MAGIC + (_FRAME.pack(len(data), zlib.crc32(data)) + data if data else b"")
            reserve = len(frame) + RESERVE
            if _fallocate is not None and self._reserved != _UNLIMITED \
                    and _fallocate(fd, _KEEP_SIZE, 0, reserve) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), str(fresh))
            view = memoryview(frame)
            while view:
                view = view[os.write(fd, view):]
            os.replace(fresh, self.path)
        except BaseException:
            os.close(fd)
            fresh.unlink(missing_ok=True)
            raise
        os.close(self._fd)
        self._fd, self._size = fd, len(frame)
        if self._reserved != _UNLIMITED:
            self._reserved = reserve

    async def close(self) -> None:
        """Write what waits; the file goes when no message in it is in flight."""
        self._retry_at = 0.0
        self.flush()
        if self._unwritten:
            log.error("journal: %d bytes could not be written before the end",
                      len(self._unwritten))
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._size)  # the space reserved beyond goes
        os.close(self._fd)
        if not any(self._open.values()):
            self.path.unlink(missing_ok=True)


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    """libc's ``fallocate`` (Linux), which reserves space without changing the file's size."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], function)


_fallocate = _load_fallocate()
_KEEP_SIZE = 1
"""``FALLOC_FL_KEEP_SIZE``: the file keeps its size, so appends go into the reserved space."""


def _start_record(flight: Flight) -> bytes:
    to = flight.recipient.encode()
    return _START.pack(b"S", flight.number, len(to)) + to


class _Replay:
    """Records applied in order: what each record of messages in flight still holds."""

    def __init__(self) -> None:
        self.recipients: dict[int, str] = {}
        self.flights: dict[int, list[tuple[int, KeptMessage]]] = {}
        self.added = 0

    def start(self, number: int, recipient: str) -> None:
        self.recipients[number] = recipient
        self.flights[number] = []

    def message(self, number: int, message: KeptMessage) -> None:
        self.flights[number].append((self.added, message))
        self.added += 1

    def retire(self, number: int, count: int) -> None:
        del self.flights[number][:count]

    def close(self, number: int) -> None:
        self.flights.pop(number, None)

    def left(self) -> list[LeftOver]:
        """Per record, in the order its first message was added."""
        held = [(entries[0][0], number, [message for _, message in entries])
                for number, entries in self.flights.items() if entries]
        return [LeftOver(number, messages) for _, number, messages in sorted(held)]


def _unretired(data: bytes) -> list[LeftOver]:
    """What a journal file holds that was not retired; logs where it stops early."""
    replay = _Replay()
    at = len(MAGIC)
    end = len(data)
    while at < end:
        if end - at < _FRAME.size:
            _cut_short(at, end)
            break
        length, crc = _FRAME.unpack_from(data, at)
        start = at + _FRAME.size
        if start + length > end:
            _cut_short(at, end)
            break
        payload = data[start:start + length]
        if not length or zlib.crc32(payload) != crc or not _apply(payload, replay):
            log.error("journal: a damaged record at offset %d is dropped, with the %d "
                      "byte(s) after it", at, end - at)
            break
        at = start + length
    return replay.left()


def _cut_short(at: int, end: int) -> None:
    log.warning("journal: the last write was cut short (%d byte(s) at offset %d): it is "
                "dropped (none of its answers had left)", end - at, at)


def _apply(payload: bytes, replay: _Replay) -> bool:
    """Apply one frame's records; False when they do not parse (which a frame whose checksum
    holds never does: it is what was written)."""
    at, end = 0, len(payload)
    try:
        while at < end:
            kind = payload[at:at + 1]
            if kind == b"M":
                _, number, id, when, n_by, n_body = _MESSAGE.unpack_from(payload, at)
                start = at + _MESSAGE.size
                at = start + n_by + n_body
                if at > end:
                    return False
                replay.message(number, KeptMessage(
                    id, replay.recipients[number], payload[start:start + n_by].decode(),
                    payload[start + n_by:at], when))
            elif kind == b"S":
                _, number, n_to = _START.unpack_from(payload, at)
                start = at + _START.size
                at = start + n_to
                if at > end:
                    return False
                replay.start(number, payload[start:at].decode())
            elif kind == b"R":
                _, number, count = _RETIRED.unpack_from(payload, at)
                at += _RETIRED.size
                replay.retire(number, count)
            elif kind == b"C":
                _, number = _CLOSED.unpack_from(payload, at)
                at += _CLOSED.size
                replay.close(number)
            else:
                return False
    except (struct.error, KeyError, UnicodeDecodeError):
        return False
    return True


def _unretired_v1(data: bytes, next_id: Callable[[], int]) -> list[LeftOver]:
    """The first format (before identities and frames): records one after the other, a
    record cut short by a crash ending the file. Its messages get identities now."""
    replay = _Replay()
    numbers: dict[int, int] = {}
    at, end = 0, len(data)
    try:
        while at < end:
            kind = data[at:at + 1]
            if kind == b"M":
                _, old, when, n_by, n_body = _V1_MESSAGE.unpack_from(data, at)
                start = at + _V1_MESSAGE.size
                at = start + n_by + n_body
                if at > end:
                    break
                number = numbers[old]
                replay.message(number, KeptMessage(
                    next_id(), replay.recipients[number], data[start:start + n_by].decode(),
                    data[start + n_by:at], when))
            elif kind == b"S":
                _, old, n_to = _V1_START.unpack_from(data, at)
                start = at + _V1_START.size
                at = start + n_to
                if at > end:
                    break
                numbers[old] = next_id()
                replay.start(numbers[old], data[start:at].decode())
            elif kind == b"R":
                _, old, count = _RETIRED.unpack_from(data, at)
                at += _RETIRED.size
                replay.retire(numbers[old], count)
            elif kind == b"C":
                _, old = _CLOSED.unpack_from(data, at)
                at += _CLOSED.size
                replay.close(numbers[old])
            else:
                break
    except (struct.error, KeyError, UnicodeDecodeError):
        pass  # cut short: what came before counts
    return replay.left()
