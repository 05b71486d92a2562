"""The real services some tests need, each test run on its own part of them.

PostgreSQL runs on this machine (127.0.0.1:5432, trust; ``IMIPD_TEST_POSTGRES`` names
another server). A test run makes its own database and drops it at the end; each test
that wants a fresh store gets a schema of its own in it (the URL's ``search_path``). A
test that needs a service fails, never skips, when the service is missing, and says
what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import socket
import struct
import threading
import urllib.parse
from collections.abc import Iterator

import asyncpg
import pytest

POSTGRES = os.environ.get("IMIPD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
"""A database on the server the tests use, to create and drop theirs from."""
_schemas = itertools.count(1)


def _admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def postgres_url(database: str, schema: str | None = None) -> str:
    """The URL of ``database`` on the tests' server (in ``schema``, when given)."""
    base = POSTGRES.rsplit("/", 1)[0] + "/" + database
    return f"{base}?search_path={schema}" if schema else base


def postgres_address() -> tuple[str, int]:
    """Host and port of the tests' PostgreSQL server."""
    parsed = urllib.parse.urlsplit(POSTGRES)
    return parsed.hostname or "127.0.0.1", parsed.port or 5432


def through(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parsed = urllib.parse.urlsplit(url)
    user = f"{parsed.username}@" if parsed.username else ""
    return parsed._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """This test run's own PostgreSQL database (its name), dropped at the end."""
    name = f"imipd_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.exceptions.PostgresError) as error:
        pytest.fail(f"these tests need PostgreSQL at {POSTGRES} (Debian: apt install "
                    f"postgresql; or set IMIPD_TEST_POSTGRES): {error}")
    try:
        yield name
    finally:
        _admin(f'DROP DATABASE "{name}" WITH (FORCE)')


def new_schema(database: str) -> str:
    """A new, empty schema in ``database``: the URL of a store of its own."""
    schema = f"t{next(_schemas)}"

    async def run() -> None:
        conn = await asyncpg.connect(postgres_url(database), timeout=5)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return postgres_url(database, schema)


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to ``target`` that a test can cut (every connection
    through it reset, new ones refused) and restore: a service out of reach, without
    stopping the service itself (it is shared)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._open = True
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Reset every connection through the proxy, and refuse new ones."""
        self._open = False
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)

    def restore(self) -> None:
        self._open = True

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._listener.close()


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
