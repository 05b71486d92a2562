"""Every limit and malformed shape of docs/protocol.md §3, mapped to its status.

``fatal`` says whether framing is lost, ``offset`` is the stream offset of the
broken block's first byte, ``block_id`` is its ID when that was read.
"""

from __future__ import annotations

import pytest

from imipd.protocol import KIB, NEED_DATA, Block, Limits, Parser, ProtocolError, Status

from .examples import LOGN, SERVER_ACK
from .helpers import Err, Outcome, check_reader, frame

BEFORE = SERVER_ACK  # a good block first, so that offsets are not trivially 0
OFF = len(BEFORE.wire)
MALFORMED = Status.MALFORMED
TOO_LARGE = Status.TOO_LARGE
BAD_HEADER = Status.BAD_HEADER


def expect_fatal(
    bad: bytes,
    status: Status,
    limits: Limits | None = None,
    block_id: str | None = None,
    *,
    complete: bool = True,
) -> None:
    """``bad`` after a good block loses framing; whatever follows is never read."""
    expected: list[Outcome] = [BEFORE.block, Err(status, True, OFF, block_id)]
    check_reader(BEFORE.wire + bad, expected, limits, complete=complete)
    if complete:
        check_reader(BEFORE.wire + bad + BEFORE.wire, expected, limits)


def expect_skipped(
    bad: bytes, status: Status, limits: Limits | None = None, block_id: str | None = None
) -> None:
    """``bad`` between good blocks is answered and skipped whole; the next one parses."""
    expected: list[Outcome] = [BEFORE.block, Err(status, False, OFF, block_id), BEFORE.block]
    check_reader(BEFORE.wire + bad + BEFORE.wire, expected, limits)


def feed_until_error(parser: Parser, data: bytes) -> ProtocolError:
    """Feed ``data`` (never the end of the stream) until the parser objects."""
    parser.feed(data)
    while True:
        try:
            item = parser.next_block()
        except ProtocolError as error:
            return error
        assert item is not NEED_DATA, "the parser waited instead of objecting"


def test_limit_defaults_are_those_of_imip_md() -> None:
    limits = Limits()
    assert limits.type_line == 1024
    assert limits.header_count == 64
    assert limits.header_line == 4 * 1024
    assert limits.block_size == 64 * 1024
    assert limits.mesg_body == 16 * 1024
    assert limits.stat_text == 256
    assert limits.list_add_text == 1024
    assert KIB == 1024


@pytest.mark.parametrize("name", list(Limits.__dataclass_fields__))
def test_limits_must_be_positive(name: str) -> None:
    with pytest.raises(ValueError):
        Limits(**{name: 0})


def test_body_limit_table() -> None:
    limits = Limits()
    assert limits.body_limit("MESG", ()) == 16 * KIB
    assert limits.body_limit("STAT", ("AWAY",)) == 256
    assert limits.body_limit("LIST", ("ADD", "x")) == KIB
    assert limits.body_limit("LIST", ("add",)) == KIB
    assert limits.body_limit("LIST", ("GET",)) is None
    assert limits.body_limit("LIST", ()) is None
    assert limits.body_limit("HELO", ()) is None


# -- type line -----------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_type_line_at_the_limit(eol: bytes) -> None:
    line = b"X" * 1024
    check_reader(frame(line, eol=eol), [Block(line.decode())])
    check_reader(frame(b"LIST ADD " + b"a" * 1015, eol=eol), [Block("LIST", ("ADD", "a" * 1015))])


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_type_line_over_the_limit_is_fatal_850(eol: bytes) -> None:
    expect_fatal(frame(b"X" * 1025, eol=eol), TOO_LARGE)
    expect_fatal(frame(b"LIST ADD " + b"a" * 1016, eol=eol), TOO_LARGE)
    expect_fatal(b"X" * 5000, TOO_LARGE)


def test_type_line_over_the_limit_detected_before_its_end() -> None:
    parser = Parser()
    parser.feed(b"X" * 1025)
    assert parser.next_block() is NEED_DATA  # the line may still end with CR LF
    error = feed_until_error(parser, b"X")
    assert (error.status, error.fatal, error.offset) == (TOO_LARGE, True, 0)
    assert parser.buffered <= 1026


