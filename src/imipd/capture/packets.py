"""Unwrap a captured frame down to its TCP segment: link layer, IPv4 or IPv6, TCP.

This exists so that the reassembly in :mod:`.streams` sees TCP segments only, whatever
the capture's link layer was. The link layers are those an IMIP capture is made on:
Ethernet (with 802.1Q/802.1ad VLAN tags), raw IP, Linux cooked capture v1 and v2
(``-i any``), and BSD loopback (``null``, what macOS and the BSDs capture on ``lo0``).

Checksums are not verified: a capture made on the sending host holds segments whose
checksum the network card was to fill in. IP fragments are not reassembled (TCP avoids
fragmentation, and loopback never fragments): a fragment is skipped and counted, and
the reassembly then reports the data it lacks as a hole. IPv6 extension headers that
have the usual layout (hop-by-hop, routing, destination options, authentication, an
unfragmented fragment header) are walked; a packet with any other one (ESP) is skipped.
"""

from __future__ import annotations

import enum
import socket
import struct
from dataclasses import dataclass

Endpoint = tuple[str, int]
"""An IP address (text) and a port."""

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10

_IPV4, _IPV6, _VLAN_TAGS = 0x0800, 0x86DD, (0x8100, 0x88A8, 0x9100)
_TCP = 6
_IPV6_PLAIN_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT, _IPV6_AUTHENTICATION = 44, 51
_AF_INET6 = (10, 24, 28, 30)  # Linux, the BSDs, FreeBSD, macOS

_LINK_ETHERNET, _LINK_NULL, _LINK_LOOP = 1, 0, 108
_LINK_SLL, _LINK_SLL2 = 113, 276
_LINK_RAW = (101, 12, 14)  # 12 and 14 are DLT_RAW on some systems, written as is
_LINK_IPV4, _LINK_IPV6 = 228, 229

LINKTYPES = frozenset((_LINK_ETHERNET, _LINK_NULL, _LINK_LOOP, _LINK_SLL, _LINK_SLL2,
                       *_LINK_RAW, _LINK_IPV4, _LINK_IPV6))
"""The link types :func:`parse_frame` reads."""


class Skip(enum.Enum):
    """Why a frame gave no TCP segment."""

    NOT_TCP = "not TCP over IP"
    FRAGMENT = "an IP fragment"
    MALFORMED = "a malformed or cut link, IP or TCP header"
    LINKTYPE = "an unsupported link type"


@dataclass(frozen=True, slots=True)
class TcpSegment:
    """One TCP segment, with the addresses of the IP packet that carried it."""

    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int
    """TCP flag bits: ``FIN``, ``SYN``, ``RST``, ``ACK``, ..."""
    payload: bytes
    """The data captured, which the snapshot length may have cut short of ``length``."""
    length: int
    """The data's length as the IP header says (the sequence space it covers)."""

    @property
    def syn(self) -> bool:
        return bool(self.flags & SYN)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FIN)

    @property
    def rst(self) -> bool:
        return bool(self.flags & RST)

    @property
    def has_ack(self) -> bool:
        return bool(self.flags & ACK)


def parse_frame(linktype: int, frame: bytes) -> TcpSegment | Skip:
    """The TCP segment in ``frame``, or why there is none."""
    try:
        found = _network_layer(linktype, frame)
        if isinstance(found, Skip):
            return found
        ethertype, packet = found
        if not packet:
            return Skip.MALFORMED
        version = packet[0] >> 4
        if ethertype == _IPV4 or (ethertype is None and version == 4):
            return _ipv4(packet)
        if ethertype == _IPV6 or (ethertype is None and version == 6):
            return _ipv6(packet)
        return Skip.NOT_TCP
    except (struct.error, IndexError):  # a header cut by the snapshot length or damaged
        return Skip.MALFORMED


