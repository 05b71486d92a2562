"""Failure paths that used to be quiet: the idle sweep, and a shutdown with stuck connections."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from imipd.server import app
from imipd.server import config as cfg
from imipd.server.backends import open_store
from imipd.server.connection import Connection
from imipd.store import Store

from .conftest import create_users
from .imip_client import Client
from .in_process import InProcessServer

USERS = [("alice", "pw-a", "Alice")]


def test_a_failure_in_the_idle_sweep_is_logged_and_the_sweep_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    say_goodbye = Connection.say_goodbye
    failures = []

    def first_time_broken(self: Connection, reason: str) -> None:
        if not failures:
            failures.append(reason)
            raise RuntimeError("broken on purpose")
        say_goodbye(self, reason)

    monkeypatch.setattr(Connection, "say_goodbye", first_time_broken)
    config = cfg.load(None, {"data_dir": tmp_path / "d", "listen": "127.0.0.1:0", "web": "off",
                             "login_timeout": "5"}, environ={}).config
    server = InProcessServer(config)
    try:
        client = Client(server.port, "lingering")  # never logs in
        started = time.monotonic()
        client.expect_disc("login timeout", timeout=10)
        assert failures == ["login timeout"]
        assert 5.5 <= time.monotonic() - started <= 9  # the next sweep, a second later
    finally:
        server.stop()
    assert any("the idle sweep failed" in record.getMessage() and record.exc_info
               for record in caplog.records)


class StuckStore:
    """A store whose ``snapshot`` never answers; ``close`` notes how many connections
    the server still had then."""

    def __init__(self, inner: Store, server: list[app.Server]) -> None:
        self._inner = inner
        self._server = server
        self.connections_at_close: int | None = None

    async def snapshot(self, key: str) -> Any:
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.connections_at_close = len(self._server[0].connections)
        await self._inner.close()

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        return cast(Callable[..., Awaitable[Any]], getattr(self._inner, name))


def test_shutdown_cuts_stuck_connections_before_it_closes_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    servers: list[app.Server] = []
    stores: list[StuckStore] = []

    async def opened(config: cfg.Config, *, upgrade: bool = False) -> Store:
        stores.append(StuckStore(await open_store(config, upgrade=upgrade), servers))
        return cast(Store, stores[-1])

    monkeypatch.setattr(app, "open_store", opened)
    monkeypatch.setattr(app, "SHUTDOWN_GRACE", 0.5)
    monkeypatch.setattr(app, "ABORTED_GRACE", 0.5)
    create_users(tmp_path / "d", USERS)
    config = cfg.load(None, {"data_dir": tmp_path / "d", "listen": "127.0.0.1:0",
                             "web": "off"}, environ={}).config
    server = InProcessServer(config)
    servers.append(server.server)
    client = Client(server.port, "alice")
    client.login("alice", "pw-a")
    client.send("STAT ONLINE")  # its snapshot never comes
    client.expect_ack(600, str(client.next_id - 1))
    with caplog.at_level(logging.INFO):
        server.stop()
    assert stores[0].connections_at_close == 0
    assert any("did not close" in record.getMessage() for record in caplog.records)
    assert not any("is closed" in record.getMessage() for record in caplog.records)