def test_type_line_offset_skips_empty_lines_before_it() -> None:
    bad = frame(b"X" * 2000)
    check_reader(
        BEFORE.wire + b"\r\n\n\r\n" + bad,
        [BEFORE.block, Err(TOO_LARGE, True, OFF + 5)],
    )


def test_type_line_custom_limit() -> None:
    limits = Limits(type_line=8)
    check_reader(frame(b"LIST ADD"), [Block("LIST", ("ADD",))], limits)
    check_reader(
        BEFORE.wire.replace(b"ACK 600", b"ACK 6") + frame(b"LIST ADD1"),
        [Block("ACK", ("6",), BEFORE.block.headers), Err(TOO_LARGE, True, OFF - 2)],
        limits,
    )


@pytest.mark.parametrize(
    "line",
    [
        b"\xff\xfe",  # not UTF-8
        b"HELO \xc0\xaf",  # overlong encoding
        b"STAT \xed\xa0\x80",  # an encoded surrogate
        b"PI\x00NG",  # control characters
        b"PING\x1b",
        b"PING \x7f",
        b"LIST\tADD",  # TAB is not a separator
        b"PING\rX",  # a CR inside the line
        b"   ",  # no verb
    ],
)
def test_bad_type_line_is_800_and_the_block_is_skipped(line: bytes) -> None:
    expect_skipped(frame(line, b"ID: 12\r\n"), MALFORMED, block_id="12")
    expect_skipped(frame(line, b"X: 1\r\n\r\nbody"), MALFORMED)


# -- size line -----------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [
        b"abc",
        b"2a",
        b" 7",
        b"7 ",
        b"+7",
        b"-7",
        b"-1",
        b"",
        b"7\x00",
        b"2 1",
        b"0x7",
        b"7.0",
        "\uff17".encode(),
        b"\xff",
    ],
)
def test_size_line_not_digits_is_fatal_800(size: bytes) -> None:
    expect_fatal(b"PING\r\n" + size + b"\r\nID: 1\r\n", MALFORMED)
    expect_fatal(b"PING\n" + size + b"\nID: 1\r\n", MALFORMED)


@pytest.mark.parametrize("size", [b"2a", b"x", b" ", b"-", b"+", b"1\r2"])
def test_size_line_not_digits_detected_before_its_end(size: bytes) -> None:
    parser = Parser()
    error = feed_until_error(parser, BEFORE.wire + b"PING\r\n" + size)
    assert (error.status, error.fatal, error.offset) == (MALFORMED, True, OFF)


@pytest.mark.parametrize(
    ("size", "status"),
    [
        (b"999999x", TOO_LARGE),  # the digits already say too large, whatever follows
        (b"9" * 5000 + b"x", TOO_LARGE),
        (b"0000000999999x", TOO_LARGE),
        (b"99999x", MALFORMED),  # five digits may still be fine: the letter decides
        (b"65537x", MALFORMED),
        (b"0000001x", MALFORMED),
        (b"x999999", MALFORMED),
    ],
)
def test_size_line_verdict_does_not_depend_on_arrival(size: bytes, status: Status) -> None:
    expect_fatal(b"MESG\r\n" + size + b"\r\n", status)


def test_size_at_the_block_limit() -> None:
    content = b"List: Buddy\r\n\r\n"
    body = b"x" * (64 * KIB - len(content))
    wire = frame(b"LIST GET", content + body)
    assert wire.split(b"\r\n")[1] == b"65536"
    check_reader(wire, [Block("LIST", ("GET",), (("List", "Buddy"),), body, True)])


@pytest.mark.parametrize(
    "size",
    [b"65537", b"99999", b"100000", b"9" * 5000, b"1" + b"0" * 10_000, b"0" * 3000 + b"65537"],
)
def test_size_over_the_block_limit_is_fatal_850(size: bytes) -> None:
    expect_fatal(b"MESG\r\n" + size + b"\r\n", TOO_LARGE)


@pytest.mark.parametrize("digits", [6, 7, 5000, 100_000])
def test_huge_size_detected_before_the_line_ends(digits: int) -> None:
    parser = Parser()
    error = feed_until_error(parser, BEFORE.wire + b"MESG\r\n" + b"9" * digits)
    assert (error.status, error.fatal, error.offset) == (TOO_LARGE, True, OFF)


