"""``imip send``: send one message, and tell the shell what happened.

A running client of the same user on this machine (``imip chat``) is asked to send it
(``imipd.client.handoff``), so that it is not logged out by a second login; else the
command logs in by itself, sends, and says goodbye.

The outcome is one line for people and an exit status for scripts:

======  ===========================================================================
status  meaning
======  ===========================================================================
0       ``delivered`` or ``stored for later delivery`` (printed on standard output)
1       the server refused the message: no such user, not permitted, too large, …
2       usage error (click)
3       login failed (wrong user or password, too many failures, rate limited)
4       connection problem: refused, unreachable, lost, no answer
======  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Callable

from .. import __version__
from ..client import Delivery, connect
from ..client.handoff import hand_over, socket_path

CLIENT_NAME = f"imip {__version__}"

OUTCOME = {
    Delivery.DELIVERED: "delivered",
    Delivery.STORED: "stored for later delivery",
}


async def send_one(host: str, port: int, user: str, password: Callable[[], str], to: str,
                   text: str, timeout: float = 15.0) -> Delivery:
    """Hand ``text`` to a running client of ``user``; else log in (without going online),
    send it with ``ACK-Type: always`` and say ``DISC``. ``password`` is asked only then."""
    handed = await hand_over(socket_path(host, port, user), to, text, timeout)
    if handed is not None:
        return handed
    async with connect(host, port, user, password(), keep_alive=False, timeout=timeout,
                       client_name=CLIENT_NAME) as client:
        return await client.send_message(to, text)
