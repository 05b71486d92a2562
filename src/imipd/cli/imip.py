"""The ``imip`` command: the client side of IMIP for people and scripts."""

from __future__ import annotations

import sys
from typing import BinaryIO

import click

from .. import __version__
from ..protocol import ProtocolError
from .decode import decode_stream, read_chunks


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imip")
def main() -> None:
    """Talk IMIP: decode captures, send messages, chat."""


@main.command()
@click.argument("file", type=click.File("rb"), default="-")
def decode(file: BinaryIO) -> None:
    """Print each block of a raw IMIP byte stream as one JSON object per line.

    FILE holds one direction of a connection (default: standard input). Each
    line has offset, type, args, size, headers (in received order),
    empty_line, and body (text) or body_base64 (when the body is not UTF-8).
    A broken block stops the decoding: every block before it is printed, then
    "offset N: reason" goes to standard error and the exit status is 1.
    """
    out = sys.stdout.buffer  # JSON lines are UTF-8, whatever the locale says
    try:
        for line in decode_stream(read_chunks(file)):
            out.write(line.encode("utf-8") + b"\n")
    except ProtocolError as error:
        out.flush()
        click.echo(f"offset {error.offset}: {error.reason} ({int(error.status)})", err=True)
        sys.exit(1)
