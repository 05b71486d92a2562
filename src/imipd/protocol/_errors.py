"""The one exception the protocol layer raises."""

from __future__ import annotations

from ._status import Status


class ProtocolError(Exception):
    """Input that breaks a rule of docs/protocol.md §2–§3, with the status to answer it with.

    ``fatal`` tells whether framing is lost: the connection must answer once and
    close. Otherwise the offending block has been consumed whole and the next one
    can be read. ``offset`` is the byte offset (from the start of the stream) of
    the first byte of the offending block. ``block_id`` is the block's ``ID``
    header when it could be read, so the answer can carry ``Reference``.
    """

    def __init__(
        self,
        status: Status,
        reason: str,
        *,
        fatal: bool,
        offset: int,
        block_id: str | None = None,
        verb: str | None = None,
    ) -> None:
        super().__init__(f"{int(status)} at offset {offset}: {reason}")
        self.status = status
        self.reason = reason
        self.fatal = fatal
        self.offset = offset
        self.block_id = block_id
        self.verb = verb
        """The block's verb when framing held (an ``ACK`` is never answered)."""
