"""Fixtures of the router contract suite: one ``router`` per ``Router`` implementation."""

from __future__ import annotations

import pytest

from imipd.router import LocalRouter, Router

KINDS = ["local"]
"""Every router backend; a Redis router joins by opening here."""


@pytest.fixture(params=KINDS)
def router(request: pytest.FixtureRequest) -> Router:
    """A fresh router of each kind."""
    if request.param == "local":
        return LocalRouter()
    raise AssertionError(f"unknown router {request.param}")
