"""TCP reassembly: the segments of a capture back into one byte stream per direction.

This exists because a capture holds segments, not streams: the same bytes twice
(retransmissions, overlapping or not), segments in the wrong order, several
connections interleaved, and sometimes not every segment (a hole). The block parser
needs each direction's bytes exactly once and in order, and needs to be told where the
bytes stop being trustworthy.

A connection is told apart by its 4-tuple; its server is the endpoint on the IMIP port.
Connections are numbered from 0 in the order their first segment appears, as tshark's
``tcp.stream`` numbers them in a capture that holds only IMIP traffic. A client's SYN
on a 4-tuple whose connection has seen a FIN or RST starts a new connection, and so does
one that is not a retransmission of the connection's own SYN (the capture missed the
end of the old connection).

Each direction starts at its SYN. When the capture has no SYN for a direction (it began
in the middle of the connection), the direction starts at the first segment that
carries data, and :class:`Opened` says so. Sequence numbers are compared modulo 2**32,
so a connection that wraps around is read like any other.

Data that comes after missing data waits for it (the capture may hold segments out of
order). It is declared a :class:`Hole`, and that direction ends there, only when waiting
cannot help any more: at the end of the capture, when the connection is reset or
replaced by a new one, or when more than :data:`MAX_WAITING` bytes wait.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .packets import Endpoint, TcpSegment

MAX_WAITING = 16 * 1024 * 1024
"""Bytes waiting behind missing data after which the missing data is declared lost."""

_WRAP = 2**32
_HALF = 2**31


class Direction(enum.Enum):
    """Which way the bytes of a direction flow."""

    CLIENT_TO_SERVER = "client-to-server"
    SERVER_TO_CLIENT = "server-to-client"


@dataclass(frozen=True, slots=True)
class Opened:
    """A direction's first byte is known; ``mid_stream``: it is not the connection's first
    (no SYN was captured), so the bytes may begin in the middle of a block."""

    stream: int
    direction: Direction
    mid_stream: bool


@dataclass(frozen=True, slots=True)
class Data:
    """The next bytes of a direction, in order; ``offset`` is that of ``data[0]`` in the
    direction's reassembled stream."""

    stream: int
    direction: Direction
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Ended:
    """A direction has no more bytes. ``closed``: its connection ended (FIN or RST);
    otherwise the capture (or the connection's record in it) ended first."""

    stream: int
    direction: Direction
    closed: bool


@dataclass(frozen=True, slots=True)
class Hole:
    """A direction lost ``missing`` bytes at ``offset`` (never captured); it ends here."""

    stream: int
    direction: Direction
    offset: int
    missing: int


Event = Opened | Data | Ended | Hole


@dataclass(slots=True)
class _Half:
    """One direction of a connection being put back together."""

    stream: int
    direction: Direction
    base: int = -1
    """The sequence number of the direction's byte at offset 0 (-1: not known yet)."""
    offset: int = 0
    """The offset of the next byte to deliver."""
    waiting: dict[int, bytes] = field(default_factory=dict)
    """Segments that came before the bytes in front of them, by offset."""
    waiting_bytes: int = 0
    fin: int | None = None
    """The offset of the FIN, once seen."""
    done: bool = False

    def position(self, seq: int) -> int:
        """The offset of sequence number ``seq``: the one nearest the current offset."""
        return self.offset + ((seq - self.base - self.offset + _HALF) % _WRAP - _HALF)

    def add(self, segment: TcpSegment, events: list[Event]) -> None:
        seq = segment.seq
        if segment.syn:
            seq = (seq + 1) % _WRAP  # the SYN takes one sequence number
            if self.base < 0:
                self.base = seq
                events.append(Opened(self.stream, self.direction, mid_stream=False))
        if self.done:
            return
        if self.base < 0:
            if not (segment.length or segment.fin):
                return  # a pure ACK says nothing about where the data starts
            self.base = seq
            events.append(Opened(self.stream, self.direction, mid_stream=True))
        start = self.position(seq)
        if segment.fin and self.fin is None:
            self.fin = start + segment.length
        if segment.payload:
            self._take(start, segment.payload, events)
        if self.fin is not None and self.offset >= self.fin:
            self.done = True
            events.append(Ended(self.stream, self.direction, closed=True))
        elif self.waiting_bytes > MAX_WAITING:
            self.give_up(events, closed=False)

    def _take(self, start: int, data: bytes, events: list[Event]) -> None:
        end = start + len(data)
        if end <= self.offset:
            return  # a retransmission of bytes delivered already
        if start > self.offset:
            if len(data) > len(self.waiting.get(start, b"")):
                self.waiting_bytes += len(data) - len(self.waiting.get(start, b""))
                self.waiting[start] = data
            return
        pieces = [data[self.offset - start:]]
        self.offset = end
        for later in sorted(self.waiting):
            if later > self.offset:
                break
            piece = self.waiting.pop(later)
            self.waiting_bytes -= len(piece)
            if later + len(piece) > self.offset:
                pieces.append(piece[self.offset - later:])
                self.offset = later + len(piece)
        events.append(Data(self.stream, self.direction, self.offset - sum(map(len, pieces)),
                           b"".join(pieces)))

    def give_up(self, events: list[Event], *, closed: bool) -> None:
        """End the direction: a hole if bytes are known to be missing."""
        if self.done or self.base < 0:
            self.done = True
            return
        self.done = True
        ahead = [*self.waiting, *([] if self.fin is None else [self.fin])]
        if ahead:
            events.append(Hole(self.stream, self.direction, self.offset,
                               min(ahead) - self.offset))
        else:
            events.append(Ended(self.stream, self.direction, closed))
        self.waiting.clear()
        self.waiting_bytes = 0


