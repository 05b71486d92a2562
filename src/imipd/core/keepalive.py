"""PING and DISC (IMIP.md §3.6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import Block, Status
from ..protocol import headers as H

if TYPE_CHECKING:
    from .session import Session


async def ping(session: Session, block: Block) -> None:
    """``PING`` → ``ACK 600``."""
    session.answer(block.header(H.ID), Status.OK)


async def disc(session: Session, block: Block) -> None:
    """``DISC`` → ``ACK 600``, then the server closes; watchers see ``STAT OFFLINE``."""
    session.answer(block.header(H.ID), Status.OK)
    session.log.info("said goodbye")
    session.sink.close()
