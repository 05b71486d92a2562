"""The ``Router`` interface: the registry of live sessions, keyed by user key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

S = TypeVar("S")


class Router(Protocol[S]):
    """Maps a user key to the one live session of that user."""

    def attach(self, key: str, session: S) -> S | None:
        """Make ``session`` the user's live session; returns the one it replaces."""
        ...

    def detach(self, key: str, session: S) -> bool:
        """Forget ``session`` if it is still the user's live session."""
        ...

    def get(self, key: str) -> S | None:
        """The user's live session, or None."""
        ...

    def __iter__(self) -> Iterator[S]:
        """Every live session."""
        ...

    def __len__(self) -> int:
        ...
