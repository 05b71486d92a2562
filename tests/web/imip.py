"""Just enough raw-socket IMIP for the web tests: read HELO's headers, log in, disconnect.

Blocks are written by hand, as the Yahoo! client writes them (empty line
always), so the tests do not lean on the serializer they indirectly check.
"""

from __future__ import annotations

from collections.abc import Sequence

from imipd.protocol import Block, digest
from tests.server.conversation import Actor


def client_block(type_line: str, headers: Sequence[tuple[str, str]], body: bytes = b"") -> bytes:
    content = "".join(f"{name}: {value}\r\n" for name, value in headers).encode() + b"\r\n" + body
    return type_line.encode() + b"\r\n%d\r\n" % len(content) + content


class ImipClient:
    """One IMIP connection to the server under test."""

    def __init__(self, port: int, name: str = "client") -> None:
        self.actor = Actor(name, port)
        self.next_id = 1001
        self.hello: Block | None = None

    def send(self, type_line: str, headers: Sequence[tuple[str, str]] = (),
             body: bytes = b"") -> str:
        block_id = str(self.next_id)
        self.next_id += 1
        self.actor.send(client_block(type_line, [("ID", block_id), *headers], body))
        return block_id

    def receive(self, timeout: float = 5.0) -> Block | None:
        """The next block; None when the server closed the connection."""
        got = self.actor.receive(timeout)
        return None if got is None else got[0]

    def next(self) -> Block:
        """The next block, which must come."""
        block = self.receive()
        assert block is not None, "the server closed the connection"
        return block

    def greet(self) -> Block:
        """HELO → the server's HELO (headers and challenge)."""
        self.send("HELO", [("Protocol", "IMIP/1.0")])
        block = self.receive()
        assert block is not None and block.verb == "HELO", block
        self.hello = block
        return block

    def login(self, user: str, password: str) -> Block:
        """LOGN with the imip-md5 digest; returns the answer (LOGN on success, else an ACK)."""
        if self.hello is None:
            self.greet()
        assert self.hello is not None
        answer_digest = digest(self.hello.body.decode("ascii"), password)
        self.send(f"LOGN {user}", [("Client", "web-tests"), ("Auth-Type", "imip-md5")],
                  answer_digest.encode())
        block = self.receive()
        assert block is not None
        return block

    def online(self) -> None:
        """The first STAT: the session counts as online."""
        block_id = self.send("STAT ONLINE")
        block = self.receive()
        assert block is not None and (block.verb, block.args) == ("ACK", ("600",)), block
        assert block.header("Reference") == block_id

    def close(self) -> None:
        self.actor.close()


def registration_url(port: int) -> str:
    """What the server's HELO advertises as Registration."""
    client = ImipClient(port)
    try:
        url = client.greet().header("Registration")
    finally:
        client.close()
    assert url, "HELO has no Registration header"
    return url
