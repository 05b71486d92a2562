"""Shared helpers of the protocol tests: run a reader three ways and compare.

h11's rule (STYLE.md): every reader test runs on the whole input at once, one
byte at a time, and with trailing data (the next block's first bytes) after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imipd.protocol import END, NEED_DATA, Block, Limits, Parser, ProtocolError, Signal, Status


@dataclass(frozen=True)
class Err:
    """What a test expects of a :class:`ProtocolError` (the reason is informative only)."""

    status: Status
    fatal: bool
    offset: int
    block_id: str | None = None
    reason: str = field(default="", compare=False)

    @classmethod
    def of(cls, error: ProtocolError) -> Err:
        return cls(error.status, error.fatal, error.offset, error.block_id, error.reason)


Outcome = Block | Err

class StateMachineOnly(Parser):
    """The parser without its fast path: the reference the fast path must agree with."""

    def _whole_block(self) -> None:
        return None


# The block that follows in the "trailing data" run: only its first bytes are
# fed with the input, the rest afterwards, and it must then parse normally.
NEXT_WIRE = b"PING\r\n7\r\nID: 9\r\n"
NEXT_BLOCK = Block("PING", (), (("ID", "9"),))
TRAILING = NEXT_WIRE[:8]  # ends inside the size line


def drain(parser: Parser, out: list[Outcome]) -> Signal | None:
    """Pull results until NEED_DATA or END (returned) or a fatal error (None)."""
    while True:
        try:
            item = parser.next_block()
        except ProtocolError as error:
            out.append(Err.of(error))
            if error.fatal:
                # a dead parser keeps raising the very same error
                for _ in range(2):
                    try:
                        parser.next_block()
                    except ProtocolError as again:
                        assert again is error
                    else:  # pragma: no cover - the assertion below reports it
                        raise AssertionError("a fatal error was not raised again")
                return None
            continue
        if isinstance(item, Block):
            out.append(item)
            continue
        assert item is NEED_DATA or item is END, item
        return item


def _finish(parser: Parser, out: list[Outcome]) -> list[Outcome]:
    parser.feed(b"")
    signal = drain(parser, out)
    if signal is not None:
        assert signal is END, "after the end of the stream the parser must say END"
        assert parser.next_block() is END
    return out


def read_whole(
    data: bytes, limits: Limits | None = None, kind: type[Parser] = Parser
) -> list[Outcome]:
    """Feed everything and the end of the stream, then pull."""
    parser = kind(limits)
    if data:
        parser.feed(data)
    parser.feed(b"")
    out: list[Outcome] = []
    signal = drain(parser, out)
    assert signal in (END, None)
    return out


def read_bytewise(
    data: bytes, limits: Limits | None = None, kind: type[Parser] = Parser
) -> list[Outcome]:
    """Feed one byte at a time, pulling after each, then the end of the stream."""
    parser = kind(limits)
    out: list[Outcome] = []
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        if drain(parser, out) is None:
            return out
    return _finish(parser, out)


def read_chunks(
    chunks: list[bytes], limits: Limits | None = None, kind: type[Parser] = Parser
) -> list[Outcome]:
    """Feed the given pieces, pulling after each, then the end of the stream."""
    parser = kind(limits)
    out: list[Outcome] = []
    for chunk in chunks:
        if chunk:
            parser.feed(chunk)
        if drain(parser, out) is None:
            return out
    return _finish(parser, out)


def read_trailing(data: bytes, limits: Limits | None = None) -> list[Outcome]:
    """Feed the input followed by the next block's first bytes, without ending the stream.

    Unless framing was lost, the rest of the next block is then fed and must
    come out as that block: the input was consumed exactly, no more, no less.
    """
    parser = Parser(limits)
    parser.feed(data + TRAILING)
    out: list[Outcome] = []
    signal = drain(parser, out)
    if signal is None:
        return out
    assert signal is NEED_DATA, "the next block has only begun"
    assert parser.offset + parser.buffered == len(data) + len(TRAILING)
    parser.feed(NEXT_WIRE[len(TRAILING) :])
    rest: list[Outcome] = []
    assert _finish(parser, rest) == [NEXT_BLOCK], "the block after the input did not parse"
    assert parser.offset == len(data) + len(NEXT_WIRE)
    return out


def read_then_end(data: bytes, limits: Limits | None = None) -> list[Outcome]:
    """For a stream cut short: everything, NEED_DATA (no early error), then the end."""
    parser = Parser(limits)
    if data:
        parser.feed(data)
    out: list[Outcome] = []
    if drain(parser, out) is None:
        return out
    return _finish(parser, out)


def check_reader(
    data: bytes,
    expected: list[Outcome],
    limits: Limits | None = None,
    *,
    complete: bool = True,
) -> None:
    """Assert that reading ``data`` gives ``expected``, whichever way it arrives.

    ``complete=False`` is for a stream cut inside a block: trailing data would
    become part of that block, so the third run feeds the input, checks that the
    parser only waits, and then ends the stream.
    """
    assert read_whole(data, limits) == expected, "whole input"
    assert read_bytewise(data, limits) == expected, "one byte at a time"
    assert read_whole(data, limits, StateMachineOnly) == expected, "without the fast path"
    if complete:
        assert read_trailing(data, limits) == expected, "with trailing data"
    else:
        assert read_then_end(data, limits) == expected, "input, then end of stream"


def parse_one(data: bytes, limits: Limits | None = None) -> Block:
    """The single block ``data`` holds, checked three ways."""
    block = read_whole(data, limits)
    assert len(block) == 1 and isinstance(block[0], Block), block
    check_reader(data, block, limits)
    return block[0]


def frame(type_line: bytes, content: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    """A block on the wire from its type line and what follows the size line."""
    return type_line + eol + b"%d" % len(content) + eol + content
