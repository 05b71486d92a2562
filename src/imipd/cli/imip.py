"""The ``imip`` command: the client side of IMIP for people and scripts."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from .. import __version__
from ..capture import CaptureError, capture_kind, read_capture
from ..client import ImipError, parse_server
from ..client.wording import explain
from ..protocol import ProtocolError
from . import userconfig
from .decode import IMIP_PORT, Note, decode_capture, decode_stream, read_chunks
from .send import OUTCOME, send_one

F = TypeVar("F", bound=Callable[..., Any])

NEEDS_SETTINGS = ("send", "chat", "config")

EXIT_USAGE = 2


class UsageFailure(click.ClickException):
    """A one-line usage error: exit status 2 (click's usage status), without the usage text."""

    exit_code = EXIT_USAGE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imip")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, envvar="IMIP_CONFIG",
              help="settings file [default: $XDG_CONFIG_HOME/imip/config.toml]")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None) -> None:
    """Talk IMIP: decode captures, send messages, chat.

    `--server` and `--user` default to the settings file (keys `server` and
    `user`); write it once with `imip config --server HOST:PORT --user NAME`.
    """
    path = config_file or userconfig.default_path()
    ctx.obj = path
    if ctx.invoked_subcommand not in NEEDS_SETTINGS:
        return  # a broken settings file must not stop `imip decode`
    try:
        settings = userconfig.load(path)
    except userconfig.UserConfigError as error:
        raise UsageFailure(f"settings: {error}") from None
    ctx.default_map = {name: dict(settings) for name in ("send", "chat")}


def _server(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, int]:
    if not value:
        raise click.BadParameter(
            "no server: give --server HOST:PORT, or set it once with "
            "`imip config --server HOST:PORT`", ctx, param)
    try:
        return parse_server(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def _user(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    if not value:
        raise click.BadParameter(
            "no user: give --user NAME, or set it once with `imip config --user NAME`",
            ctx, param)
    problem = userconfig.user_problem(value)
    if problem:
        raise click.BadParameter(problem, ctx, param)
    return value


def _password(password: str | None, command: str, *, stdin_free: bool = True) -> str:
    """``--password`` or ``IMIP_PASSWORD``; else asked on the terminal, else read from stdin.

    Without a terminal there is nobody to ask: the first line of standard input is the
    password (when standard input does not hold the message), read without getpass's
    warning; no password there is a usage error.
    """
    if password:
        return password
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True))
    if stdin_free:
        line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if line:
            return line
    click.echo(f"imip {command}: no password: give --password or IMIP_PASSWORD "
               "(standard input is not a terminal to ask on)", err=True)
    sys.exit(EXIT_USAGE)


def _stdin_message() -> str:
    """Standard input, less exactly one trailing newline (as ``$(...)`` in a shell)."""
    text = sys.stdin.read()
    for end in ("\r\n", "\n"):
        if text.endswith(end):
            return text[:-len(end)]
    return text


def _login_options(func: F) -> F:
    """--server, --user, --password, in the order they are checked."""
    func = click.option("--password", envvar="IMIP_PASSWORD",
                        help="the password [env IMIP_PASSWORD; asked when not given]")(func)
    func = click.option("--user", "user", envvar="IMIP_USER", callback=_user,
                        help="your user name [env IMIP_USER, or the settings file]")(func)
    return click.option("--server", "server", envvar="IMIP_SERVER", callback=_server,
                        help="HOST[:PORT] of the IMIP server, port 11319 by default "
                             "[env IMIP_SERVER, or the settings file]")(func)


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=IMIP_PORT, show_default=True,
              help="in a capture, the TCP port of the IMIP server")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
                default="-")
def decode(file: str, port: int) -> None:
    """Print each block of an IMIP capture as one JSON object per line.

    FILE is a packet capture (pcap or pcapng, told by its first bytes) or one
    direction of a connection as raw bytes; standard input ("-", the default)
    is always raw. Each line has offset, type, args, size, headers (in
    received order), empty_line, and body (text) or body_base64 (when the body
    is not UTF-8).

    In a capture, every TCP connection on --port is decoded, both directions,
    and each line starts with stream (0, 1, ... in order of appearance),
    direction (client-to-server or server-to-client) and time (Unix seconds
    of the frame that completed the block); offset counts in that direction's
    reassembled bytes. Lines come in the order the blocks complete. When the
    capture begins inside a connection, decoding starts at the first whole
    block.

    A broken block stops the decoding of its direction: every block before it
    is printed, then "offset N: reason (status)" goes to standard error
    (prefixed "stream S DIRECTION: " in a capture, whose other directions go
    on), and the exit status is 1. So do a hole in a capture (a segment it
    missed) and a file that is not a valid capture; warnings (a capture cut
    short, bytes skipped) leave the status 0.
    """
    out = sys.stdout.buffer  # JSON lines are UTF-8, whatever the locale says
    if file == "-":
        _decode_raw(sys.stdin.buffer, b"", out)
        return
    with _open(file) as stream:
        head = _read_head(stream)
        if capture_kind(head) is None:
            _decode_raw(stream, head, out)
        else:
            _decode_capture(stream, head, port, out, file)


