"""Server bugs found while fuzzing and soaking, pinned against a real ``imipd serve``.

Each test reproduces one bug as a client sees it; while a bug is open its test carries
a strict xfail marker (remove it with the fix: strict makes the fix fail the suite).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from .conftest import ServerFactory
from .imip_client import client_bytes, connect_logged_in

USERS = [("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob"), ("carol", "pw-c", "Carol")]


def test_a_message_to_a_user_whose_connection_just_closed_is_kept(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    bob = connect_logged_in(server.port, "bob", "pw-b")
    # bob pipelines work that keeps his connection's worker busy (each MESG to the offline
    # carol is a committed write), then closes without DISC. Fewer blocks than the server
    # reads ahead (64), so it reads the end of the stream at once: it knows bob is gone.
    bob.send_raw(b"".join(
        client_bytes("MESG", [("ID", str(5000 + i)), ("To", "carol"), ("ACK-Type", "none")],
                     b"x") for i in range(40)))
    bob.close()
    time.sleep(0.01)
    ref = alice.mesg("bob", b"are you there?")
    block, raw = alice.receive()
    assert (block.verb, block.header("Reference")) == ("ACK", ref), raw
    # whatever the answer, the message must reach bob: now or at his next login
    time.sleep(1.0)
    bob = connect_logged_in(server.port, "bob", "pw-b", settle=False)
    bodies = []
    try:
        while True:
            bodies.append(bob.receive(timeout=1.0)[0].body)
    except TimeoutError:
        pass
    assert b"are you there?" in bodies, f"answered {block.args[0]}, never delivered"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_peer_that_never_reads_cannot_grow_the_server_without_bound(
        imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    assert server.proc is not None
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pings = b"".join(client_bytes("PING", [("ID", str(i))], None) for i in range(4000))
    before = _rss_kib(server.proc.pid)
    sent = 0
    sock.settimeout(2.0)  # a server that pushes back makes sendall block
    try:
        while sent < 10 * 1024 * 1024:
            sock.sendall(pings)  # PING is allowed before HELO: no account needed
            sent += len(pings)
    except (TimeoutError, OSError):  # pushed back, or disconnected (max_output_buffer)
        pass
    time.sleep(0.5)
    grown = _rss_kib(server.proc.pid) - before
    sock.close()
    assert grown < 8 * 1024, f"sent {sent >> 20} MiB of PINGs, never read: RSS +{grown} KiB"
