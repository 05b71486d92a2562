"""How a failed request reads for people, and the exit status it means, in every ``imip`` command.

``imip send`` and ``imip chat`` say a failure the same way (one wording for a wrong
password, wherever it happens), and exit with the same statuses (docs/client.md lists
them): 1 refused, 3 login failed, 4 connection problem.
"""

from __future__ import annotations

import socket

from ..protocol import Status
from .errors import (
    ConnectFailed,
    ConnectionClosed,
    ImipError,
    LoginFailed,
    NoSuchUser,
    NotPermitted,
    RateLimited,
    RequestTimeout,
    ServerError,
    TooLarge,
    UnsupportedProtocol,
)

EXIT_REFUSED = 1
EXIT_LOGIN = 3
EXIT_CONNECTION = 4


def explain(error: ImipError, *, server: str, user: str, to: str = "",
            size: int = 0) -> tuple[str, int]:
    """A message for people (without the program name) and the exit status."""
    if isinstance(error, ConnectFailed):
        cause = error.__cause__
        if isinstance(cause, socket.gaierror):
            host = server.rpartition(":")[0] or server
            why = "name not found" if cause.errno == socket.EAI_NONAME else \
                f"name lookup failed ({cause.strerror or cause.errno})"
            return f"cannot find the server {host}: {why}", EXIT_CONNECTION
        return str(error), EXIT_CONNECTION
    if isinstance(error, RequestTimeout):
        return f"no answer from {server}: {error.reason}", EXIT_CONNECTION
    if isinstance(error, ConnectionClosed):
        return f"connection to {server} lost: {error.reason}", EXIT_CONNECTION
    if isinstance(error, UnsupportedProtocol):
        return f"{server} does not speak IMIP/1.0", EXIT_CONNECTION
    if isinstance(error, LoginFailed):
        if error.status == Status.TOO_MANY_FAILURES:
            why = "too many failed logins; the server closed the connection"
        elif error.status == Status.BAD_AUTH_TYPE:
            why = "the server does not accept imip-md5 login"
        else:
            why = f"wrong user name or password for {user}"
        return f"login failed: {why}", EXIT_LOGIN
    if isinstance(error, RateLimited) and error.verb == "LOGN":
        return ("login refused: too many failed logins from this address; try again later",
                EXIT_LOGIN)
    if isinstance(error, NoSuchUser):
        return f"no such user: {to}", EXIT_REFUSED
    if isinstance(error, NotPermitted):
        return f"not permitted: {server} does not let {user} send messages to {to}", \
            EXIT_REFUSED
    if isinstance(error, TooLarge):
        return f"message too large for {server} ({size} bytes)", EXIT_REFUSED
    if isinstance(error, RateLimited):
        return "rate limited by the server: slow down and try again later", EXIT_REFUSED
    if isinstance(error, ServerError):
        return "server error: the message was not accepted; try again", EXIT_REFUSED
    return f"the server refused the message: {error}", EXIT_REFUSED