def _network_layer(linktype: int, frame: bytes) -> tuple[int | None, bytes] | Skip:
    """The ethertype (None: tell by the IP version) and the packet after the link header."""
    if linktype == _LINK_ETHERNET:
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        start = 14
        while ethertype in _VLAN_TAGS:
            ethertype = struct.unpack_from("!H", frame, start + 2)[0]
            start += 4
        return ethertype, frame[start:]
    if linktype in _LINK_RAW:
        return None, frame
    if linktype == _LINK_IPV4:
        return _IPV4, frame
    if linktype == _LINK_IPV6:
        return _IPV6, frame
    if linktype == _LINK_SLL:
        return struct.unpack_from("!H", frame, 14)[0], frame[16:]
    if linktype == _LINK_SLL2:
        return struct.unpack_from("!H", frame, 0)[0], frame[20:]
    if linktype in (_LINK_NULL, _LINK_LOOP):
        # LOOP is in network byte order; NULL in the capturing host's, whichever it was
        orders = ("!",) if linktype == _LINK_LOOP else ("<", ">")
        for order in orders:
            family = struct.unpack_from(order + "I", frame)[0]
            if family == socket.AF_INET:
                return _IPV4, frame[4:]
            if family in _AF_INET6:
                return _IPV6, frame[4:]
        return Skip.NOT_TCP
    return Skip.LINKTYPE


def _ipv4(packet: bytes) -> TcpSegment | Skip:
    header = (packet[0] & 0x0F) * 4
    total, fragment, protocol = struct.unpack_from("!2xH2xH1xB", packet)
    if packet[0] >> 4 != 4 or header < 20 or len(packet) < header:
        return Skip.MALFORMED
    if protocol != _TCP:
        return Skip.NOT_TCP
    if fragment & 0x3FFF:  # more fragments, or not the first
        return Skip.FRAGMENT
    if total == 0:  # TCP segmentation offload: the length is left for the card to fill in
        total = len(packet)
    if total < header:
        return Skip.MALFORMED
    src, dst = socket.inet_ntop(socket.AF_INET, packet[12:16]), \
        socket.inet_ntop(socket.AF_INET, packet[16:20])
    return _tcp(src, dst, packet[header:total], total - header)


def _ipv6(packet: bytes) -> TcpSegment | Skip:
    if packet[0] >> 4 != 6 or len(packet) < 40:
        return Skip.MALFORMED
    length, following = struct.unpack_from("!HB", packet, 4)
    end = 40 + length if length else len(packet)  # 0: a jumbogram, or offloaded
    start = 40
    while following != _TCP:
        if following in _IPV6_PLAIN_EXTENSIONS:
            size = (packet[start + 1] + 1) * 8
        elif following == _IPV6_AUTHENTICATION:
            size = (packet[start + 1] + 2) * 4
        elif following == _IPV6_FRAGMENT:
            if struct.unpack_from("!H", packet, start + 2)[0] & 0xFFF9:  # offset or more
                return Skip.FRAGMENT if packet[start] == _TCP else Skip.NOT_TCP
            size = 8
        else:
            return Skip.NOT_TCP
        following = packet[start]
        start += size
        if start > end:
            return Skip.MALFORMED
    src, dst = socket.inet_ntop(socket.AF_INET6, packet[8:24]), \
        socket.inet_ntop(socket.AF_INET6, packet[24:40])
    return _tcp(src, dst, packet[start:end], end - start)


def _tcp(src: str, dst: str, data: bytes, length: int) -> TcpSegment | Skip:
    """The segment in ``data`` (perhaps cut short of ``length`` by the snapshot length)."""
    sport, dport, seq, ack, offset, flags = struct.unpack_from("!HHIIBB", data)
    header = (offset >> 4) * 4
    if header < 20 or length < header:
        return Skip.MALFORMED
    return TcpSegment((src, sport), (dst, dport), seq, ack, flags | (offset & 1) << 8,
                      data[header:], length - header)
