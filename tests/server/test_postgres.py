"""imipd on PostgreSQL: the administration commands and ``serve``, as real subprocesses on this
machine's PostgreSQL (a database of this test run, a schema of each test).

Everything an SQLite user does works the same on ``--store postgresql://…``, with one
password key for the service (``--key-file``), and creates no SQLite file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import asyncpg

from imipd.store.keyfile import key_path
from imipd.store.postgres import SCHEMA_VERSION
from tests.web.webclient import WebClient

from ..services import TcpProxy, new_schema, postgres_address, through
from .conftest import ServerFactory, create_users
from .imip_client import Client, connect_logged_in
from .imipd_process import ImipdServer
from .test_admin_cli import run


def test_the_commands_work_on_postgresql_and_make_no_sqlite_file(
        tmp_path: Path, postgres_database: str) -> None:
    url = new_schema(postgres_database)
    data, key = tmp_path / "d", tmp_path / "keys" / "imip.key"
    store = ("--store", url, "--key-file", str(key))
    done = run("db", "upgrade", *store, data_dir=data)
    assert (done.returncode, done.stdout) == (
        0, f"upgraded the schema from version 0 to {SCHEMA_VERSION}\n"), done.stderr
    assert key.is_file() and key.stat().st_mode & 0o777 == 0o600
    done = run("db", "upgrade", *store, data_dir=data)
    assert done.stdout == f"schema is at version {SCHEMA_VERSION}: nothing to do\n"
    done = run("user", "add", "alice", "--password", "pw-alice", *store, data_dir=data)
    assert (done.returncode, done.stdout) == (0, "created alice\n"), done.stderr
    done = run("user", "list", *store, data_dir=data)
    assert (done.returncode, done.stdout) == (0, "alice\talice\t0 waiting\n"), done.stderr
    done = run("check", "--listen", "127.0.0.1:0", "--web", "off", *store, data_dir=data)
    assert f"ok   schema version {SCHEMA_VERSION}\n" in done.stdout, done.stdout
    done = run("backup", str(tmp_path / "b.tar"), *store, data_dir=data)
    assert (done.returncode, done.stderr) == (1, (
        "Error: imipd backup works on an SQLite store; on PostgreSQL use pg_dump and "
        f"pg_restore, and keep the key file ({key}) with the dump\n"))
    assert not list(tmp_path.rglob("*.sqlite3"))


def test_a_key_that_is_not_the_databases_is_refused_in_one_line(
        tmp_path: Path, postgres_database: str) -> None:
    url = new_schema(postgres_database)
    data = tmp_path / "d"
    assert run("user", "add", "alice", "--password", "pw-alice", "--store", url,
               data_dir=data).returncode == 0
    other = tmp_path / "other.key"
    done = run("user", "list", "--store", url, "--key-file", str(other), data_dir=data)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr.startswith(f"Error: cannot read key file {other}"), done.stderr
    assert run("user", "add", "bob", "--password", "pw-bob", "--store", url, "--key-file",
               str(other), data_dir=data).returncode == 1  # made, but not this database's
    done = run("user", "list", "--store", url, "--key-file", str(other), data_dir=data)
    assert done.returncode == 1 and "is not the key it was encrypted with" in done.stderr, done


def test_a_newer_schema_is_refused(tmp_path: Path, postgres_database: str) -> None:
    url = new_schema(postgres_database)
    data = tmp_path / "d"
    assert run("db", "upgrade", "--store", url, data_dir=data).returncode == 0

    async def pretend_newer() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("UPDATE imipd_schema SET version = $1", SCHEMA_VERSION + 1)
        finally:
            await conn.close()

    asyncio.run(pretend_newer())
    for command in (["serve", "--listen", "127.0.0.1:0", "--web", "off"], ["user", "list"],
                    ["db", "upgrade"]):
        done = run(*command, "--store", url, data_dir=data)
        assert (done.returncode, done.stderr) == (1, (
            f"Error: database schema is version {SCHEMA_VERSION + 1}, this imipd needs "
            f"{SCHEMA_VERSION}: this imipd is older than the database; run a newer imipd\n"))


def test_serve_on_postgresql(tmp_path: Path, postgres_database: str) -> None:
    """Login, a message stored for later and delivered, contacts: the same bytes as on
    SQLite (the conversation tests show every rule on both stores)."""
    url = new_schema(postgres_database)
    data = tmp_path / "d"
    for name in ("alice", "bob"):
        assert run("user", "add", name, "--password", f"pw-{name}", "--store", url,
                   data_dir=data).returncode == 0
    server = ImipdServer(data, "--store", url).start()
    try:
        alice = connect_logged_in(server.port, "alice", "pw-alice")
        alice.expect_ack(601, alice.mesg("bob", b"waiting for you"))
        bob = connect_logged_in(server.port, "bob", "pw-bob", settle=False)
        bob.expect_stored_mesg("alice", "bob", b"waiting for you")
        bob.ping()
        bob.expect_ack(600, bob.mesg("alice", b"live"))
        alice.expect_mesg("bob", "alice", b"live")
        assert "store postgresql://postgres@127.0.0.1:5432/" in server.log_text()
        assert server.stop() == 0
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
    assert not (data / "imipd.sqlite3").exists()


def test_db_copy_moves_a_community_from_sqlite(tmp_path: Path, postgres_database: str,
                                                imipd_server: ServerFactory) -> None:
    """Accounts (their passwords still encrypted), contacts, a request, a block, stored
    messages and the sign-up counter arrive, and the copy checks every table."""
    data = tmp_path / "d"
    server = imipd_server([("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob"),
                           ("carol", "pw-c", "Carol")], data_dir=data)
    alice = connect_logged_in(server.port, "alice", "pw-a")
    alice.expect_ack(600, alice.send("LIST ADD bob", [("List", "Buddy")], b"hello?"))
    alice.expect_ack(600, alice.send("LIST ADD carol", [("List", "Block")]))
    for n in range(3):
        alice.expect_ack(601, alice.mesg("bob", b"stored %d" % n))
    alice.close()
    assert server.stop() == 0
    assert run("user", "add", "--password", "pw-numbered", "1000000",
               data_dir=data).returncode == 0
    url = new_schema(postgres_database)
    done = run("db", "copy", "--to", url, data_dir=data)
    assert (done.returncode, done.stdout) == (0, (
        "copied 4 account(s), 1 contact(s) and request(s), 1 block(s), 3 message(s); "
        "every table checked\n")), done.stderr
    done = run("db", "copy", "--to", url, data_dir=data)
    assert (done.returncode, done.stderr) == (1, (
        f"Error: {url} holds 4 account(s) already: use --force to replace "
        "what it holds\n")), done.stderr
    assert run("db", "copy", "--to", url, "--force", data_dir=data).returncode == 0

    elsewhere = tmp_path / "node2"  # another node: the key travels, the data does not
    elsewhere.mkdir()
    key = key_path(elsewhere)
    key.write_bytes(key_path(data).read_bytes())
    key.chmod(0o600)
    served = ImipdServer(elsewhere, "--store", url).start()
    try:
        bob = Client(served.port, "bob")
        bob.login("bob", "pw-b")
        bob.online()
        bob.expect("LIST ADD", [("From", 'alice "Alice"'), ("List", "Buddy")], b"hello?")
        for n in range(3):
            bob.expect_stored_mesg("alice", "bob", b"stored %d" % n)
        alice = connect_logged_in(served.port, "alice", "pw-a")
        ref = alice.send("LIST GET", [("List", "Buddy")])
        alice.expect("LIST", [("List", "Buddy"), ("Reference", ref)], b'bob "Bob" PENDING\r\n')
        ref = alice.send("LIST GET", [("List", "Block")])
        alice.expect("LIST", [("List", "Block"), ("Reference", ref)], b'carol "Carol"\r\n')
        assert served.stop() == 0
    finally:
        if served.proc is not None and served.proc.poll() is None:
            served.kill()
    assert not (elsewhere / "imipd.sqlite3").exists()


def test_db_copy_refusals_are_one_line(tmp_path: Path, postgres_database: str) -> None:
    data = tmp_path / "d"
    create_users(data, [("alice", "pw", "A")])
    url = new_schema(postgres_database)
    done = run("db", "copy", "--from", url, "--to", url, data_dir=data)
    assert (done.returncode, done.stderr) == (1, (
        "Error: imipd db copy copies an SQLite store (--from sqlite:PATH) into PostgreSQL "
        "(--to postgresql://…)\n"))
    old = sqlite3.connect(data / "imipd.sqlite3")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    done = run("db", "copy", "--to", url, data_dir=data)
    assert done.returncode == 1
    assert "run `imipd db upgrade` on it first" in done.stderr, done.stderr


def test_postgresql_out_of_reach_for_a_while(tmp_path: Path, postgres_database: str,
                                              imipd_server: ServerFactory) -> None:
    """Cut off (every connection reset, new ones refused): what needs the store is answered
    890 at once and nothing is accepted; a live message is delivered, and its sender's
    600 comes once the journal (kept in the store) has it on record; /healthz says so; once
    the database answers again the node carries on by itself, and logs each change once."""
    url = new_schema(postgres_database)
    proxy = TcpProxy(postgres_address())
    try:
        server = imipd_server([("alice", "pw-a", "A"), ("bob", "pw-b", "B"),
                               ("carol", "pw-c", "C")], store=through(url, proxy))
        alice = connect_logged_in(server.port, "alice", "pw-a")
        bob = connect_logged_in(server.port, "bob", "pw-b")
        proxy.cut()
        started = time.monotonic()
        alice.expect_ack(890, alice.mesg("carol", b"lost in the outage"))
        assert time.monotonic() - started < 2.0
        live = bob.mesg("alice", b"live meanwhile")
        alice.expect_mesg("bob", "alice", b"live meanwhile")
        bob.expect_nothing(0.5)  # its 600 waits until the message is on record
        alice.ping()  # and nobody else waits
        health = WebClient(server.web_url).get("/healthz")
        assert (health.status, health.json()["store"]) == (503, "failing"), health
        proxy.restore()
        bob.expect_ack(600, live, timeout=10)
        deadline = time.monotonic() + 10
        while True:
            alice.mesg("carol", b"after the outage")
            block, raw = alice.receive()
            assert block.verb == "ACK", raw
            if block.args == ("601",) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert block.args == ("601",), raw
        carol = connect_logged_in(server.port, "carol", "pw-c", settle=False)
        carol.expect_stored_mesg("alice", "carol", b"after the outage")
        carol.expect_nothing()
        assert WebClient(server.web_url).get("/healthz").status == 200
        log = server.log_text()
        assert log.count("imipd.store.postgres store cannot write") == 1
        assert log.count("imipd.store.postgres store writes again") == 1
        assert log.count("journal cannot be written") == 1
        assert log.count("journal written again") == 1
        assert "Traceback" not in log
    finally:
        proxy.close()
