"""Where the fuzzing harness takes its decisions from: a tape of bytes.

``ByteChooser`` reads decisions from a byte string (drawn by hypothesis, or written by
a coverage-guided fuzzer); ``RecordingChooser`` writes the tape that replays another
chooser's decisions (how fuzz/make_corpus.py makes seed inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    """A source of decisions (hypothesis, or a fuzzer's bytes)."""

    def integer(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``."""
        ...

    def binary(self, max_size: int) -> bytes:
        """Up to ``max_size`` bytes."""
        ...

    def text(self, max_size: int) -> str:
        """Up to ``max_size`` characters (no surrogates)."""
        ...


def pick(chooser: Chooser, options: Sequence[T]) -> T:
    """One of ``options``."""
    return options[chooser.integer(0, len(options) - 1)]


def chance(chooser: Chooser, percent: int) -> bool:
    """True with about ``percent`` % probability."""
    return chooser.integer(0, 99) < percent


class RecordingChooser:
    """Passes ``inner``'s decisions on and records the bytes that make a ``ByteChooser``
    take the same decisions (how fuzz/make_corpus.py writes seed inputs)."""

    def __init__(self, inner: Chooser) -> None:
        self.inner = inner
        self.tape = bytearray()

    def _record(self, lo: int, hi: int, value: int) -> None:
        span = hi - lo
        if span > 0:
            self.tape += (value - lo).to_bytes((span.bit_length() + 7) // 8, "big")

    def integer(self, lo: int, hi: int) -> int:
        value = self.inner.integer(lo, hi)
        self._record(lo, hi, value)
        return value

    def binary(self, max_size: int) -> bytes:
        data = self.inner.binary(max_size)[:max_size]
        self._record(0, max_size, len(data))
        self.tape += data
        return data

    def text(self, max_size: int) -> str:
        data = self.inner.text(max_size).encode("utf-8")[:max_size * 2]
        self._record(0, max_size * 2, len(data))
        self.tape += data
        return data.decode("utf-8", "replace")[:max_size]


class ByteChooser:
    """Decisions read from a byte string, front to back; zeros once it runs out.

    Small changes to the bytes make small changes to the decisions, which is
    what a coverage-guided fuzzer needs.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def integer(self, lo: int, hi: int) -> int:
        span = hi - lo
        if span <= 0:
            return lo
        width = (span.bit_length() + 7) // 8
        raw = int.from_bytes(self._take(width).ljust(width, b"\0"), "big")
        return lo + raw % (span + 1)

    def binary(self, max_size: int) -> bytes:
        return self._take(self.integer(0, max_size))

    def text(self, max_size: int) -> str:
        return self.binary(max_size * 2).decode("utf-8", "replace")[:max_size]

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.data)
