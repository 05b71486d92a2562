"""``imip decode`` on packet captures: pcap and pcapng, every link layer, TCP reassembly,
broken blocks, holes, captures that start in the middle, and a real imipd session."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from imipd.cli.decode import block_record
from imipd.cli.imip import main
from imipd.protocol import Parser, ProtocolError
from tests.server.conftest import ServerFactory
from tests.server.conftest import imipd_server as imipd_server  # the real server
from tests.server.imip_client import Client

from .synth import (
    LINKTYPES,
    SERVER,
    Segment,
    bytewise,
    conversation,
    frame,
    ip_packet,
    retransmitted,
    split,
    swapped,
    write_pcap,
    write_pcapng,
)

IMIP = Path(sys.executable).with_name("imip")
C2S, S2C = "client-to-server", "server-to-client"


def block(type_line: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"",
          empty_line: bool = True) -> bytes:
    content = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    if empty_line or body:
        content += b"\r\n" + body
    return type_line.encode() + b"\r\n%d\r\n" % len(content) + content


HELO_C = block("HELO", [("ID", "1001"), ("Protocol", "IMIP/1.0")])
HELO_S = block("HELO", [("Auth-Type", "imip-md5"), ("ID", "1"), ("Protocol", "IMIP/1.0")],
               b"3141592653")
LOGN_C = block("LOGN alice", [("ID", "1002"), ("Client", "test"), ("Auth-Type", "imip-md5")],
               b"0123456789abcdef0123456789abcdef")
LOGN_S = block("LOGN alice", [("ID", "2"), ("Reference", "1002")], empty_line=False)
MESG_UTF8 = block("MESG", [("ID", "1003"), ("To", "bob")], "Grüß dich!".encode())
MESG_CRLF = block("MESG", [("ID", "1004"), ("To", "bob")], b"line one\r\nline two\r\n")
MESG_BINARY = block("MESG", [("ID", "1005"), ("To", "bob")], b"\xff\xfe\x00\r\n")
ACK_S = block("ACK 600", [("ID", "3"), ("Reference", "1003")], empty_line=False)
PING_C = block("PING", [("ID", "1006")])

CLIENT_BYTES = HELO_C + LOGN_C + MESG_UTF8 + MESG_CRLF + MESG_BINARY + PING_C
SERVER_BYTES = HELO_S + LOGN_S + ACK_S
SESSION = [("c", HELO_C), ("s", HELO_S), ("c", LOGN_C), ("s", LOGN_S), ("c", MESG_UTF8),
           ("s", ACK_S), ("c", MESG_CRLF), ("c", MESG_BINARY), ("c", PING_C)]


# -- running the command --------------------------------------------------------------------

def decode(path: Path, *args: str) -> tuple[int, list[str], str]:
    """Exit status, stdout lines, stderr of ``imip decode PATH ARGS`` (in process)."""
    result = CliRunner().invoke(main, ["decode", str(path), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    stdout = result.stdout_bytes.decode("utf-8")
    assert stdout == "" or stdout.endswith("\n")
    return result.exit_code, stdout.splitlines(), result.stderr


def decoded(path: Path, *args: str) -> list[str]:
    """The lines of a decoding that must succeed without a word on stderr."""
    status, lines, stderr = decode(path, *args)
    assert (status, stderr) == (0, ""), stderr
    return lines


# -- what the output must be -------------------------------------------------------------------

def stored(time: float, units: int = 1_000_000) -> float:
    """``time`` as the capture stores it (whole units) and the reader gives it back."""
    return round(time * units) / units


def line(stream: int, direction: str, time: float | None, record: dict[str, Any]) -> str:
    return json.dumps({"stream": stream, "direction": direction, "time": time, **record},
                      ensure_ascii=False)


def blocks_of(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(end offset, record) of each block of a raw direction, up to the first broken one."""
    parser = Parser()
    parser.feed(data)
    out: list[tuple[int, dict[str, Any]]] = []
    try:
        for item in parser:
            out.append((parser.offset, block_record(item, parser.last_offset, parser.last_size)))
    except ProtocolError:
        pass
    return out


