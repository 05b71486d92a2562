"""Packet captures of IMIP connections, read without any dependency.

Protocol historians keep IMIP sessions as pcap or pcapng files. The modules here turn
such a file into the byte streams the protocol parser reads, one job each:

- :mod:`.pcap` reads the file: each captured frame with its time and link type;
- :mod:`.packets` unwraps a frame (link layer, IPv4/IPv6, TCP) into a TCP segment;
- :mod:`.streams` puts the segments of each TCP connection back in order, one byte
  stream per direction, and says where the capture lost data.

``imip decode`` (:mod:`imipd.cli.decode`) glues them to the block parser.
"""

from .packets import Skip, TcpSegment, parse_frame
from .pcap import CaptureError, CaptureNote, Frame, capture_kind, read_capture
from .streams import Data, Direction, Ended, Event, Hole, Opened, Reassembler

__all__ = [
    "CaptureError",
    "CaptureNote",
    "Data",
    "Direction",
    "Ended",
    "Event",
    "Frame",
    "Hole",
    "Opened",
    "Reassembler",
    "Skip",
    "TcpSegment",
    "capture_kind",
    "parse_frame",
    "read_capture",
]
