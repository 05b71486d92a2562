"""The greeting and imip-md5 login of docs/protocol.md §4.1–4.2, over a fresh :class:`Link`."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import AUTH_TYPE, Block, DigestOrder, digest
from ..protocol import headers as H
from ._link import Link
from .errors import ImipError, UnsupportedProtocol, raise_for_error
from .values import ServerInfo


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who logs in, and how the client introduces itself."""

    user: str
    password: str
    client_name: str
    digest_order: DigestOrder = DigestOrder.CHALLENGE_PASSWORD


def _refusal(answer: Block, verb: str) -> ImipError:
    """The error for an answer that is not the expected one (an error ACK or nonsense)."""
    raise_for_error(answer, verb)
    return ImipError(f"unexpected answer to {verb}: {answer.type_line[:40]}", verb=verb)


async def log_in(link: Link, credentials: Credentials, timeout: float) -> tuple[ServerInfo, str]:
    """Greet and log in; returns what the server's HELO said and the user name as the
    server spells it. Raises :class:`LoginFailed` (811, 812, 813), :class:`RateLimited`
    (830), :class:`UnsupportedProtocol` (810), :class:`ConnectionClosed`,
    :class:`RequestTimeout`."""
    hello = await link.hello(((H.PROTOCOL, H.PROTOCOL_VERSION),), timeout)
    if hello.verb != "HELO":
        raise _refusal(hello, "HELO")
    if hello.header(H.PROTOCOL) not in (None, H.PROTOCOL_VERSION):
        raise UnsupportedProtocol(f"the server speaks {hello.header(H.PROTOCOL)}", verb="HELO")
    info = ServerInfo.from_hello(hello)
    challenge = hello.body.decode("latin-1").strip()
    if not challenge.isascii():
        raise ImipError("the server's challenge is not ASCII", verb="HELO")
    answer = await link.ask(
        "LOGN", (credentials.user,),
        ((H.CLIENT, credentials.client_name), (H.AUTH_TYPE, AUTH_TYPE)),
        digest(challenge, credentials.password, credentials.digest_order).encode("ascii"),
        timeout=timeout)
    if answer.verb != "LOGN":
        raise _refusal(answer, "LOGN")
    name = answer.args[0] if answer.args else credentials.user
    return info, name
