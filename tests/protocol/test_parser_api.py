"""The Parser's small API around next_block: feed, iteration, state, parse_all."""

from __future__ import annotations

import pytest

from imipd.protocol import END, NEED_DATA, Block, Parser, ProtocolError, Status, parse_all

from .examples import CLIENT_HELO, LOGN, SERVER_ACK


def test_signals() -> None:
    assert NEED_DATA is not END
    parser = Parser()
    assert parser.next_block() is NEED_DATA
    parser.feed(b"")
    assert parser.next_block() is END
    assert parser.next_block() is END


def test_feed_after_the_end_is_a_usage_error() -> None:
    parser = Parser()
    parser.feed(b"")
    with pytest.raises(RuntimeError):
        parser.feed(b"PING\r\n0\r\n")
    parser.feed(b"")  # ending twice is harmless


def test_iteration_yields_the_blocks_available_now() -> None:
    parser = Parser()
    parser.feed(CLIENT_HELO.wire + SERVER_ACK.wire + LOGN.wire[:10])
    assert list(parser) == [CLIENT_HELO.block, SERVER_ACK.block]
    assert list(parser) == []
    parser.feed(LOGN.wire[10:])
    assert list(parser) == [LOGN.block]


def test_iteration_raises_protocol_errors() -> None:
    parser = Parser()
    parser.feed(CLIENT_HELO.wire + b"PING\r\nx")
    with pytest.raises(ProtocolError):
        list(parser)


def test_offset_buffered_and_in_block() -> None:
    parser = Parser()
    assert (parser.offset, parser.buffered, parser.in_block) == (0, 0, False)
    parser.feed(b"\r\n")
    assert not parser.in_block  # empty lines start no block
    parser.feed(CLIENT_HELO.wire[:8])
    assert parser.next_block() is NEED_DATA
    assert parser.in_block
    parser.feed(CLIENT_HELO.wire[8:] + SERVER_ACK.wire[:3])
    assert parser.next_block() == CLIENT_HELO.block
    assert parser.offset == 2 + len(CLIENT_HELO.wire)
    assert parser.buffered == 3
    assert parser.in_block
    assert parser.last_offset == 2 and parser.last_size == 29


def test_parse_all() -> None:
    assert parse_all(b"") == []
    assert parse_all(CLIENT_HELO.wire + SERVER_ACK.wire) == [CLIENT_HELO.block, SERVER_ACK.block]
    with pytest.raises(ProtocolError) as info:
        parse_all(CLIENT_HELO.wire + SERVER_ACK.wire[:-1])
    assert (info.value.status, info.value.offset) == (Status.MALFORMED, len(CLIENT_HELO.wire))


def test_protocol_error_fields() -> None:
    error = ProtocolError(Status.TOO_LARGE, "big", fatal=False, offset=12, block_id="7")
    assert (error.status, error.reason, error.fatal, error.offset, error.block_id) == (
        Status.TOO_LARGE,
        "big",
        False,
        12,
        "7",
    )
    assert str(error) == "850 at offset 12: big"
    assert ProtocolError(Status.MALFORMED, "x", fatal=True, offset=0).block_id is None


def test_parsers_are_independent() -> None:
    first, second = Parser(), Parser()
    first.feed(CLIENT_HELO.wire[:5])
    second.feed(SERVER_ACK.wire)
    assert second.next_block() == SERVER_ACK.block
    assert first.next_block() is NEED_DATA
    assert isinstance(SERVER_ACK.block, Block)
