"""Carrying out one block: the checks of docs/protocol.md §8, the verb's handler, and the answer
to what it refused (the one place where refusals become ``ACK`` codes)."""

from __future__ import annotations

import logging

from ..core import Refused, Unavailable
from ..protocol import Block, Status
from ..protocol import headers as H
from .answers import Refusal, status_of
from .handlers import HANDLERS, AckType, Rest, ack_type, acknowledge
from .session import ImipSession
from .verbs import ALLOWED, Verb, is_valid_id


def handle(session: ImipSession, block: Block) -> Rest | None:
    """Carry out one block: unknown verb (801), ``ID`` (803), state (802), then the verb.

    What can be done without waiting is done now: most blocks (a live message, a
    ``PING``) are finished on return. What has to wait (for the store) is returned as
    a coroutine, to be run in a task before the next block.
    """
    verb = block.verb
    stats = session.front.stats.blocks
    block_id = block.header_map.get(H.ID_KEY)
    handler = HANDLERS.get(verb)
    if handler is None:
        if verb == Verb.ACK:
            stats[verb] += 1
            return acknowledge(session, block)  # never answered
        stats["other"] += 1
        session.log.info("unknown block type %s", verb[:32])
        session.answer(block_id, Status.UNKNOWN_TYPE, "unknown block type")
        return None
    stats[verb] += 1
    if not is_valid_id(block_id):
        session.log.info("%s without a valid ID", verb)
        session.answer(None, Status.BAD_HEADER, "missing or invalid ID")
        return None
    if verb not in ALLOWED[session.phase]:
        session.answer(block_id, Status.WRONG_STATE, f"{verb} not allowed now")
        return None
    try:
        rest = handler(session, block)
    except Exception as error:
        refused(session, block, block_id, error)
        return None
    return None if rest is None else _carry_on(session, block, block_id, rest)


async def _carry_on(session: ImipSession, block: Block, block_id: str, rest: Rest) -> None:
    try:
        await rest
    except Exception as error:
        refused(session, block, block_id, error)


def refused(session: ImipSession, block: Block, block_id: str | None,
            error: Exception) -> None:
    """A handler refused the block (or failed): the answer docs/protocol.md gives for that.
    ``MESG`` with ``ACK-Type: none`` is answered nothing, errors included."""
    verb = block.verb
    if isinstance(error, Refusal):
        status, reason = error.status, error.reason
    elif isinstance(error, Refused | Unavailable):
        status, reason = status_of(error), str(error)
    else:
        session.log.error("%s failed", verb, exc_info=error)
        session.answer(block_id, Status.SERVER_ERROR, "server error")
        return
    # what cannot be recorded now is logged where it is noticed, once: not for each block
    session.log.log(logging.DEBUG if isinstance(error, Unavailable) else logging.INFO,
                    "%s refused: %d %s", verb, status, reason)
    if verb != Verb.MESG or ack_type(block) is not AckType.NONE:
        session.answer(block_id, status, reason)
    if isinstance(error, Refusal) and error.close:
        session.link.close()
