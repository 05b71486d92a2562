"""The incremental, sans-IO block parser (docs/protocol.md §2–§3).

Push bytes in with :meth:`Parser.feed` (``b""`` means the stream ended), pull
blocks out with :meth:`Parser.next_block`. The parser never buffers more than a
limit allows before it judges the input: every limit of docs/protocol.md §3.2 is checked
as soon as the bytes that break it arrive.

Contract: :meth:`Parser.next_block` returns a :class:`Block`, ``NEED_DATA`` or
``END``, or raises :class:`ProtocolError`. Any other exception is a bug.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from ._block import Block, has_control, is_valid_header_name
from ._errors import ProtocolError
from ._limits import Limits
from ._status import Status
from ._words import ascii_lower, ascii_upper


class Signal(enum.Enum):
    """What :meth:`Parser.next_block` returns when it has no block to give."""

    NEED_DATA = "need more data"
    END = "end of stream"


NEED_DATA = Signal.NEED_DATA
END = Signal.END


_CLEAN_HEADER_LINE = rb"[ \t]*+[!-9;-~]++[ \t]*+:[\t -~]*+\r?\n"
"""A header line the fast path takes: ASCII, a name of header characters, a colon."""
# The name and the value (without the white space around it) of each line of a run of
# clean header lines. Possessive quantifiers everywhere: no backtracking on any input.
_HEADER_PAIR = re.compile(r"[ \t]*+([!-9;-~]++)[ \t]*+:[ \t]*+((?:[ \t]*+[!-~]++)*+)[ \t]*+\r?\n")


@dataclass(frozen=True, slots=True)
class _FastPath:
    """What the fast path needs for one set of limits (made once, shared by parsers)."""

    block: re.Pattern[bytes]
    """Type line, size line, the clean header lines after them and the empty line."""
    beginning: re.Pattern[bytes]
    """The clean beginnings of a type line and size line (to wait for the rest)."""
    small_body: int
    """A body this small is within every body limit."""
    size_digits: int


@functools.lru_cache(maxsize=16)
def _fast_path(limits: Limits) -> _FastPath:
    digits = len(str(limits.block_size))
    frame = rb"([ -~]{1,%d}+)\r?\n([0-9]{1,%d}+)\r?\n" % (limits.type_line, digits)
    return _FastPath(
        block=re.compile(
            frame + rb"((?:%s){0,%d}+)(\r?\n)?" % (_CLEAN_HEADER_LINE, limits.header_count)
        ),
        beginning=re.compile(
            rb"[ -~]{1,%d}+(?:\r|\r?\n(?:[0-9]{1,%d}+\r?)?)?" % (limits.type_line, digits)
        ),
        small_body=min(limits.mesg_body, limits.stat_text, limits.list_add_text),
        size_digits=digits,
    )


_Pairs = tuple[tuple[tuple[str, str], ...], dict[str, str]]
_REPEATED_MAX = 512
"""Longest header text after a leading ID that is kept for reuse (per connection)."""


def _pairs_of(lines: str) -> _Pairs | None:
    """The names and values of clean header lines and their index (None: a name twice)."""
    headers = tuple(_HEADER_PAIR.findall(lines))
    index = {name.lower(): value for name, value in headers}  # ASCII (the fast path's regex)
    return (headers, index) if len(index) == len(headers) else None


class _State(enum.Enum):
    TYPE = enum.auto()
    SIZE = enum.auto()
    HEADERS = enum.auto()
    BODY = enum.auto()
    SKIP = enum.auto()


class Parser:
    """Turns a byte stream (one direction of a connection) into blocks."""

    __slots__ = (
        "_args", "_awaiting", "_block_id", "_buf", "_consumed", "_dead", "_empty_line", "_eof",
        "_fast", "_header_lines", "_headers", "_pending", "_remaining", "_repeated", "_seen",
        "_size", "_start", "_state", "_verb", "last_offset", "last_size", "limits",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._fast = _fast_path(self.limits)
        self._awaiting = 0
        """The fast path waits for the buffer to hold this many bytes (a block's end)."""
        self._repeated: tuple[str, *_Pairs] | None = None
        """The header lines after a leading ID, as last parsed (text, pairs, index)."""
        self._buf = bytearray()
        self._consumed = 0  # stream offset of self._buf[0]
        self._eof = False
        self._dead: ProtocolError | None = None
        self._state = _State.TYPE
        self._reset_block()
        self.last_offset = 0
        """Stream offset of the first byte of the block last returned."""
        self.last_size = 0
        """The size line's value of the block last returned."""

    def _reset_block(self) -> None:
        self._start = 0
        self._verb = ""
        self._args: tuple[str, ...] = ()
        self._headers: list[tuple[str, str]] | None = None  # made for the first header
        self._header_lines = 0
        self._seen: set[str] | None = None
        self._block_id: str | None = None
        self._empty_line = False
        self._remaining = 0
        self._size = 0
        self._pending: tuple[Status, str] | None = None

    @property
    def offset(self) -> int:
        """Bytes of the stream consumed so far (the offset of the next unread byte)."""
        return self._consumed

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf)

    @property
    def at_boundary(self) -> bool:
        """Whether nothing of a next block has been received (cheap; see ``in_block``)."""
        return self._state is _State.TYPE and not self._buf

    @property
    def in_block(self) -> bool:
        """Whether part of a block has been read (a block is started but not finished)."""
        return self._state is not _State.TYPE or bool(self._buf.strip(b"\r\n"))

    def feed(self, data: bytes) -> None:
        """Add received bytes; ``b""`` marks the end of the stream."""
        if not data:
            self._eof = True
        elif self._eof:
            raise RuntimeError("feed() after the end of the stream")
        else:
            self._buf += data

    def __iter__(self) -> Parser:
        return self

    def __next__(self) -> Block:
        """Iterate over the blocks available now (stops at ``NEED_DATA`` or ``END``)."""
        item = self.next_block()
        if isinstance(item, Block):
            return item
        raise StopIteration

    def next_block(self) -> Block | Signal:
        """The next complete block, ``NEED_DATA``, or ``END``; raises :class:`ProtocolError`."""
        if self._dead is not None:
            raise self._dead
        if self._state is _State.TYPE:
            block = self._whole_block()
            if block is not None:
                return block
        try:
            return self._next()
        except ProtocolError as error:
            if error.fatal:
                self._dead = error
            else:
                self._state = _State.TYPE
                self._reset_block()
            raise

    # -- the states -------------------------------------------------------

    def _consume(self, n: int) -> bytes:
        chunk = bytes(self._buf[:n])
        del self._buf[:n]
        self._consumed += n
        return chunk

    def _fatal(self, status: Status, reason: str, offset: int | None = None) -> ProtocolError:
        return ProtocolError(
            status,
            reason,
            fatal=True,
            offset=self._start if offset is None else offset,
            block_id=self._block_id,
        )

    def _next(self) -> Block | Signal:
        while True:
            state = self._state
            if state is _State.TYPE:
                if not self._read_type_line():
                    return self._need_data()
            elif state is _State.SIZE:
                if not self._read_size_line():
                    return self._need_data()
            elif state is _State.HEADERS:
                if not self._read_header_line():
                    return self._need_data()
            elif state is _State.BODY:
                if len(self._buf) < self._remaining:
                    return self._need_data()
                return self._finish(self._consume(self._remaining))
            else:  # SKIP
                n = min(len(self._buf), self._remaining)
                self._consume(n)
                self._remaining -= n
                if self._remaining:
                    return self._need_data()
                return self._finish(b"")

    def _need_data(self) -> Signal:
        if not self._eof:
            return NEED_DATA
        if self._state is _State.TYPE and not self._buf.strip(b"\r\n"):
            self._consume(len(self._buf))
            return END
        # complete empty lines are consumed already: an unfinished type line starts here
        start = self._consumed if self._state is _State.TYPE else self._start
        raise self._fatal(Status.MALFORMED, "the stream ended inside a block", start)

    def _whole_block(self) -> Block | Signal | None:
        """The fast path: a clean block at the front of the buffer, in a few C-level passes.

        Anything unusual (leading empty lines, non-ASCII or control characters in
        the lines, a limit reached, a large block not complete yet) returns None and
        leaves the buffer alone: the state machine then reads the block and gives
        the exact verdict. For the blocks it accepts, this path returns what the
        state machine would. A small block whose type and size lines are clean but
        whose rest has not all arrived is left whole (``NEED_DATA``): the state
        machine too judges a block's content only once all of it is there.
        """
        buf = self._buf
        if len(buf) < self._awaiting and not self._eof:
            return NEED_DATA
        fast = self._fast
        found = fast.block.match(buf)
        if found is None:
            if not self._eof and fast.beginning.fullmatch(buf) is not None:
                return NEED_DATA  # clean so far: the state machine would only wait, too
            return None
        limits = self.limits
        size = int(found[2])
        if size > limits.block_size:
            return None
        start, region_end = found.span(3)
        end = start + size
        if len(buf) < end:
            if size <= limits.header_line and not self._eof:
                self._awaiting = end
                return NEED_DATA
            return None
        self._awaiting = 0
        if region_end == end:  # header lines up to the end: no empty line, no body
            body_start = end
            empty_line = False
        elif found[4] is not None and found.end() <= end:
            body_start = found.end()
            empty_line = True
        else:  # a line that is no clean header line (or a header line past the end)
            return None
        if region_end > start:
            if region_end - start > limits.header_line and any(
                len(line.rstrip(b"\r")) > limits.header_line
                for line in buf[start:region_end].split(b"\n")
            ):
                return None
            pairs = self._header_pairs(buf[start:region_end].decode("ascii"))
            if pairs is None:
                return None  # a header twice: the state machine answers that
            headers, index = pairs
        else:
            headers = ()
            index = {}
        words = found[1].decode("ascii").split()
        if not words:
            return None
        verb = words[0].upper()
        args = tuple(words[1:])
        body = bytes(buf[body_start:end])
        if len(body) > fast.small_body:
            body_limit = limits.body_limit(verb, args)
            if body_limit is not None and len(body) > body_limit:
                return None
        self.last_offset = self._consumed
        self.last_size = size
        del buf[:end]
        self._consumed += end
        return Block.trusted(verb, args, headers, body, empty_line, index)

    def _header_pairs(self, lines: str) -> _Pairs | None:
        """The names and values of clean header lines, and their index by lower-cased
        name; None when a name comes twice.

        The Yahoo! client writes ``ID`` first and then, message after message, the same
        other headers: those are parsed once and reused while they repeat.
        """
        if lines.startswith("ID: "):
            end = lines.find("\n")
            value = lines[4 : end - 1] if lines[end - 1] == "\r" else lines[4:end]
            rest = lines[end + 1 :]
            if value.isdigit() and len(rest) <= _REPEATED_MAX:
                repeated = self._repeated
                if repeated is None or repeated[0] != rest:
                    pairs = _pairs_of(rest)
                    if pairs is None:
                        return None
                    repeated = self._repeated = (rest, *pairs)
                _, headers, index = repeated
                if "id" in index:
                    return None
                index = index.copy()
                index["id"] = value
                return (("ID", value), *headers), index
        return _pairs_of(lines)

    def _read_type_line(self) -> bool:
        buf = self._buf
        limit = self.limits.type_line
        while True:
            idx = buf.find(b"\n", 0, limit + 2)
            if idx < 0:
                if len(buf) >= limit + 2:
                    raise self._fatal(
                        Status.TOO_LARGE, f"type line longer than {limit} bytes", self._consumed
                    )
                return False
            end = idx - 1 if idx and buf[idx - 1] == 0x0D else idx
            if end == 0:  # an empty line before a type line is ignored
                self._consume(idx + 1)
                continue
            if end > limit:
                raise self._fatal(
                    Status.TOO_LARGE, f"type line longer than {limit} bytes", self._consumed
                )
            self._start = self._consumed
            raw = self._consume(idx + 1)[:end]
            self._parse_type_line(raw)
            self._state = _State.SIZE
            return True

    def _parse_type_line(self, raw: bytes) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._pending = (Status.MALFORMED, "type line is not UTF-8")
            return
        if has_control(text) or "\t" in text:
            self._pending = (Status.MALFORMED, "control character in the type line")
            return
        words = [word for word in text.split(" ") if word]  # spaces only separate
        if not words:
            self._pending = (Status.MALFORMED, "type line has no verb")
            return
        self._verb = ascii_upper(words[0])
        self._args = tuple(words[1:])

    def _read_size_line(self) -> bool:
        buf = self._buf
        idx = buf.find(b"\n")
        line = buf if idx < 0 else buf[:idx]
        if line.endswith(b"\r"):
            line = line[:-1]
        # Judge the leading digits first, so that the verdict does not depend on
        # how the bytes arrive ("999999x" is too large whether or not "x" came yet).
        digits = len(line) - len(line.lstrip(b"0123456789"))
        if digits > self._fast.size_digits:
            # leading zeros do not change the value; drop them as they come
            zeros = min(len(line) - len(line.lstrip(b"0")), digits - 1)
            if zeros:
                self._consume(zeros)
                return self._read_size_line()
            raise self._fatal(
                Status.TOO_LARGE, f"block larger than {self.limits.block_size} bytes"
            )
        if digits < len(line):
            raise self._fatal(Status.MALFORMED, "size line is not a decimal number")
        if idx < 0:
            return False
        if not line:
            raise self._fatal(Status.MALFORMED, "size line is empty")
        size = int(line)
        if size > self.limits.block_size:
            raise self._fatal(
                Status.TOO_LARGE, f"block larger than {self.limits.block_size} bytes"
            )
        self._consume(idx + 1)
        self._remaining = size
        self._size = size
        self._state = _State.HEADERS
        if size == 0:
            self._state = _State.BODY
        return True

    def _skip_rest(self, status: Status, reason: str) -> None:
        if self._pending is None or status is Status.TOO_LARGE:
            self._pending = (status, reason)
        self._state = _State.SKIP

    def _read_header_line(self) -> bool:
        buf = self._buf
        limit = self.limits.header_line
        window = min(self._remaining, limit + 2)
        idx = buf.find(b"\n", 0, window)
        if idx < 0:
            if len(buf) < window:
                return False
            if window == self._remaining:
                raise self._fatal(
                    Status.MALFORMED, "header lines do not end inside the block's size"
                )
            self._skip_rest(Status.TOO_LARGE, f"header line longer than {limit} bytes")
            return True
        end = idx - 1 if idx and buf[idx - 1] == 0x0D else idx
        raw = self._consume(idx + 1)[:end]
        self._remaining -= idx + 1
        if not raw:
            self._empty_line = True
            self._enter_body()
            return True
        if end > limit:
            self._skip_rest(Status.TOO_LARGE, f"header line longer than {limit} bytes")
            return True
        if self._header_lines >= self.limits.header_count:
            self._skip_rest(
                Status.TOO_LARGE, f"more than {self.limits.header_count} header lines"
            )
            return True
        self._header_lines += 1
        self._parse_header(raw)
        if not self._remaining:
            self._state = _State.BODY
        return True

    def _parse_header(self, raw: bytes) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._pend(Status.MALFORMED, "header line is not UTF-8")
            return
        name, colon, value = text.partition(":")
        name = name.strip(" \t")
        if not colon or not is_valid_header_name(name):
            self._pend(Status.MALFORMED, f"bad header line {text[:40]!r}")
            return
        if has_control(value):  # before stripping: a control character is no white space
            self._pend(Status.MALFORMED, f"control character in header {name}")
            return
        value = value.strip()
        key = ascii_lower(name)
        if self._seen is None or self._headers is None:
            self._seen = set()
            self._headers = []
        if key in self._seen:
            self._pend(Status.BAD_HEADER, f"header {name} appears twice")
            return
        self._seen.add(key)
        if key == "id":
            self._block_id = value
        self._headers.append((name, value))

    def _pend(self, status: Status, reason: str) -> None:
        if self._pending is None:
            self._pending = (status, reason)

    def _enter_body(self) -> None:
        limit = self.limits.body_limit(self._verb, self._args)
        if limit is not None and self._remaining > limit:
            self._skip_rest(Status.TOO_LARGE, f"{self._verb} body larger than {limit} bytes")
        else:
            self._state = _State.BODY

    def _finish(self, body: bytes) -> Block:
        pending = self._pending
        if pending is not None:
            raise ProtocolError(
                pending[0], pending[1], fatal=False, offset=self._start,
                block_id=self._block_id, verb=self._verb or None,
            )
        block = Block.trusted(self._verb, self._args, tuple(self._headers or ()), body,
                              self._empty_line)
        self.last_offset = self._start
        self.last_size = self._size
        self._state = _State.TYPE
        self._reset_block()
        return block


def parse_all(data: bytes, limits: Limits | None = None) -> list[Block]:
    """Every block of a complete stream; raises :class:`ProtocolError` on the first bad one."""
    parser = Parser(limits)
    parser.feed(data)
    parser.feed(b"")
    blocks: list[Block] = []
    while isinstance(item := parser.next_block(), Block):
        blocks.append(item)
    return blocks