def expected(segments: Sequence[Segment], port: int = 11319, units: int = 1_000_000,
             times: Sequence[float | None] | None = None) -> list[str]:
    """The lines ``imip decode`` must print for a capture of ``segments`` without holes
    (``times``: each frame's time as decoded, when not ``segment.time`` in ``units``):
    each block in the frame where its direction's bytes first reach its end. Worked out
    with a bitmap of received bytes, independently of the reassembly under test."""
    streams: dict[frozenset[tuple[str, int]], int] = {}
    base: dict[tuple[int, str], int] = {}
    data: dict[tuple[int, str], dict[int, int]] = {}
    keys: list[tuple[int, str, int, Segment, float | None]] = []
    for index, segment in enumerate(segments):
        time = stored(segment.time, units) if times is None else times[index]
        stream = streams.setdefault(frozenset((segment.src, segment.dst)), len(streams))
        direction = C2S if segment.dst[1] == port else S2C
        key = (stream, direction)
        if "S" in segment.flags:
            base.setdefault(key, segment.seq + 1)
        if segment.payload:
            start = (segment.seq - base.setdefault(key, segment.seq)) % 2**32
            for i, byte in enumerate(segment.payload):
                data.setdefault(key, {})[start + i] = byte
            keys.append((stream, direction, start + len(segment.payload), segment, time))
    whole = {key: bytes(got[i] for i in range(len(got))) for key, got in data.items()}
    pending = {key: blocks_of(raw) for key, raw in whole.items()}
    have: dict[tuple[int, str], set[int]] = {}
    out = []
    for stream, direction, end, segment, time in keys:
        key = (stream, direction)
        have.setdefault(key, set()).update(range(end - len(segment.payload), end))
        prefix = 0
        while prefix in have[key]:
            prefix += 1
        while pending[key] and pending[key][0][0] <= prefix:
            _, record = pending[key].pop(0)
            out.append(line(stream, direction, time, record))
    return out


def raw_lines(data: bytes) -> list[str]:
    """What the raw decoder prints for one direction."""
    return [json.dumps(record, ensure_ascii=False) for _, record in blocks_of(data)]


# -- captures the synthesizer does not write -------------------------------------------------

