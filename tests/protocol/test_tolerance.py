"""Accepted beyond the canonical form (docs/protocol.md §2.3 type line, §2.5 headers, §3)."""

from __future__ import annotations

import pytest

from imipd.protocol import Block

from .examples import CLIENT_HELO, LOGN, SERVER_ACK
from .helpers import check_reader, frame, parse_one


def test_missing_empty_line_without_body() -> None:
    block = parse_one(b"HELO\r\n27\r\nID: 1\r\nProtocol: IMIP/1.0\r\n")
    assert block == Block("HELO", (), (("ID", "1"), ("Protocol", "IMIP/1.0")))
    assert block.empty_line is False


def test_empty_line_recorded_without_body() -> None:
    assert parse_one(CLIENT_HELO.wire).empty_line is True
    assert parse_one(SERVER_ACK.wire).empty_line is False


def test_bare_lf_everywhere_outside_the_body() -> None:
    wire = (
        b"LOGN 1000042\n80\nID: 2\nClient: imip-cli 0.1\nAuth-Type: imip-md5\n\n" + LOGN.block.body
    )
    assert parse_one(wire) == LOGN.block


@pytest.mark.parametrize(
    "wire",
    [
        b"ACK 600\n21\r\nID: 3\r\nReference: 3\r\n",  # type line
        b"ACK 600\r\n21\nID: 3\r\nReference: 3\r\n",  # size line
        b"ACK 600\r\n20\r\nID: 3\nReference: 3\r\n",  # a header line
        b"ACK 600\r\n19\r\nID: 3\nReference: 3\n",  # both header lines
    ],
)
def test_bare_lf_in_each_line(wire: bytes) -> None:
    assert parse_one(wire) == SERVER_ACK.block


def test_bare_lf_empty_line() -> None:
    block = parse_one(b"MESG\r\n10\r\nID: 4\r\n\nhi")
    assert block == Block("MESG", (), (("ID", "4"),), b"hi", empty_line=True)
    block = parse_one(b"HELO\r\n8\r\nID: 1\r\n\n")
    assert block == Block("HELO", (), (("ID", "1"),), b"", empty_line=True)


@pytest.mark.parametrize(
    "body",
    [b"a\r\nb", b"a\nb", b"\r\n", b"\n", b"\r", b"line\r\n\r\n", b"\r\n\r\nx\r\n", b"\n\n\n"],
)
def test_body_never_altered(body: bytes) -> None:
    head = b"ID: 4\n\n"
    wire = b"MESG\n%d\n%s%s" % (len(head) + len(body), head, body)
    assert parse_one(wire).body == body


def test_body_starting_with_line_endings_is_body() -> None:
    # after the empty line everything is body, even what looks like more empty lines
    block = parse_one(frame(b"MESG", b"ID: 4\r\n\r\n\r\n\r\n"))
    assert block.body == b"\r\n\r\n"


@pytest.mark.parametrize("prefix", [b"\r\n", b"\n", b"\r\n\r\n\n", b"\n\r\n" * 50])
def test_empty_lines_before_a_type_line_are_ignored(prefix: bytes) -> None:
    check_reader(prefix + SERVER_ACK.wire, [SERVER_ACK.block])
    check_reader(
        CLIENT_HELO.wire + prefix + SERVER_ACK.wire + prefix,
        [CLIENT_HELO.block, SERVER_ACK.block],
    )


def test_only_empty_lines_is_an_empty_stream() -> None:
    check_reader(b"\r\n\n\r\n", [])
    check_reader(b"", [])


@pytest.mark.parametrize(
    ("type_line", "verb", "args"),
    [
        (b"helo", "HELO", ()),
        (b"Helo", "HELO", ()),
        (b"ack 600", "ACK", ("600",)),
        (b"list add 1000099", "LIST", ("add", "1000099")),  # arguments keep their case
        (b"stat Away", "STAT", ("Away",)),
        (b"X-Custom", "X-CUSTOM", ()),  # unknown verbs are the core's business
    ],
)
def test_verbs_are_case_insensitive_and_stored_upper_case(
    type_line: bytes, verb: str, args: tuple[str, ...]
) -> None:
    block = parse_one(type_line + b"\r\n7\r\nID: 1\r\n")
    assert (block.verb, block.args) == (verb, args)


