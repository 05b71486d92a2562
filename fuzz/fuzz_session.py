"""Coverage-guided fuzzing of the core (Service + Session, SQLite, LocalRouter) with atheris.

An input is a *tape* of decisions read by ``tests.fuzz.harness.ByteChooser``: which
of three connections acts, whether it connects, logs in, hangs up, sends raw
bytes or a generated block (right for its phase, or subtly wrong, or mutated),
or whether several connections send at once and are handled concurrently. The
harness (``tests/fuzz/harness.py``) runs the real core on a fresh copy of a small
SQLite database and checks, after every block, the invariants its docstring
lists: no exception escapes ``Session.handle`` and the core logs no error; one
answer per block or the documented silence; ``Reference`` equal to a decimal
``ID``; everything written parses back in canonical form; and, at the end, every
accepted message was received exactly once. Any violation is a crash.

Run it (see fuzz/README.md)::

    .venv/bin/python fuzz/fuzz_session.py fuzz/corpus/session -max_total_time=60

Without atheris, ``--random N`` runs N random tapes (plus the corpus) instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    import atheris  # type: ignore[import-untyped]
except ImportError:  # the plain random runner still works
    atheris = None

if atheris is not None and "--random" not in sys.argv:
    with atheris.instrument_imports(include=["imipd"]):
        import imipd.core
        import imipd.protocol
        import imipd.router
        import imipd.store.sqlite  # noqa: F401 - instrumented before the harness imports it

from tests.fuzz.harness import make_template, run_tape  # noqa: E402

_TEMPLATE: Path | None = None


def template() -> Path:
    """The data directory every input starts from (made once per process)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        directory = Path(tempfile.mkdtemp(prefix="imipd-fuzz-template-")) / "data"
        _TEMPLATE = asyncio.run(make_template(directory))
    return _TEMPLATE


def check(data: bytes) -> None:
    """One fuzz input: run the tape, let every user collect, check the ledger."""
    asyncio.run(run_tape(template(), data))


def TestOneInput(data: bytes) -> None:
    """The entry point atheris calls (its name is atheris's)."""
    check(data)


def run_random(count: int, corpus: list[Path]) -> None:
    """Without atheris: the corpus, then ``count`` random (and mutated corpus) tapes."""
    seeds = [p.read_bytes() for d in corpus for p in sorted(d.glob("*")) if p.is_file()]
    for seed in seeds:
        check(seed)
    rng = random.Random(2)
    for i in range(count):
        if seeds and rng.random() < 0.5:
            mutated = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 16)):
                if mutated:
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            data = bytes(mutated)
        else:
            data = rng.randbytes(rng.randint(64, 4000))
        check(data)
        if i % 200 == 0:
            print(f"#{i} random tapes, ok", flush=True)
    print(f"{len(seeds)} corpus tapes and {count} random tapes: no failure")


def main() -> None:
    """atheris's command line (libFuzzer flags), or ``--random N [CORPUS_DIR...]``."""
    logging.getLogger("imipd").setLevel(logging.WARNING)  # the harness listens for errors
    if "--random" in sys.argv or atheris is None:
        args = [a for a in sys.argv[1:] if a != "--random"]
        count = int(args[0]) if args and args[0].isdigit() else 1000
        run_random(count, [Path(a) for a in args if Path(a).is_dir()])
        return
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