def write_frames(path: Path, frames: Sequence[tuple[float, bytes]], linktype: int,
                 order: str = "<") -> Path:
    """A classic pcap file in either byte order (microseconds)."""
    parts = [struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for time, data in frames:
        whole = round(time * 1_000_000)
        parts.append(struct.pack(order + "IIII", whole // 1_000_000, whole % 1_000_000,
                                 len(data), len(data)) + data)
    path.write_bytes(b"".join(parts))
    return path


def ng_block(kind: int, body: bytes, order: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", kind, len(body) + 12) + body + \
        struct.pack(order + "I", len(body) + 12)


def ng_option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


# -- framing of blocks in segments ------------------------------------------------------------

def test_one_block_per_segment(tmp_path: Path) -> None:
    segments = conversation([("c", HELO_C), ("s", HELO_S), ("c", LOGN_C), ("s", LOGN_S)])
    lines = decoded(write_pcap(tmp_path / "c.pcap", segments))
    assert lines == [
        '{"stream": 0, "direction": "client-to-server", "time": 1700000000.003, "offset": 0, '
        '"type": "HELO", "args": [], "size": 32, "headers": [["ID", "1001"], '
        '["Protocol", "IMIP/1.0"]], "empty_line": true, "body": ""}',
        '{"stream": 0, "direction": "server-to-client", "time": 1700000000.004, "offset": 0, '
        '"type": "HELO", "args": [], "size": 60, "headers": [["Auth-Type", "imip-md5"], '
        '["ID", "1"], ["Protocol", "IMIP/1.0"]], "empty_line": true, "body": "3141592653"}',
        '{"stream": 0, "direction": "client-to-server", "time": 1700000000.005, '
        '"offset": 42, "type": "LOGN", "args": ["alice"], "size": 79, "headers": '
        '[["ID", "1002"], ["Client", "test"], ["Auth-Type", "imip-md5"]], "empty_line": true, '
        '"body": "0123456789abcdef0123456789abcdef"}',
        '{"stream": 0, "direction": "server-to-client", "time": 1700000000.006, '
        '"offset": 70, "type": "LOGN", "args": ["alice"], "size": 24, "headers": '
        '[["ID", "2"], ["Reference", "1002"]], "empty_line": false, "body": ""}',
    ]


def test_one_byte_per_segment(tmp_path: Path) -> None:
    segments = conversation([*bytewise("c", CLIENT_BYTES), *bytewise("s", SERVER_BYTES)])
    lines = decoded(write_pcap(tmp_path / "c.pcap", segments))
    assert lines == expected(segments)
    assert len(lines) == 9
    # each block in the frame of its last byte
    assert json.loads(lines[0])["time"] == stored(segments[2 + len(HELO_C)].time)


def test_many_blocks_in_one_segment(tmp_path: Path) -> None:
    segments = conversation([("c", CLIENT_BYTES), ("s", SERVER_BYTES)])
    lines = decoded(write_pcap(tmp_path / "c.pcap", segments))
    assert lines == expected(segments)
    assert [json.loads(text)["time"] for text in lines] == [1700000000.003] * 6 + \
        [1700000000.004] * 3
    assert lines[:6] == [line(0, C2S, 1700000000.003, json.loads(text))
                         for text in raw_lines(CLIENT_BYTES)]


def test_blocks_split_anywhere(tmp_path: Path) -> None:
    cuts = [1, 5, 6, 40, 41, 44, 200, 201, 333]
    chunks = [("c", piece) for piece in split(CLIENT_BYTES, cuts)]
    chunks[2:2] = [("s", piece) for piece in split(SERVER_BYTES, [3, 70, 71])]
    segments = conversation(chunks)
    assert decoded(write_pcap(tmp_path / "c.pcap", segments)) == expected(segments)


def test_bodies_crlf_utf8_and_binary(tmp_path: Path) -> None:
    segments = conversation([("c", MESG_UTF8 + MESG_CRLF), ("c", MESG_BINARY)])
    records = [json.loads(text) for text in decoded(write_pcap(tmp_path / "c.pcap", segments))]
    assert [(r["offset"], r.get("body"), r.get("body_base64")) for r in records] == [
        (0, "Grüß dich!", None),
        (len(MESG_UTF8), "line one\r\nline two\r\n", None),
        (len(MESG_UTF8 + MESG_CRLF), None, "//4ADQo="),
    ]
    assert list(records[2]) == ["stream", "direction", "time", "offset", "type", "args", "size",
                                "headers", "empty_line", "body_base64"]


def test_a_broken_block_stops_its_direction_only(tmp_path: Path) -> None:
    broken = b"MESG\r\n12x\r\n"
    segments = conversation([("c", HELO_C), ("s", HELO_S), ("c", broken + LOGN_C),
                             ("s", LOGN_S), ("c", PING_C), ("s", ACK_S)])
    status, lines, stderr = decode(write_pcap(tmp_path / "c.pcap", segments))
    assert status == 1
    assert stderr == (f"stream 0 client-to-server: offset {len(HELO_C)}: size line is not a "
                      "decimal number (800)\n")
    assert lines == expected(segments)  # HELO only from the client, all three from the server
    assert [(json.loads(t)["direction"], json.loads(t)["type"]) for t in lines] == [
        (C2S, "HELO"), (S2C, "HELO"), (S2C, "LOGN"), (S2C, "ACK")]


def test_a_connection_closed_inside_a_block(tmp_path: Path) -> None:
    segments = conversation([("c", HELO_C + LOGN_C[:20])])
    status, lines, stderr = decode(write_pcap(tmp_path / "c.pcap", segments))
    assert (status, len(lines)) == (1, 1)
    assert stderr == (f"stream 0 client-to-server: offset {len(HELO_C)}: the stream ended "
                      "inside a block (800)\n")


def test_a_capture_that_ends_inside_a_block(tmp_path: Path) -> None:
    segments = conversation([("c", HELO_C + LOGN_C[:20])], close=False)
    status, lines, stderr = decode(write_pcap(tmp_path / "c.pcap", segments))
    assert (status, len(lines)) == (0, 1)
    assert stderr == (f"warning: stream 0 client-to-server: offset {len(HELO_C)}: the capture "
                      "ends inside a block\n")


# -- file formats and link layers ----------------------------------------------------------------

@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("linktype", sorted(LINKTYPES))
@pytest.mark.parametrize("writer", [write_pcap, write_pcapng], ids=["pcap", "pcapng"])
def test_every_link_type(tmp_path: Path, writer: Any, linktype: str, v6: bool) -> None:
    ends = {"client": ("::1", 40000), "server": ("::1", 11319)} if v6 else {}
    segments = conversation(SESSION, **ends)
    lines = decoded(writer(tmp_path / "c.cap", segments, linktype))
    assert lines == expected(segments)
    assert len(lines) == 9


def test_nanosecond_pcap(tmp_path: Path) -> None:
    segments = conversation(SESSION, start=1_700_000_000.123456789)
    lines = decoded(write_pcap(tmp_path / "c.pcap", segments, nanoseconds=True))
    assert lines == expected(segments, units=1_000_000_000)
    assert json.loads(lines[0])["time"] == round(segments[3].time * 10**9) / 10**9


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize(("linktype", "link"), [
    (1, lambda packet: b"\2\0\0\0\0\2\2\0\0\0\0\1\x81\0\0\x05\x08\0" + packet),  # 802.1Q
    (1, lambda packet: b"\2\0\0\0\0\2\2\0\0\0\0\1\x88\xa8\0\x05\x81\0\0\x06\x08\0" + packet),
    (108, lambda packet: b"\0\0\0\2" + packet),  # LOOP: the family in network byte order
    (0, lambda packet: b"\0\0\0\2" + packet),  # NULL written by a big-endian host
    (12, lambda packet: packet),
    (14, lambda packet: packet),
    (228, lambda packet: packet),
], ids=["vlan", "q-in-q", "loop", "null-big-endian", "raw-12", "raw-14", "ipv4"])
def test_more_link_layers(tmp_path: Path, order: str, linktype: int, link: Any) -> None:
    segments = conversation(SESSION)
    frames = [(s.time, link(ip_packet(s))) for s in segments]
    lines = decoded(write_frames(tmp_path / "c.pcap", frames, linktype, order))
    assert lines == expected(segments)


def test_pcapng_sections_interfaces_and_resolutions(tmp_path: Path) -> None:
    """Two sections (the second big-endian), interfaces with their own link type and
    if_tsresol/if_tsoffset, enhanced, obsolete and simple packet blocks (the last with no
    time), and blocks of unknown types (skipped)."""
    segments = conversation(SESSION)
    parts = [ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
             ng_block(1, struct.pack("<HHI", 1, 0, 0)),  # Ethernet, microseconds
             ng_block(1, struct.pack("<HHI", 276, 0, 0)  # Linux cooked v2, nanoseconds
                      + ng_option(9, b"\x09") + ng_option(0, b"")),
             ng_block(4, b"a name resolution block\0")]
    times: list[float | None] = []
    for i, s in enumerate(segments[:8]):
        if i % 2:  # enhanced packet block, interface 1
            stamp, data = round(s.time * 10**9), frame(s, "sll2")
            parts.append(ng_block(6, struct.pack("<IIIII", 1, stamp >> 32, stamp & 0xFFFFFFFF,
                                                 len(data), len(data)) + data))
            times.append(stamp / 10**9)
        else:  # obsolete packet block, interface 0
            stamp, data = round(s.time * 10**6), frame(s, "ethernet")
            parts.append(ng_block(2, struct.pack("<HHIIII", 0, 0, stamp >> 32,
                                                 stamp & 0xFFFFFFFF, len(data), len(data))
                                  + data))
            times.append(stamp / 10**6)
    parts += [ng_block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1), ">"),
              ng_block(1, struct.pack(">HHI", 101, 0, 0)  # raw IP, 2**-20 s, 10**9 s later
                       + ng_option(9, b"\x94", ">")
                       + ng_option(14, struct.pack(">q", 10**9), ">"), ">")]
    for i, s in enumerate(segments[8:]):
        data = ip_packet(s)
        if i == 2:
            parts.append(ng_block(3, struct.pack(">I", len(data)) + data, ">"))
            times.append(None)
            continue
        stamp = round((s.time - 10**9) * 2**20)
        parts.append(ng_block(6, struct.pack(">IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF,
                                             len(data), len(data)) + data, ">"))
        parts.append(ng_block(0x0BAD, b"unknown", ">"))
        times.append((stamp + 10**9 * 2**20) / 2**20)
    path = tmp_path / "c.pcapng"
    path.write_bytes(b"".join(parts))
    lines = decoded(path)
    assert lines == expected(segments, times=times)
    assert [json.loads(t)["type"] for t in lines] == [
        "HELO", "HELO", "LOGN", "LOGN", "MESG", "ACK", "MESG", "MESG", "PING"]
    assert json.loads(lines[7])["time"] is None  # MESG_BINARY came in the simple packet


