"""Every conversation script under conversations/, replayed against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..services import new_schema
from .conftest import ServerFactory
from .conversation import Runner, load

SCRIPTS = sorted((Path(__file__).parent / "conversations").glob("*.imip"))


@pytest.mark.parametrize(("loop", "store"), [("uvloop", "sqlite"), ("asyncio", "sqlite"),
                                           ("uvloop", "postgresql")])
@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_conversation(path: Path, loop: str, store: str, imipd_server: ServerFactory,
                      request: pytest.FixtureRequest) -> None:
    """The same bytes on uvloop (the default where installed) and on asyncio's own loop, on
    SQLite and on PostgreSQL."""
    script = load(path)
    flags = [arg for line in path.read_text().splitlines() if line.startswith("#! serve ")
             for arg in line.removeprefix("#! serve ").split()]
    url = new_schema(request.getfixturevalue("postgres_database")) if store == "postgresql" \
        else ""
    server = imipd_server(script.users, *flags, "--event-loop", loop, store=url)
    try:
        Runner(script, server.port, path.name).run()
    except AssertionError:
        print(server.log_text())
        raise
    assert f"keep-alive 60 s, {loop}" in server.log_text()
