"""A message answered 600 is never lost either (docs/protocol.md §6.4), against a real server.

``600`` is answered when a message is handed to the recipient's live connection. The
server answers for it until the recipient's TCP has acknowledged it: when it closes
that connection first (a peer that does not read, a login elsewhere) the message
goes back to the store, and when it dies (kill -9) the journal puts it back at the
next start. Every message answered 600 or 601 must be received, at least once.
"""

from __future__ import annotations

import re
import signal
import socket
import time

from imipd.protocol import Block, ProtocolError

from .conftest import ServerFactory
from .imip_client import Client, client_bytes
from .imipd_process import ImipdServer

USERS = [("v", "pw-v", "Victor"), ("f", "pw-f", "Fran")]
NUMBER = re.compile(rb"\A(\d{4}) ")


def slow_reader(port: int, name: str, receive_buffer: int = 4096) -> Client:
    """A client whose socket takes in little: the server's writes to it pile up."""
    client = Client(port, name)
    client.actor.sock.close()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    client.actor.sock = client.sock = sock
    return client


def burst(client: Client, to: str, count: int, size: int = 8000) -> list[str]:
    """``count`` messages to ``to``, numbered 0000…, written in one go; their IDs."""
    data = []
    refs = []
    for n in range(count):
        ref = str(client.next_id)
        client.next_id += 1
        refs.append(ref)
        data.append(client_bytes("MESG", (("ID", ref), ("To", to), ("ACK-Type", "always")),
                                 b"%04d " % n + b"x" * size))
    client.actor.send(b"".join(data))
    return refs


def answers(client: Client, refs: list[str], timeout: float = 30) -> dict[int, int]:
    """Message number → the status its ``ACK`` carried."""
    by_ref = {ref: n for n, ref in enumerate(refs)}
    got: dict[int, int] = {}
    while len(got) < len(refs):
        block, raw = client.receive(timeout)
        assert block.verb == "ACK", raw[:200]
        got[by_ref[block.header("Reference") or ""]] = int(block.args[0])
    return got


def messages(client: Client, timeout: float, *, until_closed: bool = False) -> list[Block]:
    """The ``MESG`` blocks that arrive (until the connection closes, or ``timeout`` of quiet)."""
    got: list[Block] = []
    while True:
        try:
            item = client.actor.receive(timeout)
        except TimeoutError:
            assert not until_closed, "the connection stayed open"
            return got
        except ProtocolError:  # cut off inside a block: the rest never came
            return got
        if item is None:
            return got
        if item[0].verb == "MESG":
            got.append(item[0])


def numbers(blocks: list[Block]) -> list[int]:
    found = [NUMBER.match(block.body) for block in blocks]
    return [int(match.group(1)) for match in found if match]


def online_slow_reader_and_sender(port: int) -> tuple[Client, Client]:
    """v, online and reading nothing yet (small buffers); f, logged in to send to v."""
    v = slow_reader(port, "v")
    v.login("v", "pw-v")
    v.expect_ack(600, v.send("STAT ONLINE"))
    f = Client(port, "f")
    f.login("f", "pw-f")
    return v, f


def collect(port: int) -> list[Block]:
    """v logs in again and takes everything that waits."""
    again = Client(port, "v again")
    again.login("v", "pw-v")
    again.send("STAT ONLINE")
    return messages(again, 3.0)


def collect_all(port: int, logins: int = 5, user: str = "v",
                password: str = "pw-v") -> list[list[int]]:
    """``user`` (v) logs in again, and again, until a login finds nothing waiting: the
    numbers each login received. Each connection is read to its end (the next login closes
    it), so nothing it was sent is missed; the last login's list is empty."""
    rounds: list[list[int]] = []
    previous: Client | None = None
    for _ in range(logins):
        again = Client(port, f"{user} again")
        again.login(user, password)
        again.send("STAT ONLINE")
        if previous is not None:  # logged in elsewhere: the rest of what it was sent, then the end
            rounds[-1] += numbers(messages(previous, 10.0, until_closed=True))
        got = numbers(messages(again, 3.0))
        rounds.append(got)
        if not got:
            return rounds
        previous = again
    raise AssertionError(f"still messages waiting after {logins} logins: "
                         f"{[(r[0], r[-1], len(r)) for r in rounds]}")