# -- reassembly ---------------------------------------------------------------------------------

def test_retransmissions(tmp_path: Path) -> None:
    segments = conversation([("c", HELO_C), ("s", HELO_S), ("c", LOGN_C[:30]),
                             ("c", LOGN_C[30:] + MESG_UTF8), ("s", LOGN_S)])
    again = retransmitted(retransmitted(segments, 4), 3)  # the same data twice, twice
    # and a retransmission that overlaps data already seen and brings new data too
    i = next(i for i, s in enumerate(again) if s.payload.startswith(LOGN_C[30:]))
    overlap = replace(again[i], seq=again[i].seq - 10, payload=LOGN_C[20:] + MESG_UTF8,
                      time=again[i - 1].time + 0.0001)
    capture = [*again[:i], overlap, *again[i:]]
    lines = decoded(write_pcap(tmp_path / "c.pcap", capture))
    assert lines == expected(capture)
    assert [json.loads(t)["type"] for t in lines] == ["HELO", "HELO", "LOGN", "MESG", "LOGN"]
    assert json.loads(lines[2])["time"] == stored(overlap.time)  # LOGN completed here


def test_out_of_order_segments(tmp_path: Path) -> None:
    chunks = [("c", piece) for piece in split(CLIENT_BYTES, [10, 50, 90, 200])]
    segments = conversation(chunks)
    capture = swapped(swapped(segments, 3), 6)  # pieces 1/2 and 4/5 arrive swapped
    lines = decoded(write_pcap(tmp_path / "c.pcap", capture))
    assert lines == expected(capture)
    assert [json.loads(t)["type"] for t in lines] == ["HELO", "LOGN", "MESG", "MESG", "MESG",
                                                      "PING"]
    # the HELO (bytes 0-41) waited for piece 1 (0-9), captured after piece 2 (10-49)
    assert json.loads(lines[0])["time"] == stored(capture[4].time)


