"""Manual pages for ``imipd(1)`` and ``imip(1)``, written from the commands' own help.

The systemd unit names ``man:imipd(1)`` as its documentation, and people look for a
manual page before anything else. Generating the pages from the click commands keeps
one place per fact: a new option or a changed help text reaches the page with
``make docs``, and a test fails while the committed pages are stale.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from .. import __version__

DATE = datetime.date(2026, 11, 29)
"""The date the pages carry (fixed, so that generating them twice gives the same bytes)."""


def _escape(text: str) -> str:
    """Plain text as roff: backslashes escaped, hyphens literal, no line taken as a request."""
    lines = text.replace("\\", "\\e").replace("-", "\\-").splitlines()
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in lines)


def _paragraphs(text: str) -> str:
    """Help text as roff paragraphs (click's ``\\b`` marks a block kept as written)."""
    out = []
    for block in click.unstyle(text).strip().split("\n\n"):
        if block.startswith("\b\n"):
            out.append(".PP\n.nf\n" + _escape(block[2:]) + "\n.fi")
        else:
            out.append(".PP\n" + _escape(" ".join(line.strip() for line in block.splitlines())))
    return "\n".join(out)


def _options(command: click.Command, ctx: click.Context) -> Iterator[str]:
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option):
            continue  # arguments are in the usage line
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        yield f".TP\n.B {_escape(names)}\n{_escape(help_text) if help_text else ''}".rstrip()


def _commands(command: click.Command, ctx: click.Context, path: str) -> Iterator[str]:
    """Every command under ``command``, depth first, in the order ``--help`` lists them."""
    if not isinstance(command, click.Group):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
        full = f"{path} {name}"
        usage = " ".join(sub.collect_usage_pieces(sub_ctx))
        yield f".SS {_escape(full)}\n.B {_escape(full)}\n{_escape(usage)}"
        if sub.help:
            yield _paragraphs(sub.help)
        yield from _options(sub, sub_ctx)
        yield from _commands(sub, sub_ctx, full)


def render(command: click.Command, name: str, summary: str) -> str:
    """The manual page (section 1) of ``command``, run as ``name``."""
    ctx = click.Context(command, info_name=name, **command.context_settings)
    usage = " ".join(command.collect_usage_pieces(ctx))
    parts = [
        f'.TH {name.upper()} 1 "{DATE.isoformat()}" "imipd {__version__}" "User Commands"',
        f".SH NAME\n{name} \\- {_escape(summary)}",
        f".SH SYNOPSIS\n.B {name}\n{_escape(usage)}",
        ".SH DESCRIPTION",
        _paragraphs(command.help or ""),
        ".SH OPTIONS",
        *_options(command, ctx),
        ".SH COMMANDS",
        *_commands(command, ctx, name),
        ".SH SEE ALSO\nThe files under docs/ in imipd's source: protocol.md, operations.md, "
        "configuration.md, client.md.",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _imipd() -> str:
    from .imipd import main
    return render(main, "imipd", "run and administer an IMIP instant messaging server")


def _imip() -> str:
    from .imip import main
    return render(main, "imip", "IMIP client: send messages, chat, decode captures")


GENERATED: dict[Path, Callable[[], str]] = {
    Path("man/imipd.1"): _imipd,
    Path("man/imip.1"): _imip,
}
"""The pages under the project root, and what writes them (``make docs``)."""
