"""Whether coming back can work after the server's ``DISC``: one row per fixed reason.

The server's ``DISC`` bodies are fixed texts (docs/protocol.md §7). Some end a session
for a passing cause (a restart, an idle connection), and logging in again is right;
others say that logging in again is wrong: the password it would use was changed, the
account is gone, an operator or a newer login of the same user took the session. A
client that reconnected into those would be refused, or would fight the newer login.
A body not in the table is an operator's own reason given through the admin API.
"""

from __future__ import annotations

from ..protocol import reasons

TRY_AGAIN: dict[str, bool] = {
    reasons.REPLACED: False,
    reasons.PASSWORD_CHANGED: False,
    reasons.ACCOUNT_DELETED: False,
    reasons.OPERATOR: False,
    reasons.IDLE: True,
    reasons.LOGIN_TIMEOUT: True,
    reasons.BLOCK_TIMEOUT: True,
    reasons.SHUTDOWN: True,
    reasons.TOO_MANY_CONNECTIONS: True,
    reasons.TOO_MANY_FROM_ADDRESS: True,
    reasons.SERVER_ERROR: True,
}
"""For each reason the server gives: does logging in again make sense?"""


def may_try_again(server_reason: str | None) -> bool:
    """Whether to reconnect after a connection that ended with ``server_reason``.

    None (no ``DISC`` came: the connection broke) and a ``DISC`` without a reason
    mean yes; an operator's own text means no (they ended the session on purpose).
    """
    if not server_reason:
        return True
    return TRY_AGAIN.get(server_reason.lower(), False)