def test_huge_size_one_digit_at_a_time_stays_small() -> None:
    parser = Parser()
    parser.feed(b"MESG\r\n")
    assert parser.next_block() is NEED_DATA
    for _ in range(5):
        parser.feed(b"9")
        assert parser.next_block() is NEED_DATA
    parser.feed(b"9")
    with pytest.raises(ProtocolError) as info:
        parser.next_block()
    assert info.value.status is TOO_LARGE and info.value.fatal


def test_leading_zeros_do_not_count_against_the_limit() -> None:
    parser = Parser()
    parser.feed(b"PING\r\n")
    for _ in range(20_000):
        parser.feed(b"0")
    assert parser.next_block() is NEED_DATA
    assert parser.buffered < 10
    parser.feed(b"7\r\nID: 1\r\n")
    assert parser.next_block() == Block("PING", (), (("ID", "1"),))


def test_block_size_custom_limit() -> None:
    limits = Limits(block_size=100)
    check_reader(
        frame(b"MESG", b"\r\n" + b"x" * 98), [Block("MESG", (), (), b"x" * 98, True)], limits
    )
    expect_fatal(frame(b"MESG", b"\r\n" + b"x" * 99), TOO_LARGE, limits)
    expect_fatal(b"MESG\r\n1000\r\n", TOO_LARGE, limits)
    expect_fatal(b"MESG\r\n0000101\r\n", TOO_LARGE, limits)


# -- header region ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "block_id"),
    [
        (b"X", None),
        (b"ID: 3\r\nRef", "3"),
        (b"ID: 3\r", None),
        (b"ID: 3\r\nReference: 3\r", "3"),
        (b"ID: 3\r\nReference: 3", "3"),
    ],
)
def test_header_lines_not_ended_within_size_is_fatal_800(
    content: bytes, block_id: str | None
) -> None:
    expect_fatal(frame(b"ACK 600", content), MALFORMED, block_id=block_id)


# -- header count ------------------------------------------------------------------


def headers_block(count: int, verb: bytes = b"MESG", first: bytes = b"ID: 1") -> bytes:
    lines = [first] + [b"X-%d: %d" % (i, i) for i in range(1, count)]
    return frame(verb, b"".join(line + b"\r\n" for line in lines) + b"\r\nbody")


def test_64_headers_accepted() -> None:
    wire = headers_block(64)
    expected = Block(
        "MESG",
        (),
        (("ID", "1"), *((f"X-{i}", str(i)) for i in range(1, 64))),
        b"body",
        empty_line=True,
    )
    check_reader(BEFORE.wire + wire, [BEFORE.block, expected])


def test_65_headers_is_850_and_the_next_block_parses() -> None:
    expect_skipped(headers_block(65), TOO_LARGE, block_id="1")
    expect_skipped(headers_block(500), TOO_LARGE, block_id="1")


def test_65_header_lines_count_even_when_some_are_bad() -> None:
    # the limit is on header lines: a duplicate or malformed line is still a line
    lines = b"ID: 1\r\n" + b"ID: 1\r\n" * 64
    expect_skipped(frame(b"PING", lines), TOO_LARGE, block_id="1")


def test_id_after_the_65th_header_is_not_read() -> None:
    lines = b"".join(b"X-%d: 1\r\n" % i for i in range(64)) + b"ID: 5\r\n"
    expect_skipped(frame(b"PING", lines), TOO_LARGE, block_id=None)


def test_header_count_custom_limit() -> None:
    limits = Limits(header_count=2)
    check_reader(
        frame(b"PING", b"ID: 1\r\nA: 2\r\n"), [Block("PING", (), (("ID", "1"), ("A", "2")))], limits
    )
    expect_skipped(frame(b"PING", b"ID: 1\r\nA: 2\r\nB: 3\r\n"), TOO_LARGE, limits, "1")


