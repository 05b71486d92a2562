"""The client tests run against a real ``imipd serve`` (the server tests' fixture)."""

from __future__ import annotations

from tests.server.conftest import imipd_server  # noqa: F401
