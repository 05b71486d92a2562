"""``imip decode``: one JSON object per block of a raw IMIP byte stream or of every
IMIP connection in a packet capture (pcap or pcapng, read by :mod:`imipd.capture`)."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..capture import (
    CaptureNote,
    Data,
    Direction,
    Event,
    Frame,
    Hole,
    Opened,
    Reassembler,
    Skip,
    parse_frame,
)
from ..protocol import Block, Limits, Parser, ProtocolError

CHUNK = 64 * 1024


def block_record(block: Block, offset: int, size: int) -> dict[str, Any]:
    """The JSON-ready view of one block, keys in the documented order."""
    record: dict[str, Any] = {
        "offset": offset,
        "type": block.verb,
        "args": list(block.args),
        "size": size,
        "headers": [[name, value] for name, value in block.headers],
        "empty_line": block.empty_line,
    }
    try:
        record["body"] = block.body.decode("utf-8")
    except UnicodeDecodeError:
        record["body_base64"] = base64.b64encode(block.body).decode("ascii")
    return record


def read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes as they arrive (a pipe is decoded while it is written)."""
    read = getattr(stream, "read1", stream.read)
    while chunk := read(CHUNK):
        yield chunk


def decode_stream(chunks: Iterable[bytes], limits: Limits | None = None) -> Iterator[str]:
    """One JSON line per block; raises ``ProtocolError`` at the first broken block."""
    parser = Parser(limits)
    for chunk in _and_end(chunks):
        parser.feed(chunk)
        for block in parser:  # after the end, a block left unfinished raises here
            record = block_record(block, parser.last_offset, parser.last_size)
            yield json.dumps(record, ensure_ascii=False)


def _and_end(chunks: Iterable[bytes]) -> Iterator[bytes]:
    yield from chunks
    yield b""


# -- captures ---------------------------------------------------------------------------

IMIP_PORT = 11319

