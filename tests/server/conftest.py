"""Fixtures that run a real ``imipd serve`` on a temporary data directory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imipd.store.sqlite import SqliteStore

from .imipd_process import ImipdServer


def create_users(data_dir: Path, users: list[tuple[str, str, str]]) -> None:
    """Accounts written straight into the real SQLite store (fast; the CLI has its own tests)."""

    async def create() -> None:
        store = await SqliteStore.open_data_dir(data_dir)
        try:
            for name, password, nick in users:
                await store.create_user(name, password, nick)
        finally:
            await store.close()

    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(create())


ServerFactory = Callable[..., ImipdServer]


@pytest.fixture
def imipd_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with given users and flags; all are stopped at the end."""
    started: list[ImipdServer] = []

    def start(users: list[tuple[str, str, str]] = (), *flags: str,  # type: ignore[assignment]
              data_dir: Path | None = None) -> ImipdServer:
        directory = data_dir or tmp_path / f"data{len(started)}"
        create_users(directory, list(users))
        server = ImipdServer(directory, *flags).start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