def _open(file: str) -> BinaryIO:
    try:
        return open(file, "rb")
    except OSError as error:
        raise click.ClickException(f"{file}: {error.strerror}") from None


def _read_head(stream: BinaryIO) -> bytes:
    """The first 4 bytes (fewer in a shorter file), which tell a capture."""
    head = b""
    while len(head) < 4 and (part := stream.read(4 - len(head))):
        head += part
    return head


def _decode_raw(stream: BinaryIO, head: bytes, out: BinaryIO) -> None:
    live = not _is_regular_file(stream)  # a pipe or a terminal: show each block as it comes
    chunks = read_chunks(stream)
    try:
        for line in decode_stream(itertools.chain([head] if head else [], chunks)):
            out.write(line.encode("utf-8") + b"\n")
            if live:
                out.flush()
    except ProtocolError as error:
        out.flush()
        click.echo(f"offset {error.offset}: {error.reason} ({int(error.status)})", err=True)
        sys.exit(1)


def _decode_capture(stream: BinaryIO, head: bytes, port: int, out: BinaryIO,
                    name: str) -> None:
    live = not _is_regular_file(stream)
    failed = False
    try:
        for item in decode_capture(read_capture(stream, head), port):
            if isinstance(item, Note):
                out.flush()
                click.echo(item.text, err=True)
                failed = failed or item.error
            else:
                out.write(item.encode("utf-8") + b"\n")
                if live:
                    out.flush()
    except CaptureError as error:
        out.flush()
        raise click.ClickException(f"{name}: {error}") from None
    if failed:
        out.flush()
        sys.exit(1)


def _is_regular_file(file: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(file.fileno()).st_mode)
    except (OSError, ValueError):
        return False


@main.command()
@_login_options
@click.option("--timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="seconds to wait for the connection and for each answer")
@click.argument("to")
@click.argument("text")
def send(server: tuple[str, int], user: str, password: str | None, timeout: float, to: str,
         text: str) -> None:
    """Send TEXT to the user TO, and say what became of it.

    Prints "delivered" or "stored for later delivery" (TO is not online) and
    exits 0. TEXT "-" reads the message from standard input, without one
    trailing newline; an empty message is refused. While an imip chat of the
    same user and server runs on this machine, the message goes through it
    (no password needed), since logging in here would log that chat out.
    Failures go to standard error; the exit status is 1 when the server
    refused the message (no such user, not permitted, too large), 2 for a
    usage problem (an empty message, no password and no terminal to ask on,
    a bad settings file), 3 when the
    login failed, 4 on a connection problem.
    """
    problem = userconfig.user_problem(to)
    if problem:
        raise UsageFailure(f"Invalid value for 'TO': {problem}")
    from_stdin = text == "-"
    if from_stdin:
        text = _stdin_message()
    if not text:
        click.echo("imip send: the message is empty", err=True)
        sys.exit(EXIT_USAGE)
    host, port = server
    where = f"{host}:{port}"
    try:
        delivery = asyncio.run(send_one(
            host, port, user, lambda: _password(password, "send", stdin_free=not from_stdin),
            to, text, timeout))
    except ValueError as error:  # what cannot be written on the wire at all
        raise UsageFailure(str(error)) from None
    except ImipError as error:
        message, status = explain(error, server=where, user=user, to=to,
                                  size=len(text.encode("utf-8")))
        click.echo(f"imip send: {message}", err=True)
        sys.exit(status)
    click.echo(OUTCOME.get(delivery, delivery.value))


@main.command()
@_login_options
def chat(server: tuple[str, int], user: str, password: str | None) -> None:
    """Chat full-screen in the terminal: contacts, presence, conversations.

    Keyboard only; F1 lists the keys, Ctrl+Q quits (saying goodbye to the
    server). Exits 3 when the login fails, 4 when the server cannot be reached.
    """
    from ..chat import ChatApp  # Textual loads only for this command

    password = _password(password, "chat")
    host, port = server
    app = ChatApp.for_server(host, port, user, password)
    app.run()
    sys.exit(app.return_code or 0)


@main.command("config")
@click.option("--server", default=None, help="HOST[:PORT] to remember")
@click.option("--user", default=None, help="user name to remember")
@click.pass_context
def config_command(ctx: click.Context, server: str | None, user: str | None) -> None:
    """Show the settings file, or remember --server and --user in it."""
    path: Path = ctx.obj
    try:
        settings = userconfig.load(path)
    except userconfig.UserConfigError as error:
        raise UsageFailure(f"settings: {error}") from None
    if server is None and user is None:
        click.echo(f"# {path}{'' if path.exists() else ' (not written yet)'}")
        for key in userconfig.KEYS:
            click.echo(f"{key} = {userconfig.toml_string(settings.get(key, ''))}")
        return
    if server is not None:
        try:
            parse_server(server)
        except ValueError as error:
            raise UsageFailure(f"Invalid value for '--server': {error}") from None
        settings["server"] = server
    if user is not None:
        problem = userconfig.user_problem(user)
        if problem:
            raise UsageFailure(f"Invalid value for '--user': {problem}")
        settings["user"] = user
    userconfig.save(path, settings)
    click.echo(f"saved in {path}")
