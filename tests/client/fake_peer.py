"""A minimal scripted IMIP server on a raw socket, to hold a client to the exact wire.

A test writes the server's side as a plain function of a :class:`PeerConnection`:
``expect`` the exact bytes the client must write next, ``send`` bytes back. The
script runs in a thread, so the client under test can be a subprocess (``imip
send``) or an asyncio client in the test's own loop. Blocks are written by hand with
:func:`frame` (independently of ``imipd.protocol.serialize``).
"""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence

TIMEOUT = 10.0


def frame(type_line: str, headers: Sequence[str] = (), body: bytes | None = None,
          empty_line: bool = False) -> bytes:
    """One block: type line, size line, ``Name: value`` lines, empty line and body."""
    content = "".join(f"{line}\r\n" for line in headers).encode("utf-8")
    if body is not None or empty_line:
        content += b"\r\n" + (body or b"")
    return type_line.encode("utf-8") + b"\r\n%d\r\n" % len(content) + content


def client_block(type_line: str, headers: Sequence[str] = (), body: bytes = b"") -> bytes:
    """A block as the Yahoo!-style client writes it: the empty line always."""
    return frame(type_line, headers, body, empty_line=True)


def server_hello(challenge: str = "2718281828", keep_alive: int = 60) -> bytes:
    """The Odigo-style server HELO (headers in alphabetical order, ID 1)."""
    return frame("HELO", [
        "Auth-Type: imip-md5", "Capabilities: server-lists", "ID: 1",
        f"Keep-Alive: {keep_alive}", "Protocol: IMIP/1.0",
        "Registration: http://127.0.0.1:8080/register", "Service: example.org",
        "ServiceDisplayName: Example IM"], challenge.encode())


class PeerConnection:
    """The accepted connection, seen from the scripted server."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, count: int, timeout: float = TIMEOUT) -> bytes:
        """Exactly ``count`` bytes (fewer only if the client closed)."""
        deadline = time.monotonic() + timeout
        while len(self.buffer) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; have {bytes(self.buffer)!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            self.buffer += data
        chunk = bytes(self.buffer[:count])
        del self.buffer[:count]
        return chunk

    def expect(self, data: bytes, timeout: float = TIMEOUT) -> float:
        """The client's next bytes must be exactly ``data``; returns when they completed."""
        got = self.read(len(data), timeout)
        assert got == data, f"expected {data!r}\n     got {got!r}"
        return time.monotonic()

    def expect_closed(self, timeout: float = TIMEOUT) -> None:
        """The client closes without sending anything more."""
        got = self.read(1, timeout)
        assert got == b"", f"expected the close, got {got!r}"

    def nothing_for(self, seconds: float) -> None:
        """The client stays silent for ``seconds``."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {data!r}")


Script = Callable[[PeerConnection], None]


class FakePeer:
    """Listens on a random local port and plays ``script`` on the first connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.error: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakePeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self.thread.join(TIMEOUT)

    def _run(self) -> None:
        try:
            self.listener.settimeout(TIMEOUT)
            sock, _ = self.listener.accept()
            with sock:
                self.script(PeerConnection(sock))
        except BaseException:
            self.error = traceback.format_exc()
        finally:
            self.done.set()

    def check(self, timeout: float = TIMEOUT) -> None:
        """Wait for the script to finish and fail the test with its error, if any."""
        assert self.done.wait(timeout), "the scripted peer did not finish"
        assert self.error is None, "the scripted peer failed:\n" + self.error
