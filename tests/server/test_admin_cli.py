"""The ``imipd`` administration commands and the configuration, as real subprocesses.

Every command runs ``.venv/bin/imipd`` on a real data directory (SQLite file,
key file, control socket); live effects are checked over real sockets.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from imipd.server.config import fields as config_fields
from imipd.store._sqlite_schema import MIGRATIONS
from imipd.store.sqlite import SCHEMA_VERSION

from .conftest import ServerFactory
from .imip_client import Client, block_bytes, connect_logged_in
from .imipd_process import IMIPD, ImipdServer


def run(*args: str, data_dir: Path | None = None, input: str | None = None,
        env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """One ``imipd`` command; a new session, so a password prompt reads stdin, not a tty."""
    argv = [IMIPD, *args] + (["--data-dir", str(data_dir)] if data_dir is not None else [])
    return subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout,
                          env={**os.environ, **(env or {})}, start_new_session=True,
                          check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def set_user_version(data_dir: Path, version: int) -> None:
    conn = sqlite3.connect(data_dir / "imipd.sqlite3")
    try:
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
    finally:
        conn.close()


# -- user add / list ----------------------------------------------------------------


def test_user_add_list_and_login(tmp_path: Path, imipd_server: ServerFactory) -> None:
    data = tmp_path / "d"
    done = run("user", "add", "alice", "--password", "pw-alice", "--nick", "Alice A.",
               data_dir=data)
    assert (done.returncode, done.stdout) == (0, "created alice\n"), done.stderr
    # no --password: prompted for, with confirmation, read from stdin
    done = run("user", "add", "Bob.Smith", data_dir=data, input="s3 cret\ns3 cret\n")
    assert (done.returncode, done.stdout.splitlines()[-1:]) == (0, ["created Bob.Smith"]), done
    assert "Repeat for confirmation" in done.stdout + done.stderr
    # a confirmation that does not match creates nothing
    done = run("user", "add", "carol", data_dir=data, input="one\ntwo\n")
    assert done.returncode != 0
    assert "do not match" in done.stdout + done.stderr
    done = run("user", "list", data_dir=data)
    assert (done.returncode, done.stdout) == (
        0, "alice\tAlice A.\t0 waiting\nBob.Smith\tBob.Smith\t0 waiting\n"), done.stderr
    assert (data / "secret.key").stat().st_mode & 0o777 == 0o600
    assert (data / "imipd.sqlite3").stat().st_mode & 0o777 == 0o600

    server = imipd_server([], data_dir=data)
    alice = connect_logged_in(server.port, "alice", "pw-alice")
    bob = Client(server.port, "bob")
    bob.login("bob.smith", "s3 cret", spelled="Bob.Smith")  # any casing; written as created
    bob.online()
    bob.ping()  # see test_durability.test_message_right_after_first_stat_is_live
    ref = alice.mesg("BOB.SMITH", b"hi")
    bob.expect_mesg("alice", "Bob.Smith", b"hi")
    alice.expect_ack(600, ref)
    # the waiting count of `user list` (a live server shares the file)
    bob.close()
    time.sleep(0.3)  # let the server see bob go
    for i in range(3):
        ref = alice.mesg("bob.smith", b"later %d" % i)
        alice.expect_ack(601, ref)
    done = run("user", "list", data_dir=data)
    assert done.stdout == "alice\tAlice A.\t0 waiting\nBob.Smith\tBob.Smith\t3 waiting\n"


INVALID_NAMES = ["", "with space", "a/b", "caf\u00e9", "x" * 65, 'a"b']


def test_user_add_rejects_invalid_names(tmp_path: Path) -> None:
    for name in INVALID_NAMES:
        done = run("user", "add", name, "--password", "pw", data_dir=tmp_path / "d")
        assert done.returncode == 1, done
        assert done.stderr.startswith(f"Error: invalid user name {name!r}"), done.stderr
        assert "created" not in done.stdout
    assert not (tmp_path / "d").exists()  # a refused command leaves nothing behind


def test_user_add_refusals(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("user", "add", "alice", "--password", "pw-alice", data_dir=data).returncode == 0
    for spelling in ("alice", "ALICE"):
        done = run("user", "add", spelling, "--password", "other-pw", data_dir=data)
        assert done.returncode == 1
        assert done.stderr == f"Error: user {spelling} already exists\n"
        assert done.stdout == ""
    done = run("user", "add", "x" * 64, "--password", "pw-long", data_dir=data)
    assert done.returncode == 0, done.stderr  # 64 characters is the longest name
    done = run("user", "add", "nick", "--password", "pw", "--nick", 'say "hi"', data_dir=data)
    assert done.returncode == 1 and "invalid nickname" in done.stderr
    done = run("user", "add", "nopw", "--password", "", data_dir=data)
    assert (done.returncode, done.stderr) == (
        1, "Error: the password needs at least 6 characters\n")
    done = run("user", "list", data_dir=data)
    assert done.stdout == f"alice\talice\t0 waiting\n{'x' * 64}\t{'x' * 64}\t0 waiting\n"
    for command in (("user", "del", "nobody"),
                    ("user", "passwd", "nobody", "--password", "pw-nobody")):
        done = run(*command, data_dir=data)
        assert (done.returncode, done.stderr) == (1, "Error: no such user nobody\n")


# -- passwd / del while the server runs ----------------------------------------------


USERS = [("alice", "pw-a", "Alice"), ("bob", "pw-b", "Bob")]


def _watched_bob(server: ImipdServer) -> tuple[Client, Client]:
    """alice online and watching bob; bob online."""
    alice = connect_logged_in(server.port, "alice", "pw-a")
    bob = connect_logged_in(server.port, "bob", "pw-b")
    ref = alice.send("LIST ADD bob", [("List", "Buddy")])
    alice.expect_ack(600, ref)
    request = str(bob.server_id)
    bob.expect("LIST ADD", [("From", 'alice "Alice"'), ("List", "Buddy")])
    bob.send("ACK 600", [("Reference", request)], None)
    alice.expect("STAT ONLINE", [("From", "bob")])
    return alice, bob


def test_passwd_drops_the_live_session(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    alice, bob = _watched_bob(server)
    done = run("user", "passwd", "bob", "--password", "new-pw", data_dir=server.data_dir)
    assert (done.returncode, done.stdout) == (
        0, "changed the password of bob\ndropped 1 live session(s)\n"), done.stderr
    bob.expect_disc("password changed")
    alice.expect("STAT OFFLINE", [("From", "bob")])

    again = Client(server.port, "again")
    again.hello()
    ref = again.logn("bob", "pw-b")
    again.expect_ack(811, ref)
    ref = again.logn("bob", "new-pw")  # the same challenge stays valid
    again.expect("LOGN bob", [("Reference", ref)])
    # prompted for when --password is absent; no live session: nothing dropped
    again.close()
    time.sleep(0.2)
    done = run("user", "passwd", "bob", data_dir=server.data_dir, input="third-pw\nthird-pw\n")
    assert done.returncode == 0 and done.stdout.endswith("changed the password of bob\n"), done
    third = Client(server.port, "third")
    third.login("bob", "third-pw")


def test_del_drops_the_live_session(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    alice, bob = _watched_bob(server)
    done = run("user", "del", "BOB", data_dir=server.data_dir)
    assert (done.returncode, done.stdout) == (0, "deleted BOB\ndropped 1 live session(s)\n"), \
        done.stderr
    bob.expect_disc("account deleted")
    again = Client(server.port, "again")
    again.hello()
    ref = again.logn("bob", "pw-b")
    again.expect_ack(811, ref)
    alice.expect("STAT OFFLINE", [("From", "bob")])
    ref = alice.mesg("bob", b"are you there?")
    alice.expect_ack(820, ref)
    done = run("user", "list", data_dir=server.data_dir)
    assert done.stdout == "alice\tAlice\t0 waiting\n"
    # without a server there is no one to tell, and that is fine
    assert server.stop() == 0
    done = run("user", "del", "alice", data_dir=server.data_dir)
    assert (done.returncode, done.stdout) == (0, "deleted alice\n")


def test_del_tells_watchers_offline(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    alice, bob = _watched_bob(server)
    done = run("user", "del", "bob", data_dir=server.data_dir)
    assert done.returncode == 0
    bob.expect_disc("account deleted")
    alice.expect("STAT OFFLINE", [("From", "bob")], timeout=1.0)


# -- check / db upgrade / schema -------------------------------------------------------


def test_check(tmp_path: Path, imipd_server: ServerFactory) -> None:
    data = tmp_path / "d"
    listen, web = free_port(), free_port()
    ports = ("--listen", f"127.0.0.1:{listen}", "--web", f"127.0.0.1:{web}")
    done = run("check", *ports, data_dir=data)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        "ok   configuration\n"
        f"ok   data directory {data} (created at start)\n"
        f"ok   schema: new database, version {SCHEMA_VERSION} is created at start\n"
        f"ok   listen 127.0.0.1:{listen} is free\n"
        f"ok   web 127.0.0.1:{web} is free\n")

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", listen))
        squatter.listen()
        done = run("check", *ports, data_dir=data)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[:3] == ["ok   configuration", f"ok   data directory {data} (created at start)",
                         f"ok   schema: new database, version {SCHEMA_VERSION} is created at start"]
    assert lines[3].startswith(f"FAIL listen 127.0.0.1:{listen}: "), lines
    assert "in use" in lines[3], lines
    assert lines[4:] == [f"ok   web 127.0.0.1:{web} is free"]
    # a plain socket bound (not listening) takes the port too
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", listen))
        done = run("check", *ports, data_dir=data)
    assert done.returncode == 1
    assert f"FAIL listen 127.0.0.1:{listen}: " in done.stdout, done.stdout

    # the running imipd of the data directory on the port is no failure; it says what it holds
    server = imipd_server(USERS, data_dir=data)
    done = run("check", "--listen", f"127.0.0.1:{server.port}", "--web", f"127.0.0.1:{web}",
               data_dir=data)
    assert done.returncode == 0, done.stdout
    pid = server.proc.pid
    assert (f"ok   listen 127.0.0.1:{server.port} is held by the running imipd (pid {pid}) "
            "as its listen listener\n") in done.stdout
    # ... but another program's port is a failure, even while that imipd runs
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        done = run("check", "--listen", f"127.0.0.1:{taken}", "--web", f"127.0.0.1:{web}",
                   data_dir=data)
    assert done.returncode == 1, done.stdout
    assert (f"FAIL listen 127.0.0.1:{taken}: Address already in use; the running imipd of this "
            f"data directory (pid {pid}) holds listen 127.0.0.1:{server.port}") in done.stdout
    assert f"ok   schema version {SCHEMA_VERSION}\n" in done.stdout
    # a bad configuration is a FAIL line too
    done = run("check", "--keep-alive", "2", data_dir=data)
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL configuration: keep_alive = 2"), done.stdout


def test_db_upgrade(tmp_path: Path) -> None:
    data = tmp_path / "d"
    done = run("db", "upgrade", data_dir=data)
    assert (done.returncode, done.stdout) == (
        0, f"upgraded the schema from version 0 to {SCHEMA_VERSION}\n")
    done = run("db", "upgrade", data_dir=data)
    assert (done.returncode, done.stdout) == (
        0, f"schema is at version {SCHEMA_VERSION}: nothing to do\n")
    assert run("user", "add", "alice", "--password", "pw-alice", data_dir=data).returncode == 0


def test_db_upgrade_from_the_first_schema(tmp_path: Path) -> None:
    """A database of the first imipd (schema 1): refused until upgraded, data kept."""
    data = tmp_path / "d"
    assert run("user", "add", "alice", "--password", "pw-alice", data_dir=data).returncode == 0
    conn = sqlite3.connect(data / "imipd.sqlite3")
    try:
        conn.execute("DROP TABLE messages")  # back to the messages table of version 1
        for sql in (sql for sql in MIGRATIONS[0] if "messages" in sql):
            conn.execute(sql)
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    finally:
        conn.close()
    done = run("user", "list", data_dir=data)
    assert done.returncode == 1 and "run `imipd db upgrade`" in done.stderr, done.stderr
    done = run("db", "upgrade", data_dir=data)
    assert (done.returncode, done.stdout) == (
        0, f"upgraded the schema from version 1 to {SCHEMA_VERSION}\n")
    assert run("user", "list", data_dir=data).stdout == "alice\talice\t0 waiting\n"
    conn = sqlite3.connect(data / "imipd.sqlite3")
    try:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert {"messages_waiting", "messages_delivered"} <= indexes


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("user", "add", "alice", "--password", "pw-alice", data_dir=data).returncode == 0
    newer = SCHEMA_VERSION + 1
    set_user_version(data, newer)
    message = (f"database schema is version {newer}, this imipd needs {SCHEMA_VERSION}: this "
               "imipd is older than the database; run a newer imipd")
    done = run("serve", "--listen", "127.0.0.1:0", data_dir=data)
    assert done.returncode == 1
    assert done.stderr.endswith(f"Error: {message}\n"), done.stderr
    assert "imipd listening" not in done.stderr
    for command in (("db", "upgrade"), ("user", "add", "bob", "--password", "pw-bob")):
        done = run(*command, data_dir=data)
        assert (done.returncode, done.stderr) == (1, f"Error: {message}\n"), command
    done = run("check", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", data_dir=data)
    assert done.returncode == 1
    assert f"FAIL schema version {newer} is newer than this imipd ({SCHEMA_VERSION})\n" in (
        done.stdout)
    # the file was left alone
    set_user_version(data, SCHEMA_VERSION)
    assert run("user", "list", data_dir=data).stdout == "alice\talice\t0 waiting\n"


def test_refuses_a_file_that_is_not_imipd(tmp_path: Path) -> None:
    """Tables but no schema version (user_version 0): not an imipd database."""
    data = tmp_path / "d"
    data.mkdir(mode=0o700)
    conn = sqlite3.connect(data / "imipd.sqlite3")
    conn.execute("CREATE TABLE something (x)")
    conn.commit()
    conn.close()
    done = run("serve", "--listen", "127.0.0.1:0", data_dir=data)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "Error: database has tables but no imipd schema version: not an imipd file?\n"), \
        done.stderr
    done = run("db", "upgrade", data_dir=data)
    assert done.returncode == 1 and "not an imipd file" in done.stderr


# -- concurrency: parallel first run, one server per data directory -------------------------


def test_parallel_first_run(tmp_path: Path, imipd_server: ServerFactory) -> None:
    data = tmp_path / "fresh"
    procs = [subprocess.Popen([IMIPD, "user", "add", f"user{i}", "--password", f"password{i}",
                               "--data-dir", str(data)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(6)]
    results = [(p.wait(30), *p.communicate()) for p in procs]
    for i, (status, out, err) in enumerate(results):
        assert (status, out) == (0, f"created user{i}\n"), err
    done = run("user", "list", data_dir=data)
    assert done.stdout == "".join(f"user{i}\tuser{i}\t0 waiting\n" for i in range(6))
    assert [p.name for p in data.iterdir() if p.name.endswith(".tmp")] == []

    server = imipd_server([], data_dir=data)
    clients = [connect_logged_in(server.port, f"user{i}", f"password{i}") for i in range(6)]
    ref = clients[0].mesg("user5", b"all here")
    clients[5].expect_mesg("user0", "user5", b"all here")
    clients[0].expect_ack(600, ref)


def test_second_server_on_the_same_data_refuses(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    done = run("serve", "--listen", "127.0.0.1:0", data_dir=server.data_dir)
    assert done.returncode == 1
    assert f"Error: another imipd is serving {server.data_dir}\n" in done.stderr, done.stderr
    assert "imipd listening" not in done.stderr
    # the first one is untouched, control socket included
    alice = connect_logged_in(server.port, "alice", "pw-a")
    done = run("user", "passwd", "alice", "--password", "pw-new", data_dir=server.data_dir)
    assert done.stdout.endswith("dropped 1 live session(s)\n"), done
    alice.expect_disc("password changed")


# -- configuration -------------------------------------------------------------------------


def test_config_file_sets_the_greeting(tmp_path: Path, imipd_server: ServerFactory) -> None:
    config = tmp_path / "imipd.toml"
    config.write_text('keep_alive = 30\nservice = "example.org"\n'
                      'service_display_name = "Example IM"\n'
                      'public_url = "http://example.org/register"\n'
                      "error_reasons = true\n")
    server = imipd_server(USERS, "--config", str(config))
    client = Client(server.port)
    ref = client.send("HELO", [("Protocol", "IMIP/1.0")])
    block, raw = client.receive()
    challenge = block.body
    assert raw == block_bytes("HELO", [
        ("Auth-Type", "imip-md5"), ("Capabilities", "server-lists"), ("ID", "1"),
        ("Keep-Alive", "30"), ("Protocol", "IMIP/1.0"),
        ("Registration", "http://example.org/register"), ("Service", "example.org"),
        ("ServiceDisplayName", "Example IM")], challenge), raw
    assert ref
    # error_reasons = true: error ACKs carry a reason
    client.server_id = 2
    ref = client.send("MESG", [("To", "bob")])
    _, raw = client.receive()
    assert raw.startswith(b"ACK 802\r\n") and raw.endswith(b"\r\n\r\nMESG not allowed now"), raw

    # a flag beats the file
    other = imipd_server(USERS, "--config", str(config), "--keep-alive", "45")
    client = Client(other.port)
    assert client.hello().header("Keep-Alive") == "45"


@pytest.mark.parametrize(("text", "expected"), [
    ("keep_alive = 1\n", "Error: configuration: keep_alive = 1: must be between 5 and 3600"),
    ("keep_alive = 4000\n", "Error: configuration: keep_alive = 4000: must be between 5 and 3600"),
    ('keep_alive = "thirty"\n', "Error: configuration: keep_alive = 'thirty'"),
    ("keepalive = 30\n", "Error: configuration: keepalive: unknown option in"),
    ('digest_order = "sideways"\n', "Error: configuration: digest_order = 'sideways'"),
    ('web = "nowhere"\n', "Error: configuration: web = 'nowhere': expected HOST:PORT"),
    ("keep_alive = \n", "Error: configuration: config file"),
], ids=["too-small", "too-large", "not-int", "unknown-key", "bad-choice", "bad-address",
        "not-toml"])
def test_bad_config_fails_at_start(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    started = time.monotonic()
    done = run("serve", "--config", str(config), "--listen", "127.0.0.1:0",
               data_dir=tmp_path / "d")
    assert done.returncode != 0
    assert time.monotonic() - started < 10
    assert done.stderr.startswith(expected), done.stderr
    assert "imipd listening" not in done.stderr


def test_bad_environment_and_flag_values(tmp_path: Path) -> None:
    done = run("serve", "--listen", "127.0.0.1:0", data_dir=tmp_path / "d",
               env={"IMIPD_KEEP_ALIVE": "soon"})
    assert done.returncode != 0
    assert "keep_alive" in done.stderr and "IMIPD_KEEP_ALIVE" in done.stderr, done.stderr
    done = run("serve", "--listen", "127.0.0.1:0", "--keep-alive", "3", data_dir=tmp_path / "d")
    assert done.returncode != 0
    assert "keep_alive = 3: must be between 5 and 3600" in done.stderr, done.stderr


def test_config_show(tmp_path: Path) -> None:
    config = tmp_path / "imipd.toml"
    config.write_text('keep_alive = 30\nservice = "file.example"\n')
    done = run("config", "show", "--config", str(config), "--log-level", "debug",
               env={"IMIPD_SERVICE": "env.example", "IMIPD_LOGIN_WINDOW": "90"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"keep_alive = 30    # file {config}" in lines
    assert 'service = "env.example"    # environment IMIPD_SERVICE' in lines
    assert "login_window = 90    # environment IMIPD_LOGIN_WINDOW" in lines
    assert 'log_level = "debug"    # flag' in lines
    assert 'listen = "*:11319"    # default' in lines
    assert "max_mesg_body = 16384    # default" in lines
    assert [line.split(" = ")[0] for line in lines] == [f.name for f in config_fields()]
    config.write_text("keep_alive = 2\n")
    done = run("config", "show", "--config", str(config))
    assert done.returncode == 1
    assert done.stderr.startswith("Error: configuration: keep_alive = 2"), done.stderr


def test_serve_on_a_taken_port_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = run("serve", "--listen", f"127.0.0.1:{port}", data_dir=tmp_path / "d")
    assert done.returncode == 1
    assert "Error: cannot start: " in done.stderr and "in use" in done.stderr, done.stderr
    # nothing is left behind that would stop the next start
    server = ImipdServer(tmp_path / "d").start()
    try:
        assert server.stop() == 0
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()


# -- backends from configuration -----------------------------------------------------------


def test_store_and_router_flags_on_every_command(tmp_path: Path) -> None:
    """``--store sqlite:PATH`` names the database file (the key stays in the data directory);
    ``--router local`` the in-process router: for the CLI and for ``serve`` alike."""
    data, database = tmp_path / "d", tmp_path / "elsewhere" / "im.db"
    store = f"sqlite:{database}"
    done = run("user", "add", "alice", "--password", "pw-alice", "--store", store, "--router",
               "local", data_dir=data)
    assert (done.returncode, done.stdout) == (0, "created alice\n"), done.stderr
    assert database.is_file() and (data / "secret.key").is_file()
    assert not (data / "imipd.sqlite3").exists()
    done = run("user", "list", "--store", store, data_dir=data)
    assert (done.returncode, done.stdout) == (0, "alice\talice\t0 waiting\n"), done.stderr
    done = run("user", "list", data_dir=data)  # there is no default database: not created
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr.startswith(f"Error: no database at {data / 'imipd.sqlite3'}: ")
    assert not (data / "imipd.sqlite3").exists()
    done = run("db", "upgrade", "--store", store, data_dir=data)
    assert (done.returncode, done.stdout) == (
        0, f"schema is at version {SCHEMA_VERSION}: nothing to do\n")
    server = ImipdServer(data, "--store", store, "--router", "local").start()
    try:
        connect_logged_in(server.port, "alice", "pw-alice").close()
        assert f"store {database}, router local" in server.log_text()
        assert server.stop() == 0
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
    env = {"IMIPD_STORE": store}  # and from the environment (or a config file)
    done = run("user", "list", data_dir=data, env=env)
    assert (done.returncode, done.stdout) == (0, "alice\talice\t0 waiting\n"), done.stderr


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--store", "mysql://imipd@127.0.0.1/imipd",
     "store = 'mysql://imipd@127.0.0.1/imipd': expected sqlite:PATH (the database file) or "
     "postgresql://USER@HOST:PORT/DB"),
    ("--store", "sqlite:", "store = 'sqlite:': expected sqlite:PATH"),
    ("--store", "/var/lib/imipd.db", "store = '/var/lib/imipd.db': expected sqlite:PATH"),
    ("--router", "redis://127.0.0.1:6379/0", "router = 'redis://127.0.0.1:6379/0': "
     "expected local"),
    ("--node-id", "two words", "node_id = 'two words': 1-64 characters"),
])
def test_an_unknown_backend_is_a_clear_error_naming_the_option(
        tmp_path: Path, flag: str, value: str, expected: str) -> None:
    for command in (["serve", "--listen", "127.0.0.1:0"], ["user", "list"], ["db", "upgrade"]):
        if flag == "--node-id" and command[0] != "serve":
            continue  # only the server has a node id
        done = run(*command, flag, value, data_dir=tmp_path / "d")
        assert done.returncode == 1, done
        assert done.stderr.startswith(f"Error: configuration: {expected}"), done.stderr
    assert not (tmp_path / "d" / "imipd.sqlite3").exists()


# -- issue 14: one password rule, failures in one line, reading creates nothing, TOML output -----


def test_one_password_rule_for_every_account_command(tmp_path: Path) -> None:
    data = tmp_path / "d"
    done = run("user", "add", "x", "--password", "a", data_dir=data)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "Error: the password needs at least 6 characters\n")
    assert not data.exists()
    # not the nickname (the name when no --nick), in any casing
    done = run("user", "add", "robert", "--password", "ROBERT", data_dir=data)
    assert (done.returncode, done.stderr) == (1, "Error: the password may not be the nickname\n")
    done = run("user", "add", "bob", "--password", "Bobby!", "--nick", "bobby!", data_dir=data)
    assert (done.returncode, done.stderr) == (1, "Error: the password may not be the nickname\n")
    done = run("user", "add", "bob", "--password", "pw-bob", "--nick", "Bobby", data_dir=data)
    assert done.returncode == 0, done.stderr
    for password, reason in (("short", "the password needs at least 6 characters"),
                             ("BOBBY", "the password needs at least 6 characters"),
                             ("bobby", "the password needs at least 6 characters")):
        done = run("user", "passwd", "bob", "--password", password, data_dir=data)
        assert (done.returncode, done.stderr) == (1, f"Error: {reason}\n"), password
    done = run("user", "add", "ann", "--password", "pw-ann", "--nick", "ANNIE1", data_dir=data)
    assert done.returncode == 0
    done = run("user", "passwd", "ann", "--password", "annie1", data_dir=data)
    assert (done.returncode, done.stderr) == (1, "Error: the password may not be the nickname\n")
    # min_password_length from the configuration (file, environment)
    env = {"IMIPD_MIN_PASSWORD_LENGTH": "10"}
    done = run("user", "add", "carl", "--password", "nine-char", data_dir=data, env=env)
    assert (done.returncode, done.stderr) == (
        1, "Error: the password needs at least 10 characters\n")
    done = run("user", "add", "carl", "--password", "ten-chars!", data_dir=data, env=env)
    assert done.returncode == 0, done.stderr


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def test_backup_and_restore_failures_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("user", "add", "alice", "--password", "pw-alice", data_dir=data).returncode == 0
    missing = tmp_path / "missing" / "dir"
    line = _one_line_error(run("backup", str(missing / "x"), data_dir=data))
    assert str(missing) in line and "does not create directories" in line
    assert not (tmp_path / "missing").exists()
    line = _one_line_error(run("backup", str(tmp_path / "b.tar"), data_dir=tmp_path / "none"))
    assert "no database at" in line
    not_tar = tmp_path / "notatar.tar"
    not_tar.write_text("not a tar\n")
    target = tmp_path / "new" / "data"
    line = _one_line_error(run("restore", str(not_tar), data_dir=target))
    assert line == f"Error: {not_tar} is not an imipd backup (not a tar file)"
    assert not (tmp_path / "new").exists()  # refusing leaves nothing behind
    good = tmp_path / "good.tar"
    assert run("backup", str(good), data_dir=data).returncode == 0
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _one_line_error(run("restore", str(good), data_dir=blocker / "data"))
    assert str(blocker) in line


def test_reading_commands_create_nothing(tmp_path: Path) -> None:
    mistyped = tmp_path / "mistyped"
    for command in (("user", "list"), ("user", "del", "bob"),
                    ("user", "passwd", "bob", "--password", "pw-bob-2")):
        line = _one_line_error(run(*command, data_dir=mistyped))
        assert str(mistyped / "imipd.sqlite3") in line and "--data-dir" in line, line
    assert not mistyped.exists()
    # a change written where no server runs: said on stderr, and done
    done = run("user", "add", "bob", "--password", "pw-bob", data_dir=mistyped)
    assert (done.returncode, done.stdout) == (0, "created bob\n")
    assert done.stderr == (f"note: no running imipd serves {mistyped} (no control socket "
                           "there); the change was made there\n")


def test_imipd_user_add_next_to_a_server_says_nothing(imipd_server: ServerFactory) -> None:
    server = imipd_server(USERS)
    done = run("user", "add", "carol", "--password", "pw-carol", data_dir=server.data_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, "created carol\n", "")


def test_config_show_and_help_print_toml(tmp_path: Path) -> None:
    import tomllib

    done = run("config", "show", "--public-url", "", env={"IMIPD_ADMIN_TOKEN": "t" * 20})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "registration = true    # default" in lines
    assert "trust_forwarded_for = false    # default" in lines
    assert 'store = ""    # default' in lines
    assert "# admin_token = (set, not shown)    # environment IMIPD_ADMIN_TOKEN" in lines
    shown = tomllib.loads(done.stdout)  # every line can be pasted into the file
    assert shown["registration"] is True and shown["public_url"] == ""
    assert "admin_token" not in shown
    config = tmp_path / "pasted.toml"
    config.write_text(done.stdout)
    assert run("config", "show", "--config", str(config)).returncode == 0
    done = run("serve", "--help")
    assert "[default: True]" not in done.stdout and "[default: False]" not in done.stdout
    help_text = " ".join(done.stdout.split())
    assert '[default: true]' in help_text and '[default: "local"]' in help_text, help_text
