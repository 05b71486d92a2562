"""What only the SQLite backend has: its files, schema versions, key file, threads and processes."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from imipd.store import Accepted, SchemaError
from imipd.store import _sqlite_schema as schema
from imipd.store.keyfile import DecryptError, key_path
from imipd.store.sqlite import SqliteStore, schema_status, upgrade_schema

DB_NAME = "imipd.sqlite3"
N = schema.SCHEMA_VERSION
"""This imipd's schema version."""


def run_with_store(data_dir: Path, body: Callable[[SqliteStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await SqliteStore.open_data_dir(data_dir)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def open_and_close(data_dir: Path, *, synchronous: str = "full", upgrade: bool = False) -> None:
    async def main() -> None:
        store = await SqliteStore.open_data_dir(data_dir, synchronous=synchronous, upgrade=upgrade)
        await store.close()

    asyncio.run(main())


def raw(data_dir: Path) -> sqlite3.Connection:
    """A plain connection to the database file, as an operator's sqlite3 shell would be."""
    return sqlite3.connect(data_dir / DB_NAME, isolation_level=None)


def raw_execute(data_dir: Path, *statements: str) -> None:
    conn = raw(data_dir)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def python(script: str, *args: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


# -- files ---------------------------------------------------------------------------


def test_files_in_a_fresh_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"

    async def while_open(store: SqliteStore) -> None:
        await store.create_user("alice", "pw", "n")
        for suffix in ("", "-wal", "-shm"):
            assert mode(data_dir / (DB_NAME + suffix)) == 0o600

    old_umask = os.umask(0o022)
    try:
        run_with_store(data_dir, while_open)
    finally:
        os.umask(old_umask)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / DB_NAME) == 0o600
    assert mode(key_path(data_dir)) == 0o600
    assert schema_status(data_dir / DB_NAME) == (N, N)
    conn = raw(data_dir)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_synchronous_setting(tmp_path: Path) -> None:
    open_and_close(tmp_path / "a", synchronous="normal")
    open_and_close(tmp_path / "b", synchronous="FULL")
    with pytest.raises(ValueError, match="synchronous"):
        open_and_close(tmp_path / "c", synchronous="off")
    assert not (tmp_path / "c").exists()


def test_passwords_are_not_in_the_database_files(tmp_path: Path) -> None:
    secrets = [b"Pa55-alice-UNIQUE-0001", b"Pa55-bob-UNIQUE-0002", b"Pa55-new-UNIQUE-0003"]

    def assert_not_readable() -> None:
        blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name != "secret.key")
        assert b"AliceTheUser" in blob  # the search does see what is stored in clear
        for secret in secrets:
            assert secret not in blob
            assert secret.decode().encode("utf-16-le") not in blob

    async def body(store: SqliteStore) -> None:
        await store.create_user("AliceTheUser", secrets[0].decode(), "n")
        await store.create_user("bob", secrets[1].decode(), "n")
        await store.set_password("bob", secrets[2].decode())
        assert_not_readable()  # while open: the pages are in the write-ahead log

    run_with_store(tmp_path, body)
    assert_not_readable()


def test_two_stores_on_one_directory_see_each_other(tmp_path: Path) -> None:
    async def main() -> None:
        server = await SqliteStore.open_data_dir(tmp_path)
        admin = await SqliteStore.open_data_dir(tmp_path)
        try:
            await admin.create_user("alice", "pw", "n")
            assert (await server.get_user("alice")) is not None
            assert await server.delete_user("alice")
            assert await admin.get_user("alice") is None
        finally:
            await server.close()
            await admin.close()

    asyncio.run(main())


def test_closed_store_refuses_calls_and_closes_once(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteStore.open_data_dir(tmp_path)
        await store.close()
        await store.close()
        with pytest.raises(RuntimeError, match="closed"):
            await store.get_user("alice")

    asyncio.run(main())


# -- the key file and the database ---------------------------------------------------------


def replace_key(data_dir: Path) -> None:
    key_path(data_dir).write_text("imipd-key-v1:" + base64.b64encode(os.urandom(32)).decode())


async def create_alice(store: SqliteStore) -> None:
    await store.create_user("alice", "pw", "n")


def test_a_key_file_from_elsewhere_is_refused_at_open(tmp_path: Path) -> None:
    run_with_store(tmp_path, create_alice)
    replace_key(tmp_path)
    with pytest.raises(DecryptError, match="not the key it was encrypted with") as caught:
        open_and_close(tmp_path)
    assert str(key_path(tmp_path)) in str(caught.value)
    assert str(tmp_path / DB_NAME) in str(caught.value)


def test_a_wrong_key_is_refused_even_without_the_key_check(tmp_path: Path) -> None:
    run_with_store(tmp_path, create_alice)
    raw_execute(tmp_path, "DELETE FROM meta WHERE key = 'key_check'")
    replace_key(tmp_path)
    with pytest.raises(DecryptError, match="stored password of 'alice'"):
        open_and_close(tmp_path)


def test_a_password_moved_to_another_row_does_not_decrypt(tmp_path: Path) -> None:
    async def create(store: SqliteStore) -> None:
        await store.create_user("alice", "alice-pw", "n")
        await store.create_user("mallory", "mallory-pw", "n")

    run_with_store(tmp_path, create)
    raw_execute(
        tmp_path,
        "UPDATE users SET password = (SELECT password FROM users WHERE key = 'alice') "
        "WHERE key = 'mallory'",
    )

    async def read(store: SqliteStore) -> None:
        assert (await store.credentials("alice")) is not None
        assert (await store.get_user("mallory")) is not None  # a profile reads no password
        with pytest.raises(DecryptError, match="'mallory'"):
            await store.credentials("mallory")

    run_with_store(tmp_path, read)


# -- schema versions -------------------------------------------------------------------


@pytest.fixture
def two_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this imipd is a later one, whose schema has one version more (N + 1)."""
    later = ("CREATE TABLE extra (x TEXT)",)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, later))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", N + 1)


def test_status_of_a_missing_database(tmp_path: Path) -> None:
    assert schema_status(tmp_path / "none" / DB_NAME) == (0, N)
    assert not (tmp_path / "none").exists()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    open_and_close(tmp_path)
    raw_execute(tmp_path, f"PRAGMA user_version = {N + 1}")
    expected = (
        f"database schema is version {N + 1}, this imipd needs {N}: "
        "this imipd is older than the database; run a newer imipd"
    )
    assert schema_status(tmp_path / DB_NAME) == (N + 1, N)
    for upgrade in (False, True):
        with pytest.raises(SchemaError) as caught:
            open_and_close(tmp_path, upgrade=upgrade)
        assert str(caught.value) == expected
    with pytest.raises(SchemaError, match="older than the database"):
        upgrade_schema(tmp_path / DB_NAME)


def current_schema(data_dir: Path) -> None:
    """A database at this imipd's schema version, N."""
    raw_execute(data_dir, *(sql for step in schema.MIGRATIONS[:N] for sql in step),
                f"PRAGMA user_version = {N}")


@pytest.mark.usefixtures("two_versions")
def test_an_older_database_is_refused_until_upgraded(tmp_path: Path) -> None:
    current_schema(tmp_path)
    assert schema_status(tmp_path / DB_NAME) == (N, N + 1)
    with pytest.raises(SchemaError) as caught:
        open_and_close(tmp_path)
    assert str(caught.value) == (
        f"database schema is version {N}, this imipd needs {N + 1}: run `imipd db upgrade`"
    )
    assert upgrade_schema(tmp_path / DB_NAME) == (N, N + 1)
    assert upgrade_schema(tmp_path / DB_NAME) == (N + 1, N + 1)
    assert schema_status(tmp_path / DB_NAME) == (N + 1, N + 1)
    open_and_close(tmp_path)


@pytest.mark.usefixtures("two_versions")
def test_open_with_upgrade_migrates(tmp_path: Path) -> None:
    current_schema(tmp_path)
    open_and_close(tmp_path, upgrade=True)
    assert schema_status(tmp_path / DB_NAME) == (N + 1, N + 1)
    raw_execute(tmp_path, "INSERT INTO extra (x) VALUES ('it exists')")


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_and_close(tmp_path)
    broken = ("CREATE TABLE extra (x TEXT)", "THIS IS NOT SQL")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", N + 1)
    with pytest.raises(sqlite3.OperationalError):
        upgrade_schema(tmp_path / DB_NAME)
    assert schema_status(tmp_path / DB_NAME) == (N, N + 1)
    conn = raw(tmp_path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert "extra" not in tables and "users" in tables


def test_upgrading_to_identities_keeps_the_stored_messages_and_their_order(
        tmp_path: Path) -> None:
    """Version 3 makes a message's id its identity: rows stored before keep their ids (all
    below the first identity a node gives), their order and their content."""

    async def two_users(store: SqliteStore) -> None:
        await store.create_user("alice", "pw", "n")
        await store.create_user("bob", "pw", "n")

    run_with_store(tmp_path, two_users)
    version_2_messages = [sql for step in schema.MIGRATIONS[:2] for sql in step
                          if "messages" in sql]
    raw_execute(tmp_path, "DROP TABLE messages", *version_2_messages,
                "PRAGMA user_version = 2", *(
                    "INSERT INTO messages (recipient, sender, body, accepted_at) "
                    f"VALUES ('alice', 'bob', X'{body.hex()}', {at})"
                    for body, at in ((b"second", 20.0), (b"first", 10.0), (b"third", 30.0))))
    assert upgrade_schema(tmp_path / DB_NAME) == (2, N)

    async def read(store: SqliteStore) -> None:
        stored = await store.stored_messages("alice", 10)
        assert [(m.id, m.body) for m in stored] == [(2, b"first"), (1, b"second"),
                                                      (3, b"third")]
        assert await store.new_incarnation() == 1  # its identities start above them all
        assert await store.accept_message(1, "bob", "alice", b"dup", 40.0, 100) is (
            Accepted.STORED)
        assert await store.count_stored("alice") == 3

    run_with_store(tmp_path, read)


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    raw_execute(tmp_path, "CREATE TABLE something_else (x)")
    with pytest.raises(SchemaError, match="not an imipd"):
        open_and_close(tmp_path)


# -- processes ------------------------------------------------------------------------

FIRST_RUN = """
import asyncio, sys, time
from pathlib import Path
from imipd.store.sqlite import SqliteStore

data_dir, gate, index = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
(gate.parent / f"ready-{index}").touch()
while not gate.exists():
    time.sleep(0.001)

async def main() -> None:
    store = await SqliteStore.open_data_dir(data_dir)
    try:
        await store.create_user(f"user{index}", f"pw{index}", "n")
    finally:
        await store.close()

asyncio.run(main())
"""


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.mark.parametrize("attempt", range(2))
def test_processes_starting_together_on_a_fresh_directory(tmp_path: Path, attempt: int) -> None:
    data_dir, gate, count = tmp_path / "data", tmp_path / "go", 6
    procs = [python(FIRST_RUN, data_dir, gate, i) for i in range(count)]
    try:
        wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == count)
        gate.touch()  # all of them are past their imports: start at once
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()
    assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith(DB_NAME)) == [
        "secret.key"
    ]
    assert schema_status(data_dir / DB_NAME) == (N, N)

    async def check(store: SqliteStore) -> None:
        users = [await store.credentials(s.name) for s in await store.account_summaries()]
        assert sorted((u.account.name, u.password) for u in users if u is not None) == sorted(
            (f"user{i}", f"pw{i}") for i in range(count)
        )

    run_with_store(data_dir, check)


KILLED_AFTER_STORING = """
import asyncio, os, signal, sys
from pathlib import Path
from imipd.store.sqlite import SqliteStore

async def main() -> None:
    store = await SqliteStore.open_data_dir(Path(sys.argv[1]))
    await store.create_user("alice", "pw", "n")
    await store.accept_message(1, "bob", "alice", b"must survive", 42.0, 10)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no cleanup

asyncio.run(main())
"""


def test_a_stored_message_survives_sigkill(tmp_path: Path) -> None:
    proc = python(KILLED_AFTER_STORING, tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()

    async def check(store: SqliteStore) -> None:
        messages = await store.stored_messages("alice", 10)
        assert [(m.sender, m.body, m.accepted_at) for m in messages] == [
            ("bob", b"must survive", 42.0)
        ]

    run_with_store(tmp_path, check)


# -- the event loop -------------------------------------------------------------------


async def tick(ticks: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        ticks.append(time.monotonic())
        await asyncio.sleep(0.005)


def test_a_store_waiting_on_a_lock_does_not_block_the_loop(tmp_path: Path) -> None:
    open_and_close(tmp_path)

    async def main() -> None:
        store = await SqliteStore.open_data_dir(tmp_path)
        other = raw(tmp_path)
        ticks: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(tick(ticks, stop))
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            create = asyncio.create_task(store.create_user("alice", "pw", "n"))
            await asyncio.sleep(0.3)
            assert not create.done()
            assert len(ticks) >= 20
            other.execute("COMMIT")
            assert (await asyncio.wait_for(create, 10)).name == "alice"
        finally:
            stop.set()
            await ticker
            other.close()
            await store.close()

    asyncio.run(main())


def test_a_batch_of_writes_leaves_the_loop_free(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SqliteStore.open_data_dir(tmp_path)
        ticks: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(tick(ticks, stop))
        try:
            await store.create_user("alice", "pw", "n")
            started = time.monotonic()
            for i in range(200):
                await store.accept_message(i + 1, "bob", "alice", b"%d" % i, 1.0, 1000)
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            await ticker
            await store.close()
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert max(gaps) < 0.2, f"the loop stalled for {max(gaps):.3f}s"
        assert len(ticks) >= elapsed / 0.05

    asyncio.run(main())
