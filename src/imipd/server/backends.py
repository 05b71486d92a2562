"""The store and the router of a node, chosen in one place from the configuration.

``imipd serve`` and every administration command open their backends here, so
``store``, ``key_file`` and ``router`` (and their flags) mean the same everywhere: an
SQLite file (the default) or a PostgreSQL database that several nodes share, with the
service's password key; the configuration refuses anything else at load, naming the
option.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ..core.accounts import DropSessions
from ..router import LocalRouter, Router
from ..store import Journal, Store
from ..store.identity import identities
from ..store.journal import FileJournal
from ..store.keyfile import PasswordBox, load_or_create_key, read_key
from ..store.sqlite import SCHEMA_VERSION as SQLITE_SCHEMA
from ..store.sqlite import SqliteStore, schema_status
from . import control
from .config import Config, PostgresUrl

log = logging.getLogger("imipd.server")


async def open_store(config: Config, *, upgrade: bool = False, create: bool = True) -> Store:
    """The store ``config`` names, open (created on first use unless ``create`` is false,
    with the key file; with ``upgrade`` an older schema is migrated instead of refused).
    Raises ``SchemaError``, ``NoStore`` (nothing there and ``create`` false), ``Unavailable``
    (PostgreSQL out of reach), ``OSError`` and the key file's errors."""
    location = config.location
    if isinstance(location, PostgresUrl):
        from ..store.postgres import PostgresStore

        key = load_or_create_key(config.key_path) if create else read_key(config.key_path)
        return await PostgresStore.open(location.url, PasswordBox(key, source=config.key_path),
                                        upgrade=upgrade, create=create)
    return await SqliteStore.open(location.path, config.key_path,
                                  synchronous=config.sqlite_synchronous, upgrade=upgrade,
                                  create=create)


async def open_journal(config: Config, store: Store) -> Journal:
    """The node's journal of live messages, new, under a new incarnation (``store.identity``):
    a file in the data directory on SQLite, the store itself on PostgreSQL
    (``shared_journal``). What a previous run left in flight (it died before the recipients
    had it) goes back to the store first. Raises ``Unavailable`` when the store cannot take
    it (what it left then stays for the next start)."""
    incarnation = await store.new_incarnation()
    next_id = identities(incarnation)
    if isinstance(config.location, PostgresUrl):
        from ..store.postgres import PostgresStore
        from ..store.shared_journal import StoreJournal

        assert isinstance(store, PostgresStore)
        # one node on the database (the local router): every other incarnation is dead
        back = await store.recover_in_flight(incarnation, others=True)
        if back:
            log.warning("%d message(s) in flight when imipd stopped go back to the store",
                        len(back))
        return StoreJournal(store, next_id)
    data_dir = Path(config.data_dir)
    for left in FileJournal.left_over(data_dir, next_id):
        await store.keep_messages(left.messages, left.flight)
    return FileJournal.open(data_dir, next_id)


def open_router(config: Config) -> Router:
    """The router ``config`` names."""
    return LocalRouter()


def session_dropper(config: Config) -> DropSessions:
    """How a command outside the server drops a user's live session (an account change):
    with the local router, through the control socket of the server that serves the data
    directory; None when no server runs there."""
    data_dir = Path(config.data_dir)

    async def drop(key: str, reason: str) -> int | None:
        return await asyncio.to_thread(control.kick, data_dir, key, reason)

    return drop


async def schema_versions(config: Config) -> tuple[int, int]:
    """(version of the store's schema, version this imipd needs); (0, n): no store yet.
    Raises ``Unavailable`` when PostgreSQL is out of reach."""
    location = config.location
    if isinstance(location, PostgresUrl):
        from ..store import postgres

        return await postgres.schema_versions(location.url)
    return schema_status(location.path)


async def upgrade(config: Config) -> tuple[int, int]:
    """Create or upgrade the store's schema, and the key file with the database's check of
    it: (version before, version after)."""
    before, _ = await schema_versions(config)
    store = await open_store(config, upgrade=True)
    await store.close()
    location = config.location
    if isinstance(location, PostgresUrl):
        from ..store.postgres import SCHEMA_VERSION

        return before, SCHEMA_VERSION
    return before, SQLITE_SCHEMA