# -- header line length ---------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_header_line_at_the_limit(eol: bytes) -> None:
    line = b"X-Long: " + b"a" * (4096 - 8)
    wire = frame(b"PING", b"ID: 1" + eol + line + eol, eol)
    check_reader(wire, [Block("PING", (), (("ID", "1"), ("X-Long", "a" * 4088)))])


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_header_line_over_the_limit_is_850(eol: bytes) -> None:
    line = b"X-Long: " + b"a" * (4097 - 8)
    expect_skipped(frame(b"PING", b"ID: 1" + eol + line + eol, eol), TOO_LARGE, block_id="1")
    expect_skipped(frame(b"MESG", b"ID: 1\r\n" + line + b"\r\n\r\nbody"), TOO_LARGE, block_id="1")


def test_header_line_never_ended_in_a_big_block_is_850() -> None:
    # framing holds (the size is known): the line is just too long
    expect_skipped(frame(b"PING", b"ID: 7\r\nX: " + b"a" * 10_000), TOO_LARGE, block_id="7")


def test_long_header_line_is_not_buffered() -> None:
    parser = Parser()
    parser.feed(b"PING\r\n60000\r\nX: ")
    biggest = 0
    for _ in range(59):
        parser.feed(b"a" * 1000)
        assert parser.next_block() is NEED_DATA
        biggest = max(biggest, parser.buffered)
    assert biggest <= 4098 + 1000
    parser.feed(b"a" * (60000 - 3 - 59 * 1000))  # the block's last bytes
    with pytest.raises(ProtocolError) as info:
        parser.next_block()
    assert (info.value.status, info.value.fatal, info.value.offset) == (TOO_LARGE, False, 0)
    parser.feed(SERVER_ACK.wire)
    assert parser.next_block() == SERVER_ACK.block


def test_header_line_custom_limit() -> None:
    limits = Limits(header_line=12)  # "Reference: 3" of the block before is 12 bytes
    wire = frame(b"PING", b"ID: 12345678\r\n")
    check_reader(wire, [Block("PING", (), (("ID", "12345678"),))], limits)
    expect_skipped(frame(b"PING", b"ID: 1\r\nX: 1234567890\r\n"), TOO_LARGE, limits, "1")
    expect_skipped(frame(b"PING", b"ID: 123456789\r\n"), TOO_LARGE, limits, None)


# -- body limits -------------------------------------------------------------------


def body_block(type_line: bytes, body_size: int) -> bytes:
    return frame(type_line, b"ID: 4\r\n\r\n" + b"b" * body_size)


@pytest.mark.parametrize(
    ("type_line", "limit"),
    [
        (b"MESG", 16 * KIB),
        (b"mesg", 16 * KIB),
        (b"STAT", 256),
        (b"STAT AWAY", 256),
        (b"LIST ADD 1000099", KIB),
        (b"LIST add 1000099", KIB),
        (b"list Add", KIB),
    ],
)
def test_body_limits(type_line: bytes, limit: int) -> None:
    at_limit = read_one(body_block(type_line, limit))
    assert len(at_limit.body) == limit
    expect_skipped(body_block(type_line, limit + 1), TOO_LARGE, block_id="4")


def read_one(wire: bytes) -> Block:
    parser = Parser()
    parser.feed(wire)
    block = parser.next_block()
    assert isinstance(block, Block)
    check_reader(wire, [block])
    return block


@pytest.mark.parametrize(
    "type_line", [b"LIST GET", b"LIST REMOVE 1", b"LIST", b"HELO", b"DISC", b"ACK 600", b"LOGN 1"]
)
def test_other_bodies_are_limited_by_the_block_size_only(type_line: bytes) -> None:
    assert len(read_one(body_block(type_line, 30_000)).body) == 30_000
    assert len(read_one(body_block(type_line, 64 * KIB - 9)).body) == 64 * KIB - 9


def test_body_limit_applies_to_the_body_not_the_block() -> None:
    # many header bytes do not count against the MESG body limit
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"h" * 1000) for i in range(20))
    wire = frame(b"MESG", b"ID: 4\r\n" + headers + b"\r\n" + b"b" * 16 * KIB)
    assert len(read_one(wire).body) == 16 * KIB


def test_body_custom_limits() -> None:
    limits = Limits(mesg_body=3, stat_text=2, list_add_text=1)
    for type_line, limit in [(b"MESG", 3), (b"STAT", 2), (b"LIST ADD", 1)]:
        check_reader(
            body_block(type_line, limit),
            [
                Block(
                    type_line.split()[0].decode(),
                    tuple(a.decode() for a in type_line.split()[1:]),
                    (("ID", "4"),),
                    b"b" * limit,
                    True,
                )
            ],
            limits,
        )
        expect_skipped(body_block(type_line, limit + 1), TOO_LARGE, limits, "4")