_VERBS = (b"HELO", b"LOGN", b"STAT", b"LIST", b"MESG", b"PING", b"DISC", b"ACK")
# A type line with a known verb (protocol.md §2.1), then a size line: where a block may
# start in a direction whose capture began in the middle of the connection.
_BLOCK_START = re.compile(rb"(?:%s)(?: [^\r\n]*+)?\r?\n([0-9]{1,20})\r?\n" % b"|".join(_VERBS),
                          re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Note:
    """A line for standard error. ``error``: the output misses something the capture
    should have given (a broken block, a hole), and the exit status is 1."""

    text: str
    error: bool = False


def decode_capture(items: Iterable[Frame | CaptureNote], port: int = IMIP_PORT,
                   limits: Limits | None = None) -> Iterator[str | Note]:
    """One JSON line per block of every IMIP connection in a capture, in the order the
    blocks complete, with :class:`Note` lines between them; raises ``CaptureError``
    (from the reader) when the file breaks its format."""
    reassembler = Reassembler(port)
    directions: dict[tuple[int, Direction], _Direction] = {}
    skipped: Counter[Skip] = Counter()
    linktypes: set[int] = set()
    time: float | None = None

    def apply(events: list[Event]) -> Iterator[str | Note]:
        for event in events:
            key = (event.stream, event.direction)
            if isinstance(event, Opened):
                directions[key] = _Direction(event, limits)
            elif key in directions:
                if isinstance(event, Data):
                    yield from directions[key].feed(event.data, time)
                elif isinstance(event, Hole):
                    yield from directions.pop(key).hole(event.offset, event.missing)
                else:
                    yield from directions.pop(key).end(event.closed, time)

    for item in items:
        if isinstance(item, CaptureNote):
            yield Note(f"warning: {item.text}")
            continue
        time = item.time
        segment = parse_frame(item.linktype, item.data)
        if isinstance(segment, Skip):
            skipped[segment] += 1
            if segment is Skip.LINKTYPE:
                linktypes.add(item.linktype)
            continue
        yield from apply(reassembler.feed(segment))
    yield from apply(reassembler.close())
    yield from _summary(skipped, linktypes, reassembler.count, port)


def _summary(skipped: Counter[Skip], linktypes: set[int], streams: int,
             port: int) -> Iterator[Note]:
    if skipped[Skip.FRAGMENT]:
        yield Note(f"warning: IP fragments of TCP segments skipped: {skipped[Skip.FRAGMENT]} "
                   "(imip decode does not reassemble IP fragments)")
    if skipped[Skip.MALFORMED]:
        yield Note("warning: frames with a malformed or cut link, IP or TCP header "
                   f"skipped: {skipped[Skip.MALFORMED]}")
    if linktypes:
        names = ", ".join(map(str, sorted(linktypes)))
        yield Note(f"warning: frames of an unsupported link type ({names}) skipped: "
                   f"{skipped[Skip.LINKTYPE]}")
    if not streams:
        yield Note(f"warning: the capture holds no TCP connection on port {port}")


class _Direction:
    """The blocks of one direction of one connection, from its reassembled bytes."""

    def __init__(self, opened: Opened, limits: Limits | None) -> None:
        self.stream = opened.stream
        self.direction = opened.direction.value
        self.label = f"stream {opened.stream} {opened.direction.value}"
        self.limits = limits or Limits()
        self.resync = _Resync(self.limits) if opened.mid_stream else None
        self.parser = Parser(self.limits)
        self.base = 0
        """The direction's offset of the parser's first byte (bytes skipped to resync)."""
        self.stopped = False

    def feed(self, data: bytes, time: float | None) -> Iterator[str | Note]:
        if self.stopped:
            return
        if self.resync is None:
            self.parser.feed(data)
            yield from self._blocks(time)
        elif self.resync.feed(data, time, eof=False):
            yield from self._synchronised()

    def end(self, closed: bool, time: float | None) -> Iterator[str | Note]:
        """No more bytes: ``closed``, the connection ended; otherwise the capture did."""
        if self.stopped:
            return
        if self.resync is not None:
            if not self.resync.feed(b"", time, eof=True):
                self.stopped = True
                if self.resync.skipped:
                    yield Note(f"warning: {self.label}: the capture began inside the "
                               f"connection and holds no whole block of this direction "
                               f"({self.resync.skipped} bytes skipped)")
                return
            yield from self._synchronised()
            if self.stopped:
                return
        self.stopped = True
        self.parser.feed(b"")
        if closed:
            yield from self._blocks(time)
            return
        try:
            self.parser.next_block()
        except ProtocolError as error:  # the capture, not the connection, ended the block
            yield Note(f"warning: {self.label}: offset {self.base + error.offset}: the "
                       "capture ends inside a block")

    def hole(self, offset: int, missing: int) -> Iterator[Note]:
        if not self.stopped:
            self.stopped = True
            yield Note(f"{self.label}: offset {offset}: {missing} bytes are missing from "
                       "the capture (a hole): the rest of this direction is not decoded",
                       error=True)

    def _synchronised(self) -> Iterator[str | Note]:
        """A note of what was skipped, then the blocks of the bytes kept, each with the
        time of the frame that brought its last byte."""
        assert self.resync is not None
        resync, self.resync = self.resync, None
        self.base = resync.skipped
        if resync.skipped:
            yield Note(f"warning: {self.label}: the capture began inside the connection: "
                       f"{resync.skipped} bytes skipped up to the first whole block")
        for data, time in resync.arrivals():
            self.parser.feed(data)
            yield from self._blocks(time)
            if self.stopped:
                return

    def _blocks(self, time: float | None) -> Iterator[str | Note]:
        parser = self.parser
        try:
            for block in parser:
                record = {"stream": self.stream, "direction": self.direction, "time": time,
                          **block_record(block, self.base + parser.last_offset,
                                         parser.last_size)}
                yield json.dumps(record, ensure_ascii=False)
        except ProtocolError as error:
            self.stopped = True
            yield Note(f"{self.label}: offset {self.base + error.offset}: {error.reason} "
                       f"({int(error.status)})", error=True)


class _Resync:
    """Finds the first whole block of a direction whose capture began mid-stream.

    A block may start anywhere (a body does not end with a line end), so a candidate is
    any place where a type line with a known verb and a size line begin. The first
    candidate whose whole block parses is taken, and the bytes before it are skipped.
    A body that quotes a whole block can mislead this; nothing else can.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.buffer = bytearray()
        """The bytes kept: from the first possible candidate on."""
        self.skipped = 0
        """Bytes dropped before the buffer."""
        self._need = 0
        # a type line and a size line with their line ends: no candidate begins further back
        self._window = limits.type_line + len(str(limits.block_size)) + 4
        self._ends: deque[tuple[int, float | None]] = deque()
        """Where the bytes of each frame end (offsets in the direction), and its time."""

    def feed(self, data: bytes, time: float | None, *, eof: bool) -> bool:
        """Whether a block starts at ``buffer[0]`` (``skipped`` is then its offset)."""
        buffer = self.buffer
        buffer += data
        if data:
            self._ends.append((self.skipped + len(buffer), time))
        if len(buffer) < self._need and not eof:
            return False
        self._need = 0
        position = 0
        while (found := _BLOCK_START.search(buffer, position)) is not None:
            verdict = self._candidate(found, eof)
            if verdict is not False:
                self._drop(found.start())
                return verdict is True
            position = found.start() + 1
        if eof:
            self._drop(len(buffer))
            return False
        # keep what may still become a candidate: at most one line end, and not too long
        last = buffer.rfind(b"\n")
        before = buffer.rfind(b"\n", 0, max(last, 0))
        self._drop(max(position, before + 1, len(buffer) - self._window))
        return False

    def _candidate(self, found: re.Match[bytes], eof: bool) -> bool | None:
        """Whether the block ``found`` begins parses whole (None: more bytes will tell)."""
        size = int(found[1])
        if size > self.limits.block_size:
            return False
        end = found.end() + size
        if end > len(self.buffer):
            if eof:
                return False
            self._need = end - found.start()
            return None
        trial = Parser(self.limits)
        trial.feed(bytes(self.buffer[found.start():end]))
        try:
            return isinstance(trial.next_block(), Block)
        except ProtocolError:
            return False

    def arrivals(self) -> Iterator[tuple[bytes, float | None]]:
        """The buffer's bytes as their frames brought them, with each frame's time."""
        start = self.skipped
        for end, time in self._ends:
            yield bytes(self.buffer[start - self.skipped:end - self.skipped]), time
            start = end

    def _drop(self, count: int) -> None:
        del self.buffer[:count]
        self.skipped += count
        while self._ends and self._ends[0][0] <= self.skipped:
            self._ends.popleft()
