"""The ``Block`` value type and its serializer (docs/protocol.md §2)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._words import ascii_lower, ascii_upper

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = re.compile(r"[^\x00-\x20\x7f]+")
_HEADER_NAME = re.compile(r"[^\x00-\x20\x7f:]+")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character other than TAB (these never go in a line)."""
    return _CONTROL.search(text) is not None


def _check_line_text(what: str, text: str) -> None:
    if has_control(text):
        raise ValueError(f"{what} must not contain control characters: {text!r}")


def is_valid_verb(verb: str) -> bool:
    """A verb is non-empty, upper case, without white space or control characters.

    Which verbs mean something is the core's business (unknown ones get ``801``).
    """
    return _TOKEN.fullmatch(verb) is not None and verb == ascii_upper(verb)


def is_valid_header_name(name: str) -> bool:
    """A header name is non-empty, without a colon, white space or control characters."""
    return _HEADER_NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Block:
    """One IMIP block: type line, headers in their order, and a body of bytes.

    ``headers`` keep the casing they were received or built with and are looked
    up case-insensitively. ``empty_line`` records whether the empty line was
    present (when parsed) or must be written even without a body (when built).
    The size line is not stored: it is computed when the block is written.
    """

    verb: str
    args: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    empty_line: bool = False
    _index: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    """Lower-cased header name → value, made on the first lookup (or by the parser)."""

    def __post_init__(self) -> None:
        if not is_valid_verb(self.verb):
            raise ValueError(f"invalid verb {self.verb!r}: non-empty, upper case, no white space")
        for arg in self.args:
            if not arg or " " in arg or "\t" in arg:
                raise ValueError(f"invalid argument {arg!r}: non-empty, no white space")
            _check_line_text("an argument", arg)
        for name, value in self.headers:
            if not is_valid_header_name(name):
                raise ValueError(f"invalid header name {name!r}")
            _check_line_text("a header value", value)
            if value != value.strip():
                raise ValueError(f"header value {value!r} has surrounding white space")
        if not isinstance(self.body, bytes):
            raise TypeError("body must be bytes")

    @classmethod
    def trusted(
        cls,
        verb: str,
        args: tuple[str, ...],
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        empty_line: bool,
        index: dict[str, str] | None = None,
    ) -> Block:
        """Build without validating: only for parts the parser has already checked
        (``index``: the headers by lower-cased name, when the parser made it). Runs
        once per block received, so it fills a layout-identical draft at plain attribute
        speed and then makes it a block (half the time of setting frozen fields)."""
        draft = _Draft(verb, args, headers, body, empty_line, index)
        draft.__class__ = cls  # type: ignore[assignment]
        return draft  # type: ignore[return-value]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any casing), or None when absent."""
        return self.header_map.get(ascii_lower(name))

    @property
    def header_map(self) -> Mapping[str, str]:
        """The headers by lower-cased name (the first of a name counts): for code that
        looks up several headers of every block."""
        index = self._index
        if index is None:
            index = {}
            for key, value in self.headers:
                index.setdefault(ascii_lower(key), value)
            _set_index(self, index)
        return index

    def with_headers(self, *extra: tuple[str, str]) -> Block:
        """A copy with ``extra`` headers appended."""
        return Block(self.verb, self.args, self.headers + extra, self.body, self.empty_line)

    @property
    def type_line(self) -> str:
        """The type line as written, without its line ending."""
        return " ".join((self.verb, *self.args))

    def to_bytes(self, *, sort_headers: bool = False) -> bytes:
        """The block on the wire, CR LF everywhere, size line computed.

        With ``sort_headers`` the headers are written in case-insensitive
        alphabetical order of name, as the Odigo server did. The empty line is
        written when a body follows or when ``empty_line`` is set.
        """
        return serialize(
            self.verb, self.args, self.headers, self.body,
            empty_line=self.empty_line, sort_headers=sort_headers,
        )


class _Draft:
    """A block's slots without the frozen dataclass's guard (see ``Block.trusted``)."""

    __slots__ = Block.__slots__

    def __init__(
        self,
        verb: str,
        args: tuple[str, ...],
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        empty_line: bool,
        index: dict[str, str] | None,
    ) -> None:
        self.verb = verb
        self.args = args
        self.headers = headers
        self.body = body
        self.empty_line = empty_line
        self._index = index


# The index slot's own setter: the lazily made index is cached on a frozen block.
_set_index = Block.__dict__["_index"].__set__


def serialize(
    verb: str,
    args: Iterable[str],
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    empty_line: bool = False,
    sort_headers: bool = False,
) -> bytes:
    """Write one block from its parts (the caller vouches that they are valid)."""
    if sort_headers:
        headers = sorted(headers, key=lambda item: ascii_lower(item[0]))
    content = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8")
    if body or empty_line:
        content += b"\r\n" + body
    type_line = " ".join((verb, *args)) if args else verb
    return b"%s\r\n%d\r\n%s" % (type_line.encode("utf-8"), len(content), content)


def message_bytes(block_id: int, sender: str, to: str, body: bytes,
                  date: str | None = None) -> bytes:
    """The ``MESG`` a server writes: ``serialize`` with sorted headers, made directly.

    Written once per relayed message, so the header lines (``Date`` only for a stored
    message, then ``From``, ``ID``, ``To``: already in sorted order) are formatted in
    one step; a test holds it equal to ``serialize``.
    """
    content = b"From: %s\r\nID: %d\r\nTo: %s\r\n" % (sender.encode(), block_id, to.encode())
    if date is not None:
        content = b"Date: %s\r\n%s" % (date.encode(), content)
    if body:
        return b"MESG\r\n%d\r\n%s\r\n%s" % (len(content) + 2 + len(body), content, body)
    return b"MESG\r\n%d\r\n%s" % (len(content), content)