def test_sequence_numbers_wrap_around(tmp_path: Path) -> None:
    segments = conversation([*bytewise("c", HELO_C + LOGN_C), ("s", HELO_S + LOGN_S)],
                            isn=(2**32 - 20, 2**32 - 1))
    assert any(s.seq < 100 for s in segments) and any(s.seq > 2**32 - 30 for s in segments)
    lines = decoded(write_pcap(tmp_path / "c.pcap", segments))
    assert lines == expected(segments)
    assert len(lines) == 4


def test_capture_begins_inside_a_block(tmp_path: Path) -> None:
    """No SYN: each direction starts at its first whole block; skipping is a warning."""
    client = LOGN_C[25:] + MESG_UTF8 + PING_C  # begins in the middle of LOGN's headers
    segments = conversation([("c", client), ("s", HELO_S[40:] + LOGN_S)], handshake=False,
                            isn=(5000, 9000))
    status, lines, stderr = decode(write_pcap(tmp_path / "c.pcap", segments))
    assert status == 0
    skipped_c, skipped_s = len(LOGN_C) - 25, len(HELO_S) - 40
    assert stderr == (
        f"warning: stream 0 client-to-server: the capture began inside the connection: "
        f"{skipped_c} bytes skipped up to the first whole block\n"
        f"warning: stream 0 server-to-client: the capture began inside the connection: "
        f"{skipped_s} bytes skipped up to the first whole block\n")
    mesg, ping = (json.loads(t) for t in raw_lines(MESG_UTF8 + PING_C))
    logn = json.loads(raw_lines(LOGN_S)[0])
    mesg["offset"] += skipped_c
    ping["offset"] += skipped_c
    logn["offset"] += skipped_s
    assert lines == [line(0, C2S, 1700000000.0, mesg), line(0, C2S, 1700000000.0, ping),
                     line(0, S2C, 1700000000.001, logn)]


def test_capture_begins_at_a_block_boundary_bytewise(tmp_path: Path) -> None:
    segments = conversation(bytewise("c", MESG_CRLF + PING_C), handshake=False)
    lines = decoded(write_pcap(tmp_path / "c.pcap", segments))
    assert lines == expected(segments)
    assert len(lines) == 2


def test_capture_begins_inside_a_body_that_looks_like_a_block(tmp_path: Path) -> None:
    """A size line that does not fit the bytes, a body that quotes a block: no candidate
    is taken unless its whole block parses."""
    quoted = block("MESG", [("ID", "7")], b"x\r\nPING\r\n99\r\n")
    segments = conversation([("c", quoted[12:] + HELO_C)], handshake=False)
    status, lines, stderr = decode(write_pcap(tmp_path / "c.pcap", segments))
    assert status == 0
    assert lines == [line(0, C2S, 1700000000.0, {**json.loads(raw_lines(HELO_C)[0]),
                                                  "offset": len(quoted) - 12})]
    assert stderr == ("warning: stream 0 client-to-server: the capture began inside the "
                      f"connection: {len(quoted) - 12} bytes skipped up to the first whole "
                      "block\n")


def test_a_hole_stops_that_direction(tmp_path: Path) -> None:
    chunks = [("c", HELO_C), ("s", HELO_S), ("c", LOGN_C), ("c", MESG_UTF8), ("s", LOGN_S),
              ("c", PING_C), ("s", ACK_S)]
    segments = conversation(chunks)
    capture = segments[:6] + segments[7:]  # the client's MESG was never captured
    status, lines, stderr = decode(write_pcap(tmp_path / "c.pcap", capture))
    assert status == 1
    assert stderr == (f"stream 0 client-to-server: offset {len(HELO_C + LOGN_C)}: "
                      f"{len(MESG_UTF8)} bytes are missing from the capture (a hole): the rest "
                      "of this direction is not decoded\n")
    assert [(json.loads(t)["direction"], json.loads(t)["type"]) for t in lines] == [
        (C2S, "HELO"), (S2C, "HELO"), (C2S, "LOGN"), (S2C, "LOGN"), (S2C, "ACK")]


