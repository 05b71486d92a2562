"""A small synchronous IMIP client for tests that are easier written in Python than as scripts."""

from __future__ import annotations

from imipd.protocol import Block, digest

from .conversation import Actor


class Client:
    """A raw-socket client: writes blocks like the Yahoo! client, reads exact blocks."""

    def __init__(self, port: int, name: str = "client") -> None:
        self.actor = Actor(name, port)
        self.next_id = 1001

    def send(self, verb: str, *args: str, headers: tuple[tuple[str, str], ...] = (),
             body: bytes = b"") -> str:
        block_id = str(self.next_id)
        self.next_id += 1
        block = Block(verb, args, ((("ID", block_id), *headers)), body, empty_line=True)
        self.actor.send(block.to_bytes())
        return block_id

    def receive(self, timeout: float = 5.0) -> Block:
        got = self.actor.receive(timeout)
        if got is None:
            raise ConnectionError("the server closed the connection")
        return got[0]

    def expect_ack(self, block_id: str, status: int) -> None:
        block = self.receive()
        assert (block.verb, block.args, block.header("Reference")) == (
            "ACK", (str(status),), block_id), block

    def login(self, user: str, password: str) -> None:
        self.send("HELO", headers=(("Protocol", "IMIP/1.0"),))
        hello = self.receive()
        assert hello.verb == "HELO"
        block_id = self.send("LOGN", user, headers=(("Auth-Type", "imip-md5"),),
                             body=digest(hello.body.decode(), password).encode())
        answer = self.receive()
        assert (answer.verb, answer.header("Reference")) == ("LOGN", block_id), answer

    def online(self, presence: str = "ONLINE") -> None:
        self.expect_ack(self.send("STAT", presence), 600)

    def close(self) -> None:
        self.actor.close()