@dataclass(slots=True)
class _Connection:
    number: int
    client: Endpoint
    server: Endpoint
    halves: tuple[_Half, _Half]
    client_isn: int | None = None
    """The sequence number of the client's SYN, once seen."""
    closing: bool = False
    """A FIN or RST was seen: a SYN on the same 4-tuple starts a new connection."""

    def replaced_by(self, segment: TcpSegment) -> bool:
        """Whether ``segment`` (a client's SYN) opens a new connection on this 4-tuple:
        this one is closing, or the SYN is not a retransmission of its own."""
        return self.closing or segment.seq != self.client_isn


class Reassembler:
    """Turns the segments of a capture, in capture order, into :data:`Event` values for
    the connections on one port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._current: dict[tuple[Endpoint, Endpoint], _Connection] = {}
        self._all: list[_Connection] = []

    @property
    def count(self) -> int:
        """Connections seen so far."""
        return len(self._all)

    def feed(self, segment: TcpSegment) -> list[Event]:
        """What ``segment`` makes known (nothing when it is not on the port)."""
        events: list[Event] = []
        found = self._connection(segment)
        if found is None:
            return events
        connection, new = found
        to_server = segment.dst == connection.server
        if to_server and segment.syn and not segment.has_ack:
            if not new and connection.replaced_by(segment):
                for half in connection.halves:
                    half.give_up(events, closed=False)
                connection = self._open(connection.client, connection.server)
            connection.client_isn = segment.seq
        half = connection.halves[0 if to_server else 1]
        half.add(segment, events)
        if segment.fin:
            connection.closing = True
        if segment.rst:
            connection.closing = True
            for other in connection.halves:
                other.give_up(events, closed=True)
        return events

    def close(self) -> list[Event]:
        """The end of the capture: every direction still open ends, in stream order."""
        events: list[Event] = []
        for connection in self._all:
            for half in connection.halves:
                half.give_up(events, closed=False)
        return events

    def _connection(self, segment: TcpSegment) -> tuple[_Connection, bool] | None:
        """The segment's connection, and whether it is new; None: not on the port."""
        src, dst = segment.src, segment.dst
        for key in ((src, dst), (dst, src)):
            if key in self._current:
                return self._current[key], False
        if dst[1] == self.port:  # both ends on the port: the first segment's receiver
            return self._open(src, dst), True
        if src[1] == self.port:
            return self._open(dst, src), True
        return None

    def _open(self, client: Endpoint, server: Endpoint) -> _Connection:
        number = len(self._all)
        connection = _Connection(number, client, server, (
            _Half(number, Direction.CLIENT_TO_SERVER), _Half(number, Direction.SERVER_TO_CLIENT)))
        self._current[client, server] = connection
        self._all.append(connection)
        return connection
