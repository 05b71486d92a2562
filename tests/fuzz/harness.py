"""Drive the real core with generated traffic and check what it writes back.

``World`` holds the real pieces — ``Service`` and ``Session`` over a ``SqliteStore``
on a temporary file and a ``LocalRouter`` — plus up to three simulated
connections. Each connection feeds client bytes through a real ``Parser`` (as
``server/connection.py`` does) and hands every block to ``Session.handle`` and
every refusal to ``Session.protocol_error``; what the session writes goes to a
``RecordingSink`` that parses it back with a second ``Parser``.

After every block the world checks the invariants of docs/protocol.md §2, §8 and §6:

- no exception escapes ``Session.handle``, and the core logs no error (an
  internal error would also show as ``ACK 890``, which never may appear);
- every block that is not an ``ACK`` gets exactly one answer, or the documented
  silence (``MESG`` with ``ACK-Type: none``, or ``errors-only`` on success);
- an answer carries ``Reference`` equal to the block's ``ID`` when that is a
  decimal number, and no ``Reference`` otherwise (the server ``HELO`` never);
- everything written parses back, block by block, in whole blocks, with the
  server's IDs counting 1, 2, 3… per connection, headers sorted
  case-insensitively, and the empty line written only before a body;
- the connection closes exactly after ``DISC`` (600), ``810``, ``812``, a lost
  framing, or a server ``DISC``;
- every ``MESG`` the core accepted (tagged with a unique marker in its body) is
  received exactly once by its recipient by the end, after every user has logged
  in again to collect what was stored — unless the recipient blocked the sender,
  in which case it is never received; nothing is ever received twice.

The traffic comes from ``random_step``, which takes every decision from a ``Chooser``:
in practice a ``ByteChooser`` reading a tape of bytes, drawn by hypothesis
(tests/fuzz/test_session_fuzz.py) or written by a coverage-guided fuzzer
(fuzz/fuzz_session.py); ``run_tape`` runs one tape from start to ledger.

The harness is split in modules — ``choosers`` (decisions), ``sink`` (what the server
writes), ``rules`` (the answer rules), ``world`` (connections and the ledger),
``traffic`` (what clients send) — and this module names what the tests and the
fuzzers use.
"""

from __future__ import annotations

from .choosers import ByteChooser, Chooser, RecordingChooser
from .rules import RuleBroken, check_answers
from .sink import RecordingSink
from .traffic import MAX_STEPS, RAW_MAX, make_block, mutate, random_step, run_tape
from .world import (
    SMALL_LIMITS,
    USERS,
    InvariantError,
    World,
    client_block,
    make_template,
    open_world,
    wire,
)

__all__ = [
    "MAX_STEPS",
    "RAW_MAX",
    "SMALL_LIMITS",
    "USERS",
    "ByteChooser",
    "Chooser",
    "InvariantError",
    "RecordingChooser",
    "RecordingSink",
    "RuleBroken",
    "World",
    "check_answers",
    "client_block",
    "make_block",
    "make_template",
    "mutate",
    "open_world",
    "random_step",
    "run_tape",
    "wire",
]
