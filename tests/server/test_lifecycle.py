"""The server's life: graceful shutdown, idle timeout, lost framing, garbage
(docs/protocol.md §3, §7).

Real ``imipd serve`` processes, real sockets, exact bytes.
"""

from __future__ import annotations

import random
import signal
import socket
import struct
import threading
import time

import pytest

from .conftest import ServerFactory
from .imip_client import Client, connect_logged_in

USERS = [("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob"), ("carol", "pw-c", "Carol")]


def grant(watcher: Client, target: Client) -> None:
    """``watcher`` asks to watch ``target``, who grants; ``watcher`` then sees target's STAT."""
    ref = watcher.send(f"LIST ADD {target.user}", [("List", "Buddy")], b"let me see you")
    watcher.expect_ack(600, ref)
    request_id = str(target.server_id)
    nick = {"alice": "Alice", "bob": "Bob", "carol": "Carol"}[watcher.user]
    target.expect("LIST ADD", [("From", f'{watcher.user} "{nick}"'), ("List", "Buddy")],
                  b"let me see you")
    target.send("ACK 600", [("Reference", request_id)], None)
    watcher.expect("STAT ONLINE", [("From", target.user)])


# -- graceful shutdown ---------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_shutdown_says_disc_to_every_connection(imipd_server: ServerFactory,
                                                sig: signal.Signals) -> None:
    server = imipd_server(USERS)
    bare = Client(server.port, "bare")  # only connected
    greeted = Client(server.port, "greeted")
    greeted.hello()
    logged_in = Client(server.port, "logged_in")
    logged_in.login("carol", "pw-c")
    alice = connect_logged_in(server.port, "alice", "pw-a")
    bob = connect_logged_in(server.port, "bob", "pw-b")
    grant(alice, bob)
    # a half-sent block must not hold the shutdown up
    half = Client(server.port, "half")
    half.send_raw(b"HELO\r\n29\r\nID: 1\r\n")
    time.sleep(0.2)  # let the server accept every connection

    started = time.monotonic()
    assert server.proc is not None
    server.proc.send_signal(sig)
    for client in (bare, greeted, logged_in, alice, bob, half):
        # DISC: headers ID only, the reason as body; then closed (no STAT OFFLINE
        # reaches anyone: every connection is closing before any session ends)
        client.expect_disc("server shutting down")
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 5
    log = server.log_text()
    assert "shutting down" in log and "stopped" in log, log


