"""The answer rules of docs/protocol.md §8 and §4–§7, as the harness checks them per block."""

from __future__ import annotations

from imipd.imip import ALLOWED, Phase, Verb
from imipd.protocol import Block, ProtocolError

KNOWN_VERBS = frozenset(Verb)

CLOSING_CODES = frozenset({810, 812})
ERRORS_BY_VERB: dict[str, frozenset[int]] = {
    "HELO": frozenset({810}),
    "LOGN": frozenset({803, 811, 812, 813, 830}),
    "STAT": frozenset({803}),
    "LIST": frozenset({803, 820, 830}),
    "MESG": frozenset({803, 820, 821, 830}),
    "PING": frozenset(),
    "DISC": frozenset(),
}
"""The error codes each verb's own rules may answer (after the generic checks of §4)."""


class RuleBroken(Exception):
    """The answers to one block break a rule; the message says which."""


def is_decimal(value: str | None) -> bool:
    """A block ID the server must echo: ASCII digits."""
    return value is not None and value.isascii() and value.isdigit()


def ack_type_of(block: Block) -> str:
    """The ``ACK-Type`` a ``MESG`` asks for (missing means errors-only), lower case."""
    value = block.header("ACK-Type")
    return "errors-only" if value is None else value.lower()


def is_answer(block: Block) -> bool:
    """An answer to a client block (a push has no ``Reference`` and is not an ACK)."""
    return block.verb in ("ACK", "HELO") or block.header("Reference") is not None


def describe(item: Block | ProtocolError) -> str:
    if isinstance(item, ProtocolError):
        return f"refused block ({int(item.status)} {item.reason}, fatal={item.fatal})"
    return f"{item.type_line[:60]!r} ID={item.header('ID')!r}"


def _expect(ok: bool, rule: str) -> None:
    if not ok:
        raise RuleBroken(rule)


def _ack(answers: list[Block], code: int | None = None, *, reference: str | None) -> None:
    """Exactly one answer: an ACK (with ``code``) carrying ``reference``."""
    _expect(len(answers) == 1, "exactly one answer expected")
    answer = answers[0]
    _expect(answer.verb == "ACK", "an ACK expected")
    if code is not None:
        _expect(answer.args == (str(code),), f"ACK {code} expected")
    _expect(answer.header("Reference") == reference, f"Reference {reference} expected")


def check_answers(item: Block | ProtocolError, phase: Phase | None, answers: list[Block],
                  closed_now: bool) -> None:
    """Raise ``RuleBroken`` unless ``answers`` are what ``item`` gets in ``phase`` (None: the
    connection is closing), and the connection closed (``closed_now``) exactly when it must."""
    shown = [b.type_line + f" Reference={b.header('Reference')}" for b in answers]
    try:
        closes = False
        if phase is None:
            _expect(not answers, "a closed session answers nothing")
            return
        if isinstance(item, ProtocolError):
            if item.fatal:
                _ack(answers, item.status, reference=None)
                closes = True
            elif item.verb == "ACK":
                _expect(not answers, "an ACK is never answered")
            else:
                _ack(answers, item.status,
                     reference=item.block_id if is_decimal(item.block_id) else None)
        else:
            closes = _check_block(item, phase, answers)
        _expect(closed_now == closes,
                f"the connection {'closed' if closed_now else 'stayed open'}")
    except RuleBroken as broken:
        raise RuleBroken(f"{describe(item)} in phase {phase and phase.value}: {broken}; "
                         f"answers: {shown}") from None


def _check_block(block: Block, phase: Phase, answers: list[Block]) -> bool:
    """Check the answers to a well-framed block; True when it must close the connection."""
    block_id = block.header("ID")
    reference = block_id if is_decimal(block_id) else None
    verb = block.verb
    if verb not in KNOWN_VERBS:
        _ack(answers, 801, reference=reference)
        return False
    if verb == "ACK":
        _expect(not answers, "an ACK is never answered")
        return False
    if reference is None:
        _ack(answers, 803, reference=None)
        return False
    if verb not in ALLOWED[phase]:
        _ack(answers, 802, reference=reference)
        return False
    if verb == "MESG":
        _check_mesg(block, answers, reference)
        return False
    _expect(len(answers) == 1, "exactly one answer expected")
    answer = answers[0]
    if answer.verb == "ACK":
        code = int(answer.args[0])
        _expect(answer.header("Reference") == reference, f"Reference {reference} expected")
        _expect((code == 600 and verb in ("STAT", "LIST", "PING", "DISC"))
                or code in ERRORS_BY_VERB[verb], f"ACK {code} is not an answer to {verb}")
        return code in CLOSING_CODES or verb == "DISC"
    if verb == "HELO":
        _expect(answer.verb == "HELO" and answer.header("Reference") is None,
                "the server HELO (without Reference)")
        challenge = answer.body.decode("ascii", "replace")
        _expect(challenge.isdigit() and str(int(challenge)) == challenge
                and int(challenge) < 2**32, "a 32-bit challenge without leading zeros")
        return False
    _expect(answer.verb == verb and answer.header("Reference") == reference,
            f"{verb} answered by {verb} with Reference {reference}")
    if verb == "LIST":
        _expect(answer.args == () and answer.header("List") in ("Buddy", "Block"),
                "LIST GET answered by LIST with List")
    return False


def _check_mesg(block: Block, answers: list[Block], reference: str) -> None:
    """``ACK-Type``: always → one answer; errors-only → an error or silence; none → silence."""
    ack_type = ack_type_of(block)
    if ack_type == "":  # an empty value: unknown (803) or the default, errors-only
        _expect(len(answers) <= 1, "at most one answer")
        if answers:
            _ack(answers, reference=reference)
    elif ack_type not in ("always", "errors-only", "none"):
        _ack(answers, 803, reference=reference)
    elif ack_type == "none":
        _expect(not answers, "ACK-Type none: no answer at all")
    elif ack_type == "errors-only":
        _expect(len(answers) <= 1, "errors-only: at most one answer")
        if answers:
            _ack(answers, reference=reference)
            _expect(int(answers[0].args[0]) in ERRORS_BY_VERB["MESG"],
                    "errors-only: only an error is answered")
    else:
        _ack(answers, reference=reference)
        _expect(int(answers[0].args[0]) in {600, 601} | ERRORS_BY_VERB["MESG"],
                "always: 600, 601 or an error")
