"""Fixtures that run a real ``imipd serve`` on a temporary data directory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imipd.store import Store
from imipd.store.keyfile import PasswordBox, key_path, load_or_create_key
from imipd.store.postgres import PostgresStore
from imipd.store.sqlite import SqliteStore

from ..services import new_schema
from .imipd_process import ImipdServer


def create_users(data_dir: Path, users: list[tuple[str, str, str]], store: str = "") -> None:
    """Accounts written straight into the real store (fast; the CLI has its own tests): the
    SQLite file of ``data_dir``, or the PostgreSQL database ``store`` (with the data
    directory's key)."""

    async def create() -> None:
        if store:
            key = load_or_create_key(key_path(data_dir))
            opened: Store = await PostgresStore.open(store, PasswordBox(key))
        else:
            opened = await SqliteStore.open_data_dir(data_dir)
        try:
            for name, password, nick in users:
                await opened.create_user(name, password, nick)
        finally:
            await opened.close()

    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(create())


ServerFactory = Callable[..., ImipdServer]


@pytest.fixture
def imipd_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with given users and flags; all are stopped at the end."""
    started: list[ImipdServer] = []

    def start(users: list[tuple[str, str, str]] = (), *flags: str,  # type: ignore[assignment]
              data_dir: Path | None = None, store: str = "") -> ImipdServer:
        directory = data_dir or tmp_path / f"data{len(started)}"
        create_users(directory, list(users), store)
        server = ImipdServer(directory, *flags, *(("--store", store) if store else ())).start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> str:
    """Each store a node can run on: "" (SQLite in the data directory), or the URL of a
    fresh PostgreSQL schema (whose node keeps its journal in it)."""
    if request.param == "sqlite":
        return ""
    return new_schema(request.getfixturevalue("postgres_database"))
