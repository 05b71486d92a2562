"""Every conversation script against a server whose store insists on running inside tasks.

asyncpg's pool (``acquire(timeout=…)``), ``asyncio.timeout`` and ``TaskGroup`` raise
``RuntimeError`` when no task runs them. This store runs every call under both, so a
block handled anywhere outside a real task answers ``890`` and the scripts fail.
The server runs in this process (on a thread of its own), so that the store can be
put in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from imipd.server import app
from imipd.server import config as cfg
from imipd.server.backends import open_store
from imipd.store import Store

from .conftest import create_users
from .conversation import Runner, load
from .in_process import InProcessServer
from .test_conversations import SCRIPTS


class TaskBoundStore:
    """A store whose every call runs under ``asyncio.timeout`` in a ``TaskGroup``."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            async with asyncio.timeout(10), asyncio.TaskGroup() as group:
                task = group.create_task(method(*args, **kwargs))
            return task.result()

        return call


@pytest.fixture
def task_bound(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[TaskBoundStore]]:
    """Servers started in this test get a ``TaskBoundStore``."""
    stores: list[TaskBoundStore] = []

    async def opened(config: cfg.Config, *, upgrade: bool = False) -> Store:
        store = TaskBoundStore(await open_store(config, upgrade=upgrade))
        stores.append(store)
        return cast(Store, store)

    monkeypatch.setattr(app, "open_store", opened)
    yield stores


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_conversation_with_a_store_that_needs_tasks(
        path: Path, tmp_path: Path, task_bound: list[TaskBoundStore]) -> None:
    script = load(path)
    flags: dict[str, Any] = {"data_dir": tmp_path / "data", "listen": "127.0.0.1:0",
                             "web": "off", "event_loop": "asyncio"}
    for line in path.read_text().splitlines():
        if line.startswith("#! serve "):
            name, value = line.removeprefix("#! serve ").split()
            flags[name.removeprefix("--").replace("-", "_")] = value
    create_users(tmp_path / "data", list(script.users))
    server = InProcessServer(cfg.load(None, flags, environ={}).config)
    try:
        Runner(script, server.port, path.name).run()
    finally:
        server.stop()
    assert task_bound and task_bound[0].calls > 0
