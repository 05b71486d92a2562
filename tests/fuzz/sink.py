"""The ``Transport`` the harness gives each conversation: it records, parses back and checks."""

from __future__ import annotations

import asyncio

from imipd.protocol import Block, Parser, ProtocolError, Status

SERVER_VERBS = frozenset({"HELO", "LOGN", "STAT", "LIST", "MESG", "ACK", "DISC"})
"""What a server writes."""


class RecordingSink:
    """The ``Transport`` of one simulated connection.

    Every write is parsed back at once with a client's ``Parser`` (default limits)
    and checked; problems are collected in ``violations`` rather than raised,
    because an exception out of ``write`` would be caught by the session itself.
    The conversation decides when to close; the sink only records that it did (and,
    as a closed socket would, drops what is written after).
    """

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self.closed = False
        self.blocks: list[Block] = []
        self.violations: list[str] = []
        self.dropped = 0
        """Bytes written after ``close`` (a real connection drops them)."""
        self._written = bytearray()
        self._reader = Parser()

    def write(self, data: bytes) -> int:
        """Record ``data``; the count of bytes the client has had (everything written before
        the connection closed: this client reads all)."""
        if self.closed:
            self.dropped += len(data)
            return len(self._written)
        self._written += data
        self._reader.feed(data)
        while True:
            try:
                item = self._reader.next_block()
            except ProtocolError as error:
                self.violations.append(f"wrote bytes a client cannot parse: {error}: "
                                       f"{bytes(self._written[-200:])!r}")
                self.closed = True
                return len(self._written)
            if not isinstance(item, Block):
                break
            raw = bytes(self._written[self._reader.last_offset:self._reader.offset])
            self._check(item, raw)
            self.blocks.append(item)
        if self._reader.in_block:
            self.violations.append(f"wrote part of a block: {data[:200]!r}")
        return len(self._written)

    def acknowledged(self) -> int:
        return len(self._written)

    @property
    def acknowledged_exactly(self) -> bool:
        return True

    def hold_until(self, count: int) -> None:
        return

    async def disconnected(self) -> None:
        return

    def _check(self, block: Block, raw: bytes) -> None:
        where = f"block #{len(self.blocks) + 1} {raw[:300]!r}"
        if raw != block.to_bytes(sort_headers=True):
            self.violations.append(f"not canonical (sorted headers, exact size, empty line "
                                   f"only before a body): {where}")
        if block.empty_line != bool(block.body):
            self.violations.append(f"empty line without a body: {where}")
        if block.header("ID") != str(len(self.blocks) + 1):
            self.violations.append(f"server ID should be {len(self.blocks) + 1}: {where}")
        if block.verb not in SERVER_VERBS:
            self.violations.append(f"unexpected verb: {where}")
        if block.verb == "ACK":
            if len(block.args) != 1 or not block.args[0].isdigit() or int(block.args[0]) not in {
                    int(s) for s in Status}:
                self.violations.append(f"ACK without a known status: {where}")
            elif int(block.args[0]) == Status.SERVER_ERROR:
                self.violations.append(f"ACK 890: the core failed internally: {where}")

    def close(self) -> None:
        self.closed = True

    def linger(self) -> None:
        self.closed = True  # framing lost: what follows is discarded, then it closes

    async def drained(self) -> bool:
        # as server/connection.py: a graceful close still sends what was written before
        await asyncio.sleep(0)
        return self.dropped == 0
