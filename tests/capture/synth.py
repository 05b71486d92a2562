"""Packet captures made by the tests: TCP segments of an IMIP connection, written as pcap
or pcapng files with the link layers real captures have, without capture rights.

``conversation`` turns what each side wrote, in order, into segments with consistent
sequence and acknowledgement numbers (and a handshake, unless the capture is to start
in the middle); ``split`` cuts a payload at awkward places; ``write_pcap`` and
``write_pcapng`` write the frames with valid IPv4/IPv6 and TCP checksums, so that tshark
with ``-o tcp.check_checksum:TRUE`` finds nothing wrong with them.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

CLIENT = ("127.0.0.1", 40000)
SERVER = ("127.0.0.1", 11319)

LINKTYPES = {"null": 0, "ethernet": 1, "raw": 101, "sll": 113, "sll2": 276}
"""The link layers written (LINKTYPE_* numbers of the pcap format): ``null`` is BSD
loopback (what macOS captures on lo0), ``sll``/``sll2`` Linux cooked v1/v2 (``-i any``)."""

_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


@dataclass(frozen=True)
class Segment:
    """One TCP segment as captured."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    flags: str
    """Letters of ``_FLAGS``: "S", "SA", "A", "PA", "FA", "R"."""
    payload: bytes = b""


def conversation(chunks: Iterable[tuple[str, bytes]], *, client: tuple[str, int] = CLIENT,
                 server: tuple[str, int] = SERVER, handshake: bool = True,
                 close: bool = True, start: float = 1_700_000_000.0, step: float = 0.001,
                 isn: tuple[int, int] = (1000, 5000)) -> list[Segment]:
    """Segments for ``chunks`` (``("c", bytes)`` from the client, ``("s", bytes)`` from the
    server), one segment per chunk, in order; a handshake first and FINs last unless told
    otherwise. Sequence numbers wrap at 2**32 as TCP's do."""
    seq = {"c": isn[0], "s": isn[1]}
    ends = {"c": (client, server), "s": (server, client)}
    out: list[Segment] = []
    clock = start

    def emit(side: str, flags: str, payload: bytes = b"") -> None:
        nonlocal clock
        other = "s" if side == "c" else "c"
        src, dst = ends[side]
        ack = seq[other] if "A" in flags else 0
        out.append(Segment(clock, src, dst, seq[side] % 2**32, ack % 2**32, flags, payload))
        seq[side] += len(payload) + (1 if "S" in flags or "F" in flags else 0)
        clock += step

    if handshake:
        emit("c", "S")
        emit("s", "SA")
        emit("c", "A")
    for side, payload in chunks:
        emit(side, "PA", payload)
    if close:
        emit("c", "FA")
        emit("s", "FA")
        emit("c", "A")
    return out


def split(data: bytes, at: Sequence[int]) -> list[bytes]:
    """``data`` cut before each offset of ``at`` (ascending)."""
    cuts = [0, *at, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def bytewise(side: str, data: bytes) -> list[tuple[str, bytes]]:
    """One chunk per byte (the worst segmentation there is)."""
    return [(side, data[i:i + 1]) for i in range(len(data))]


def retransmitted(segments: list[Segment], index: int) -> list[Segment]:
    """``segments`` with segment ``index`` sent again right after itself."""
    again = replace(segments[index], time=segments[index].time + 0.0002)
    return [*segments[:index + 1], again, *segments[index + 1:]]


def swapped(segments: list[Segment], index: int) -> list[Segment]:
    """``segments`` with segments ``index`` and ``index + 1`` captured in the other order."""
    out = list(segments)
    out[index], out[index + 1] = out[index + 1], out[index]
    return out


# -- frames -------------------------------------------------------------------------------

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _tcp(segment: Segment, pseudo: bytes) -> bytes:
    flags = sum(_FLAGS[f] for f in segment.flags)
    header = struct.pack("!HHIIBBHHH", segment.src[1], segment.dst[1], segment.seq,
                         segment.ack, 5 << 4, flags, 65535, 0, 0)
    checksum = _checksum(pseudo + header + segment.payload)
    return header[:16] + struct.pack("!H", checksum) + header[18:] + segment.payload


def ip_packet(segment: Segment) -> bytes:
    """The IPv4 or IPv6 packet carrying ``segment`` (by its addresses)."""
    src, dst = ipaddress.ip_address(segment.src[0]), ipaddress.ip_address(segment.dst[0])
    length = 20 + len(segment.payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, socket.IPPROTO_TCP, length)
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, 64,
                             socket.IPPROTO_TCP, 0, src.packed, dst.packed)
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return header + _tcp(segment, pseudo)
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", length, socket.IPPROTO_TCP)
    header = struct.pack("!IHBB16s16s", 6 << 28, length, socket.IPPROTO_TCP, 64,
                         src.packed, dst.packed)
    return header + _tcp(segment, pseudo)


def frame(segment: Segment, linktype: str) -> bytes:
    """``segment`` framed for ``linktype`` (a key of ``LINKTYPES``)."""
    packet = ip_packet(segment)
    v6 = packet[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == "raw":
        return packet
    if linktype == "ethernet":
        return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", ethertype) + packet
    if linktype == "null":  # the family in the byte order of the capturing host
        return struct.pack("<I", 30 if v6 else 2) + packet
    if linktype == "sll":
        return struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, ethertype) + packet
    if linktype == "sll2":
        return struct.pack("!HHIHBB8s", ethertype, 0, 1, 772, 0, 6, b"\0" * 8) + packet
    raise ValueError(f"unknown link type {linktype!r}")


def write_pcap(path: Path, segments: Iterable[Segment], linktype: str = "ethernet",
               *, nanoseconds: bool = False) -> Path:
    """A classic pcap file (little-endian, microsecond or nanosecond timestamps)."""
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    scale = 1_000_000_000 if nanoseconds else 1_000_000
    parts = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, LINKTYPES[linktype])]
    for segment in segments:
        data = frame(segment, linktype)
        whole = round(segment.time * scale)
        parts.append(struct.pack("<IIII", whole // scale, whole % scale, len(data), len(data)))
        parts.append(data)
    path.write_bytes(b"".join(parts))
    return path


def write_pcapng(path: Path, segments: Iterable[Segment], linktype: str = "ethernet") -> Path:
    """A pcapng file: a section header, one interface (microseconds), enhanced packets."""
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        length = len(body) + 12
        return struct.pack("<II", kind, length) + body + struct.pack("<I", length)

    parts = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
             block(0x00000001, struct.pack("<HHI", LINKTYPES[linktype], 0, 262144))]
    for segment in segments:
        data = frame(segment, linktype)
        stamp = round(segment.time * 1_000_000)
        parts.append(block(0x00000006, struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF,
                                                   len(data), len(data)) + data))
    path.write_bytes(b"".join(parts))
    return path
