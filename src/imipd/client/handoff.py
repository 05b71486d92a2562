"""Handing a one-shot message to a session already logged in on this machine.

IMIP allows one session per user: a second login replaces the first (docs/protocol.md
§4.2), so ``imip send`` as alice, logging in by itself, would log alice's own ``imip
chat`` out. Instead a long-lived client offers its session on a Unix socket that only
the same system user can reach (:func:`offer`), and a one-shot sender tries that
socket first (:func:`hand_over`): the message goes out through the running session,
and nobody is logged out.

The socket is ``$XDG_RUNTIME_DIR/imip/<digest>.sock`` (``/tmp/imip-<uid>/`` without
``XDG_RUNTIME_DIR``), in a directory of mode 0700 that the user owns; the digest names
the server and the user, so each pair has its own socket. One request per connection,
a JSON line each way::

    {"to": "bob", "text": "Hi Bob"}
    {"delivery": "delivered"}                      or "stored"
    {"error": "refused", "status": 821, "reason": "..."}
    {"error": "invalid", "reason": "..."}          the request cannot be sent at all
    {"error": "not connected"}                     the session is down: log in yourself
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .errors import ConnectionClosed, ImipError, RequestTimeout, error_for
from .values import Delivery

log = logging.getLogger("imipd.client")

MAX_REQUEST = 1 << 20
"""Bytes of one request line; far above any message a server takes."""

Sender = Callable[[str, str], Awaitable[Delivery]]
"""What sends a handed-over message: ``(to, text) -> Delivery``, raising ``ImipError``."""


def runtime_dir() -> Path:
    """Where the sockets live: private to this system user."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "imip" if base else Path(f"/tmp/imip-{os.getuid()}")


def socket_path(host: str, port: int, user: str) -> Path:
    """The socket of ``user``'s session on ``host:port`` (names compare case-insensitively)."""
    key = f"{host.lower()}:{port}\0{user.lower()}".encode()
    return runtime_dir() / f"{hashlib.sha256(key).hexdigest()[:24]}.sock"


def _private(directory: Path) -> bool:
    """The directory is ours and nobody else may enter it."""
    try:
        info = directory.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and stat.S_IMODE(info.st_mode) & 0o077 == 0)


def _same_user(writer: asyncio.StreamWriter) -> bool:
    """The peer process runs as this system user (Linux ``SO_PEERCRED``)."""
    sock = writer.get_extra_info("socket")
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return False
    credentials = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return bool(uid == os.getuid())


class Offer:
    """A session offered on its socket; :meth:`close` withdraws it."""

    def __init__(self, server: asyncio.Server, path: Path) -> None:
        self._server = server
        self.path = path
        self._inode = path.stat().st_ino

    async def close(self) -> None:
        self._server.close()
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self._inode:  # a newer offer took the name
                self.path.unlink()
        await self._server.wait_closed()


async def offer(path: Path, send: Sender) -> Offer | None:
    """Serve ``send`` on ``path`` until closed; None (and a log line) when it cannot.

    A socket left at ``path`` by an earlier client is replaced: the newest session of a
    user is the one the server keeps, so it is the one to hand messages to.
    """
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        log.warning("cannot offer the session to imip send: %s", error)
        return None
    if not _private(directory):
        log.warning("cannot offer the session to imip send: %s is not private to this user",
                    directory)
        return None

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if _same_user(writer):
                line = await reader.readline()
                writer.write(json.dumps(await _answer(line, send)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, OSError, ValueError) as error:
            log.info("a handed-over message broke off: %s", error)
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    try:
        server = await asyncio.start_unix_server(serve, path, limit=MAX_REQUEST)
    except OSError as error:
        log.warning("cannot offer the session to imip send: %s", error)
        return None
    return Offer(server, path)


async def _answer(line: bytes, send: Sender) -> dict[str, Any]:
    try:
        request = json.loads(line)
        to, text = request["to"], request["text"]
        if not isinstance(to, str) or not isinstance(text, str):
            raise TypeError("to and text are strings")
    except (ValueError, KeyError, TypeError) as error:
        return {"error": "invalid", "reason": f"not a hand-over request: {error}"}
    try:
        delivery = await send(to, text)
    except ConnectionClosed:
        return {"error": "not connected"}
    except ImipError as error:
        return {"error": "refused", "status": error.status, "reason": error.reason}
    except ValueError as error:
        return {"error": "invalid", "reason": str(error)}
    return {"delivery": delivery.value}


async def hand_over(path: Path, to: str, text: str, timeout: float) -> Delivery | None:
    """Send through the session offered at ``path``; None when no session takes it.

    Raises the :class:`ImipError` the server answered, :class:`RequestTimeout` when the
    offering client does not answer in ``timeout`` seconds, and :class:`ValueError` for
    a message that cannot be written at all.
    """
    if not _private(path.parent):
        return None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(path, limit=MAX_REQUEST), timeout)
    except (OSError, TimeoutError):
        return None  # nobody there (a socket left by a client that ended)
    try:
        writer.write(json.dumps({"to": to, "text": text}).encode() + b"\n")
        await writer.drain()
    except (ConnectionError, OSError):
        writer.close()
        return None  # it took nothing
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except TimeoutError:
        raise RequestTimeout("the running client did not answer", verb="MESG") from None
    except (ConnectionError, OSError):
        line = b""
    finally:
        writer.close()
    try:
        answer = json.loads(line) if line else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ConnectionClosed("the running client ended without an answer: the message "
                               "may or may not have been sent", verb="MESG")
    if "delivery" in answer:
        return Delivery(answer["delivery"])
    if answer.get("error") == "refused":
        status = answer.get("status")
        if status is None:
            raise ImipError(str(answer.get("reason", "")), verb="MESG")
        raise error_for(int(status), str(answer.get("reason", "")), "MESG")
    if answer.get("error") == "invalid":
        raise ValueError(str(answer.get("reason", "")))
    return None
