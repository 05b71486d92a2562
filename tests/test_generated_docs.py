"""The committed generated files (the config example and reference, the manual pages) match
what generates them."""

from __future__ import annotations

from pathlib import Path

import pytest

from imipd.cli import manpages
from imipd.server import config_docs

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {**config_docs.GENERATED, **manpages.GENERATED}


@pytest.mark.parametrize("relative", sorted(GENERATED), ids=str)
def test_generated_file_is_current(relative: Path) -> None:
    committed = (ROOT / relative).read_text(encoding="utf-8")
    assert committed == GENERATED[relative](), f"{relative} is stale: run `make docs`"