def test_two_streams_interleaved_and_a_port_reused(tmp_path: Path) -> None:
    other = ("10.0.0.7", 51000)
    one = conversation(SESSION[:4], start=100.0, step=0.01)
    two = conversation(SESSION[4:], client=other, start=100.005, step=0.01)
    # the first client's port again, after its FIN: a new connection, stream 2
    three = conversation([("c", PING_C), ("s", ACK_S)], start=200.0, isn=(77, 88))
    capture = sorted(one + two, key=lambda s: s.time) + three
    lines = decoded(write_pcap(tmp_path / "c.pcap", capture))
    assert lines == sorted(expected(one) + [t.replace('"stream": 0', '"stream": 1')
                                            for t in expected(two)],
                           key=lambda t: json.loads(t)["time"]) + \
        [t.replace('"stream": 0', '"stream": 2') for t in expected(three)]
    assert [json.loads(t)["stream"] for t in lines] == [0, 1, 0, 1, 0, 1, 0, 1, 1, 2, 2]


def test_a_port_reused(tmp_path: Path) -> None:
    """The same 4-tuple: a retransmitted SYN is the same connection; a SYN with another
    sequence number is a new one, even when the capture missed the old one's end; after
    a FIN, any SYN is a new one."""
    first = retransmitted(conversation([("c", PING_C)], close=False, isn=(50, 60)), 0)
    second = conversation([("c", HELO_C)], start=1_700_000_001.0)
    third = conversation([("c", LOGN_C)], start=1_700_000_002.0)  # the same ISN as second
    lines = decoded(write_pcap(tmp_path / "c.pcap", first + second + third))
    assert lines == [
        *expected(first),
        *(t.replace('"stream": 0', '"stream": 1') for t in expected(second)),
        *(t.replace('"stream": 0', '"stream": 2') for t in expected(third)),
    ]
    assert [json.loads(t)["type"] for t in lines] == ["PING", "HELO", "LOGN"]


def test_port_option(tmp_path: Path) -> None:
    segments = conversation(SESSION, client=("192.0.2.1", 40000), server=("192.0.2.2", 5222))
    path = write_pcap(tmp_path / "c.pcap", segments)
    status, lines, stderr = decode(path)
    assert (status, lines) == (0, [])
    assert stderr == "warning: the capture holds no TCP connection on port 11319\n"
    assert decoded(path, "--port", "5222") == expected(segments, port=5222)
    # the other end's port: the same blocks, with the directions named the other way
    swap = {C2S: S2C, S2C: C2S}
    assert decoded(path, "--port", "40000") == [
        line(r.pop("stream"), swap[r.pop("direction")], r.pop("time"), r)
        for r in map(json.loads, expected(segments, port=5222))]


def test_other_traffic_is_ignored(tmp_path: Path) -> None:
    segments = conversation(SESSION)
    web = conversation([("c", b"GET / HTTP/1.0\r\n\r\n")], server=("127.0.0.1", 80))
    udp = b"\x45\0\0\x1c\0\0\x40\0\x40\x11\0\0\x7f\0\0\1\x7f\0\0\1" + b"\0" * 8
    frames = [(s.time, ip_packet(s)) for s in web] + [(0.5, udp)] + \
        [(s.time, ip_packet(s)) for s in segments]
    assert decoded(write_frames(tmp_path / "c.pcap", frames, 101)) == expected(segments)


def test_ip_fragments_are_skipped(tmp_path: Path) -> None:
    segments = conversation([("c", HELO_C), ("c", LOGN_C), ("c", PING_C)])
    packets = [ip_packet(s) for s in segments]
    packets[4] = packets[4][:6] + b"\x20\0" + packets[4][8:]  # more fragments follow
    frames = [(s.time, packet) for s, packet in zip(segments, packets, strict=True)]
    status, lines, stderr = decode(write_frames(tmp_path / "c.pcap", frames, 101))
    assert status == 1
    assert lines == expected(segments)[:1]
    assert stderr == (
        f"stream 0 client-to-server: offset {len(HELO_C)}: {len(LOGN_C)} bytes are missing "
        "from the capture (a hole): the rest of this direction is not decoded\n"
        "warning: IP fragments of TCP segments skipped: 1 (imip decode does not "
        "reassemble IP fragments)\n")


