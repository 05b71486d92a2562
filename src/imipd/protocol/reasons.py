"""Why the server ends a session: the body of its ``DISC`` (docs/protocol.md §7), written once.

The texts are fixed so that a client can tell them apart (``imip chat`` does not
reconnect into a session that was replaced). An operator's own reason, given
through the admin API, is the one text not listed here.
"""

from __future__ import annotations

REPLACED = "logged in from another place"
"""The user logged in again elsewhere; this session is replaced."""
PASSWORD_CHANGED = "password changed"
ACCOUNT_DELETED = "account deleted"
OPERATOR = "disconnected by an operator"
"""The admin API dropped the session without a reason of its own."""
IDLE = "idle timeout"
"""Nothing was received for 2 x Keep-Alive + 10 seconds."""
LOGIN_TIMEOUT = "login timeout"
BLOCK_TIMEOUT = "block timeout"
"""A block was begun and not finished in time."""
SHUTDOWN = "server shutting down"
TOO_MANY_CONNECTIONS = "too many connections"
TOO_MANY_FROM_ADDRESS = "too many connections from your address"
SERVER_ERROR = "server error"
"""Delivering the stored messages failed; the client may log in again."""
