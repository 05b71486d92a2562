"""Read pcap and pcapng files: every captured frame with its time and link type.

This exists so that ``imip decode`` reads what tcpdump, tshark and Wireshark write
without a dependency: the pcap readers on PyPI are large or unmaintained, and the two
formats need little code. Only reading is done, and only what a frame needs: its
bytes, its link type and its time. Anything a frame does not need (statistics,
name resolution, comments, unknown block types) is skipped.

A file that breaks the format (a header cut short, a length no capture can have,
lengths that disagree) raises :class:`CaptureError`. A file that merely ends in the
middle of its last record, as a capture stopped the hard way does, ends there with a
:class:`CaptureNote`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_FRAME = 256 * 1024
"""The largest pcap record accepted (what libpcap and Wireshark accept for Ethernet)."""
MAX_BLOCK = 16 * 1024 * 1024
"""The largest pcapng block accepted; a longer one means the file is damaged."""

_PCAP_MAGIC = {  # magic as stored → byte order, timestamp units per second
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_SECTION_HEADER = b"\x0a\x0d\x0d\x0a"  # the same in both byte orders
_BYTE_ORDER_MAGIC = 0x1A2B3C4D

_INTERFACE = 1
_OBSOLETE_PACKET = 2
_SIMPLE_PACKET = 3
_ENHANCED_PACKET = 6
_IF_TSRESOL = 9
_IF_TSOFFSET = 14


class CaptureError(Exception):
    """The file is not a valid capture of the kind its magic number announces."""


@dataclass(frozen=True, slots=True)
class CaptureNote:
    """Something the reader has to say that does not stop it (the file is cut short)."""

    text: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame, as the link layer delivered it (perhaps cut by the snapshot
    length)."""

    number: int
    """1 for the first frame of the file, as Wireshark numbers them."""
    time: float | None
    """Unix seconds; None for a pcapng simple packet block, which has no time."""
    linktype: int
    """The LINKTYPE_* number of the link layer the frame starts with."""
    data: bytes


def capture_kind(head: bytes) -> str | None:
    """``"pcap"``, ``"pcapng"`` or None (not a capture), by the file's first 4 bytes."""
    if head[:4] in _PCAP_MAGIC:
        return "pcap"
    if head[:4] == _SECTION_HEADER:
        return "pcapng"
    return None


def read_capture(file: BinaryIO, head: bytes = b"") -> Iterator[Frame | CaptureNote]:
    """The frames of a capture file; ``head`` is what was already read of it (to sniff
    its kind). Raises :class:`CaptureError`, also when it is no capture at all."""
    source = _Source(file, head)
    kind = capture_kind(source.peek(4))
    if kind == "pcap":
        return _read_pcap(source)
    if kind == "pcapng":
        return _read_pcapng(source)
    raise CaptureError("not a pcap or pcapng file")


class _Source:
    """Exact reads from the file, after the bytes already read from it."""

    def __init__(self, file: BinaryIO, head: bytes) -> None:
        self._file = file
        self._head = head
        self.position = 0
        """Bytes of the file read so far (for messages)."""

    def peek(self, n: int) -> bytes:
        if len(self._head) < n:
            self._head += self._read_file(n - len(self._head))
        return self._head[:n]

    def read(self, n: int) -> bytes:
        """``n`` bytes, or fewer at the end of the file."""
        data = self._head[:n]
        self._head = self._head[n:]
        if len(data) < n:
            data += self._read_file(n - len(data))
        self.position += len(data)
        return data

    def _read_file(self, n: int) -> bytes:
        parts: list[bytes] = []
        while n > 0:
            part = self._file.read(n)
            if not part:
                break
            parts.append(part)
            n -= len(part)
        return b"".join(parts)


def _cut_short(frames: int) -> CaptureNote:
    return CaptureNote(f"the capture file is cut short after frame {frames} (its last record "
                       "is incomplete): the capture ends there")


def _read_pcap(source: _Source) -> Iterator[Frame | CaptureNote]:
    header = source.read(24)
    if len(header) < 24:
        raise CaptureError("not a valid pcap file: its file header is cut short")
    order, units = _PCAP_MAGIC[header[:4]]
    network = struct.unpack(order + "I", header[20:24])[0]
    linktype = network & 0xFFFF  # the upper bits tell whether frames end with an FCS
    record = struct.Struct(order + "IIII")
    number = 0
    while True:
        start = source.position
        head = source.read(record.size)
        if not head:
            return
        if len(head) < record.size:
            yield _cut_short(number)
            return
        seconds, fraction, captured, _original = record.unpack(head)
        if captured > MAX_FRAME:
            raise CaptureError(f"not a valid pcap file: the record at byte {start} claims "
                               f"{captured} bytes")
        data = source.read(captured)
        if len(data) < captured:
            yield _cut_short(number)
            return
        number += 1
        # one division of exact integers: the float nearest to the stored time
        yield Frame(number, (seconds * units + fraction) / units, linktype, data)


