"""The verb table: which feature module handles which block type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .contacts import acknowledge, list_
from .greeting import helo, logn
from .keepalive import disc, ping
from .messages import mesg
from .presence import session_ended as _presence_ended
from .presence import stat

if TYPE_CHECKING:
    from .session import Handler, Session

handlers: dict[str, Handler] = {
    "HELO": helo,
    "LOGN": logn,
    "STAT": stat,
    "LIST": list_,
    "MESG": mesg,
    "PING": ping,
    "DISC": disc,
}

__all__ = ["acknowledge", "handlers", "session_ended"]


async def session_ended(session: Session) -> None:
    """A logged-in session is over; unless another replaced it, the user went away."""
    if session.service.router.detach(session.key, session):
        await _presence_ended(session)
