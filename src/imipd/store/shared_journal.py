"""The journal of messages in flight kept in the PostgreSQL store, where every node finds it.

On one node the journal is a file (``journal.FileJournal``), written before any answer
leaves. With a shared store, what a node holds in flight must be recoverable without
that node (when it dies and never comes back), so it is kept in the store itself: a
message handed to a connection is a row of ``messages`` in flight on that connection
(``flight`` set, ``delivered_at`` not), taken out of the store if it waited there (so
a message is stored once, whatever happens); acknowledged, it loses its body and stays
a day; when the connection ends, what it still had waits in the store again; when a
node dies, another puts everything of its incarnation back the same way, in one
statement (``PostgresStore.recover_in_flight``).

Writes are batched: the node records in memory and commits once per loop iteration at
most, one commit at a time, everything recorded meanwhile in it. An answer that
proves a message taken (its ``600``, or a later answer on that connection) leaves only
once that message is committed (``Journal.committed``; ``Connection.hold_until``).
When a commit fails (the database out of reach), what it held is kept and tried again
every second, the journal is ``full`` meanwhile (new messages are refused: ``890``),
and the failure and the recovery are logged once each.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import cast

from .base import KeptMessage, Store, Unavailable
from .postgres import Claim, PostgresStore, Retired

log = logging.getLogger(__name__)

RETRY_EVERY = 1.0
"""Seconds between attempts to commit while that fails."""
CLOSE_WAIT = 5.0
"""Seconds ``close`` waits for the last commit."""


class StoreFlight:
    """``InFlight`` in the shared store."""

    __slots__ = ("_journal", "_marks", "_messages", "number", "recipient")

    def __init__(self, journal: StoreJournal, number: int, recipient: str) -> None:
        """Private: use ``StoreJournal.in_flight``."""
        self._journal = journal
        self.number = number
        self.recipient = recipient
        self._marks: list[int] = []
        self._messages: list[int | str | bytes | float] = []
        """Identity, sender, body, time accepted, of one message after the other."""

    def __len__(self) -> int:
        return len(self._marks)

    def add(self, mark: int, id: int, sender: str, body: bytes, accepted_at: float) -> None:
        self._marks.append(mark)
        self._messages += (id, sender, body, accepted_at)
        journal = self._journal
        journal._claims.append((id, self.recipient, sender, body, accepted_at, self.number))
        journal.recorded += 1

    def acknowledge(self, mark: int) -> None:
        count = bisect.bisect_right(self._marks, mark)
        if count:
            number = self.number
            self._journal._retired += [(number, cast(int, id))
                                       for id in self._messages[:4 * count:4]]
            del self._marks[:count]
            del self._messages[:4 * count]

    def messages(self) -> list[KeptMessage]:
        return [KeptMessage(id, self.recipient, sender, body, at)
                for id, sender, body, at in self._each()]

    def _each(self) -> Iterator[tuple[int, str, bytes, float]]:
        fields = iter(self._messages)
        return cast(Iterator[tuple[int, str, bytes, float]],
                    zip(fields, fields, fields, fields, strict=True))

    async def release(self, store: Store) -> int:
        if not self._marks:
            return 0  # nothing of it is on record any more
        self._marks.clear()
        self._messages.clear()
        return await self._journal._release(self.number)


class StoreJournal:
    """The journal of one node in the shared PostgreSQL store."""

    claims = True

    def __init__(self, store: PostgresStore, next_id: Callable[[], int]) -> None:
        self._store = store
        self.next_id = next_id
        self.full = False
        self.recorded = 0
        self.committed = 0
        self._claims: list[Claim] = []
        self._retired: list[Retired] = []
        self._released: list[int] = []
        self._released_waiters: dict[int, asyncio.Future[int]] = {}
        self._waiters: list[tuple[int, int, Callable[[], None]]] = []
        """(count, order, callback): called once ``committed`` reaches count."""
        self._order = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._trouble: str | None = None

    def in_flight(self, recipient: str) -> StoreFlight:
        return StoreFlight(self, self.next_id(), recipient)

    @property
    def pending(self) -> bool:
        return bool(self._claims or self._retired or self._released)

    def flush(self) -> None:
        if self._task is None and self.pending:
            self._task = asyncio.get_running_loop().create_task(self._commit())

    def when_committed(self, count: int, callback: Callable[[], None]) -> None:
        if self.committed >= count:
            asyncio.get_running_loop().call_soon(callback)
        else:
            heapq.heappush(self._waiters, (count, next(self._order), callback))

    async def room(self) -> None:
        if self.full:
            await self._has_room.wait()

    async def settled(self) -> None:
        if self.committed < self.recorded:
            done = asyncio.get_running_loop().create_future()
            self.when_committed(self.recorded, lambda: _resolve(done))
            self.flush()
            await done

    async def _release(self, number: int) -> int:
        future = self._released_waiters.get(number)
        if future is None:
            future = self._released_waiters[number] = asyncio.get_running_loop().create_future()
            self._released.append(number)
        self.flush()
        return await asyncio.shield(future)

    async def _commit(self) -> None:
        """Commit what was recorded, again and again while more comes; one at a time."""
        try:
            while self.pending:
                claims, retired, released = self._claims, self._retired, self._released
                self._claims, self._retired, self._released = [], [], []
                upto = self.recorded
                try:
                    back = await self._store.record_in_flight(
                        claims, retired, released, time.time())
                except Exception as error:
                    self._claims[:0], self._retired[:0], self._released[:0] = (
                        claims, retired, released)
                    self._failed(error)
                    await asyncio.sleep(RETRY_EVERY)
                    continue
                self._succeeded()
                self.committed = upto
                for number, count in back.items():
                    future = self._released_waiters.pop(number, None)
                    if future is not None and not future.done():
                        future.set_result(count)
                while self._waiters and self._waiters[0][0] <= upto:
                    heapq.heappop(self._waiters)[2]()
        finally:
            self._task = None

    def _failed(self, error: Exception) -> None:
        reason = str(error) or type(error).__name__
        if self._trouble is None:
            self._trouble = reason
            if isinstance(error, Unavailable):
                log.error("journal cannot be written: %s: live messages are refused (890) "
                          "until it can", reason)
            else:
                log.exception("journal cannot be written: live messages are refused (890)",
                              exc_info=error)
        self.full = True
        self._has_room.clear()

    def _succeeded(self) -> None:
        if self._trouble is not None:
            self._trouble = None
            log.warning("journal written again: live messages are taken")
        self.full = False
        self._has_room.set()

    async def close(self) -> None:
        """Let the last commit finish (what is not committed then is lost to the journal:
        the connections that held it are gone, and what they had went back already)."""
        self.flush()
        if self._task is not None:
            await asyncio.wait((self._task,), timeout=CLOSE_WAIT)
            if self._task is not None and not self._task.done():
                self._task.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
