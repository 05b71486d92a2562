"""One TCP connection speaking IMIP blocks: IDs out, answers matched by ``Reference``.

The link numbers every block it writes (from 1001, like the Yahoo! client), writes
the empty line always, and reads with the sans-IO parser in one task. A block whose
``Reference`` names a request waiting for it resolves that request; the server's
``HELO`` resolves the greeting; a server ``DISC`` records its reason; everything else
is handed to ``on_push``. When the connection ends, every waiting request fails with
:class:`ConnectionClosed` and ``on_lost`` is called once with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

from ..protocol import END, Block, Limits, Parser, ProtocolError
from ..protocol import headers as H
from .errors import ConnectFailed, ConnectionClosed, RequestTimeout

log = logging.getLogger("imipd.client")

FIRST_ID = 1001
"""The Yahoo! client numbered its blocks from 1001."""

READ_CHUNK = 65536

CLIENT_LIMITS = Limits(type_line=4096, header_count=256, header_line=16384,
                       block_size=4 * 1024 * 1024, mesg_body=4 * 1024 * 1024,
                       stat_text=65536, list_add_text=65536)
"""Generous: the client reads what its server sends, whatever limits the server uses."""


def _has_result(future: asyncio.Future[Block]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


class Link:
    """A connected socket with its parser, its block IDs and the requests waiting for answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_push: Callable[[Block], None],
                 on_lost: Callable[[Link, str], None] | None = None) -> None:
        self._reader = reader
        self._writer = writer
        self._on_push = on_push
        self._on_lost = on_lost
        self._parser = Parser(CLIENT_LIMITS)
        self._next_id = FIRST_ID
        self._waiting: dict[str, asyncio.Future[Block]] = {}
        self._hello: asyncio.Future[Block] | None = None
        self.goodbye: str | None = None
        """The reason of the server's ``DISC``, once it sent one."""
        self.lost_reason: str | None = None
        """Why the connection ended, once it did."""
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, host: str, port: int, on_push: Callable[[Block], None],
                   on_lost: Callable[[Link, str], None] | None = None,
                   timeout: float = 15.0) -> Link:
        """Connect; raises :class:`ConnectFailed` when the connection cannot be made."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise ConnectFailed(f"cannot connect to {host}:{port}: timed out") from None
        except OSError as error:
            why = (os.strerror(error.errno) if error.errno else "") or str(error) or \
                type(error).__name__
            raise ConnectFailed(f"cannot connect to {host}:{port}: {why.lower()}") from error
        return cls(reader, writer, on_push, on_lost)

    @property
    def closed(self) -> bool:
        return self.lost_reason is not None

    # -- writing -----------------------------------------------------------

    def send(self, verb: str, args: tuple[str, ...] = (),
             headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> str:
        """Write one block with the next ID (first header) and the empty line; returns the ID."""
        if self.closed:
            raise ConnectionClosed(f"not connected: {self.lost_reason}", verb=verb)
        block_id = str(self._next_id)
        self._next_id += 1
        block = Block(verb, args, ((H.ID, block_id), *headers), body, empty_line=True)
        self._writer.write(block.to_bytes())
        return block_id

    def expect(self, block_id: str) -> asyncio.Future[Block]:
        """A future for the answer whose ``Reference`` is ``block_id``."""
        future: asyncio.Future[Block] = asyncio.get_running_loop().create_future()
        if self.closed:
            future.set_exception(ConnectionClosed(f"not connected: {self.lost_reason}"))
        else:
            self._waiting[block_id] = future
        return future

    def forget(self, block_id: str) -> None:
        """Stop waiting for an answer to ``block_id`` (one that may never come)."""
        future = self._waiting.pop(block_id, None)
        if future is not None and not future.done():
            future.cancel()

    async def ask(self, verb: str, args: tuple[str, ...] = (),
                  headers: tuple[tuple[str, str], ...] = (), body: bytes = b"",
                  timeout: float = 30.0) -> Block:
        """Send a block and wait for the block that answers it (any verb)."""
        block_id = self.send(verb, args, headers, body)
        answer = self.expect(block_id)
        return await self.wait(answer, block_id, verb, timeout)

    async def hello(self, headers: tuple[tuple[str, str], ...], timeout: float) -> Block:
        """Send the client ``HELO`` and wait for the server's (which has no ``Reference``);
        an ``ACK`` that references the greeting (e.g. 810) is returned instead."""
        block_id = self.send("HELO", (), headers)
        self._hello = asyncio.get_running_loop().create_future()
        answer = self.expect(block_id)
        hello = self._hello
        done, _ = await asyncio.wait({hello, answer}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        self._hello = None
        try:
            if not done:
                raise RequestTimeout("the server did not answer HELO", verb="HELO")
            # an answer that came (e.g. ACK 810) beats the close that followed it
            if _has_result(answer):
                return answer.result()
            return hello.result()
        finally:
            self.forget(block_id)
            if not hello.done():
                hello.cancel()

    async def wait(self, answer: asyncio.Future[Block], block_id: str, verb: str,
                   timeout: float) -> Block:
        try:
            async with asyncio.timeout(timeout):
                try:
                    await self.drain()
                except ConnectionClosed:
                    if not _has_result(answer):  # else: answered, then closed
                        raise
                return await answer
        except TimeoutError:
            raise RequestTimeout(f"no answer to {verb} within {timeout:g} s", verb=verb) from None
        finally:
            self.forget(block_id)

    async def drain(self) -> None:
        """Wait until the kernel took what was written (raises ConnectionClosed)."""
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as error:
            self._lose(f"connection lost: {error}")
            raise ConnectionClosed(f"connection lost: {error}") from error

    # -- reading -------------------------------------------------------------

    async def _read(self) -> None:
        reason = "the server closed the connection"
        try:
            while True:
                data = await self._reader.read(READ_CHUNK)
                self._parser.feed(data)
                if not self._take_blocks():
                    break
        except ProtocolError as error:
            reason = f"the server sent a malformed block ({error.reason})"
        except (ConnectionError, OSError) as error:
            reason = f"connection lost: {error}"
        except asyncio.CancelledError:
            reason = "closed by the client"
        if self.goodbye is not None:
            reason = f"the server said goodbye: {self.goodbye}" if self.goodbye else \
                "the server said goodbye"
        self._lose(reason)

    def _take_blocks(self) -> bool:
        """Hand out every complete block; False at the end of the stream."""
        while True:
            try:
                item = self._parser.next_block()
            except ProtocolError as error:
                if error.fatal:
                    raise
                log.warning("skipped a bad block from the server: %s", error.reason)
                continue
            if not isinstance(item, Block):
                return item is not END
            self._route(item)

    def _route(self, block: Block) -> None:
        reference = block.header(H.REFERENCE)
        if reference is not None and reference in self._waiting:
            future = self._waiting.pop(reference)
            if not future.done():
                future.set_result(block)
            return
        if block.verb == "HELO" and self._hello is not None and not self._hello.done():
            self._hello.set_result(block)
            return
        if block.verb == "DISC":
            self.goodbye = block.body.decode("utf-8", "replace").strip()
            log.info("the server said goodbye: %s", self.goodbye)
            return
        self._on_push(block)

    # -- the end -----------------------------------------------------------------

    def _lose(self, reason: str) -> None:
        if self.lost_reason is not None:
            return
        self.lost_reason = reason
        log.info("connection ended: %s", reason)
        waiting = [*self._waiting.values(), *([self._hello] if self._hello else [])]
        self._waiting.clear()
        for future in waiting:
            if not future.done():
                future.set_exception(ConnectionClosed(reason))
                future.exception()  # whoever awaits it still gets it; nobody else must
        self._writer.close()
        if self._on_lost is not None:
            self._on_lost(self, reason)

    def abort(self, reason: str) -> None:
        """Drop the connection at once (a dead peer): waiting requests fail with ``reason``."""
        self._writer.transport.abort()
        self._lose(reason)
        self._task.cancel()

    async def close(self) -> None:
        """Close the socket and stop reading (no goodbye: see ``Client.close``)."""
        if self.lost_reason is None:
            self._lose("closed by the client")
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def wait_closed(self, timeout: float) -> bool:
        """Wait until the server closes the connection; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._task)
        except TimeoutError:
            return False
        return True
