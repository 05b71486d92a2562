"""Fixtures of the storage contract suite: one ``backend`` per ``Store`` implementation."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..services import new_schema
from .backends import KINDS, Backend


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every ``Store`` backend, each on fresh storage."""
    kind = str(request.param)
    url = new_schema(request.getfixturevalue("postgres_database")) if kind == "postgresql" \
        else ""
    return Backend(kind, tmp_path / "data", url)
