"""``imipd backup`` under load, ``imipd restore`` elsewhere: everything comes back."""

from __future__ import annotations

import threading
from pathlib import Path

from .client_helpers import Client
from .conftest import ServerFactory
from .imipd_process import imipd

USERS = [("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob"), ("carol", "pw-c", "Carol"),
         ("dave", "pw-d", "Dave")]


def test_backup_under_load_restores_everything(imipd_server: ServerFactory,
                                               tmp_path: Path) -> None:
    server = imipd_server(USERS, "--messages-per-second", "0")  # load, not rate limits
    alice, bob, carol = (Client(server.port, n) for n in ("alice", "bob", "carol"))
    alice.login("alice", "pw-a")
    bob.login("bob", "pw-b")
    carol.login("carol", "pw-c")
    for client in (alice, bob, carol):
        client.online()
    # alice watches bob (granted); carol's request to dave waits; bob blocks carol
    alice.expect_ack(alice.send("LIST", "ADD", "bob", headers=(("List", "Buddy"),),
                                body=b"hi bob"), 600)
    request = bob.receive()
    assert request.type_line == "LIST ADD"
    bob.send("ACK", "600", headers=(("Reference", request.header("ID") or ""),))
    assert alice.receive().type_line == "STAT ONLINE"
    carol.expect_ack(carol.send("LIST", "ADD", "dave", body=b"hello dave"), 600)
    bob.expect_ack(bob.send("LIST", "ADD", "carol", headers=(("List", "Block"),)), 600)
    for i in range(20):
        alice.expect_ack(alice.send("MESG", headers=(("To", "dave"), ("ACK-Type", "always")),
                                    body=f"before {i}".encode()), 601)

    # load: carol keeps storing messages for dave while the backup runs
    stop = threading.Event()
    sent_during: list[int] = []

    def load() -> None:
        i = 0
        while not stop.is_set():
            carol.expect_ack(carol.send("MESG", headers=(("To", "dave"), ("ACK-Type", "always")),
                                        body=f"during {i}".encode()), 601)
            sent_during.append(i)
            i += 1

    worker = threading.Thread(target=load)
    worker.start()
    try:
        result = imipd("backup", str(tmp_path / "snap.tar"), data_dir=server.data_dir)
    finally:
        stop.set()
        worker.join()
    assert "keep it secret" in result.stderr
    assert (tmp_path / "snap.tar").stat().st_mode & 0o777 == 0o600
    assert sent_during, "the load ran during the backup"

    restored = tmp_path / "restored"
    imipd("restore", str(tmp_path / "snap.tar"), data_dir=restored)
    refused = imipd("restore", str(tmp_path / "snap.tar"), data_dir=restored, check=False)
    assert refused.returncode != 0 and "--force" in refused.stderr

    second = imipd_server([], data_dir=restored)
    dave = Client(second.port, "dave")
    dave.login("dave", "pw-d")
    dave.online()
    shown = dave.receive()
    assert (shown.type_line, shown.header("From"), shown.body) == (
        "LIST ADD", 'carol "Carol"', b"hello dave")
    bodies = []
    while True:
        try:
            block = dave.receive(timeout=1.0)
        except TimeoutError:
            break
        assert block.verb == "MESG" and block.header("Date")
        bodies.append(block.body.decode())
    assert bodies[:20] == [f"before {i}" for i in range(20)]
    during = [int(b.split()[1]) for b in bodies[20:]]
    # the snapshot holds a prefix of the load, in order, nothing torn
    assert during == list(range(len(during)))
    assert len(during) <= len(sent_during)

    alice2 = Client(second.port, "alice")
    alice2.login("alice", "pw-a")
    list_id = alice2.send("LIST", "GET", headers=(("List", "Buddy"),))
    answer = alice2.receive()
    assert (answer.verb, answer.header("Reference"), answer.body) == (
        "LIST", list_id, b'bob "Bob" OFFLINE\r\n')
    bob2 = Client(second.port, "bob")
    bob2.login("bob", "pw-b")
    blocked_id = bob2.send("LIST", "GET", headers=(("List", "Block"),))
    assert bob2.receive().body == b'carol "Carol"\r\n' and blocked_id