def test_an_unsupported_link_type(tmp_path: Path) -> None:
    segments = conversation(SESSION)
    frames = [(s.time, ip_packet(s)) for s in segments]
    status, lines, stderr = decode(write_frames(tmp_path / "c.pcap", frames, 105))
    assert (status, lines) == (0, [])
    assert stderr == (f"warning: frames of an unsupported link type (105) skipped: "
                      f"{len(segments)}\n"
                      "warning: the capture holds no TCP connection on port 11319\n")


# -- what is not a capture, and broken captures ---------------------------------------------------

def test_not_a_capture_is_decoded_raw(tmp_path: Path) -> None:
    path = tmp_path / "client.bin"
    path.write_bytes(CLIENT_BYTES)
    result = subprocess.run([str(IMIP), "decode", str(path)], capture_output=True, timeout=30,
                            check=False)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.decode().splitlines() == raw_lines(CLIENT_BYTES)
    path.write_bytes(b"\r\n")  # shorter than a magic number
    assert decoded(path) == []
    path.write_bytes(b"")
    assert decoded(path) == []


def test_standard_input_stays_raw(tmp_path: Path) -> None:
    capture = write_pcap(tmp_path / "c.pcap", conversation(SESSION)).read_bytes()
    result = CliRunner().invoke(main, ["decode", "-"], input=capture)
    assert result.exit_code == 1
    assert result.stderr.startswith("offset 0: ")


def test_a_capture_cut_short(tmp_path: Path) -> None:
    segments = conversation(SESSION, close=False)
    whole = write_pcap(tmp_path / "c.pcap", segments).read_bytes()
    last = len(frame(segments[-1], "ethernet")) + 16
    for cut in (1, 10, 20, last - 1):  # in the last record's header or in its data
        path = tmp_path / "cut.pcap"
        path.write_bytes(whole[:-cut])
        status, lines, stderr = decode(path)
        assert status == 0
        assert lines == expected(segments[:-1])
        assert stderr == (f"warning: the capture file is cut short after frame "
                          f"{len(segments) - 1} (its last record is incomplete): the capture "
                          "ends there\n")


def test_a_pcapng_cut_short(tmp_path: Path) -> None:
    segments = conversation(SESSION)
    whole = write_pcapng(tmp_path / "c.pcapng", segments).read_bytes()
    path = tmp_path / "cut.pcapng"
    path.write_bytes(whole[:-7])
    status, lines, stderr = decode(path)
    assert status == 0
    assert lines == expected(segments)
    assert stderr == (f"warning: the capture file is cut short after frame "
                      f"{len(segments) - 1} (its last record is incomplete): the capture ends "
                      "there\n")


@pytest.mark.parametrize(("data", "message"), [
    (b"\xd4\xc3\xb2\xa1\2\0\4\0", "not a valid pcap file: its file header is cut short"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
     + struct.pack("<IIII", 1, 0, 3_000_000_000, 60), "not a valid pcap file: the record at "
     "byte 24 claims 3000000000 bytes"),
    (b"\x0a\x0d\x0d\x0a\x1c\0\0\0\x4d\x3c", "not a valid pcapng file: its section header is "
     "cut short"),
    (ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))[:-4] + b"\0\0\0\0",
     "not a valid pcapng file: the block at byte 0 ends with another length than it starts "
     "with"),
    (ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
     + struct.pack("<II", 6, 7), "not a valid pcapng file: the block at byte 28 claims a "
     "length of 7"),
    (ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
     + ng_block(6, struct.pack("<IIIII", 0, 0, 0, 40, 40) + b"\0" * 40),
     "not a valid pcapng file: the packet block at byte 28 names interface 0, which no "
     "interface block describes"),
    (ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
     + ng_block(1, struct.pack("<HHI", 1, 0, 0))
     + ng_block(6, struct.pack("<IIIII", 0, 0, 0, 400, 400) + b"\0" * 40),
     "not a valid pcapng file: the packet block at byte 48 claims 400 bytes in 40"),
], ids=["pcap-header", "pcap-length", "pcapng-header", "pcapng-trailer", "pcapng-length",
        "pcapng-interface", "pcapng-packet-length"])
