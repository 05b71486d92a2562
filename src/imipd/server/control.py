"""The control socket: how ``imipd user del|passwd`` reach a running server.

A Unix socket ``control.sock`` in the data directory (mode 0600, so only the
account that owns the data can use it). One JSON request line, one JSON answer
line. When no server runs, there is no one to tell, and that is fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..store import name_key

log = logging.getLogger("imipd.control")

SOCKET_NAME = "control.sock"


class AlreadyRunning(Exception):
    """Another imipd serves this data directory."""


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def _connectable(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


Listeners = Callable[[], dict[str, list[tuple[str, int]]]]
"""What a running server has bound: ``{"listen": [(host, port), ...], "web": [...]}``."""


async def start(data_dir: Path, kick: Callable[[str, str], Awaitable[int]],
                listeners: Listeners) -> asyncio.AbstractServer | None:
    """Listen on the control socket; refuse to share a data directory with a live server.
    A ``ping`` is answered with the server's process id and ``listeners()``."""
    path = socket_path(data_dir)
    if len(str(path).encode()) > 100:
        log.warning("data directory path too long for a control socket; "
                    "account changes reach live sessions at their next login only")
        return None
    if path.exists() or path.is_symlink():
        if _connectable(path):
            raise AlreadyRunning(f"another imipd is serving {data_dir}")
        path.unlink()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            request = json.loads(line)
            answer: dict[str, Any]
            if request.get("op") == "ping":
                answer = {"ok": True, "pid": os.getpid(), "listeners": listeners()}
            elif request.get("op") == "kick" and isinstance(request.get("user"), str):
                count = await kick(name_key(request["user"]), str(request.get("reason", "")))
                answer = {"ok": True, "sessions": count}
            else:
                answer = {"ok": False, "error": "unknown request"}
        except (ValueError, TimeoutError, ConnectionError) as error:
            answer = {"ok": False, "error": str(error)}
        with contextlib.suppress(ConnectionError):
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        writer.close()

    old_umask = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(serve, path=str(path))
    finally:
        os.umask(old_umask)


def _ask(data_dir: Path, request: dict[str, Any]) -> dict[str, Any] | None:
    """One request to a running server; None when no server listens."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        try:
            sock.connect(str(socket_path(data_dir)))
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline())
        except (OSError, ValueError):
            return None
    return answer if isinstance(answer, dict) and answer.get("ok") else None


def kick(data_dir: Path, user: str, reason: str) -> int | None:
    """Ask a running server to drop ``user``'s sessions; None when no server listens."""
    answer = _ask(data_dir, {"op": "kick", "user": user, "reason": reason})
    return None if answer is None else int(answer.get("sessions", 0))


def running(data_dir: Path) -> bool:
    """Whether a server answers on this data directory's control socket."""
    return _ask(data_dir, {"op": "ping"}) is not None


def server_listeners(data_dir: Path) -> tuple[int, dict[str, set[tuple[str, int]]]] | None:
    """The process id of the server of this data directory and what it has bound, by
    listener (``listen``, ``web``); None when no server answers."""
    answer = _ask(data_dir, {"op": "ping"})
    if answer is None:
        return None
    bound = answer.get("listeners")
    found: dict[str, set[tuple[str, int]]] = {}
    if isinstance(bound, dict):
        for key, addresses in bound.items():
            found[str(key)] = {(str(host), int(port)) for host, port in addresses}
    return int(answer.get("pid", 0)), found