def test_shutdown_exits_0_without_connections(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    assert server.stop(signal.SIGTERM) == 0
    assert not (server.data_dir / "control.sock").exists()
    server.port = 0  # any port: the old one may be taken by now
    server.start()
    assert server.stop(signal.SIGINT) == 0


# -- idle timeout (one test of ~22 s: 2 x 5 + 10) ------------------------------------


def test_idle_timeout(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS, "--keep-alive", "5")
    idle = connect_logged_in(server.port, "alice", "pw-a")
    watcher = connect_logged_in(server.port, "bob", "pw-b")
    grant(watcher, idle)
    pinger = connect_logged_in(server.port, "carol", "pw-c")
    bare = Client(server.port, "bare")  # never says anything
    last_idle_activity = time.monotonic()

    # the idle ones hear nothing until 20 s have passed; the others PING every 3 s
    disc = None
    while disc is None:
        try:
            disc = idle.receive(timeout=3.0)
        except TimeoutError:
            elapsed = time.monotonic() - last_idle_activity
            assert elapsed < 25, "no idle timeout"
            pinger.ping()
            watcher.ping()
    elapsed = time.monotonic() - last_idle_activity
    assert 19.5 <= elapsed <= 23, elapsed
    _block, raw = disc
    # HELO 1, LOGN 2, ACK 3 (STAT), ACK 4 (PING), LIST ADD 5: the DISC is the 6th block
    assert idle.server_id == 6
    assert raw == b"DISC\r\n21\r\nID: 6\r\n\r\nidle timeout", raw
    idle.expect_closed()
    bare.expect("DISC", (), b"idle timeout", timeout=3)
    bare.expect_closed()
    watcher.expect("STAT OFFLINE", [("From", "alice")])
    # the ones that kept talking are still there
    pinger.ping()
    watcher.ping()
    ref = pinger.mesg("bob", b"still here")
    watcher.expect_mesg("carol", "bob", b"still here")
    pinger.expect_ack(600, ref)


# -- framing lost: answer once, half-close, discard up to 2 s, close ----------------------


def _check_framing_lost(port: int, data: bytes, status: int, *, user: str = "") -> None:
    client = Client(port, "broken")
    if user:
        client.login(user, "pw")
    client.send_raw(data)
    client.expect(f"ACK {status}", [])  # ID only: no Reference
    # EOF: the server shut down its writing side
    assert client.actor.receive(3.0) is None
    eof_at = time.monotonic()
    # ... but still reads (and discards) what we send: no reset for a while
    closed_at = None
    while time.monotonic() - eof_at < 5:
        try:
            client.sock.sendall(b"more garbage " * 50)
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.monotonic()
            break
        time.sleep(0.05)
    assert closed_at is not None, "the connection was never closed"
    assert 0.5 <= closed_at - eof_at <= 3.0, closed_at - eof_at
    client.close()


FRAMING_LOST = [
    ("size-not-digits", b"HELO\r\nabc\r\n", 800),
    ("size-with-sign", b"HELO\r\n-5\r\nID: 1\r\n", 800),
    ("type-line-too-long", b"X" * 1100 + b"\r\n5\r\nID: 1", 850),
    ("type-line-no-end", b"HELO" + b"Y" * 2000, 850),
    ("size-too-large", b"HELO\r\n70000\r\n", 850),
    ("size-huge-number", b"PING\r\n" + b"9" * 40 + b"\r\n", 850),
    ("header-region-broken", b"PING\r\n12\r\nID: 1\r\nabcdef", 800),
    # in one read of more than 64 KiB, after which reading pauses for a loop iteration:
    # the linger still reads (and discards) what follows
    ("in-a-big-read", b"HELO\r\nabc\r\n" + b"z" * 70000, 800),
]


def _all_at_once(port: int, cases: list[tuple[str, bytes, int]], users: list[str]) -> None:
    """Each case on its own connection, concurrently (each lingers ~2 s)."""
    errors: list[str] = []

    def run(name: str, data: bytes, status: int, user: str) -> None:
        try:
            _check_framing_lost(port, data, status, user=user)
        except BaseException as error:
            errors.append(f"{name}: {error}")

    threads = [threading.Thread(target=run, args=(*case, user))
               for case, user in zip(cases, users, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors, "\n".join(errors)


def test_framing_lost_before_login(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    _all_at_once(server.port, FRAMING_LOST, [""] * len(FRAMING_LOST))
    _after_trouble(server.port)


def test_framing_lost_after_login_with_more_input(imipd_server: ServerFactory) -> None:
    """Logged in, and more input follows the bad block: the answer still arrives intact."""
    users = [f"user{i}" for i in range(len(FRAMING_LOST))]
    server = imipd_server(USERS + [(user, "pw", user) for user in users])
    trailing = b"\r\nPING\r\n10\r\nID: 7777\r\n" * 20
    _all_at_once(server.port, [(n, d + trailing, s) for n, d, s in FRAMING_LOST], users)
    _after_trouble(server.port)


def _after_trouble(port: int) -> None:
    """A normal client still logs in and exchanges messages."""
    alice = connect_logged_in(port, "alice", "pw-a")
    bob = connect_logged_in(port, "bob", "pw-b")
    ref = alice.mesg("bob", "Grü\u00df dich!".encode())
    bob.expect_mesg("alice", "bob", "Grü\u00df dich!".encode())
    alice.expect_ack(600, ref)
    alice.close()
    bob.close()


# -- well framed but wrong inside: answered, connection kept ----------------------------


def test_well_framed_errors_keep_the_connection(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    bob = connect_logged_in(server.port, "bob", "pw-b")

    # MESG body over 16 KiB: 850 with Reference, nothing relayed
    ref = alice.mesg("bob", b"x" * (16 * 1024 + 1))
    alice.expect_ack(850, ref)
    alice.ping()
    # exactly 16 KiB is fine
    ref = alice.mesg("bob", b"y" * (16 * 1024))
    bob.expect_mesg("alice", "bob", b"y" * (16 * 1024))
    alice.expect_ack(600, ref)

    # a header line without a colon: 800 with Reference
    content = b"ID: 4242\r\nno colon here\r\n\r\n"
    alice.send_raw(b"PING\r\n%d\r\n" % len(content) + content)
    alice.expect_ack(800, "4242")
    alice.ping()
    # an empty header name: 800
    content = b": value\r\nID: 4243\r\n"
    alice.send_raw(b"PING\r\n%d\r\n" % len(content) + content)
    alice.expect_ack(800, "4243")
    # a header line over 4 KiB: 850
    content = b"ID: 4244\r\nX-Long: " + b"z" * 5000 + b"\r\n"
    alice.send_raw(b"PING\r\n%d\r\n" % len(content) + content)
    alice.expect_ack(850, "4244")
    # too many headers: 850
    content = b"ID: 4245\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(70))
    alice.send_raw(b"PING\r\n%d\r\n" % len(content) + content)
    alice.expect_ack(850, "4245")
    # a header twice: 803
    content = b"ID: 4246\r\nTo: bob\r\nto: bob\r\n\r\nhi"
    alice.send_raw(b"MESG\r\n%d\r\n" % len(content) + content)
    alice.expect_ack(803, "4246")
    # STAT text over 256 bytes: 850, and no STAT was taken
    ref = alice.send("STAT AWAY", (), b"t" * 257)
    alice.expect_ack(850, ref)
    # no ID: 803 without Reference
    alice.send_raw(b"PING\r\n0\r\n")
    alice.expect_ack(803, None)
    # bare LF line endings are accepted
    alice.send_raw(b"PING\n9\nID: 4247\n")
    alice.expect_ack(600, "4247")

    alice.ping()
    ref = alice.mesg("bob", b"after all that")
    bob.expect_mesg("alice", "bob", b"after all that")
    alice.expect_ack(600, ref)
    bob.expect_nothing()


# -- a barrage of garbage --------------------------------------------------------------


def test_garbage_barrage_leaves_the_server_usable(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    rng = random.Random(20020)
    pieces = [b"HELO\r\n", b"29\r\n", b"ID: 1\r\n", b"\r\n", b"\n", b"\r", b":", b"LOGN alice\r\n",
              b"MESG\r\n", b"999999\r\n", b"\xff\xfe", b"\x00", b"PING\r\n0\r\n", b"ACK 600\r\n",
              b"STAT ONLINE\r\n", b"Reference: x\r\n", b"To: bob\r\n", b"0\r\n", b"-1\r\n"]

    def barrage(seed: int) -> None:
        local = random.Random(seed)
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                for _ in range(200):
                    if local.random() < 0.5:
                        chunk = local.choice(pieces)
                    else:
                        chunk = local.randbytes(local.randint(1, 300))
                    sock.sendall(chunk)
                if seed % 3 == 0:  # leave with a reset, perhaps before the answer
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                elif seed % 3 == 1:
                    sock.shutdown(socket.SHUT_WR)
                    sock.settimeout(5)
                    while sock.recv(65536):
                        pass
        except OSError:
            pass  # the server may close on us: that is its right

    threads = [threading.Thread(target=barrage, args=(rng.randrange(2**32),))
               for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert server.proc is not None and server.proc.poll() is None
    _after_trouble(server.port)
    log = server.log_text()
    assert "framing lost" in log  # the garbage did reach the parser
    trouble = [i for i, line in enumerate(server.log) if " ERROR " in line or "Traceback" in line]
    assert not trouble, "\n".join(server.log[trouble[0]:trouble[0] + 20])


def test_half_closed_client_still_gets_its_answers(imipd_server: ServerFactory) -> None:
    """A client that shuts down its writing side after its last block reads every answer."""
    server = imipd_server(USERS)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    m1 = alice.mesg("bob", b"one")
    m2 = alice.mesg("bob", b"two")
    bye = alice.send("DISC")
    alice.sock.shutdown(socket.SHUT_WR)
    alice.expect_ack(601, m1)
    alice.expect_ack(601, m2)
    alice.expect_ack(600, bye)
    alice.expect_closed()
    bob = connect_logged_in(server.port, "bob", "pw-b", settle=False)
    bob.expect_stored_mesg("alice", "bob", b"one")
    bob.expect_stored_mesg("alice", "bob", b"two")
