"""Replay conversation scripts against a real server over real sockets.

A script is plain text. Each step is one line; blocks follow indented by four
spaces, without a size line (it is computed). Inside a block, an empty line is
the block's empty line, and the lines after it are the body (joined by CR LF).

    # a comment
    user alice s3cret Alice        create an account (before the server starts)
    user 1000042 pw Al as al       ... played by the actor ``al``
    user 1000042 pw Al as al2      the same user again: a second actor (connection)
    alice connects
    alice sends:                    a block the client writes (empty line as written)
        HELO
        ID: 1001
        Protocol: IMIP/1.0

    alice receives:                 the next block must be exactly this
        ACK 600
        ID: {any}
        Reference: 1001
    alice logs in                   HELO + LOGN with the right digest, both answers checked
    alice receives nothing          nothing arrives within a short while
    alice is closed                 the server closes the connection
    alice closes                    the client closes its side

A body that ends with CR LF is written with a last body line holding a lone
backslash (``\\``): it stands for the empty text after that final CR LF (a
trailing empty line in a block cannot be seen in a script).

Placeholders in expected blocks: ``{any}`` matches any value; ``{name}``
captures the value the first time and must match it later; in sent blocks
``{name}`` is replaced by the captured value and ``{digest}`` by the digest of
the actor's last challenge and password. A received block is compared
byte for byte: the expected block, with placeholders filled, is serialized and
must equal the bytes on the wire (size line and empty line included).
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from imipd.protocol import Block, Parser, digest

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
TIMEOUT = 5.0
QUIET = 0.3
BODY_ENDS_WITH_CRLF = "\\"
"""A last body line holding only this stands for a final CR LF."""


class ScriptError(AssertionError):
    """A step of a script did not go as written."""


@dataclass
class ScriptBlock:
    lines: list[str]

    def parts(self) -> tuple[str, list[str], bool, str | None]:
        """Type line, header lines, whether there is an empty line, body text."""
        type_line, *rest = self.lines
        headers: list[str] = []
        for i, line in enumerate(rest):
            if line == "":
                body = rest[i + 1:]
                if body and body[-1] == BODY_ENDS_WITH_CRLF:
                    body[-1] = ""
                return type_line, headers, True, "\r\n".join(body)
            headers.append(line)
        return type_line, headers, False, None


@dataclass
class Step:
    line_no: int
    actor: str
    action: str
    arg: str = ""
    block: ScriptBlock | None = None


@dataclass
class Script:
    users: list[tuple[str, str, str]] = field(default_factory=list)
    actors: dict[str, str] = field(default_factory=dict)
    """Actor → the user name it logs in as."""
    steps: list[Step] = field(default_factory=list)


def parse_script(text: str) -> Script:
    script = Script()
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        line = raw.split(" #", 1)[0].rstrip() if not raw.startswith("    ") else raw
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("user "):
            _, name, password, *nick = line.split()
            actor_name = name
            if len(nick) >= 2 and nick[-2] == "as":
                actor_name = nick[-1]
                nick = nick[:-2]
            if all(user.lower() != name.lower() for user, _, _ in script.users):
                script.users.append((name, password, " ".join(nick) or name))
            script.actors[actor_name] = name
            continue
        actor, _, action = line.partition(" ")
        step = Step(i, actor, action)
        if action.endswith(":"):
            step.action = action[:-1]
            body: list[str] = []
            while i < len(lines) and (lines[i].startswith("    ") or lines[i].strip() == ""):
                body.append(lines[i][4:] if lines[i].startswith("    ") else "")
                i += 1
            while body and body[-1] == "":
                body.pop()
            step.block = ScriptBlock(body)
        elif " " in action and action.split(" ", 1)[0] in ("sends-raw", "waits"):
            step.action, step.arg = action.split(" ", 1)
        script.steps.append(step)
    return script


class Actor:
    """One client connection with its own reading parser."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.parser = Parser()
        self.raw = bytearray()
        self.stream_offset = 0
        self.challenge = ""
        self.closed = False
        self.next_id = 1001

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout: float = TIMEOUT) -> tuple[Block, bytes] | None:
        """The next block and its exact bytes; None when the server closed."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.parser.next_block()
            if isinstance(item, Block):
                start = self.parser.last_offset - self.stream_offset
                end = self.parser.offset - self.stream_offset
                raw = bytes(self.raw[start:end])
                del self.raw[:end]
                self.stream_offset = self.parser.offset
                return item, raw
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError from None
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                self.parser.feed(b"")
            else:
                self.raw += data
                self.parser.feed(data)

    def close(self) -> None:
        self.sock.close()


class Runner:
    """Plays one script against a server listening on ``port``."""

    def __init__(self, script: Script, port: int, name: str = "script") -> None:
        self.script = script
        self.port = port
        self.name = name
        self.actors: dict[str, Actor] = {}
        self.vars: dict[str, str] = {}
        passwords = {user: password for user, password, _ in script.users}
        self.passwords = {actor: passwords[user] for actor, user in script.actors.items()}

    def fail(self, step: Step, message: str) -> ScriptError:
        return ScriptError(f"{self.name}:{step.line_no}: {step.actor} {step.action}: {message}")

    def run(self) -> None:
        try:
            for step in self.script.steps:
                self.play(step)
        finally:
            for actor in self.actors.values():
                actor.close()

    def substitute(self, text: str, actor: Actor) -> str:
        def value(match: re.Match[str]) -> str:
            key = match.group(1)
            if key == "digest":
                return digest(actor.challenge, self.passwords[actor.name])
            if key not in self.vars:
                raise KeyError(f"{{{key}}} was never captured")
            return self.vars[key]
        return PLACEHOLDER.sub(value, text)

    def client_bytes(self, block: ScriptBlock, actor: Actor) -> bytes:
        type_line, headers, empty, body = block.parts()
        content = "".join(self.substitute(h, actor) + "\r\n" for h in headers)
        data = content.encode()
        if empty:
            data += b"\r\n" + self.substitute(body or "", actor).encode()
        return self.substitute(type_line, actor).encode() + b"\r\n%d\r\n" % len(data) + data

    def play(self, step: Step) -> None:
        name = step.actor
        if step.action == "connects":
            self.actors[name] = Actor(name, self.port)
            return
        actor = self.actors[name]
        if step.action == "sends":
            assert step.block is not None
            actor.send(self.client_bytes(step.block, actor))
        elif step.action == "sends-raw":
            actor.send(step.arg.encode().decode("unicode_escape").encode("latin-1"))
        elif step.action == "receives":
            assert step.block is not None
            self.expect(step, actor, step.block)
        elif step.action == "receives nothing":
            try:
                got = actor.receive(QUIET)
            except TimeoutError:
                return
            raise self.fail(step, f"unexpected {got[1]!r}" if got else "connection closed")
        elif step.action == "is closed":
            try:
                got = actor.receive(TIMEOUT)
            except TimeoutError:
                raise self.fail(step, "the connection stayed open") from None
            if got is not None:
                raise self.fail(step, f"unexpected {got[1]!r} instead of the close")
        elif step.action == "closes":
            actor.close()
            del self.actors[name]
        elif step.action == "waits":
            time.sleep(float(step.arg))
        elif step.action == "logs in":
            self.log_in(step, actor)
        else:
            raise self.fail(step, "unknown step")

    def log_in(self, step: Step, actor: Actor) -> None:
        name = self.script.actors.get(actor.name, actor.name)
        hello = ScriptBlock(["HELO", f"ID: {actor.next_id}", "Protocol: IMIP/1.0", ""])
        actor.send(self.client_bytes(hello, actor))
        got = actor.receive()
        if got is None or got[0].verb != "HELO":
            raise self.fail(step, f"no HELO answer: {got!r}")
        actor.challenge = got[0].body.decode()
        logn = ScriptBlock([f"LOGN {name}", f"ID: {actor.next_id + 1}", "Client: test",
                            "Auth-Type: imip-md5", "", "{digest}"])
        actor.send(self.client_bytes(logn, actor))
        got = actor.receive()
        if got is None or got[0].verb != "LOGN":
            raise self.fail(step, f"login refused: {got!r}")
        actor.next_id += 2

    def expect(self, step: Step, actor: Actor, expected: ScriptBlock) -> None:
        try:
            got = actor.receive()
        except TimeoutError:
            raise self.fail(step, "nothing arrived") from None
        if got is None:
            raise self.fail(step, "the connection closed")
        block, raw = got
        if block.verb == "HELO" and block.body.isdigit():
            actor.challenge = block.body.decode()
        type_line, headers, empty, body = expected.parts()
        want = [type_line, *headers] + (["", body or ""] if empty else [])
        have = [block.type_line, *(f"{k}: {v}" for k, v in block.headers)]
        if block.empty_line:
            have += ["", block.body.decode("utf-8", "replace")]
        if len(want) != len(have):
            raise self.fail(step, f"expected\n{_show(want)}\ngot\n{raw!r}")
        filled = [self.match(step, w, h, raw) for w, h in zip(want, have, strict=True)]
        expected_bytes = _serialize_lines(filled, empty)
        if expected_bytes != raw:
            raise self.fail(step, f"bytes differ:\nexpected {expected_bytes!r}\ngot      {raw!r}")

    def match(self, step: Step, want: str, have: str, raw: bytes) -> str:
        pattern = ""
        names: list[str] = []
        pos = 0
        for m in PLACEHOLDER.finditer(want):
            pattern += re.escape(want[pos:m.start()])
            key = m.group(1)
            if key == "any" or key not in self.vars:
                pattern += "(.*?)"
                names.append(key)
            else:
                pattern += re.escape(self.vars[key])
            pos = m.end()
        pattern += re.escape(want[pos:])
        found = re.fullmatch(pattern, have, re.DOTALL)
        if found is None:
            raise self.fail(step, f"expected {want!r}, got {have!r} in {raw!r}")
        for key, value in zip(names, found.groups(), strict=True):
            if key != "any":
                self.vars[key] = value
        return have


def _show(lines: list[str]) -> str:
    return "\n".join("    " + line for line in lines)


def _serialize_lines(lines: list[str], empty: bool) -> bytes:
    type_line, *rest = lines
    if empty:
        *headers, _, body = rest
    else:
        headers, body = rest, ""
    data = "".join(h + "\r\n" for h in headers).encode()
    if empty:
        data += b"\r\n" + body.encode()
    return type_line.encode() + b"\r\n%d\r\n" % len(data) + data


def load(path: Path) -> Script:
    return parse_script(path.read_text(encoding="utf-8"))
