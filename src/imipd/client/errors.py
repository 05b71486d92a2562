"""The client's exceptions: one class per way a request can fail, mapped from statuses here only.

Every error carries ``status`` (the code of the server's error ``ACK``, or None when
no status came, e.g. the connection dropped), ``reason`` (text for people: the ACK's
body when the server sent one, else the status table's meaning) and ``verb`` (the
request that failed, when known), so a program can branch on the class and a person
can read ``str(error)``.
"""

from __future__ import annotations

from ..protocol import Block, Status


class ImipError(Exception):
    """Base of every error the client raises; an unknown 8xx status raises this class itself."""

    def __init__(self, reason: str, status: int | None = None, verb: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        """The error status: a :class:`~imipd.protocol.Status` member for a known code."""
        self.verb = verb

    def __str__(self) -> str:
        return self.reason if self.status is None else f"{int(self.status)} {self.reason}"


class ConnectionClosed(ImipError):
    """The connection is gone (or was never made); pending requests fail with this."""


class ConnectFailed(ConnectionClosed):
    """The TCP connection could not be made (refused, unreachable, DNS, timeout)."""


class RequestTimeout(ImipError):
    """No answer came in time; the connection may be dead."""


class LoginFailed(ImipError):
    """811 wrong user or password, 812 too many failures (the server closes), 813 Auth-Type."""


class RequestRejected(ImipError):
    """800–803: the server could not read or accept the block (a client or usage bug)."""


class UnsupportedProtocol(ImipError):
    """810: the server does not speak IMIP/1.0."""


class NoSuchUser(ImipError):
    """820: the named user does not exist."""


class NotPermitted(ImipError):
    """821: the server's policy does not allow this (e.g. messages from contacts only)."""


class Declined(ImipError):
    """822: the request was declined."""


class RateLimited(ImipError):
    """830: slow down (at login: too many failed logins from this address)."""


class TooLarge(ImipError):
    """850: the block or its body is over the server's limit."""


class ServerError(ImipError):
    """890: the server failed; nothing was accepted, the request may be tried again."""


_BY_STATUS: dict[int, type[ImipError]] = {
    Status.MALFORMED: RequestRejected,
    Status.UNKNOWN_TYPE: RequestRejected,
    Status.WRONG_STATE: RequestRejected,
    Status.BAD_HEADER: RequestRejected,
    Status.BAD_PROTOCOL: UnsupportedProtocol,
    Status.LOGIN_FAILED: LoginFailed,
    Status.TOO_MANY_FAILURES: LoginFailed,
    Status.BAD_AUTH_TYPE: LoginFailed,
    Status.NO_SUCH_USER: NoSuchUser,
    Status.NOT_PERMITTED: NotPermitted,
    Status.DECLINED: Declined,
    Status.RATE_LIMITED: RateLimited,
    Status.TOO_LARGE: TooLarge,
    Status.SERVER_ERROR: ServerError,
}
"""The one place where a status becomes an exception class."""


def error_for(code: int, reason: str = "", verb: str | None = None) -> ImipError:
    """The exception for an error ``ACK <code>``; ``reason`` defaults to the status meaning."""
    known = _KNOWN.get(code)
    meaning = known.meaning if known is not None else "unknown error status"
    status: int = known if known is not None else code
    return _BY_STATUS.get(code, ImipError)(reason or meaning, status, verb)


_KNOWN: dict[int, Status] = {int(status): status for status in Status}


def raise_for_error(answer: Block, verb: str) -> Block:
    """``answer`` itself, unless it is an error ``ACK`` (8xx): then its typed error."""
    if answer.verb == "ACK" and answer.args and answer.args[0].isdigit():
        code = int(answer.args[0])
        if code >= Status.MALFORMED:
            raise error_for(code, answer.body.decode("utf-8", "replace").strip(), verb)
    return answer
