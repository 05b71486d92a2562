"""The serializer: strict, computes the size line, the empty line and the header order."""

from __future__ import annotations

import random

import pytest

from imipd.protocol import Block, message_bytes, serialize

from .helpers import parse_one

ODIGO_ORDER = [
    "Auth-Type",
    "Capabilities",
    "ID",
    "Keep-Alive",
    "Protocol",
    "Registration",
    "Service",
    "ServiceDisplayName",
]


def test_size_counts_bytes_of_utf8() -> None:
    block = Block("MESG", (), (("From", "Jürgen"),), "Grüß dich! 你好".encode(), empty_line=True)
    wire = block.to_bytes()
    content = "From: Jürgen\r\n\r\nGrüß dich! 你好".encode()
    assert wire == b"MESG\r\n%d\r\n" % len(content) + content
    assert len(content) == 36 and len(content.decode()) == 29


def test_type_line_is_utf8() -> None:
    assert Block("STAT", ("Müde",)).to_bytes() == "STAT Müde\r\n0\r\n".encode()


def test_empty_line_only_when_a_body_follows() -> None:
    headers = (("ID", "3"), ("Reference", "3"))
    assert (
        Block("ACK", ("600",), headers).to_bytes() == b"ACK 600\r\n21\r\nID: 3\r\nReference: 3\r\n"
    )
    assert (
        Block("ACK", ("850",), headers, b"too large").to_bytes()
        == b"ACK 850\r\n32\r\nID: 3\r\nReference: 3\r\n\r\ntoo large"
    )
    assert (
        Block("ACK", ("600",), headers, empty_line=True).to_bytes()
        == b"ACK 600\r\n23\r\nID: 3\r\nReference: 3\r\n\r\n"
    )
    # empty_line=False with a body still writes the empty line: the body needs it
    assert Block("MESG", (), (), b"x", empty_line=False).to_bytes() == b"MESG\r\n3\r\n\r\nx"


def test_no_headers_no_body() -> None:
    assert Block("PING").to_bytes() == b"PING\r\n0\r\n"
    assert Block("PING", empty_line=True).to_bytes() == b"PING\r\n2\r\n\r\n"


def test_always_crlf() -> None:
    wire = Block("LIST", ("ADD", "x"), (("A", "1"), ("B", "2")), b"body\n").to_bytes()
    head, body = wire.split(b"\r\n\r\n", 1)
    assert body == b"body\n"
    assert b"\n" not in head.replace(b"\r\n", b"")


def test_sort_headers_case_insensitive_like_odigo() -> None:
    shuffled = ODIGO_ORDER[:]
    random.Random(7).shuffle(shuffled)
    # odd casing in some names: a case-sensitive sort would put "ID" before "capabilities"
    renamed = {"Capabilities": "capabilities", "Keep-Alive": "keep-alive", "Service": "SERVICE"}
    headers = tuple((renamed.get(name, name), "v") for name in shuffled)
    wire = Block("HELO", (), headers).to_bytes(sort_headers=True)
    names = [line.split(b":")[0].decode() for line in wire.split(b"\r\n")[2:-1]]
    assert names == [renamed.get(name, name) for name in ODIGO_ORDER]
    assert [n.lower() for n in names] == sorted(n.lower() for n in names)


@pytest.mark.parametrize(
    ("given", "written"),
    [
        (["From", "ID", "List"], ["From", "ID", "List"]),
        (["List", "ID", "From"], ["From", "ID", "List"]),
        (["Reference", "ID"], ["ID", "Reference"]),
        (["to", "ID", "From", "ACK-Type"], ["ACK-Type", "From", "ID", "to"]),
    ],
)
def test_sort_examples(given: list[str], written: list[str]) -> None:
    block = Block("MESG", (), tuple((name, "1") for name in given), b"hi")
    wire = block.to_bytes(sort_headers=True)
    parsed = parse_one(wire)
    assert [name for name, _ in parsed.headers] == written
    assert parsed.body == b"hi"


def test_unsorted_by_default_keeps_order() -> None:
    headers = (("ID", "1001"), ("To", "bob"), ("ACK-Type", "always"), ("From", "alice"))
    wire = Block("MESG", (), headers, b"x").to_bytes()
    assert parse_one(wire).headers == headers


def test_sorting_does_not_change_the_block_and_is_stable_in_size() -> None:
    block = Block("HELO", (), tuple((name, "x") for name in reversed(ODIGO_ORDER)), b"1")
    sorted_wire = block.to_bytes(sort_headers=True)
    plain_wire = block.to_bytes()
    assert len(sorted_wire) == len(plain_wire)
    assert block.headers[0][0] == "ServiceDisplayName"


def test_serialize_takes_iterables() -> None:
    wire = serialize("ACK", iter(["600"]), iter([("ID", "3"), ("Reference", "3")]), b"")
    assert wire == b"ACK 600\r\n21\r\nID: 3\r\nReference: 3\r\n"
    wire = serialize(
        "ACK", ["600"], iter([("Reference", "3"), ("ID", "3")]), b"", sort_headers=True
    )
    assert wire == b"ACK 600\r\n21\r\nID: 3\r\nReference: 3\r\n"
    assert serialize("PING", [], [], b"", empty_line=True) == b"PING\r\n2\r\n\r\n"


def test_round_trip_of_a_written_block() -> None:
    block = Block("LIST", ("ADD", "1000099"), (("List", "Buddy"), ("From", "me")), b"hi\r\n")
    parsed = parse_one(block.to_bytes())
    assert parsed == Block(block.verb, block.args, block.headers, block.body, empty_line=True)


@pytest.mark.parametrize("body", [b"", b"hi", b"\r\n\x00 Gr\xc3\xbc\xc3\x9f"])
@pytest.mark.parametrize("date", [None, "Sun, 29 Nov 2026 15:24:07 +0000"])
def test_message_bytes_is_serialize_with_sorted_headers(body: bytes, date: str | None) -> None:
    headers = [("From", "Alice"), ("ID", "17"), ("To", "b\u00f6b")]
    if date is not None:
        headers.append(("Date", date))
    assert message_bytes(17, "Alice", "b\u00f6b", body, date) == serialize(
        "MESG", (), headers, body, sort_headers=True)