@pytest.mark.parametrize(
    ("type_line", "args"),
    [
        (b"LIST ADD 1000099", ("ADD", "1000099")),
        (b"LIST  ADD   1000099", ("ADD", "1000099")),
        (b"LIST ADD 1000099   ", ("ADD", "1000099")),
        (b"PING ", ()),
        (b"PING" + b" " * 900, ()),
    ],
)
def test_runs_of_spaces_count_as_one(type_line: bytes, args: tuple[str, ...]) -> None:
    block = parse_one(type_line + b"\r\n0\r\n")
    assert block.args == args


def test_non_ascii_argument() -> None:
    block = parse_one("STAT Müde\r\n0\r\n".encode())
    assert block.args == ("Müde",)


def test_non_breaking_space_is_not_a_separator() -> None:
    # docs/protocol.md §2.3: "Arguments are separated by spaces"; other white space is part
    # of a word
    block = parse_one("LIST ADD a\u00a0b\r\n0\r\n".encode())
    assert block.args == ("ADD", "a\u00a0b")


def test_header_names_matched_case_insensitively() -> None:
    block = parse_one(frame(b"MESG", b"id: 7\r\nTO: bob\r\nack-type: always\r\n"))
    assert block.headers == (("id", "7"), ("TO", "bob"), ("ack-type", "always"))
    assert block.header("ID") == "7"
    assert block.header("Id") == "7"
    assert block.header("to") == "bob"
    assert block.header("ACK-Type") == "always"
    assert block.header("From") is None


@pytest.mark.parametrize(
    "line",
    [
        b"Client:imip cli",
        b"Client: imip cli",
        b"Client:   imip cli   ",
        b"Client:\timip cli\t",
        b"Client: \t imip cli \t ",
        "Client:\u00a0imip cli\u3000".encode(),  # Unicode white space is white space too
    ],
)
def test_header_value_surrounding_white_space_is_stripped(line: bytes) -> None:
    wire = b"LOGN 1\r\n%d\r\n%s\r\n" % (len(line) + 2, line)
    assert parse_one(wire).header("client") == "imip cli"


def test_header_value_inner_white_space_kept() -> None:
    block = parse_one(frame(b"MESG", b"X-Note: a  \t  b\r\n"))
    assert block.header("x-note") == "a  \t  b"


def test_white_space_around_header_name() -> None:
    block = parse_one(b"PING\r\n8\r\nID : 1\r\n")
    assert block.headers == (("ID", "1"),)


def test_empty_header_value() -> None:
    assert parse_one(b"PING\r\n10\r\nX-Empty:\r\n").headers == (("X-Empty", ""),)
    assert parse_one(b"PING\r\n13\r\nX-Empty:   \r\n").headers == (("X-Empty", ""),)


def test_colon_inside_a_value() -> None:
    block = parse_one(frame(b"HELO", b"Registration: http://127.0.0.1:8080/register\r\n"))
    assert block.header("registration") == "http://127.0.0.1:8080/register"


def test_utf8_header_value() -> None:
    line = 'From: 1000042 "Jürgen"'.encode()
    block = parse_one(b"LIST ADD\r\n%d\r\n%s\r\n" % (len(line) + 2, line))
    assert block.header("from") == '1000042 "Jürgen"'


def test_leading_zeros_in_the_size_line() -> None:
    assert parse_one(b"ACK 600\r\n0021\r\nID: 3\r\nReference: 3\r\n") == SERVER_ACK.block
    assert parse_one(b"PING\r\n00000\r\n") == Block("PING")
    many = b"0" * 5000 + b"21"
    assert parse_one(b"ACK 600\r\n" + many + b"\r\nID: 3\r\nReference: 3\r\n") == SERVER_ACK.block
    assert parse_one(b"PING\r\n" + b"0" * 5000 + b"\r\n") == Block("PING")


def test_mixed_line_endings_between_blocks() -> None:
    stream = CLIENT_HELO.wire + b"\n" + SERVER_ACK.wire.replace(b"\r\n", b"\n")
    ack_lf = Block("ACK", ("600",), (("ID", "3"), ("Reference", "3")))
    # the size line must then count bare LFs: rebuild it
    stream = CLIENT_HELO.wire + b"\nACK 600\n19\nID: 3\nReference: 3\n"
    check_reader(stream, [CLIENT_HELO.block, ack_lf])
