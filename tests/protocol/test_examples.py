"""The worked examples of docs/protocol.md, byte for byte, in both directions (one table)."""

from __future__ import annotations

import hashlib

import pytest

from imipd.protocol import Block, Parser, digest, parse_all, serialize

from .examples import CLIENT_HELO, EXAMPLES, LOGN, SERVER_ACK, UTF8_MESG, Example
from .helpers import check_reader

ids = [example.name for example in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=ids)
def test_parse(example: Example) -> None:
    check_reader(example.wire, [example.block])


@pytest.mark.parametrize("example", EXAMPLES, ids=ids)
def test_serialize(example: Example) -> None:
    assert example.block.to_bytes() == example.wire


@pytest.mark.parametrize("example", EXAMPLES, ids=ids)
def test_serialize_function(example: Example) -> None:
    block = example.block
    wire = serialize(block.verb, block.args, block.headers, block.body, empty_line=block.empty_line)
    assert wire == example.wire


@pytest.mark.parametrize("example", EXAMPLES, ids=ids)
def test_size_line_counts_the_bytes_after_it(example: Example) -> None:
    type_line, size_line, rest = example.wire.split(b"\r\n", 2)
    assert int(size_line) == len(rest)
    assert type_line.decode() == example.block.type_line


def test_whole_table_as_one_stream() -> None:
    stream = b"".join(example.wire for example in EXAMPLES)
    blocks = [example.block for example in EXAMPLES]
    check_reader(stream, list(blocks))
    assert parse_all(stream) == blocks


def test_parser_reports_offset_and_size_of_each_block() -> None:
    stream = b"".join(example.wire for example in EXAMPLES)
    parser = Parser()
    parser.feed(stream)
    position = 0
    for example in EXAMPLES:
        assert parser.next_block() == example.block
        assert parser.last_offset == position
        assert parser.last_size == int(example.wire.split(b"\r\n", 2)[1])
        position += len(example.wire)
    assert parser.offset == len(stream)


def test_worked_example_sizes_as_documented() -> None:
    assert CLIENT_HELO.wire.split(b"\r\n")[1] == b"29"
    assert len(CLIENT_HELO.wire) - len(b"HELO\r\n29\r\n") == 29
    assert CLIENT_HELO.wire.endswith(b"\r\n\r\n")
    assert SERVER_ACK.wire.split(b"\r\n")[1] == b"21"
    assert not SERVER_ACK.wire.endswith(b"\r\n\r\n")
    assert SERVER_ACK.block.empty_line is False
    assert LOGN.wire.split(b"\r\n")[1] == b"84"


def test_utf8_body_counts_bytes_not_characters() -> None:
    text = "Grüß dich!"
    assert len(text) == 10
    assert len(UTF8_MESG.block.body) == 12
    assert UTF8_MESG.wire.endswith(text.encode("utf-8"))
    assert b"\r\n30\r\n" in UTF8_MESG.wire  # 7 + 9 + 2 + 12


def test_logn_example_digest() -> None:
    expected = "acf2b771b12e380f6001573415913b2e"
    assert digest("2718281828", "s3cret") == expected
    assert hashlib.md5(b"2718281828s3cret").hexdigest() == expected
    assert LOGN.block.body == expected.encode("ascii")
    assert LOGN.block.header("auth-type") == "imip-md5"


def test_sorted_server_helo_is_unchanged_by_sorting() -> None:
    from .examples import SERVER_HELO

    assert SERVER_HELO.block.to_bytes(sort_headers=True) == SERVER_HELO.wire


def test_table_rows_are_distinct_blocks() -> None:
    blocks: list[Block] = [example.block for example in EXAMPLES]
    assert len({block.to_bytes() for block in blocks}) == len(blocks)
