"""The ``Store`` backends the contract suite runs against, and how each opens a store.

SQLite on a real file under ``tmp_path``; PostgreSQL on this machine's server, in a
database of this test run and a schema of each test (``tests.services``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from imipd.store import Store
from imipd.store.keyfile import PasswordBox, key_path, load_or_create_key
from imipd.store.postgres import PostgresStore
from imipd.store.sqlite import SqliteStore

KINDS = ["sqlite", "postgresql"]

Body = Callable[[Store], Awaitable[None]]


class Backend:
    """A place to open stores of one kind; the same place each time (to test reopening)."""

    def __init__(self, kind: str, data_dir: Path, url: str = "") -> None:
        self.kind = kind
        self.data_dir = data_dir
        """Where the SQLite file and the key live."""
        self.url = url
        """The PostgreSQL database (and schema) of this backend."""

    async def open(self) -> Store:
        """A store on this backend's place (new on first use, the same data afterwards)."""
        if self.kind == "sqlite":
            return await SqliteStore.open_data_dir(self.data_dir)
        if self.kind == "postgresql":
            key = load_or_create_key(key_path(self.data_dir))
            return await PostgresStore.open(self.url, PasswordBox(key))
        raise AssertionError(f"unknown backend {self.kind}")

    def run(self, body: Body) -> None:
        """Run ``body`` on an event loop with an open store, closing it afterwards."""
        asyncio.run(self._run(body))

    async def _run(self, body: Body) -> None:
        store = await self.open()
        try:
            await body(store)
        finally:
            await store.close()
