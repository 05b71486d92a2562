"""The ``imipd`` command: run and administer the server."""

from __future__ import annotations

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imipd")
def main() -> None:
    """The IMIP server: serve, manage users, check the setup."""