def test_oversize_body_is_not_buffered() -> None:
    parser = Parser()
    parser.feed(BEFORE.wire + body_block(b"MESG", 60_000)[:-60_000])
    assert parser.next_block() == BEFORE.block
    biggest = 0
    for _ in range(119):
        parser.feed(b"b" * 500)
        assert parser.next_block() is NEED_DATA
        biggest = max(biggest, parser.buffered)
    assert biggest <= 500
    parser.feed(b"b" * 500)
    with pytest.raises(ProtocolError) as info:
        parser.next_block()
    assert (info.value.status, info.value.fatal, info.value.offset) == (TOO_LARGE, False, OFF)
    assert info.value.block_id == "4"
    parser.feed(BEFORE.wire)
    assert parser.next_block() == BEFORE.block


# -- bad headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"NoColon",
        b"No Colon here",
        b": empty name",
        b"  : empty name",
        b"Two Words: x",
        b"Tab\tName: x",
        b"\x00Name: x",
        b"Na\x7fme: x",
        b"\x1fName: x",
        b" ",  # a line of white space is not an empty line
        b"\t",
    ],
)
def test_header_line_without_name_is_800(line: bytes) -> None:
    expect_skipped(frame(b"PING", b"ID: 2\r\n" + line + b"\r\n"), MALFORMED, block_id="2")
    expect_skipped(frame(b"MESG", line + b"\r\nID: 2\r\n\r\nbody"), MALFORMED, block_id="2")


@pytest.mark.parametrize(
    "lines",
    [
        b"ID: 1\r\nID: 1\r\n",
        b"ID: 1\r\nid: 2\r\n",
        b"ID: 1\r\nTo: a\r\nTO: b\r\n",
        b"ID: 1\r\nX:\r\nx: y\r\n",
    ],
)
def test_duplicate_header_is_803(lines: bytes) -> None:
    expect_skipped(frame(b"MESG", lines + b"\r\nhi"), BAD_HEADER, block_id="1")


@pytest.mark.parametrize(
    "line",
    [b"X: \xff", b"\xffX: 1", b"X: \xc0\xaf", b"X: \xed\xa0\x80", b"X: caf\xe9"],
)
def test_non_utf8_header_line_is_800(line: bytes) -> None:
    expect_skipped(frame(b"PING", b"ID: 5\r\n" + line + b"\r\n"), MALFORMED, block_id="5")


@pytest.mark.parametrize(
    "value",
    [
        b"a\x00b",
        b"\x1b[31mred",
        b"a\x7fb",
        b"a\rb",
        b"a\x0bb",
        b"a\x0cb",
        b"a\x1cb",
        b"a\x1f",  # at the edges too: a control character is not white space here
        b"\x1ea",
        b"a\x0b",
        b"\x0ca",
        b"a\r",  # a stray CR before the CR LF
    ],
)
def test_control_character_in_header_value_is_800(value: bytes) -> None:
    expect_skipped(frame(b"PING", b"ID: 5\r\nX: " + value + b"\r\n"), MALFORMED, block_id="5")


def test_tab_in_header_value_is_fine() -> None:
    assert read_one(frame(b"PING", b"X: a\tb\r\n")).header("x") == "a\tb"


def test_block_id_is_the_first_id_read() -> None:
    expect_skipped(frame(b"PING", b"ID: 1\r\nBad\r\nID: 2\r\n"), MALFORMED, block_id="1")


def test_block_id_not_validated_by_the_parser() -> None:
    # whether the ID is a decimal number is the core's business (803 there)
    assert read_one(frame(b"PING", b"ID: abc\r\n")).header("id") == "abc"
    expect_skipped(frame(b"PING", b"ID: abc\r\nNo colon\r\n"), MALFORMED, block_id="abc")


