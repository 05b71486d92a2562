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
import sys
import tempfile
from pathlib import Path

from random_inputs import RandomPlan, fuzz_main  # beside this file

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


PLAN = RandomPlan(seed=2, mutate_share=0.5, max_mutations=16, size=(64, 4000),
                   report_every=200, unit="tapes")
"""How random inputs are drawn without atheris."""


def main() -> None:
    """See the module docstring."""
    logging.getLogger("imipd").setLevel(logging.WARNING)  # the harness listens for errors
    fuzz_main(TestOneInput, PLAN, 1000, atheris)


if __name__ == "__main__":
    main()