def test_a_peer_cut_off_for_not_reading_gets_every_600_at_its_next_login(
        imipd_server: ServerFactory, store: str) -> None:
    """The issue's reproduction: 800 messages of 8 KB to a peer that stopped reading."""
    server = imipd_server(USERS, "--messages-per-second", "0", "--max-output-buffer", "65536",
                          store=store)
    v, f = online_slow_reader_and_sender(server.port)
    status = answers(f, burst(f, "v", 800))
    answered_600 = sorted(n for n, code in status.items() if code == 600)
    assert answered_600, "some went out live before the cut"
    # live until v was cut off, stored (601) from then on
    assert answered_600 == list(range(len(answered_600)))
    assert {n: code for n, code in status.items() if code != 600} == {
        n: 601 for n in range(len(answered_600), 800)}
    first = numbers(messages(v, 10.0, until_closed=True))  # what reached v, then the end
    assert first == list(range(len(first))) and len(first) <= len(answered_600)
    rounds = collect_all(server.port)
    for got in rounds:
        assert got == sorted(set(got)), "what waits comes back in order, each once per login"
    assert set(first).union(*rounds) == set(range(800)), "every message reached v"
    cut = [line for line in server.log if "does not read" in line]
    # only the peer that stopped reading; never a login that reads what waits
    assert len(cut) == 1, cut
    late = [line for line in server.log if "did not deliver went back" in line]
    assert late, "some went back to the store"


def test_a_login_that_reads_a_large_backlog_is_not_cut_off(
        imipd_server: ServerFactory, store: str) -> None:
    """Stored messages far beyond the output limit (and the kernel's buffers) go out as the
    peer reads them: the server's own burst never counts against a peer that pauses for a
    moment as one that does not read."""
    server = imipd_server(USERS, "--messages-per-second", "0", "--max-output-buffer", "65536",
                          store=store)
    f = Client(server.port, "f")
    f.login("f", "pw-f")
    status = answers(f, burst(f, "v", 800))  # 6.4 MB while v is away
    assert status == {n: 601 for n in range(800)}
    v = slow_reader(server.port, "v")
    v.login("v", "pw-v")
    v.expect_ack(600, v.send("STAT ONLINE"))
    time.sleep(1.0)  # the kernel's buffers fill up; whatever is left waits in the server
    assert numbers(messages(v, 3.0)) == list(range(800))
    assert not [line for line in server.log if "does not read" in line]


def test_a_login_elsewhere_gets_what_the_old_session_did_not(
        imipd_server: ServerFactory, store: str) -> None:
    server = imipd_server(USERS, "--messages-per-second", "0", store=store)
    v, f = online_slow_reader_and_sender(server.port)
    status = answers(f, burst(f, "v", 60))  # far more than v's buffers take
    assert set(status.values()) == {600}
    # v logs in elsewhere without ever reading here: the old connection is told, closed,
    # and what its peer never acknowledged reaches the new session
    new = Client(server.port, "v elsewhere")
    new.login("v", "pw-v")
    new.expect_ack(600, new.send("STAT ONLINE"))
    second = numbers(messages(new, 5.0))
    first = numbers(messages(v, 5.0, until_closed=True))
    assert set(first) | set(second) == set(range(60))
    assert second == sorted(second)


def test_a_kill_9_loses_no_message_answered_600(imipd_server: ServerFactory,
                                                 store: str) -> None:
    server: ImipdServer = imipd_server(USERS, "--messages-per-second", "0", store=store)
    v, f = online_slow_reader_and_sender(server.port)
    status = answers(f, burst(f, "v", 60))
    assert set(status.values()) == {600}  # all handed to v's connection, few read yet
    time.sleep(0.2)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    first = numbers(messages(v, 3.0))  # what v's side still gets from the dead server
    server.port = 0
    server.start()
    assert any("in flight when imipd stopped go back" in line for line in server.log)
    second = numbers(collect(server.port))
    assert set(first) | set(second) == set(range(60))
    assert second == sorted(second)