def test_first_problem_is_reported_unless_something_is_too_large() -> None:
    expect_skipped(frame(b"PING", b"ID: 1\r\nID: 1\r\nBad\r\n"), BAD_HEADER, block_id="1")
    expect_skipped(frame(b"STAT", b"ID: 1\r\nBad\r\n\r\n" + b"s" * 300), TOO_LARGE, block_id="1")


# -- end of stream ------------------------------------------------------------------


def logn_id_read_at() -> int:
    return LOGN.wire.index(b"ID: 2\r\n") + len(b"ID: 2\r\n")


@pytest.mark.parametrize("cut", range(1, len(LOGN.wire)))
def test_end_of_stream_inside_a_block_is_fatal_800(cut: int) -> None:
    block_id = "2" if cut >= logn_id_read_at() else None
    expect_fatal(LOGN.wire[:cut], MALFORMED, block_id=block_id, complete=False)


@pytest.mark.parametrize("prefix", [b"\r\n", b"\n\n", b"\r\n\r\n"])
def test_end_of_stream_offset_after_empty_lines(prefix: bytes) -> None:
    check_reader(
        BEFORE.wire + prefix + b"LOGN 1",
        [BEFORE.block, Err(MALFORMED, True, OFF + len(prefix))],
        complete=False,
    )


def test_end_of_stream_between_blocks_is_fine() -> None:
    check_reader(BEFORE.wire + b"\r\n", [BEFORE.block])
    check_reader(BEFORE.wire + b"\r", [BEFORE.block], complete=False)


def test_zero_size_block_then_end() -> None:
    check_reader(b"PING\r\n0\r\n", [Block("PING")])


# -- after a fatal error ------------------------------------------------------------


def test_fatal_error_is_raised_again_whatever_follows() -> None:
    parser = Parser()
    first = feed_until_error(parser, b"PING\r\nabc\r\n")
    assert first.fatal and first.status is MALFORMED and first.offset == 0
    for more in (SERVER_ACK.wire, b"", b""):
        if more:
            parser.feed(more)
        with pytest.raises(ProtocolError) as info:
            parser.next_block()
        assert info.value is first


def test_non_fatal_error_does_not_stick() -> None:
    parser = Parser()
    error = feed_until_error(parser, frame(b"PING", b"Bad\r\n") + SERVER_ACK.wire)
    assert not error.fatal
    assert parser.next_block() == SERVER_ACK.block
    assert parser.next_block() is NEED_DATA


def test_error_message_names_status_and_offset() -> None:
    parser = Parser()
    error = feed_until_error(parser, BEFORE.wire + b"PING\r\nx")
    assert str(error).startswith(f"800 at offset {OFF}:")
    assert error.reason


def test_end_of_stream_offset_of_a_type_line_starting_with_cr() -> None:
    # a lone CR is no line ending: it is the first byte of the unfinished type line
    check_reader(
        BEFORE.wire + b"\r\n\rHELO",
        [BEFORE.block, Err(MALFORMED, True, OFF + 2)],
        complete=False,
    )
    # complete, the same line is a type line with a control character in it
    expect_skipped(b"\rHELO\r\n0\r\n", MALFORMED)


# -- the verb of a refused block (an ACK is never answered) ------------------------


@pytest.mark.parametrize(
    ("wire", "verb"),
    [
        (frame(b"ack 600", b"ID: 1\r\nNo colon\r\n"), "ACK"),
        (frame(b"STAT AWAY", b"ID: 1\r\n\r\n" + b"s" * 257), "STAT"),
        (frame(b"mesg", b"ID: 1\r\nID: 2\r\n"), "MESG"),
        (frame(b"\xff", b"ID: 1\r\n"), None),  # the type line could not be read
        (frame(b"   ", b"ID: 1\r\n"), None),
    ],
)
def test_non_fatal_error_names_the_verb(wire: bytes, verb: str | None) -> None:
    parser = Parser()
    error = feed_until_error(parser, wire)
    assert not error.fatal
    assert error.verb == verb


@pytest.mark.parametrize(
    "wire",
    [b"ACK 600\r\nx", b"ACK 600\r\n99999999", b"X" * 2000, frame(b"ACK 600", b"ID: 1\r\nX")],
)
def test_fatal_error_names_no_verb(wire: bytes) -> None:
    parser = Parser()
    error = feed_until_error(parser, wire)
    assert error.fatal
    assert error.verb is None
