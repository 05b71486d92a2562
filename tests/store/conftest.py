"""Fixtures of the storage contract suite: one ``backend`` per ``Store`` implementation."""

from __future__ import annotations

from pathlib import Path

import pytest

from .backends import KINDS, Backend


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every ``Store`` backend, each on fresh storage."""
    return Backend(str(request.param), tmp_path / "data")
