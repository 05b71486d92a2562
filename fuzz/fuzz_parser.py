"""Coverage-guided fuzzing of the IMIP parser (``imipd.protocol.Parser``) with atheris.

One input is: a first byte choosing the limits (the defaults, or small ones so
that every limit is reachable) and how the stream arrives (whole, one byte at a
time, or in pieces whose sizes the next bytes give), then the stream itself. The
checks, any failing of which is a crash:

- only ``ProtocolError`` leaves ``Parser.next_block`` (its documented contract);
  after a fatal error the parser raises that same error again;
- after ``NEED_DATA`` the parser holds at most as many unread bytes as the
  largest limit allows (``buffered_bound``): the limits bound memory;
- the outcome (blocks and errors, with their status, fatality, offset and ID)
  does not depend on how the stream was cut into pieces;
- every block parsed serializes back to bytes that parse to the same block.

Run it (see fuzz/README.md)::

    .venv/bin/python fuzz/fuzz_parser.py fuzz/corpus/parser -max_total_time=60

Without atheris, ``--random N`` runs N random inputs (plus the corpus) instead.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from random_inputs import RandomPlan, fuzz_main  # beside this file

try:
    import atheris  # type: ignore[import-untyped]
except ImportError:  # the plain random runner still works
    atheris = None

if atheris is not None and "--random" not in sys.argv:
    with atheris.instrument_imports(include=["imipd"]):
        from imipd.protocol import END, NEED_DATA, Block, Limits, Parser, ProtocolError
else:
    from imipd.protocol import END, NEED_DATA, Block, Limits, Parser, ProtocolError

SMALL = Limits(type_line=16, header_count=3, header_line=24, block_size=96, mesg_body=10,
               stat_text=5, list_add_text=7)
LIMITS = (Limits(), SMALL, Limits(block_size=300, mesg_body=200))
MAX_EVENTS = 5000


@dataclass(frozen=True)
class Refusal:
    """A ``ProtocolError`` as an outcome that can be compared."""

    status: int
    fatal: bool
    offset: int
    block_id: str | None
    verb: str | None


Outcome = Block | Refusal


def buffered_bound(limits: Limits) -> int:
    """The most unread bytes a parser may hold when it asks for more data.

    A partial type line (≤ type_line + 1 with its CR), a partial size line (its
    digits and CR), a partial header line (≤ header_line + 1), or a partial body
    (< block_size); a block being skipped is consumed as it arrives.
    """
    size_digits = len(str(limits.block_size))
    return max(limits.type_line + 1, size_digits + 1, limits.header_line + 1, limits.block_size)


def _pull(parser: Parser, out: list[Outcome], bound: int) -> bool:
    """Take what the parser has; False once it is finished (END or framing lost)."""
    while len(out) < MAX_EVENTS:
        try:
            item = parser.next_block()
        except ProtocolError as error:
            out.append(Refusal(int(error.status), error.fatal, error.offset, error.block_id,
                               error.verb))
            if error.fatal:
                try:
                    parser.next_block()
                except ProtocolError as again:
                    if again is not error:
                        raise AssertionError("a dead parser raised another error") from again
                else:
                    raise AssertionError("a dead parser did not raise again")
                return False
            continue
        if isinstance(item, Block):
            out.append(item)
            continue
        if item is NEED_DATA:
            if parser.buffered > bound:
                raise AssertionError(f"{parser.buffered} bytes buffered, bound {bound}")
            return True
        if item is END:
            return False
        raise AssertionError(f"next_block returned {item!r}")
    return False


def read(pieces: list[bytes], limits: Limits) -> list[Outcome]:
    """Feed ``pieces`` one after the other, pulling after each, then end the stream."""
    parser = Parser(limits)
    bound = buffered_bound(limits)
    out: list[Outcome] = []
    for piece in pieces:
        if piece:
            parser.feed(piece)
        if not _pull(parser, out, bound):
            return out
    parser.feed(b"")
    _pull(parser, out, bound)
    return out


def _normal(block: Block) -> Block:
    """What parsing a block's own bytes gives back (the empty line is written before a
    body, or when the block says so)."""
    return Block(block.verb, block.args, block.headers, block.body,
                 block.empty_line or bool(block.body))


def check(data: bytes) -> None:
    """One fuzz input (see the module docstring)."""
    if not data:
        return
    mode, stream = data[0], data[1:]
    limits = LIMITS[mode % len(LIMITS)]
    whole = read([stream], limits)
    how = (mode // len(LIMITS)) % 3
    if how == 0:
        pieces = [stream[i:i + 1] for i in range(len(stream))]
    else:
        rng = random.Random(data[:16])
        pieces, at = [], 0
        while at < len(stream):
            step = rng.randint(1, 64 if how == 1 else 4096)
            pieces.append(stream[at:at + step])
            at += step
    chunked = read(pieces, limits)
    if whole != chunked:
        raise AssertionError(f"the outcome depends on the chunking:\n{whole}\n{chunked}")
    for item in whole:
        if isinstance(item, Block):
            again = read([item.to_bytes()], Limits(block_size=1 << 20, mesg_body=1 << 20,
                                                   stat_text=1 << 20, list_add_text=1 << 20))
            if again != [_normal(item)]:
                raise AssertionError(f"{item} does not round-trip: {again}")


def TestOneInput(data: bytes) -> None:
    """The entry point atheris calls (its name is atheris's)."""
    check(data)


PLAN = RandomPlan(seed=1, mutate_share=0.7, max_mutations=8, size=(0, 600),
                   report_every=10000, unit="inputs")
"""How random inputs are drawn without atheris."""


def main() -> None:
    """See the module docstring."""
    fuzz_main(TestOneInput, PLAN, 100000, atheris)


if __name__ == "__main__":
    main()
