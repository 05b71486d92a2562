"""The ``imipd`` command: run and administer the server.

Every option of ``serve`` comes from the one config definition
(``imipd.server.config``); administration commands work whether or not a
server runs, and tell a running server to drop sessions they invalidate.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import __version__
from ..server import config as cfg
from . import admin

F = TypeVar("F", bound=Callable[..., Any])


def _config_options(func: F) -> F:
    """One flag per config option, generated from the definition."""
    for f in reversed(cfg.fields()):
        flag = "--" + f.name.replace("_", "-")
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        help_text = f.metadata.get("help", "")
        if "default_text" not in f.metadata:  # else the help says it
            help_text += f" [default: {cfg.toml_value(f.default)}]"
        if kind == "bool":
            func = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None,
                                help=help_text)(func)
        else:
            ptype: Any = {"int": int, "Path": click.Path(path_type=Path)}.get(kind, str)
            if f.metadata.get("choices"):
                ptype = click.Choice(f.metadata["choices"])
            func = click.option(flag, f.name, type=ptype, default=None, help=help_text)(func)
    return click.option("--config", "config_file", type=click.Path(path_type=Path, exists=True,
                                                                    dir_okay=False),
                        help="TOML config file (keys as the long flags, with _)")(func)


_BACKEND_OPTIONS = ("data_dir", "store", "key_file", "router")
"""The options of commands that work on the data: where it is, and how to reach live sessions."""


def _backend_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir``, ``--store``, ``--router`` and ``--config``; the command gets ``config``."""

    @functools.wraps(func)
    def command(*args: Any, config_file: Path | None, **kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name) for name in _BACKEND_OPTIONS}
        return func(*args, config=load_config(config_file, flags).config, **kwargs)

    by_name = {f.name: f for f in cfg.fields()}
    for name in reversed(_BACKEND_OPTIONS):
        f = by_name[name]
        ptype: Any = click.Path(path_type=Path) if name == "data_dir" else str
        command = click.option("--" + name.replace("_", "-"), name, type=ptype, default=None,
                               help=f"{f.metadata['help']} (env IMIPD_{name.upper()})")(command)
    return click.option("--config", "config_file", type=click.Path(
        path_type=Path, exists=True, dir_okay=False), help="TOML config file")(command)


