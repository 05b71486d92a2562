"""The Wireshark dissector contrib/wireshark/imip.lua, run by the real tshark on synthetic
captures and on a capture of a real imipd session (issue 15).

tshark, luac5.2 and luac5.4 come from Debian (scripts/ensure-tshark installs them); when one
is missing these tests fail, naming the package, rather than skip.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from tests.server.conftest import ServerFactory, imipd_server  # noqa: F401
from tests.server.imip_client import Client

from .synth import (
    Segment,
    bytewise,
    conversation,
    retransmitted,
    split,
    write_pcap,
    write_pcapng,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "contrib" / "wireshark" / "imip.lua"

PACKAGES = {"tshark": "tshark", "luac5.2": "lua5.2", "luac5.4": "lua5.4"}
ROOT_WARNING = 'Running as user "root" and group "root". This could be dangerous.'
GUARDS = ("_ws.lua.error",)
"""Fields every run also prints: a Lua error must never happen. (Exceptions show as expert
messages, which the tests of malformed blocks compare whole.)"""

THREE = ("imip.verb", "imip.size", "imip.id")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install Debian's {PACKAGES[name]} package "
                    f"(apt-get install {PACKAGES[name]}, or run scripts/ensure-tshark as root)")
    return path


def decode_blocks(pcap: Path) -> list[tuple[str, str, str]]:
    """(verb, size, ID) of each block ``imip decode`` finds in ``pcap``, in its order."""
    done = subprocess.run([str(Path(sys.executable).with_name("imip")), "decode", str(pcap)],
                          capture_output=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return [(r["type"], str(r["size"]), dict(r["headers"]).get("ID", "")) for r in records]


def tshark_blocks(lines: Sequence[str]) -> list[tuple[str, str, str]]:
    """(verb, size, ID) of each block in the lines of ``tshark_fields(pcap, THREE ...)``."""
    return [block for line in lines if line.split("\t")[0]
            for block in zip(*(field.split(",") for field in line.split("\t")[:3]),
                             strict=True)]


def agree(pcap: Path, lines: Sequence[str]) -> None:
    """tshark with the dissector and ``imip decode`` found the same blocks in the same order."""
    assert decode_blocks(pcap) == tshark_blocks(lines)


@functools.cache
def info_column() -> str:
    """The Info column's field: ``_ws.col.Info`` before Wireshark 4.2, ``_ws.col.info`` since."""
    out = subprocess.run([tool("tshark"), "--version"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    match = re.search(r"TShark \(Wireshark\) (\d+)\.(\d+)", out)
    assert match, out
    return "_ws.col.Info" if (int(match[1]), int(match[2])) < (4, 2) else "_ws.col.info"


def tshark_fields(pcap: Path, fields: Sequence[str], *prefs: str,
                  display_filter: str | None = None) -> list[str]:
    """The lines of ``tshark -r pcap -X lua_script:imip.lua -T fields -e ...`` (one per frame),
    after checking that no frame had a Lua error or a malformed-packet exception and that
    tshark said nothing on stderr but its warning about running as root."""
    command = [tool("tshark"), "-n", "-r", str(pcap), "-X", f"lua_script:{SCRIPT}",
               "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.check_checksum:TRUE"]
    for pref in prefs:
        command += ["-o", pref]
    if display_filter:
        command += ["-Y", display_filter]
    command += ["-T", "fields"]
    for field in (*fields, *GUARDS):
        command += ["-e", field]
    done = subprocess.run(command, capture_output=True, timeout=60)
    stderr = [line for line in done.stderr.decode().splitlines() if line != ROOT_WARNING]
    assert done.returncode == 0 and not stderr, (done.returncode, stderr)
    lines = []
    for line in done.stdout.decode().splitlines():
        columns = line.split("\t")
        assert len(columns) == len(fields) + len(GUARDS), line
        assert columns[len(fields):] == [""] * len(GUARDS), f"Lua error: {line}"
        lines.append("\t".join(columns[:len(fields)]))
    return lines


def block(type_line: str, headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
          empty_line: bool | None = None) -> bytes:
    """A block with its size computed; the empty line when a body follows (or when told)."""
    content = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    if body is not None or empty_line:
        content += b"\r\n" + (body or b"")
    return type_line.encode() + b"\r\n%d\r\n" % len(content) + content


# The conversation of docs/protocol.md §10, Alice's side.
A_HELO = block("HELO", [("ID", "1"), ("Protocol", "IMIP/1.0")], empty_line=True)
S_HELO = block("HELO", [("Auth-Type", "imip-md5"), ("Capabilities", "server-lists"), ("ID", "1"),
                        ("Keep-Alive", "60"), ("Protocol", "IMIP/1.0"),
                        ("Registration", "http://127.0.0.1:8080/register"),
                        ("Service", "example.org"), ("ServiceDisplayName", "Example IM")],
               b"2718281828")
A_LOGN = block("LOGN 1000042", [("ID", "2"), ("Client", "imip-cli 0.1"),
                                ("Auth-Type", "imip-md5")],
               b"acf2b771b12e380f6001573415913b2e")
S_LOGN = block("LOGN 1000042", [("ID", "2"), ("Reference", "2")])
A_STAT = block("STAT ONLINE", [("ID", "3")], empty_line=True)
S_ACK3 = block("ACK 600", [("ID", "3"), ("Reference", "3")])
S_MESG = block("MESG", [("From", "1000099"), ("ID", "6"), ("To", "1000042")],
               "Hi Alice! Grüß dich!".encode())
A_DISC = block("DISC", [("ID", "5")], empty_line=True)
S_ACK5 = block("ACK 600", [("ID", "7"), ("Reference", "5")])
SESSION = [("c", A_HELO), ("s", S_HELO), ("c", A_LOGN), ("s", S_LOGN), ("c", A_STAT),
           ("s", S_ACK3), ("s", S_MESG), ("c", A_DISC), ("s", S_ACK5)]

HANDSHAKE = ["\t\t"] * 3
CLOSE = ["\t\t"] * 3


def test_the_documented_sizes() -> None:
    """The blocks above are the ones of docs/protocol.md §10, byte for byte."""
    sizes = [b.split(b"\r\n")[1] for b in (A_HELO, S_HELO, A_LOGN, S_LOGN, S_MESG, S_ACK3)]
    assert sizes == [b"29", b"204", b"84", b"21", b"59", b"21"]


# -- the script itself -----------------------------------------------------------------------

@pytest.mark.parametrize("luac", ["luac5.2", "luac5.4"])
def test_the_script_is_valid_lua_5_2_and_5_4(luac: str) -> None:
    done = subprocess.run([tool(luac), "-p", str(SCRIPT)], capture_output=True, text=True,
                          timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


# The dissector run by plain lua5.2 and lua5.4 against a small stand-in for Wireshark's Lua
# API: what it adds to the tree, the columns and its reassembly requests must be the same in
# both (tostring shows "1004.0" for a float where Lua 5.4 would print an integer).
FAKE_WIRESHARK = r"""
local script = ...
local function out(...) io.write(table.concat({...}, " "), "\n") end
base = { DEC = "DEC" }
ENC_UTF_8 = "UTF-8"
DESEGMENT_ONE_MORE_SEGMENT = 0x0fffffff
expert = { group = { MALFORMED = 1, PROTOCOL = 2, REASSEMBLE = 3 },
           severity = { ERROR = 1, WARN = 2, NOTE = 3 } }
local function field(abbr) return { abbr = abbr } end
ProtoField = { string = field, uint32 = field }
ProtoExpert = { new = field }
Pref = { uint = function(_, default) return default end,
         bool = function(_, default) return default end }
local proto
function Proto(name)
    proto = { abbr = name, prefs = {} }
    function proto.register_heuristic(self, _, fn) self.heuristic = fn end
    return proto
end
local function Tvb(bytes)
    local tvb = {}
    local function range(offset, length)
        length = length or #bytes - offset
        assert(offset >= 0 and length > 0 and offset + length <= #bytes, "bad range")
        return { string = function() return bytes:sub(offset + 1, offset + length) end,
                 tvb = function() return Tvb(bytes:sub(offset + 1, offset + length)) end }
    end
    function tvb.len() return #bytes end
    function tvb.raw(_, offset, length) return bytes:sub(offset + 1, offset + length) end
    return setmetatable(tvb, { __call = function(_, ...) return range(...) end })
end
Dissector = { get = function() return { call = function(_, tvb) out("data", tvb:len()) end } end }
DissectorTable = { get = function() return { add = function(_, port) out("port", port) end,
                                             remove = function() end } end }
local function Tree(depth)
    local tree = {}
    function tree.add(_, f, range, value)
        assert(range, "no range")
        out(depth .. f.abbr, tostring(value))
        return Tree(depth .. "  ")
    end
    function tree.add_packet_field(_, f, range, encoding)
        assert(encoding == ENC_UTF_8)
        out(depth .. f.abbr, range:string())
        return Tree(depth .. "  ")
    end
    function tree.add_proto_expert_info(_, e, text) out(depth .. e.abbr, text) end
    function tree.append_text(_, text) out(depth .. "text", text) end
    return tree
end
local function Column(text)
    local column = { text = text }
    function column.set(self, value) self.text = value end
    function column.append(self, value) self.text = self.text .. value end
    return setmetatable(column, { __tostring = function(self) return self.text end })
end
dofile(script)
for i = 2, select("#", ...) do
    local hex = select(i, ...)
    local how, bytes = hex:match("^(%a+):(.*)$")
    bytes = bytes:gsub("..", function(h) return string.char(tonumber(h, 16)) end)
    local pinfo = { cols = { info = Column(""), protocol = Column("TCP") }, can_desegment = 2 }
    out("--", how, #bytes)
    if how == "heuristic" then
        proto.prefs.heuristic = true
        out("taken", tostring(proto.heuristic(Tvb(bytes), pinfo, Tree(""))))
    else
        out("consumed", tostring(proto.dissector(Tvb(bytes), pinfo, Tree(""))))
    end
    out("info", tostring(pinfo.cols.info), tostring(pinfo.cols.protocol))
    out("desegment", tostring(pinfo.desegment_offset), tostring(pinfo.desegment_len))
end
"""


def run_fake(luac: str, tmp_path: Path, payloads: Sequence[tuple[str, bytes]]) -> list[str]:
    interpreter = tool(luac).replace("luac", "lua")
    fake = tmp_path / "fake_wireshark.lua"
    fake.write_text(FAKE_WIRESHARK)
    done = subprocess.run([interpreter, str(fake), str(SCRIPT),
                           *(f"{how}:{data.hex()}" for how, data in payloads)],
                          capture_output=True, timeout=30)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr.decode()
    return done.stdout.decode().splitlines()


def test_the_same_dissection_in_lua_5_2_and_5_4(tmp_path: Path) -> None:
    payloads = [
        ("dissect", A_HELO + S_ACK3 + S_MESG[:30]),
        ("dissect", block("ACK 811", [("ID", "3"), ("Reference", "1002")])),
        ("dissect", b"\r\n" + block("list  add   1000099", [("ID", "x"), ("List", "Buddy")],
                                    b"Hi Bob\r\n")),
        ("dissect", b"PING\r\n12"),
        ("dissect", b"PING\r\n1x\r\nID: 5\r\n\r\n"),
        ("dissect", b"ACK 600\r\n0065537\r\n"),
        ("dissect", b"PING\r\n8\r\nID 5\r\n\r\n"),
        ("dissect", b"X" * 1100),
        ("dissect", b"\r\n   \r\n9\r\nID: 1\r\n\r\nPING \r\n0\r\n"),
        ("heuristic", A_HELO),
        ("heuristic", b"GET / HTTP/1.0\r\n\r\n"),
    ]
    assert run_fake("luac5.2", tmp_path, payloads) == run_fake("luac5.4", tmp_path, payloads)
    assert run_fake("luac5.4", tmp_path, payloads[1:2]) == [
        "port 11319",
        "-- dissect 37",
        "imip nil",
        "  imip.verb ACK",
        "  imip.args 811",
        "  imip.status 811",
        "  imip.size 24",
        "  imip.header ID: 3",
        "    imip.header.name ID",
        "    imip.header.value 3",
        "    imip.id 3",
        "  imip.header Reference: 1002",
        "    imip.header.name Reference",
        "    imip.header.value 1002",
        "    imip.reference 1002",
        "  text : ACK 811 (Reference 1002)",
        "consumed 37",
        "info ACK 811 (Reference 1002) IMIP",
        "desegment nil nil",
    ]


# -- segmentation ---------------------------------------------------------------------------

def test_one_block_per_segment(tmp_path: Path) -> None:
    pcap = write_pcap(tmp_path / "f.pcap", conversation(SESSION))
    lines = tshark_fields(pcap, THREE)
    agree(pcap, lines)
    assert lines == [
        *HANDSHAKE,
        "HELO\t29\t1",
        "HELO\t204\t1",
        "LOGN\t84\t2",
        "LOGN\t21\t2",
        "STAT\t9\t3",
        "ACK\t21\t3",
        "MESG\t59\t6",
        "DISC\t9\t5",
        "ACK\t21\t7",
        *CLOSE,
    ]


def test_one_byte_per_segment(tmp_path: Path) -> None:
    """Every block shows in the frame of its last byte; the frames before it carry parts."""
    chunks = [*bytewise("c", A_HELO), *bytewise("s", S_HELO + S_ACK3), *bytewise("c", A_DISC)]
    pcap = write_pcapng(tmp_path / "f.pcapng", conversation(chunks), "sll2")
    want = ["\t\t"] * len(chunks)
    want[len(A_HELO) - 1] = "HELO\t29\t1"
    want[len(A_HELO) + len(S_HELO) - 1] = "HELO\t204\t1"
    want[len(A_HELO) + len(S_HELO) + len(S_ACK3) - 1] = "ACK\t21\t3"
    want[-1] = "DISC\t9\t5"
    lines = tshark_fields(pcap, THREE)
    agree(pcap, lines)
    assert lines == [*HANDSHAKE, *want, *CLOSE]


def test_many_blocks_in_one_segment_and_blocks_across_segments(tmp_path: Path) -> None:
    server = S_HELO + S_LOGN + S_ACK3 + S_MESG + S_ACK5
    cut = len(S_HELO) + len(S_LOGN) + 5  # inside the type line of the ACK
    chunks = [("c", A_HELO + A_LOGN + A_STAT), ("s", server[:cut]), ("s", server[cut:]),
              # the end of one block and the beginning of the next, then the rest
              ("c", A_DISC[:3]), ("c", A_DISC[3:] + A_HELO[:12]), ("c", A_HELO[12:])]
    pcap = write_pcap(tmp_path / "f.pcap", conversation(chunks), "null")
    lines = tshark_fields(pcap, THREE)
    agree(pcap, lines)
    assert lines == [
        *HANDSHAKE,
        "HELO,LOGN,STAT\t29,84,9\t1,2,3",
        "HELO,LOGN\t204,21\t1,2",
        "ACK,MESG,ACK\t21,59,21\t3,6,7",
        "\t\t",
        "DISC\t9\t5",
        "HELO\t29\t1",
        *CLOSE,
    ]


def test_bodies_with_cr_lf_and_utf_8(tmp_path: Path) -> None:
    """A body is the size's business alone: CR LF inside it, and UTF-8 split anywhere."""
    listing = block("LIST", [("ID", "7"), ("List", "Buddy"), ("Reference", "5")],
                    b'1000099 "Bob" ONLINE\r\n1000123 "Zo\xc3\xab" PENDING\r\n')
    text = "Grüß dich!\r\n\r\nΚαλημέρα 😀\r\nLIST\r\n3\r\n".encode()
    mesg = block("MESG", [("From", "1000099"), ("ID", "8"), ("To", "1000042")], text)
    cut = mesg.index("😀".encode()) + 2  # inside the emoji's four bytes
    pcap = write_pcap(tmp_path / "f.pcap", conversation(
        [("s", listing), ("s", S_MESG + mesg[:cut]), ("s", mesg[cut:])]), "raw")
    lines = tshark_fields(pcap, (*THREE, "imip.body"))
    agree(pcap, lines)
    assert lines == [
        *["\t\t\t"] * 3,
        'LIST\t82\t7\t1000099 "Bob" ONLINE\\r\\n1000123 "Zoë" PENDING\\r\\n',
        "MESG\t59\t6\tHi Alice! Grüß dich!",
        "MESG\t85\t8\tGrüß dich!\\r\\n\\r\\nΚαλημέρα 😀\\r\\nLIST\\r\\n3\\r\\n",
        *["\t\t\t"] * 3,
    ]
    assert len(mesg) - mesg.index(b"\r\n\r\n") - 4 == len(text) == 48


# -- malformed blocks -----------------------------------------------------------------------

LOST = "; where the next block starts is unknown (the server answers ACK 800 or 850 " \
       "and closes the connection)"


def test_malformed_blocks_are_expert_errors(tmp_path: Path) -> None:
    ping_no_colon = b"PING\r\n8\r\nID 5\r\n\r\n"
    chunks = [
        ("c", A_HELO + b"PING\r\n1x\r\nID: 5\r\n\r\n" + A_STAT),  # broken size line
        ("s", b"ACK 600\r\n0065537\r\nID: 1\r\n"),  # over the 64 KiB block-size limit
        ("s", b"ACK 600\r\n99999999999999999999999999\r\n"),  # however many digits
        ("c", ping_no_colon + A_DISC),  # well framed: the next block is still read
        ("c", b"MESG\r\n5\r\nID: 12345"),  # the size ends inside a header line
        ("c", b"X" * 1100 + b"\r\n9\r\n"),  # type line over 1 KiB
    ]
    pcap = write_pcap(tmp_path / "f.pcap", conversation(chunks, handshake=False, close=False))
    assert tshark_fields(pcap, THREE) == [
        "HELO,PING\t29\t1",
        "ACK\t\t",
        "ACK\t\t",
        "PING,DISC\t8,9\t5",
        "MESG\t5\t",
        "\t\t",
    ]
    assert tshark_fields(pcap, ("_ws.expert.message", info_column())) == [
        "Malformed IMIP block: size line is not a decimal number" + LOST
        + "\tHELO, PING [Malformed: size line is not a decimal number]",
        "Malformed IMIP block: size over the block-size limit of 65536 bytes" + LOST
        + "\tACK 600 [Malformed: size over the block-size limit of 65536 bytes]",
        "Malformed IMIP block: size over the block-size limit of 65536 bytes" + LOST
        + "\tACK 600 [Malformed: size over the block-size limit of 65536 bytes]",
        "Header line without a colon (the server answers ACK 800)"
        "\tPING [Malformed header line], DISC",
        "Malformed IMIP block: the size ends inside a header line" + LOST
        + "\tMESG [Malformed: the size ends inside a header line]",
        "Malformed IMIP block: type line longer than 1024 bytes" + LOST
        + "\t[Malformed: type line longer than 1024 bytes]",
    ]


def test_the_rest_of_a_segment_after_lost_framing_is_data(tmp_path: Path) -> None:
    rest = b"PING\r\n1x\r\nID: 5\r\n\r\n" + A_STAT
    pcap = write_pcap(tmp_path / "f.pcap", conversation([("c", A_HELO + rest)],
                                                        handshake=False, close=False))
    assert tshark_fields(pcap, ("imip.verb", "data.len", "data.data")) == [
        f"HELO,PING\t{len(rest) - 6}\t{rest[6:].hex()}"
    ]


def test_mangled_sessions_never_raise_a_lua_error(tmp_path: Path) -> None:
    """Forty connections of the §10 session with bytes changed, cut short and split at
    random: whatever the dissector makes of them, it never fails (tshark_fields checks
    _ws.lua.error) and never lets an exception through."""
    rng = random.Random(15)
    segments = []
    for number in range(40):
        chunks: list[tuple[str, bytes]] = []
        for side, data in SESSION:
            mangled = bytearray(data)
            for _ in range(rng.randint(0, 3)):
                mangled[rng.randrange(len(mangled))] = rng.choice(b"\r\n:0123456789 x\xff\x00")
            if rng.random() < 0.2:
                del mangled[rng.randrange(len(mangled)):]
            cuts = sorted(rng.sample(range(1, len(mangled)), min(len(mangled) - 1, 5))
                          if mangled else [])
            chunks += [(side, part) for part in split(bytes(mangled), cuts)]
        segments += conversation(chunks, client=("127.0.0.1", 40000 + number),
                                 start=1_700_000_000.0 + number)
    pcap = write_pcap(tmp_path / "f.pcap", segments)
    messages = {message for line in tshark_fields(pcap, ("_ws.expert.message",))
                for message in line.split(",") if message}
    assert not {m for m in messages if "Exception" in m or "bug" in m.lower()}, messages
    assert any(m.startswith("Malformed IMIP block") for m in messages), messages


# -- ACK, Info column, preferences ----------------------------------------------------------

def test_ack_status_and_info_column(tmp_path: Path) -> None:
    grant = block("ACK 600", [("ID", "1004"), ("Reference", "4")], empty_line=True)
    refused = block("ACK 811", [("ID", "3"), ("Reference", "1002")])
    lost = block("ACK 800", [("ID", "4")])
    odd = block("ACK 999", [("ID", "5"), ("Reference", "77")])
    chunks = [("c", A_LOGN.replace(b"1000042", b"6340564")), ("s", refused),
              ("c", grant), ("s", lost + odd), ("s", S_MESG)]
    pcap = write_pcap(tmp_path / "f.pcap", conversation(chunks, handshake=False, close=False))
    assert tshark_fields(pcap, ("imip.status", "imip.reference", info_column())) == [
        "\t\tLOGN 6340564",
        "811\t1002\tACK 811 (Reference 1002)",
        "600\t4\tACK 600 (Reference 4)",
        "800,999\t77\tACK 800, ACK 999 (Reference 77)",
        "\t\tMESG",
    ]


def test_heuristic_on_other_ports_is_off_by_default(tmp_path: Path) -> None:
    """On another port the heuristic needs a preference; it takes a connection whose first
    payload has a verb, a type line and a size line, and keeps it, reassembly included."""
    server_bytes = S_HELO + S_LOGN
    chunks = [("c", A_HELO), ("s", server_bytes[:7]), ("s", server_bytes[7:]),
              ("c", A_LOGN[:40]), ("c", A_LOGN[40:])]
    segments = conversation(chunks, server=("127.0.0.1", 24242))
    pcap = write_pcap(tmp_path / "f.pcap", segments)
    nothing = [*HANDSHAKE, *["\t\t"] * len(chunks), *CLOSE]
    assert tshark_fields(pcap, THREE) == nothing
    found = [*HANDSHAKE, "HELO\t29\t1", "\t\t", "HELO,LOGN\t204,21\t1,2", "\t\t", "LOGN\t84\t2",
             *CLOSE]
    assert tshark_fields(pcap, THREE, "imip.heuristic:TRUE") == found
    assert tshark_fields(pcap, THREE, "imip.port:24242") == found
    # a payload that is not IMIP is left alone
    other = write_pcap(tmp_path / "g.pcap", conversation(
        [("c", b"GET / HTTP/1.0\r\n\r\n"), ("c", b"HELO\r\nabc\r\n"), ("c", b"NOPE\r\n9\r\n")],
        server=("127.0.0.1", 24242)))
    assert tshark_fields(other, THREE, "imip.heuristic:TRUE") == [*HANDSHAKE, *["\t\t"] * 3,
                                                                    *CLOSE]


# -- a real imipd session -------------------------------------------------------------------

class RecordingProxy:
    """A TCP proxy on loopback for one connection: what each side sent, in order."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.chunks: list[tuple[str, bytes]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(10)
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        peers = {client: (server, "c"), server: (client, "s")}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while selector.get_map() and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    other, side = peers[sock]
                    try:
                        data = sock.recv(65536)
                    except ConnectionResetError:
                        data = b""
                    if data:
                        self.chunks.append((side, data))
                        other.sendall(data)
                    else:
                        selector.unregister(sock)
                        with contextlib.suppress(OSError):
                            other.shutdown(socket.SHUT_WR)
        for sock in (client, server, self.listener):
            sock.close()

    def recorded(self) -> list[tuple[str, bytes]]:
        self.thread.join(10)
        assert not self.thread.is_alive()
        return self.chunks


def awkward(side: str, data: bytes) -> list[tuple[str, bytes]]:
    """``data`` cut after its first byte, before its last and every 13 bytes in between."""
    cuts = sorted({1, len(data) - 1, *range(13, len(data), 13)} - {0, len(data)})
    return [(side, part) for part in split(data, cuts)]


def blocks_of(stream: bytes) -> list[tuple[int, str, int, str]]:
    """(end offset, verb, size, ID) of each block of a well-formed stream."""
    out = []
    pos = 0
    while pos < len(stream):
        type_end = stream.index(b"\r\n", pos)
        size_end = stream.index(b"\r\n", type_end + 2)
        size = int(stream[type_end + 2:size_end])
        end = size_end + 2 + size
        headers = stream[size_end + 2:end].split(b"\r\n\r\n")[0]
        ids = re.findall(rb"(?m)^ID: (\d+)\r?$", headers)
        out.append((end, stream[pos:type_end].split(b" ")[0].decode(), size,
                    ids[0].decode() if ids else ""))
        pos = end
    return out


def expected_three(segments: Sequence[Segment]) -> list[str]:
    """The lines of imip.verb, imip.size, imip.id: each block in the frame of its last byte;
    a retransmitted segment shows nothing."""
    seen: set[tuple[tuple[str, int], int]] = set()
    fresh = []  # None for a segment without payload or sent again
    for segment in segments:
        key = (segment.src, segment.seq)
        fresh.append(segment if segment.payload and key not in seen else None)
        if segment.payload:
            seen.add(key)
    streams: dict[tuple[str, int], bytes] = {}
    for segment in filter(None, fresh):
        streams[segment.src] = streams.get(segment.src, b"") + segment.payload
    ends = {src: blocks_of(stream) for src, stream in streams.items()}
    offsets = dict.fromkeys(streams, 0)
    lines = []
    for segment in fresh:
        if segment is None:
            lines.append("\t\t")
            continue
        start = offsets[segment.src]
        stop = offsets[segment.src] = start + len(segment.payload)
        done = [b for b in ends[segment.src] if start < b[0] <= stop]
        lines.append("\t".join(",".join(str(b[i]) for b in done) for i in (1, 2, 3)))
    return lines


def test_a_real_imipd_session(imipd_server: ServerFactory, tmp_path: Path) -> None:  # noqa: F811
    server = imipd_server([("1000042", "s3cret", "Alice")])
    proxy = RecordingProxy(server.port)
    alice = Client(proxy.port, "alice")
    alice.hello()
    alice.expect_ack(811, alice.logn("1000042", "wrong"))
    alice.expect("LOGN 1000042", [("Reference", alice.logn("1000042", "s3cret"))])
    alice.online()
    alice.ping()
    note = "Grüß dich! 😀\r\nΚαλημέρα".encode()
    ref = alice.mesg("1000042", note)
    alice.expect_mesg("1000042", "1000042", note)
    alice.expect_ack(600, ref)
    alice.expect("LIST", [("List", "Buddy"),
                          ("Reference", alice.send("LIST GET", [("List", "Buddy")]))])
    alice.expect_ack(600, alice.send("DISC"))
    alice.expect_closed()
    alice.close()
    chunks = proxy.recorded()

    client_bytes = b"".join(data for side, data in chunks if side == "c")
    server_bytes = b"".join(data for side, data in chunks if side == "s")
    assert [b[1:] for b in blocks_of(client_bytes)] == [
        ("HELO", 32, "1001"), ("LOGN", 79, "1002"), ("LOGN", 79, "1003"), ("STAT", 12, "1004"),
        ("PING", 12, "1005"), ("MESG", 78, "1006"), ("LIST", 25, "1007"), ("DISC", 12, "1008")]
    server_blocks = blocks_of(server_bytes)
    assert server_blocks[0][1::2] == ("HELO", "1")  # its size depends on the challenge
    assert [b[1:] for b in server_blocks[1:]] == [
        ("ACK", 24, "2"), ("LOGN", 24, "3"), ("ACK", 24, "4"), ("ACK", 24, "5"),
        ("MESG", 72, "6"), ("ACK", 24, "7"), ("LIST", 37, "8"), ("ACK", 24, "9")]

    awkward_chunks = [piece for side, data in chunks for piece in awkward(side, data)]
    plain = conversation(awkward_chunks)
    # a segment sent twice, in the middle of a block
    again = next(i for i, line in enumerate(expected_three(plain))
                 if i > 10 and plain[i].payload and line == "\t\t")
    segments = retransmitted(plain, again)
    pcap = write_pcap(tmp_path / "session.pcap", segments, "sll")
    lines = tshark_fields(pcap, (*THREE, info_column()))
    got = [line.rsplit("\t", 1)[0] for line in lines]
    assert got == expected_three(segments)
    assert sum(len(line.split("\t")[0].split(",")) for line in got if line != "\t\t") == 17
    assert got[again] == got[again + 1] == "\t\t"
    info = [line.rsplit("\t", 1)[1] for line in lines if line.split("\t")[0]]
    assert info.count("LOGN 1000042") == 3
    assert info.count("ACK 811 (Reference 1002)") == 1
    assert info.count("ACK 600 (Reference 1008)") == 1

    agree(pcap, got)  # imip decode reads the same capture alike
