"""What the ``imipd user``/``check``/``db`` commands do, over the store.

Account changes are committed first, then a running server is told to drop
the sessions they invalidate (through the control socket). The rules and the
operations themselves are ``core.accounts``, shared with the web admin API.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..core import accounts
from ..server import backends, control
from ..server.config import (
    Config,
    ConfigError,
    PostgresUrl,
    SqliteFile,
    parse_hostport,
    store_location,
)
from ..store import SchemaError, Store, Unavailable
from ..store.backup import BackupError, create_backup, restore_backup
from ..store.keyfile import DecryptError, KeyFileError
from ..store.sqlite import NoStore


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run one administration coroutine; every failure becomes one line (exit status 1)."""
    try:
        asyncio.run(coro)
    except (SchemaError, accounts.AccountError, KeyFileError, DecryptError, Unavailable,
            ConfigError) as error:
        raise click.ClickException(str(error)) from None
    except NoStore as error:
        raise click.ClickException(
            f"{error}: no imipd data there (name the data directory with --data-dir, "
            "or the database with --store)") from None
    except OSError as error:
        raise click.ClickException(_os_error(error)) from None


def _os_error(error: OSError) -> str:
    """One line for a failed file operation, naming the path."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


async def open_store(config: Config, *, create: bool = False) -> Store:
    """The store, open. Only commands that add data ``create`` it (directory, database and
    key); the others fail with ``NoStore`` at a path that holds none."""
    return await backends.open_store(config, create=create)


def note_unserved(config: Config, served: bool | None = None) -> None:
    """After a change: say on stderr when it went into a data directory no running imipd
    serves (a mistyped --data-dir, or the server is stopped). ``served``: already known."""
    data_dir = Path(config.data_dir)
    if not (control.running(data_dir) if served is None else served):
        click.echo(f"note: no running imipd serves {data_dir} (no control socket there); "
                   "the change was made there", err=True)


def tell_server(config: Config) -> accounts.DropSessions:
    """How an account change reaches the live sessions it invalidates."""
    return backends.session_dropper(config)


def report_dropped(dropped: int | None) -> None:
    if dropped:
        click.echo(f"dropped {dropped} live session(s)")


async def add_user(config: Config, name: str, password: str, nick: str | None) -> None:
    accounts.check_new(name, password, nick, min_length=config.min_password_length)
    store = await open_store(config, create=True)
    try:
        account = await accounts.create(store, name, password, nick,
                                        min_length=config.min_password_length)
    finally:
        await store.close()
    click.echo(f"created {account.name}")
    note_unserved(config)


async def set_password(config: Config, name: str, password: str) -> None:
    accounts.check_password(password, min_length=config.min_password_length)
    store = await open_store(config)
    try:
        dropped = await accounts.set_password(store, name, password, tell_server(config),
                                              min_length=config.min_password_length)
    finally:
        await store.close()
    click.echo(f"changed the password of {name}")
    report_dropped(dropped)
    note_unserved(config, served=dropped is not None)


async def delete_user(config: Config, name: str) -> None:
    store = await open_store(config)
    try:
        dropped = await accounts.delete(store, name, tell_server(config))
    finally:
        await store.close()
    click.echo(f"deleted {name}")
    report_dropped(dropped)
    note_unserved(config, served=dropped is not None)


async def list_users(config: Config) -> None:
    store = await open_store(config)
    try:
        for account in await accounts.summaries(store):
            click.echo(f"{account.name}\t{account.nick}\t{account.waiting} waiting")
    finally:
        await store.close()


async def upgrade(config: Config) -> None:
    before, after = await backends.upgrade(config)
    if before == after:
        click.echo(f"schema is at version {after}: nothing to do")
    else:
        click.echo(f"upgraded the schema from version {before} to {after}")


async def copy(config: Config, source: str | None, target: str, *, force: bool) -> None:
    from ..store.copy import CopyError, sqlite_to_postgres

    try:
        origin = store_location(source, Path(config.data_dir)) if source else config.location
        goal = store_location(target, Path(config.data_dir))
    except ConfigError as error:
        raise click.ClickException(str(error).replace("store = ", "")) from None
    if not isinstance(origin, SqliteFile) or not isinstance(goal, PostgresUrl):
        raise click.ClickException("imipd db copy copies an SQLite store (--from sqlite:PATH) "
                                   "into PostgreSQL (--to postgresql://…)")
    if control.running(origin.path.parent):
        raise click.ClickException(f"an imipd is serving {origin.path.parent}: stop it first")
    try:
        copied = await sqlite_to_postgres(origin.path, goal.url, force=force)
    except CopyError as error:
        raise click.ClickException(str(error)) from None
    checked = replace(config, store=goal.url)  # the target opens with this key file
    store = await open_store(checked)
    await store.close()
    counts = copied.counts
    click.echo(f"copied {counts['users']} account(s), {counts['watches']} contact(s) and "
               f"request(s), {counts['blocks']} block(s), {counts['messages']} message(s); "
               "every table checked")


def backup(config: Config, file: Path) -> None:
    try:
        info = create_backup(_sqlite_file(config, "backup"), config.key_path, file)
    except (BackupError, KeyFileError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write the backup: {_os_error(error)}") from None
    click.echo(f"backed up {info.users} user(s) and {info.stored_messages} waiting message(s) "
               f"to {file}")
    click.echo("warning: the backup holds the password key; keep it secret", err=True)


def restore(config: Config, file: Path, *, force: bool) -> None:
    data_dir = Path(config.data_dir)
    if control.running(data_dir):
        raise click.ClickException(f"an imipd is serving {data_dir}: stop it first")
    try:
        info = restore_backup(file, _sqlite_file(config, "restore"), config.key_path,
                              force=force)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot restore: {_os_error(error)}") from None
    click.echo(f"restored {info.users} user(s) and {info.stored_messages} waiting message(s) "
               f"into {data_dir} (schema version {info.schema_version})")


def _sqlite_file(config: Config, command: str) -> Path:
    """The SQLite database of ``config``; PostgreSQL has tools of its own."""
    try:
        return config.database
    except ConfigError:
        raise click.ClickException(
            f"imipd {command} works on an SQLite store; on PostgreSQL use pg_dump and "
            f"pg_restore, and keep the key file ({config.key_path}) with the dump") from None


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
    try:
        current, wanted = asyncio.run(backends.schema_versions(config))
    except Unavailable as error:
        say(f"FAIL store: {error}")
        return False
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
    server = control.server_listeners(data_dir)
    for key in ("listen", "web"):
        address = getattr(config, key)
        if key == "web" and config.web_address is None:
            say("ok   web off")
            continue
        problem = _port_state(address, key)
        if problem is None:
            say(f"ok   {key} {address} is free")
            continue
        if server is not None:
            pid, bound = server
            if _wanted(address, key) & bound.get(key, set()):
                say(f"ok   {key} {address} is held by the running imipd (pid {pid}) as its "
                    f"{key} listener")
                continue
            held = ", ".join(f"{k} {_show(a)}" for k in ("listen", "web")
                             for a in sorted(bound.get(k, ())))
            problem += f"; the running imipd of this data directory (pid {pid}) holds {held}"
        say(f"FAIL {key} {address}: {problem}")
        ok = False
    return ok


def _wanted(address: str, key: str) -> set[tuple[str, int]]:
    """The (host, port) pairs a server binds for ``address``."""
    host, port = parse_hostport(address, key)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError:
        return set()
    return {(str(info[4][0]), int(info[4][1])) for info in infos}


def _show(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