def load_config(config_file: Path | None, flags: dict[str, Any]) -> cfg.Loaded:
    try:
        return cfg.load(config_file, flags)
    except cfg.ConfigError as error:
        raise click.ClickException(f"configuration: {error}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100})
@click.version_option(__version__, prog_name="imipd")
def main() -> None:
    """The IMIP server: serve, manage users, check the setup.

    With no configuration, `imipd serve` runs a complete service: IMIP on port
    11319 on every interface, data (SQLite) in ~/.local/share/imipd.
    """


@main.command()
@_config_options
def serve(config_file: Path | None, **flags: Any) -> None:
    """Run the IMIP server until SIGTERM or SIGINT."""
    from ..server import eventloop
    from ..server.app import Server
    from ..server.control import AlreadyRunning
    from ..store import SchemaError, Unavailable

    loaded = load_config(config_file, flags)
    config = loaded.config
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    def load_again() -> cfg.Config:
        return cfg.load(config_file, flags).config

    try:
        eventloop.run(Server(config, reload=load_again).run(), config.event_loop)
    except (SchemaError, AlreadyRunning) as error:
        raise click.ClickException(str(error)) from None
    except (OSError, eventloop.LoopUnavailable, Unavailable) as error:
        raise click.ClickException(f"cannot start: {error}") from None


@main.group()
def user() -> None:
    """Create, change, delete and list accounts."""


@user.command("add")
@click.argument("name")
@click.option("--password", help="the password (prompted for when absent)")
@click.option("--nick", help="the nickname (default: the name)")
@_backend_options
def user_add(name: str, password: str | None, nick: str | None, config: cfg.Config) -> None:
    """Create the account NAME."""
    if password is None:
        # without a terminal there is no echo to hide: read the piped lines without
        # getpass's "Can not control echo" warning
        password = click.prompt("Password", hide_input=sys.stdin.isatty(), err=True,
                                confirmation_prompt=True)
    admin.run(admin.add_user(config, name, password, nick))


@user.command("passwd")
@click.argument("name")
@click.option("--password", help="the new password (prompted for when absent)")
@_backend_options
def user_passwd(name: str, password: str | None, config: cfg.Config) -> None:
    """Change NAME's password; NAME's live session is dropped."""
    if password is None:
        password = click.prompt("New password", hide_input=sys.stdin.isatty(), err=True,
                                confirmation_prompt=True)
    admin.run(admin.set_password(config, name, password))


@user.command("del")
@click.argument("name")
@_backend_options
def user_del(name: str, config: cfg.Config) -> None:
    """Delete the account NAME with its contacts and waiting messages."""
    admin.run(admin.delete_user(config, name))


@user.command("list")
@_backend_options
def user_list(config: cfg.Config) -> None:
    """List the accounts: name, nickname, messages waiting."""
    admin.run(admin.list_users(config))


@main.command()
@_config_options
def check(config_file: Path | None, **flags: Any) -> None:
    """Check the configuration, the data directory, the schema and the ports."""
    try:
        config = cfg.load(config_file, flags).config
    except cfg.ConfigError as error:
        click.echo(f"FAIL configuration: {error}")
        sys.exit(1)
    click.echo("ok   configuration")
    ok = admin.check(config, click.echo)
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_backend_options
def backup(file: Path, config: cfg.Config) -> None:
    """Write a consistent snapshot of the data (while the server runs) to FILE.

    The backup holds the password key: keep it as secret as the data directory.
    """
    admin.backup(config, file)


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--force", is_flag=True, help="replace the data the directory holds now")
@_backend_options
def restore(file: Path, force: bool, config: cfg.Config) -> None:
    """Restore the backup FILE into the data directory (the server must be stopped)."""
    admin.restore(config, file, force=force)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@_backend_options
def db_upgrade(config: cfg.Config) -> None:
    """Create the schema, or apply the migrations this imipd needs (and make the key file
    when there is none)."""
    admin.run(admin.upgrade(config))


@db.command("copy")
@click.option("--from", "source", metavar="sqlite:PATH", help="the SQLite database to copy "
              "(default: the store of the data directory)")
@click.option("--to", "target", required=True, metavar="postgresql://…",
              help="the PostgreSQL database to copy into (its schema is made when missing)")
@click.option("--force", is_flag=True, help="replace what the target holds")
@_backend_options
def db_copy(source: str | None, target: str, force: bool, config: cfg.Config) -> None:
    """Copy a community (accounts, contacts, requests, blocks, stored messages) from SQLite
    into PostgreSQL, and check that every table's rows arrived. Passwords stay encrypted:
    serve the target with the same key file."""
    admin.run(admin.copy(config, source, target, force=force))


@main.group("config")
def config_group() -> None:
    """Configuration commands."""


@config_group.command("example")
def config_example() -> None:
    """Print a commented config file with every option at its default."""
    from ..server.config_docs import example_toml

    click.echo(example_toml())


@config_group.command("show")
@_config_options
def config_show(config_file: Path | None, **flags: Any) -> None:
    """Print every option's effective value (as TOML) and where it came from."""
    loaded = load_config(config_file, flags)
    for f in dataclasses.fields(loaded.config):
        value = getattr(loaded.config, f.name)
        source = loaded.sources[f.name]
        if f.metadata.get("secret") and value:  # a comment: pasted, it sets nothing
            click.echo(f"# {f.name} = (set, not shown)    # {source}")
        elif f.name == "store" and "@" in value:
            from ..store.postgres import redacted

            click.echo(f"{f.name} = {cfg.toml_value(redacted(value))}    # {source}"
                       + ("  (password not shown)" if redacted(value) != value else ""))
        else:
            click.echo(f"{f.name} = {cfg.toml_value(value)}    # {source}")
