"""What the ``imipd user``/``check``/``db`` commands do, over the store.

Account changes are committed first, then a running server is told to drop
the sessions they invalidate (through the control socket).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from ..core.names import valid_nick, valid_user_name
from ..server import control
from ..server.config import Config, parse_hostport
from ..store import SchemaError, UserExists
from ..store import sqlite as sqlite_store
from ..store.backup import BackupError, create_backup, restore_backup
from ..store.sqlite import SqliteStore

MAX_PASSWORD = 128


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run one administration coroutine; store errors become clean messages."""
    try:
        asyncio.run(coro)
    except SchemaError as error:
        raise click.ClickException(str(error)) from None


def check_password(password: str) -> None:
    if not password:
        raise click.ClickException("the password must not be empty")
    if len(password) > MAX_PASSWORD:
        raise click.ClickException(f"the password is longer than {MAX_PASSWORD} characters")
    if any(ch < " " for ch in password):
        raise click.ClickException("the password must not contain control characters")


async def open_store(config: Config) -> SqliteStore:
    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return await SqliteStore.open(data_dir, synchronous=config.sqlite_synchronous)


def tell_server(config: Config, key: str, reason: str) -> None:
    dropped = control.kick(Path(config.data_dir), key, reason)
    if dropped:
        click.echo(f"dropped {dropped} live session(s)")


async def add_user(config: Config, name: str, password: str, nick: str | None) -> None:
    if not valid_user_name(name):
        raise click.ClickException(
            f"invalid user name {name!r}: 1-64 characters of A-Z a-z 0-9 . _ -")
    nick = name if nick is None else nick
    if not valid_nick(nick):
        raise click.ClickException(
            f"invalid nickname {nick!r}: 1-64 characters, no \" and no control characters")
    check_password(password)
    store = await open_store(config)
    try:
        account = await store.create_user(name, password, nick)
    except UserExists:
        raise click.ClickException(f"user {name} already exists") from None
    finally:
        await store.close()
    click.echo(f"created {account.name}")


async def set_password(config: Config, name: str, password: str) -> None:
    check_password(password)
    store = await open_store(config)
    try:
        changed = await store.set_password(name, password)
    finally:
        await store.close()
    if not changed:
        raise click.ClickException(f"no such user {name}")
    click.echo(f"changed the password of {name}")
    tell_server(config, name.lower(), "password changed")


async def delete_user(config: Config, name: str) -> None:
    store = await open_store(config)
    try:
        deleted = await store.delete_user(name)
    finally:
        await store.close()
    if not deleted:
        raise click.ClickException(f"no such user {name}")
    click.echo(f"deleted {name}")
    tell_server(config, name.lower(), "account deleted")


async def list_users(config: Config) -> None:
    store = await open_store(config)
    try:
        for account in await store.list_users():
            waiting = await store.count_stored(account.key)
            click.echo(f"{account.name}\t{account.nick}\t{waiting} waiting")
    finally:
        await store.close()


async def upgrade(config: Config) -> None:
    before, after = sqlite_store.upgrade_schema(Path(config.data_dir))
    if before == after:
        click.echo(f"schema is at version {after}: nothing to do")
    else:
        click.echo(f"upgraded the schema from version {before} to {after}")


def backup(config: Config, file: Path) -> None:
    try:
        info = create_backup(Path(config.data_dir), file)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up {info.users} user(s) and {info.stored_messages} waiting message(s) "
               f"to {file}")
    click.echo("warning: the backup holds the password key; keep it secret", err=True)


def restore(config: Config, file: Path, *, force: bool) -> None:
    data_dir = Path(config.data_dir)
    if control.running(data_dir):
        raise click.ClickException(f"an imipd is serving {data_dir}: stop it first")
    try:
        info = restore_backup(file, data_dir, force=force)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored {info.users} user(s) and {info.stored_messages} waiting message(s) "
               f"into {data_dir} (schema version {info.schema_version})")


def _port_state(address: str, key: str) -> str | None:
    """None when the address can be bound now, else why not."""
    host, port = parse_hostport(address, key)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError as error:
        return str(error)
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as error:
            return error.strerror or str(error)
    return None


def check(config: Config, say: Callable[[str], None]) -> bool:
    """``imipd check``: one line per check; True when all passed."""
    ok = True
    data_dir = Path(config.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        say(f"FAIL data directory {data_dir} is not a directory")
        return False
    say(f"ok   data directory {data_dir}" + ("" if data_dir.exists() else " (created at start)"))
    current, wanted = sqlite_store.schema_status(data_dir)
    if current == wanted:
        say(f"ok   schema version {current}")
    elif current == 0:
        say(f"ok   schema: new database, version {wanted} is created at start")
    elif current < wanted:
        say(f"FAIL schema version {current}, this imipd needs {wanted}: run `imipd db upgrade`")
        ok = False
    else:
        say(f"FAIL schema version {current} is newer than this imipd ({wanted})")
        ok = False
    running = control.running(data_dir)
    for key in ("listen", "web"):
        address = getattr(config, key)
        problem = _port_state(address, key)
        if problem is None:
            say(f"ok   {key} {address} is free")
        elif running:
            say(f"ok   {key} {address} in use by the running imipd")
        else:
            say(f"FAIL {key} {address}: {problem}")
            ok = False
    return ok