def test_not_a_valid_capture(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.cap"
    path.write_bytes(data)
    status, lines, stderr = decode(path)
    assert (status, lines) == (1, [])
    assert stderr == f"Error: {path}: {message}\n"


def test_an_invalid_record_after_good_ones(tmp_path: Path) -> None:
    segments = conversation(SESSION, close=False)
    data = write_pcap(tmp_path / "c.pcap", segments).read_bytes()
    path = tmp_path / "bad.pcap"
    path.write_bytes(data + struct.pack("<IIII", 1, 0, 2**31, 60))
    status, lines, stderr = decode(path)
    assert status == 1
    assert lines == expected(segments)
    assert stderr == (f"Error: {path}: not a valid pcap file: the record at byte {len(data)} "
                      "claims 2147483648 bytes\n")


def test_a_subprocess_run_on_a_capture(tmp_path: Path) -> None:
    """The installed command, as people run it (the rest of the tests run it in process)."""
    segments = conversation(SESSION)
    path = write_pcapng(tmp_path / "c.pcapng", segments, "sll2")
    result = subprocess.run([str(IMIP), "decode", "--port", "11319", str(path)],
                            capture_output=True, timeout=30, check=False)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.decode("utf-8").splitlines() == expected(segments)


# -- a real session ------------------------------------------------------------------------------

class _RecordingSocket:
    """The socket of a test client, noting what goes each way, in the order it happens."""

    def __init__(self, sock: socket.socket, log: list[tuple[str, str, bytes]],
                 name: str) -> None:
        self._sock, self._log, self._name = sock, log, name

    def sendall(self, data: bytes) -> None:
        self._log.append((self._name, "c", bytes(data)))
        self._sock.sendall(data)

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        if data:
            self._log.append((self._name, "s", data))
        return data

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        self._sock.close()


class RecordingClient(Client):
    def __init__(self, port: int, name: str, log: list[tuple[str, str, bytes]]) -> None:
        super().__init__(port, name)
        recording = _RecordingSocket(self.sock, log, name)
        self.actor.sock = self.sock = recording  # type: ignore[assignment]


def test_a_real_session(imipd_server: ServerFactory, tmp_path: Path) -> None:
    server = imipd_server([("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob")])
    log: list[tuple[str, str, bytes]] = []
    alice = RecordingClient(server.port, "alice", log)
    bob = RecordingClient(server.port, "bob", log)
    for client, password in ((alice, "pw-a"), (bob, "pw-b")):
        client.login(client.actor.name, password)
        client.online()
        client.ping()
    ref = alice.mesg("bob", "Grüß dich!\r\nzweite Zeile".encode())
    bob.expect_mesg("alice", "bob", "Grüß dich!\r\nzweite Zeile".encode())
    alice.expect_ack(600, ref)
    ref = bob.mesg("alice", b"\xfe binary \xff", ack_type=None)
    alice.expect_mesg("bob", "alice", b"\xfe binary \xff")
    alice.close()
    bob.close()

    # each chunk cut at awkward places; the two connections interleaved as recorded
    ends = {"alice": (("127.0.0.1", 40001), 1000), "bob": (("::1", 40002), 2**32 - 100)}
    pieces: dict[str, list[tuple[str, bytes]]] = {"alice": [], "bob": []}
    order: list[str] = []
    for name, side, data in log:
        for piece in split(data, [n for n in (1, 2, 5, 13, 14, 60) if n < len(data)]):
            pieces[name].append((side, piece))
            order.append(name)
    per_name = {
        name: conversation(pieces[name], client=ends[name][0],
                           server=SERVER if name == "alice" else ("::1", 11319),
                           isn=(ends[name][1], 7))
        for name in pieces}
    capture: list[Segment] = per_name["alice"][:3] + per_name["bob"][:3]
    taken = {"alice": 3, "bob": 3}
    for name in order:
        capture.append(per_name[name][taken[name]])
        taken[name] += 1
    capture += per_name["alice"][taken["alice"]:] + per_name["bob"][taken["bob"]:]
    capture = [replace(s, time=1_700_000_000 + i / 1000) for i, s in enumerate(capture)]
    lines = decoded(write_pcap(tmp_path / "session.pcap", capture, "sll2"))

    # the same blocks as decoding each direction's raw bytes on its own
    for stream, name in enumerate(("alice", "bob")):
        for side, direction in (("c", C2S), ("s", S2C)):
            raw = b"".join(data for who, s, data in log if (who, s) == (name, side))
            mine = [json.loads(t) for t in lines
                    if json.loads(t)["stream"] == stream and json.loads(t)["direction"] ==
                    direction]
            assert [{k: v for k, v in r.items() if k not in ("stream", "direction", "time")}
                    for r in mine] == [json.loads(t) for t in raw_lines(raw)]
            assert mine
    times = [json.loads(t)["time"] for t in lines]
    assert times == sorted(times)
    assert lines == expected(capture)
