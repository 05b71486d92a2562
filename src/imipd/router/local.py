"""The in-process router: one dict from user key to session, for a single node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

S = TypeVar("S")


class LocalRouter(Generic[S]):
    """Routes within one process; the embedded default."""

    def __init__(self) -> None:
        self._sessions: dict[str, S] = {}

    def attach(self, key: str, session: S) -> S | None:
        previous = self._sessions.get(key)
        self._sessions[key] = session
        return previous if previous is not session else None

    def detach(self, key: str, session: S) -> bool:
        if self._sessions.get(key) is session:
            del self._sessions[key]
            return True
        return False

    def get(self, key: str) -> S | None:
        return self._sessions.get(key)

    def __iter__(self) -> Iterator[S]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)
