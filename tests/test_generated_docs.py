"""The committed config example and reference match the one config definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from imipd.server.config_docs import GENERATED

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("relative", sorted(GENERATED), ids=str)
def test_generated_file_is_current(relative: Path) -> None:
    committed = (ROOT / relative).read_text(encoding="utf-8")
    assert committed == GENERATED[relative](), f"{relative} is stale: run `make docs`"
