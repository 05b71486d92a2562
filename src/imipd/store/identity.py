"""Identities of the messages a node accepts: unique across its restarts and across nodes.

A message gets its identity when it is accepted, and keeps it through every place it
passes (a live delivery, the journal, a connection's hand-back, the store), so that
putting it (back) into the store twice stores it once (docs/protocol.md §6.4). An
identity is one integer below 2**63, as SQLite and PostgreSQL keep it: the node's
*incarnation* (a number its store hands out once, at each start:
``Store.new_incarnation``) in the high bits and a count in the low ``SEQUENCE_BITS``.
Messages stored before identities existed keep their old row ids, which are below
2**40: the incarnations start at 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

SEQUENCE_BITS = 40
"""A node may give 2**40 identities per incarnation (over 300 days at 40,000 messages a
second); ``worn`` says when to take a new incarnation."""
_SEQUENCE = (1 << SEQUENCE_BITS) - 1


def identities(incarnation: int) -> Callable[[], int]:
    """A source of new identities for one incarnation (a C-level callable: it is called
    for every accepted message)."""
    if not 1 <= incarnation < 1 << (63 - SEQUENCE_BITS):
        raise ValueError(f"incarnation out of range: {incarnation}")
    return itertools.count((incarnation << SEQUENCE_BITS) + 1).__next__


def worn(identity: int) -> bool:
    """Whether the incarnation of ``identity`` (a new one) has used half its count."""
    return identity & _SEQUENCE > _SEQUENCE >> 1
