"""Write the seed corpora of fuzz/corpus/ from the worked examples.

``fuzz/corpus/parser/``: every (block, bytes) example of tests/protocol/examples.py
(the worked examples of docs/protocol.md first), alone and as streams, with LF line
endings, cut short, and a few classic breakages, each under several first bytes
(limits and chunking, see fuzz_parser.py).

``fuzz/corpus/session/``: tapes (fuzz_session.py) recorded from seeded random runs
of the harness in which every raw-bytes step sends one of the client-side worked
examples; a tape is kept when its run delivered messages and showed requests, so
the fuzzer starts from logged-in, talking sessions.

Run from the project root: ``.venv/bin/python fuzz/make_corpus.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import tempfile
from pathlib import Path

from imipd.protocol import Limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz import harness  # noqa: E402
from tests.protocol.examples import EXAMPLES  # noqa: E402

CORPUS = ROOT / "fuzz" / "corpus"
CLIENT_EXAMPLES = [e.wire for e in EXAMPLES if e.block.verb in ("HELO", "LOGN", "MESG", "STAT",
                                                                 "LIST", "DISC", "PING")]
BREAKAGES = [
    b"MESG\r\n" + b"9" * 30 + b"\r\n",  # size over the limit however long
    b"MESG\r\n12x\r\nID: 1\r\n",  # size line not digits
    b"X" * 1100 + b"\r\n0\r\n",  # type line too long
    b"MESG\r\n20\r\nID: 1\r\nID: 2\r\n\r\nab",  # a header twice
    b"STAT AWAY\r\n9\r\nID: 1\r\nno colon\r\n",  # header region that does not parse
    b"\r\n\n\r\nPING\n7\nID: 9\n",  # empty lines first, bare LF
]


def _write(directory: Path, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def parser_corpus() -> int:
    """The parser's seeds; returns how many were written."""
    streams = [e.wire for e in EXAMPLES]
    streams.append(b"".join(e.wire for e in EXAMPLES))
    streams += [w.replace(b"\r\n", b"\n") for w in CLIENT_EXAMPLES]
    streams += [w[: len(w) // 2] for w in CLIENT_EXAMPLES]
    streams += BREAKAGES
    count = 0
    for stream in streams:
        for mode in (0, 4, 8):  # each limits set once, each way of cutting once
            _write(CORPUS / "parser", bytes([mode]) + stream)
            count += 1
    return count


class ExampleChooser:
    """Random decisions, except that raw bytes are a client-side worked example."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def binary(self, max_size: int) -> bytes:
        if max_size == harness.RAW_MAX:
            return self.rng.choice(CLIENT_EXAMPLES)
        return self.rng.randbytes(self.rng.randint(0, max_size))

    def text(self, max_size: int) -> str:
        return "".join(chr(self.rng.choice((self.rng.randint(0x21, 0x7E),
                                            self.rng.randint(0xA0, 0x2FFF))))
                       for _ in range(self.rng.randint(0, max_size)))


async def _record(template: Path, seed: int) -> tuple[bytes, harness.World]:
    recorder = harness.RecordingChooser(ExampleChooser(seed))
    flags = recorder.integer(0, 3)
    limits = harness.SMALL_LIMITS if flags & 1 else Limits()
    async with harness.open_world(template, limits=limits,
                                  error_reasons=bool(flags & 2)) as world:
        for _ in range(harness.MAX_STEPS):
            await harness.random_step(world, recorder)
        await world.finish()
    return bytes(recorder.tape), world


async def session_corpus(wanted: int = 24) -> int:
    """The session's seeds; returns how many were written."""
    template = await harness.make_template(Path(tempfile.mkdtemp()) / "data")
    count = 0
    seed = 0
    while count < wanted and seed < 2000:
        tape, world = await _record(template, seed)
        seed += 1
        delivered = sum(1 for got in world.received.values() if got)
        requests = sum(len(c.requests) for c in world.conns if c is not None)
        if delivered >= 2 and requests >= 1 and len(tape) <= 4096:
            _write(CORPUS / "session", tape)
            count += 1
    return count


def main() -> None:
    """Write both corpora (existing files are kept: names are content hashes)."""
    print(f"parser: {parser_corpus()} seeds")
    print(f"session: {asyncio.run(session_corpus())} seeds")


if __name__ == "__main__":
    main()
