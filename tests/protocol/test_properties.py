"""Property-based tests: round trips, any chunking, and garbage (h11's style)."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imipd.protocol import Block, Limits, Parser, ProtocolError, Signal

from .helpers import (
    Err,
    Outcome,
    StateMachineOnly,
    check_reader,
    read_bytewise,
    read_chunks,
    read_whole,
)
from .strategies import (
    as_parsed,
    ascii_blocks,
    blocks,
    garbage,
    line_endings_before,
    near_streams,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TINY = Limits(
    type_line=12,
    header_count=3,
    header_line=16,
    block_size=80,
    mesg_body=8,
    stat_text=4,
    list_add_text=6,
)


def chunked(data: bytes, draw: st.DataObject) -> list[bytes]:
    """``data`` cut at points hypothesis chooses (possibly empty pieces)."""
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=12), label="cuts"))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@SETTINGS
@given(block=blocks(), sort_headers=st.booleans())
def test_round_trip(block: Block, sort_headers: bool) -> None:
    wire = block.to_bytes(sort_headers=sort_headers)
    check_reader(wire, [as_parsed(block, sort_headers=sort_headers)])


@SETTINGS
@given(block=blocks())
def test_round_trip_keeps_empty_line_false_without_body(block: Block) -> None:
    parsed = read_whole(block.to_bytes())
    assert parsed == [as_parsed(block)]
    assert isinstance(parsed[0], Block)
    assert parsed[0].empty_line == (block.empty_line or bool(block.body))
    # parsing and writing again gives the same bytes
    assert parsed[0].to_bytes() == block.to_bytes()


@SETTINGS
@given(block=blocks(), data=st.data())
def test_round_trip_any_chunking(block: Block, data: st.DataObject) -> None:
    wire = block.to_bytes()
    assert read_chunks(chunked(wire, data)) == [as_parsed(block)]


@SETTINGS
@given(
    items=st.lists(st.tuples(line_endings_before, blocks()), min_size=1, max_size=4),
    data=st.data(),
)
def test_concatenated_blocks_any_chunking(
    items: list[tuple[bytes, Block]], data: st.DataObject
) -> None:
    stream = b"".join(prefix + block.to_bytes() for prefix, block in items)
    expected: list[Outcome] = [as_parsed(block) for _, block in items]
    assert read_chunks(chunked(stream, data)) == expected
    assert read_whole(stream) == expected
    assert read_chunks(chunked(stream, data), kind=StateMachineOnly) == expected

    parser = Parser()
    parser.feed(stream)
    offset = 0
    for prefix, block in items:
        offset += len(prefix)
        assert parser.next_block() == as_parsed(block)
        assert parser.last_offset == offset
        offset += len(block.to_bytes())
    assert parser.offset == len(stream)


@settings(max_examples=50, deadline=None)
@given(items=st.lists(blocks(), min_size=1, max_size=3))
def test_concatenated_blocks_three_ways(items: list[Block]) -> None:
    stream = b"".join(block.to_bytes() for block in items)
    check_reader(stream, [as_parsed(block) for block in items])


def check_garbage(data: bytes, chunks: list[bytes], limits: Limits | None) -> None:
    """Only blocks, NEED_DATA, END or ProtocolError may come out, whatever the cut."""
    whole = read_whole(data, limits)  # any other exception fails the test
    assert read_chunks(chunks, limits) == whole, "the result must not depend on the pieces"
    assert read_bytewise(data, limits) == whole, "nor on bytes arriving one at a time"
    assert read_whole(data, limits, StateMachineOnly) == whole, "the fast path agrees"
    assert read_chunks(chunks, limits, StateMachineOnly) == whole, "in pieces too"
    last = -1
    for index, item in enumerate(whole):
        if isinstance(item, Err):
            assert 0 <= item.offset <= len(data)
            assert item.offset > last
            last = item.offset
            if item.fatal:
                assert index == len(whole) - 1
        else:
            assert isinstance(item, Block)


@SETTINGS
@given(data=garbage, draw=st.data())
def test_garbage_default_limits(data: bytes, draw: st.DataObject) -> None:
    check_garbage(data, chunked(data, draw), None)


@SETTINGS
@given(data=garbage, draw=st.data())
def test_garbage_tiny_limits(data: bytes, draw: st.DataObject) -> None:
    check_garbage(data, chunked(data, draw), TINY)


@SETTINGS
@given(data=near_streams, draw=st.data(), tiny=st.booleans())
def test_near_blocks(data: bytes, draw: st.DataObject, tiny: bool) -> None:
    check_garbage(data, chunked(data, draw), TINY if tiny else None)


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    stream = bytearray(b"".join(block.to_bytes() for block in draw(st.lists(blocks(), max_size=4))))
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(stream)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "replace" and where < len(stream):
            stream[where] = draw(st.integers(0, 255))
        elif action == "insert":
            stream[where:where] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=4), st.sampled_from([b"\r\n", b"\n", b":"])
                )
            )
        else:
            del stream[where : where + draw(st.integers(1, 8))]
    return bytes(stream)


@SETTINGS
@given(data=mutated_streams(), draw=st.data(), tiny=st.booleans())
def test_mutated_streams(data: bytes, draw: st.DataObject, tiny: bool) -> None:
    check_garbage(data, chunked(data, draw), TINY if tiny else None)


@SETTINGS
@given(data=garbage)
def test_garbage_one_byte_at_a_time_never_raises_anything_else(data: bytes) -> None:
    parser = Parser(TINY)
    for i in range(len(data) + 1):
        parser.feed(data[i : i + 1])  # the last one is b"": the end of the stream
        try:
            while isinstance(parser.next_block(), Block):
                pass
        except ProtocolError as error:
            if error.fatal:
                return


@SETTINGS
@given(items=st.lists(ascii_blocks(), min_size=1, max_size=3), draw=st.data(), tiny=st.booleans())
def test_fast_path_agrees_with_the_state_machine(
    items: list[bytes], draw: st.DataObject, tiny: bool
) -> None:
    data = b"".join(items)
    check_garbage(data, chunked(data, draw), TINY if tiny else None)


def test_a_usual_message_takes_the_fast_path() -> None:
    class Counting(Parser):
        taken = 0

        def _whole_block(self) -> Block | Signal | None:
            result = super()._whole_block()
            if isinstance(result, Block):
                Counting.taken += 1
            return result

    content = b"ID: 3\r\nTo: bob\r\nACK-Type: always\r\n\r\nhi there"
    wire = b"MESG\r\n%d\r\n%s" % (len(content), content)
    parser = Counting()
    for i in range(0, len(wire), 7):  # in pieces: the fast path waits for the rest
        parser.feed(wire[i : i + 7])
        block = parser.next_block()
    assert Counting.taken == 1
    assert block == Block("MESG", (), (("ID", "3"), ("To", "bob"), ("ACK-Type", "always")),
                          b"hi there", True)
    assert block.header("ack-type") == "always"


def test_repeated_headers_after_a_leading_id() -> None:
    """The fast path reuses the parse of the headers after a leading ID while they
    repeat (the Yahoo! client's layout); the results stay the state machine's."""
    def mesg(block_id: bytes, rest: bytes) -> bytes:
        content = b"ID: " + block_id + b"\r\n" + rest + b"\r\nhi"
        return b"MESG\r\n%d\r\n%s" % (len(content), content)

    same = b"To: bob\r\nACK-Type: none\r\n"
    stream = b"".join([
        mesg(b"1", same), mesg(b"2", same), mesg(b"3", b"To: carol\r\n"), mesg(b"4", same),
        mesg(b"5", same + b"id: 6\r\n"),  # a second ID: refused (803)
        mesg(b"7", same), mesg(b"8 ", same), mesg(b"x9", same), mesg(b"10", b""),
    ])
    whole = read_whole(stream)
    assert whole == read_whole(stream, kind=StateMachineOnly)
    assert [b.header("id") if isinstance(b, Block) else b.status for b in whole] == [
        "1", "2", "3", "4", 803, "7", "8", "x9", "10"]
    fourth = whole[3]
    assert isinstance(fourth, Block)
    assert fourth.headers == (("ID", "4"), ("To", "bob"), ("ACK-Type", "none"))
    assert dict(fourth.header_map) == {"id": "4", "to": "bob", "ack-type": "none"}