@dataclass(frozen=True, slots=True)
class _Interface:
    linktype: int
    snaplen: int
    units: int
    """Timestamp units per second (option if_tsresol; microseconds by default)."""
    offset: int
    """Seconds to add to every timestamp (option if_tsoffset)."""

    def time(self, high: int, low: int) -> float:
        return ((high << 32 | low) + self.offset * self.units) / self.units


def _read_pcapng(source: _Source) -> Iterator[Frame | CaptureNote]:
    order = ""
    interfaces: list[_Interface] = []
    number = 0
    while True:
        start = source.position
        first = start == 0
        head = source.read(8)
        if not head:
            return
        if len(head) < 8:
            if first:
                raise CaptureError("not a valid pcapng file: its section header is cut short")
            yield _cut_short(number)
            return
        if head[:4] == _SECTION_HEADER:
            magic = source.read(4)
            if len(magic) == 4:
                if struct.unpack("<I", magic)[0] == _BYTE_ORDER_MAGIC:
                    order = "<"
                elif struct.unpack(">I", magic)[0] == _BYTE_ORDER_MAGIC:
                    order = ">"
                else:
                    raise CaptureError(f"not a valid pcapng file: the section header at "
                                       f"byte {start} has no byte-order magic")
            elif first:
                raise CaptureError("not a valid pcapng file: its section header is cut short")
            else:
                yield _cut_short(number)
                return
            interfaces = []
        else:
            magic = b""
        kind, length = struct.unpack(order + "II", head)
        least = 28 if magic else 12  # a section header holds 16 bytes
        if length < least or length % 4 or length > MAX_BLOCK:
            raise CaptureError(f"not a valid pcapng file: the block at byte {start} claims a "
                               f"length of {length}")
        rest = source.read(length - 8 - len(magic))
        if len(rest) < length - 8 - len(magic):
            if first:
                raise CaptureError("not a valid pcapng file: its section header is cut short")
            yield _cut_short(number)
            return
        body, trailer = magic + rest[:-4], rest[-4:]
        if struct.unpack(order + "I", trailer)[0] != length:
            raise CaptureError(f"not a valid pcapng file: the block at byte {start} ends "
                               "with another length than it starts with")
        if kind == _INTERFACE:
            interfaces.append(_interface(body, order, start))
        elif kind in (_ENHANCED_PACKET, _OBSOLETE_PACKET, _SIMPLE_PACKET):
            number += 1
            yield _packet(kind, body, order, interfaces, number, start)
        # anything else (statistics, name resolution, custom blocks, ...) is skipped


def _interface(body: bytes, order: str, start: int) -> _Interface:
    if len(body) < 8:
        raise CaptureError(f"not a valid pcapng file: the interface block at byte {start} "
                           "is too short")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    units, offset = 1_000_000, 0
    for code, value in _options(body[8:], order):
        if code == _IF_TSRESOL and len(value) >= 1:
            exponent = value[0] & 0x7F
            units = 2**exponent if value[0] & 0x80 else 10**exponent
        elif code == _IF_TSOFFSET and len(value) >= 8:
            offset = struct.unpack(order + "q", value[:8])[0]
    return _Interface(linktype, snaplen, units, offset)


def _options(data: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    position = 0
    while position + 4 <= len(data):
        code, length = struct.unpack_from(order + "HH", data, position)
        if code == 0:  # opt_endofopt
            return
        position += 4
        yield code, data[position:position + length]
        position += length + -length % 4


def _packet(kind: int, body: bytes, order: str, interfaces: list[_Interface], number: int,
            start: int) -> Frame:
    def broken(what: str) -> CaptureError:
        return CaptureError(f"not a valid pcapng file: the packet block at byte {start} {what}")

    def interface(index: int) -> _Interface:
        if index >= len(interfaces):
            raise broken(f"names interface {index}, which no interface block describes")
        return interfaces[index]

    if kind == _SIMPLE_PACKET:  # interface 0, no time, cut to the snapshot length
        if len(body) < 4:
            raise broken("is too short")
        original = struct.unpack_from(order + "I", body)[0]
        snaplen = interface(0).snaplen or original
        return Frame(number, None, interfaces[0].linktype, body[4:4 + min(original, snaplen)])
    if len(body) < 20:
        raise broken("is too short")
    if kind == _ENHANCED_PACKET:
        index, high, low, captured = struct.unpack_from(order + "IIII", body)
    else:  # the obsolete packet block: a 16-bit interface and a drop count
        index, _drops, high, low, captured = struct.unpack_from(order + "HHIII", body)
    if captured > len(body) - 20:
        raise broken(f"claims {captured} bytes in {len(body) - 20}")
    found = interface(index)
    return Frame(number, found.time(high, low), found.linktype, body[20:20 + captured])
