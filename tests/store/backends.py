"""The ``Store`` backends the contract suite runs against, and how each opens a store.

Only SQLite exists today (on a real file under ``tmp_path``); a PostgreSQL
backend joins by teaching ``Backend.open`` its kind and listing it in ``KINDS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from imipd.store import Store
from imipd.store.sqlite import SqliteStore

KINDS = ["sqlite"]

Body = Callable[[Store], Awaitable[None]]


class Backend:
    """A place to open stores of one kind; the same place each time (to test reopening)."""

    def __init__(self, kind: str, data_dir: Path) -> None:
        self.kind = kind
        self.data_dir = data_dir

    async def open(self) -> Store:
        """A store on this backend's place (new on first use, the same data afterwards)."""
        if self.kind == "sqlite":
            return await SqliteStore.open_data_dir(self.data_dir)
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
